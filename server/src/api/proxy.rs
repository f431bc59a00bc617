//! `/proxy`: the proxy's routes, replicas and counters; its table as nginx
//! configuration. `/metrics` (outside `/api/v1`) has the same in Prometheus's
//! text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use domain::wire::{ErrorBody, ProxyView};

use super::{ApiError, ApiQuery, Caller};
use crate::ops;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(view))
        .routes(routes!(nginx_conf))
}

/// Every route with its service and replicas: state, requests in flight, requests
/// per second, error rate, p50 and p99 latency over the last 10 seconds.
#[utoipa::path(get, path = "/api/v1/proxy", tag = "proxy",
    responses((status = 200, body = ProxyView), (status = 401, body = ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<ProxyView>, ApiError> {
    Ok(Json(ops::proxy::view(&state, &ctx).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NginxQuery {
    /// What the servers listen on: `80` (default), or `127.0.0.1:8081`.
    listen: Option<String>,
}

/// The current table as nginx configuration (upstream and server blocks), to
/// include in nginx's `http` block.
#[utoipa::path(get, path = "/api/v1/proxy/nginx.conf", tag = "proxy", params(NginxQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 422, body = ErrorBody)))]
pub async fn nginx_conf(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<NginxQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let conf = ops::proxy::nginx_conf(&state, &ctx, q.listen.as_deref()).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], conf))
}

/// Prometheus's text format (scrape it with a read-only token): the proxy's
/// counters and each service's replicas, of the caller's teams (all for admins).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<impl IntoResponse, ApiError> {
    let text = ops::proxy::metrics(&state, &ctx).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
