//! The last hour, for the pages' charts and for scripts: a service's replicas
//! and traffic, a host's replicas added up, the proxy's services' traffic.

use axum::extract::State;
use axum::Json;

use domain::wire::{ErrorBody, HostHistoryView, ProxyHistoryView, ServiceHistoryView};

use super::{ApiError, ApiPath, Caller};
use crate::ops::history;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(service))
        .routes(routes!(host))
        .routes(routes!(proxy))
}

/// A service's last hour, a step every `step_ms`: each replica that ran in it
/// (CPU as percent of one CPU, memory in bytes) and its traffic through the
/// proxy (requests per second, error rate, p99), each series lined up with
/// `times_ms`, `null` where nothing was sampled.
#[utoipa::path(get, path = "/api/v1/services/{name}/history", tag = "services",
    params(("name" = String, Path)),
    responses((status = 200, body = ServiceHistoryView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn service(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceHistoryView>, ApiError> {
    Ok(Json(history::service(&state, &ctx, &name).await?))
}

/// A host's last hour: the CPU and memory of the replicas on it that the
/// caller may see, added up, and how many were sampled at each step.
#[utoipa::path(get, path = "/api/v1/hosts/{name}/history", tag = "hosts",
    params(("name" = String, Path)),
    responses((status = 200, body = HostHistoryView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn host(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<HostHistoryView>, ApiError> {
    Ok(Json(history::host(&state, &ctx, &name).await?))
}

/// The last hour of every service with a route the caller may see: requests
/// per second, error rate and p99 through this instance's proxy.
#[utoipa::path(get, path = "/api/v1/proxy/history", tag = "proxy",
    responses((status = 200, body = ProxyHistoryView), (status = 401, body = ErrorBody)))]
pub async fn proxy(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<ProxyHistoryView>, ApiError> {
    Ok(Json(history::proxy(&state, &ctx).await?))
}
