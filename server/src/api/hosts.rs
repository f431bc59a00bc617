//! `/hosts`: register Docker hosts, read their health, cordon, drain, remove.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use domain::wire::{AddHostInput, ErrorBody, HostDetail, HostView, UpdateHostInput};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Caller};
use crate::ops::hosts::{self, Schedule};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(show, update, remove))
        .routes(routes!(cordon))
        .routes(routes!(uncordon))
        .routes(routes!(drain))
}

/// Every host with its state, capacity and last heartbeat.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts",
    responses((status = 200, body = Vec<HostView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<HostView>>, ApiError> {
    Ok(Json(hosts::list(&state, &ctx).await?))
}

/// Registers a host. Berth connects first: a host that does not answer
/// (`host_unreachable`), whose TLS fails (`tls_failed`) or whose engine is older
/// than API 1.41 (`engine_too_old`) is refused with 422.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", request_body = AddHostInput,
    responses((status = 201, body = HostView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<AddHostInput>,
) -> Result<(StatusCode, Json<HostView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(hosts::add(&state, &ctx, input).await?),
    ))
}

/// A host with its containers and recent events.
#[utoipa::path(get, path = "/api/v1/hosts/{name}", tag = "hosts", params(("name" = String, Path)),
    responses((status = 200, body = HostDetail), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<HostDetail>, ApiError> {
    Ok(Json(hosts::detail(&state, &ctx, &name).await?))
}

/// Changes a host's labels and/or address.
#[utoipa::path(patch, path = "/api/v1/hosts/{name}", tag = "hosts", params(("name" = String, Path)), request_body = UpdateHostInput,
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateHostInput>,
) -> Result<Json<HostView>, ApiError> {
    Ok(Json(hosts::update(&state, &ctx, &name, input).await?))
}

/// No new replicas on the host.
#[utoipa::path(post, path = "/api/v1/hosts/{name}/cordon", tag = "hosts", params(("name" = String, Path)),
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody)))]
pub async fn cordon(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<HostView>, ApiError> {
    Ok(Json(
        hosts::schedule(&state, &ctx, &name, Schedule::Cordon).await?,
    ))
}

/// New replicas may come to the host again (ends a drain too).
#[utoipa::path(post, path = "/api/v1/hosts/{name}/uncordon", tag = "hosts", params(("name" = String, Path)),
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody)))]
pub async fn uncordon(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<HostView>, ApiError> {
    Ok(Json(
        hosts::schedule(&state, &ctx, &name, Schedule::Uncordon).await?,
    ))
}

/// Cordons the host and moves its replicas elsewhere, one by one.
#[utoipa::path(post, path = "/api/v1/hosts/{name}/drain", tag = "hosts", params(("name" = String, Path)),
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody)))]
pub async fn drain(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<HostView>, ApiError> {
    Ok(Json(
        hosts::schedule(&state, &ctx, &name, Schedule::Drain).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Remove even though Berth's replicas run there (they are left, unmanaged).
    #[serde(default)]
    force: bool,
}

/// Unregisters a host; refused (409) while Berth's replicas run there, unless `force=true`.
#[utoipa::path(delete, path = "/api/v1/hosts/{name}", tag = "hosts", params(("name" = String, Path), RemoveQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    hosts::remove(&state, &ctx, &name, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
}
