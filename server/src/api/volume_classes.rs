//! `/volume-classes`: volume drivers, options and scopes an admin offers to teams.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use domain::wire::{ErrorBody, VolumeClassInput, VolumeClassView};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::volume_classes;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
}

/// The classes the caller may use in a spec (admins: every class, with its
/// options), with how many hosts have each one's driver.
#[utoipa::path(get, path = "/api/v1/volume-classes", tag = "volumes",
    responses((status = 200, body = Vec<VolumeClassView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<VolumeClassView>>, ApiError> {
    Ok(Json(volume_classes::list(&state, &ctx).await?))
}

/// Defines a class (admins). `{volume}` in an option's value becomes each Docker
/// volume's name. Bad fields and unknown teams are 422 in words.
#[utoipa::path(post, path = "/api/v1/volume-classes", tag = "volumes", request_body = VolumeClassInput,
    responses((status = 201, body = VolumeClassView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<VolumeClassInput>,
) -> Result<(StatusCode, Json<VolumeClassView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(volume_classes::create(&state, &ctx, input).await?),
    ))
}

/// One class the caller may use.
#[utoipa::path(get, path = "/api/v1/volume-classes/{name}", tag = "volumes", params(("name" = String, Path)),
    responses((status = 200, body = VolumeClassView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<VolumeClassView>, ApiError> {
    Ok(Json(volume_classes::show(&state, &ctx, &name).await?))
}

/// Changes a class (the body is the whole class; its name stays). Its driver and
/// scope stay while a service names it (409).
#[utoipa::path(put, path = "/api/v1/volume-classes/{name}", tag = "volumes", params(("name" = String, Path)), request_body = VolumeClassInput,
    responses((status = 200, body = VolumeClassView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<VolumeClassInput>,
) -> Result<Json<VolumeClassView>, ApiError> {
    Ok(Json(
        volume_classes::update(&state, &ctx, &name, input).await?,
    ))
}

/// Deletes a class; refused (409) while a service names it.
#[utoipa::path(delete, path = "/api/v1/volume-classes/{name}", tag = "volumes", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    volume_classes::delete(&state, &ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
