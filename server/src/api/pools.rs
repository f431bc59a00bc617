//! `/pools`: host pools (admins): define them, read their machines, retire one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use domain::wire::{ErrorBody, PoolInput, PoolView};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::pools;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(retire))
}

/// Every pool with its machines (being made, ready, draining, being destroyed),
/// the replicas waiting for it and its provider's failures.
#[utoipa::path(get, path = "/api/v1/pools", tag = "pools",
    responses((status = 200, body = Vec<PoolView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<PoolView>>, ApiError> {
    Ok(Json(pools::list(&state, &ctx).await?))
}

/// Defines a pool. Its provider command must exist on Berth's machine and be
/// executable; bad fields are 422 in words.
#[utoipa::path(post, path = "/api/v1/pools", tag = "pools", request_body = PoolInput,
    responses((status = 201, body = PoolView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<PoolInput>,
) -> Result<(StatusCode, Json<PoolView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(pools::create(&state, &ctx, input).await?),
    ))
}

/// One pool.
#[utoipa::path(get, path = "/api/v1/pools/{name}", tag = "pools", params(("name" = String, Path)),
    responses((status = 200, body = PoolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PoolView>, ApiError> {
    Ok(Json(pools::show(&state, &ctx, &name).await?))
}

/// Changes a pool (the body is the whole pool; its name stays).
#[utoipa::path(put, path = "/api/v1/pools/{name}", tag = "pools", params(("name" = String, Path)), request_body = PoolInput,
    responses((status = 200, body = PoolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<PoolInput>,
) -> Result<Json<PoolView>, ApiError> {
    Ok(Json(pools::update(&state, &ctx, &name, input).await?))
}

/// Deletes a pool; refused (409) while it has hosts.
#[utoipa::path(delete, path = "/api/v1/pools/{name}", tag = "pools", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    pools::delete(&state, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retires a ready host of the pool now: its replicas move (health-gated), then
/// the provider destroys it. 409 for a host not ready.
#[utoipa::path(post, path = "/api/v1/pools/{name}/hosts/{host}/retire", tag = "pools",
    params(("name" = String, Path), ("host" = String, Path)),
    responses((status = 200, body = PoolView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retire(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((name, host)): ApiPath<(String, String)>,
) -> Result<Json<PoolView>, ApiError> {
    Ok(Json(pools::retire(&state, &ctx, &name, &host).await?))
}
