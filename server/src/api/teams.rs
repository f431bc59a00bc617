//! `/teams`: teams, their members, their domains (admins) and their secrets
//! (write-only values).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use domain::wire::{
    AddDomainInput, CreateTeamInput, ErrorBody, SecretSet, SecretView, SetMemberInput,
    SetSecretInput, TeamView,
};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::{secrets, teams};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(add_domain))
        .routes(routes!(remove_domain))
        .routes(routes!(list_secrets))
        .routes(routes!(set_secret, delete_secret))
}

/// The teams the caller may see: all for admins, their own for members.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, body = Vec<TeamView>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<TeamView>>, ApiError> {
    Ok(Json(teams::list(&state, &ctx).await?))
}

/// Creates a team.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeamInput,
    responses((status = 201, body = TeamView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<CreateTeamInput>,
) -> Result<(StatusCode, Json<TeamView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(teams::create(&state, &ctx, input).await?),
    ))
}

/// One team with its members.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(teams::get(&state, &ctx, id).await?))
}

/// Deletes a team.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    teams::delete(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a user to a team, or changes their role there.
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = SetMemberInput,
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)))]
pub async fn set_member(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
    ApiJson(input): ApiJson<SetMemberInput>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(
        teams::set_member(&state, &ctx, id, user_id, input).await?,
    ))
}

/// Removes a user from a team.
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(teams::remove_member(&state, &ctx, id, user_id).await?))
}

/// Gives the team a domain for its routes (admins): `shop.example.com` (that name)
/// or `*.shop.example.com` (every name under it). A domain that overlaps another
/// team's, or holds another team's route, is 409.
#[utoipa::path(post, path = "/api/v1/teams/{id}/domains", tag = "teams",
    params(("id" = i64, Path)), request_body = AddDomainInput,
    responses((status = 200, body = TeamView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_domain(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AddDomainInput>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(teams::add_domain(&state, &ctx, id, input).await?))
}

/// Takes a domain from the team (admins); 409 while its routes use it.
#[utoipa::path(delete, path = "/api/v1/teams/{id}/domains/{domain}", tag = "teams",
    params(("id" = i64, Path), ("domain" = String, Path)),
    responses((status = 200, body = TeamView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((id, domain)): ApiPath<(i64, String)>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(teams::remove_domain(&state, &ctx, id, &domain).await?))
}

/// The team's secrets: name, version, when and by whom last set, the services
/// using each. Values are never returned.
#[utoipa::path(get, path = "/api/v1/teams/{id}/secrets", tag = "teams", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SecretView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    Ok(Json(secrets::list(&state, &ctx, id).await?))
}

/// Sets a secret `{"value": "…"}` (operators of the team, admins): its first
/// version, or the next. Services whose current revision uses it roll out to the
/// new version, health-gated; the answer names them. The value is never shown
/// again.
#[utoipa::path(put, path = "/api/v1/teams/{id}/secrets/{name}", tag = "teams",
    params(("id" = i64, Path), ("name" = String, Path)), request_body = SetSecretInput,
    responses((status = 200, body = SecretSet), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_secret(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((id, name)): ApiPath<(i64, String)>,
    ApiJson(input): ApiJson<SetSecretInput>,
) -> Result<Json<SecretSet>, ApiError> {
    Ok(Json(secrets::set(&state, &ctx, id, &name, input).await?))
}

/// Deletes a secret and every version of it; 409 while a service's current
/// revision uses it.
#[utoipa::path(delete, path = "/api/v1/teams/{id}/secrets/{name}", tag = "teams",
    params(("id" = i64, Path), ("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((id, name)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    secrets::delete(&state, &ctx, id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
