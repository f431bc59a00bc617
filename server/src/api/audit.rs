//! `GET /audit`: the audit log, newest first, filtered and paged.

use axum::extract::State;
use axum::Json;

use domain::wire::{AuditPage, AuditQuery, ErrorBody};

use super::{ApiError, ApiQuery, Caller};
use crate::ops::audit;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Audit entries, newest first. Filters: `actor`, `action` (exact, or a prefix
/// ending in `.`), `target` (substring), `result`; paging: `before`, `limit`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(audit::list(&state, &ctx, q).await?))
}
