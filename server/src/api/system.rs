//! `GET /api/v1/engines` and `GET /api/v1/about`.

use axum::extract::State;
use axum::Json;

use domain::wire::{About, EnginesReport};

use super::{ApiError, Caller};
use crate::ops;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(engines))
        .routes(routes!(about))
}

/// Every configured Docker engine, checked now.
#[utoipa::path(get, path = "/api/v1/engines", tag = "cluster",
    responses((status = 200, body = EnginesReport), (status = 401, body = domain::wire::ErrorBody)))]
pub async fn engines(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<EnginesReport>, ApiError> {
    Ok(Json(ops::system::engines(&state, &ctx).await?))
}

/// This server's version, database and start time.
#[utoipa::path(get, path = "/api/v1/about", tag = "cluster",
    responses((status = 200, body = About), (status = 401, body = domain::wire::ErrorBody)))]
pub async fn about(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<About>, ApiError> {
    Ok(Json(ops::system::about(&state, &ctx).await?))
}
