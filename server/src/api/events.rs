//! `GET /events`: what Berth did or saw, newest first.

use axum::extract::State;
use axum::Json;

use domain::wire::{ErrorBody, EventPage, EventQuery};

use super::{ApiError, ApiQuery, Caller};
use crate::ops::events;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Events, newest first. Filters: `kind` (`host`, `service`; an admin's also
/// `pool`, `instance`), `subject` (a host's, service's or instance's name);
/// paging: `before`, `limit`.
#[utoipa::path(get, path = "/api/v1/events", tag = "cluster", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(events::list(&state, &ctx, q).await?))
}
