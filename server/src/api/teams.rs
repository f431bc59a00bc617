//! `/teams` and their members.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};

use app::wire::{CreateTeamInput, ErrorBody, SetMemberInput, TeamView};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::teams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", get(list).post(create))
        .route("/teams/{id}", get(show).delete(remove))
        .route(
            "/teams/{id}/members/{user_id}",
            put(set_member).delete(remove_member),
        )
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
