//! `/whatif`: what losing hosts would do, asked before it happens.

use axum::extract::State;
use axum::Json;

use domain::wire::{EachHostView, ErrorBody, WhatIfQuery, WhatIfView};

use super::{ApiError, ApiQuery, Caller};
use crate::ops::whatif;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lose))
        .routes(routes!(each_host))
}

/// What losing the named hosts would do, as the reconciler would plan it once
/// they stopped answering, from what runs now: which replicas move where, which
/// no host could take and why, and which slots would wait for their per-replica
/// volumes left on a lost host. Only the caller's teams' services are listed.
/// No list is 400, an invalid one 422; a host that does not exist is 404.
#[utoipa::path(get, path = "/api/v1/whatif", tag = "hosts", params(WhatIfQuery),
    responses((status = 200, body = WhatIfView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn lose(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<WhatIfQuery>,
) -> Result<Json<WhatIfView>, ApiError> {
    Ok(Json(whatif::lose(&state, &ctx, q).await?))
}

/// The N-1 check: losing each host in turn, whether every service (of the
/// caller's teams) would stay whole.
#[utoipa::path(get, path = "/api/v1/whatif/each-host", tag = "hosts",
    responses((status = 200, body = EachHostView), (status = 401, body = ErrorBody)))]
pub async fn each_host(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<EachHostView>, ApiError> {
    Ok(Json(whatif::each_host(&state, &ctx).await?))
}
