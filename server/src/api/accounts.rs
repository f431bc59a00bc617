//! First-run setup, login and logout, and the caller's own account:
//! `/setup`, `/auth/login`, `/auth/logout`, `/me`, `/me/password`, `/me/sessions`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use domain::wire::{
    ChangePasswordInput, ErrorBody, LoginInput, Me, SessionView, SetupInput, SetupState,
};

use super::{with_cookie, ApiError, ApiJson, ApiPath, Caller};
use crate::ops::accounts;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_state, setup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
}

/// Whether the first admin has yet to be created.
#[utoipa::path(get, path = "/api/v1/setup", tag = "accounts", responses((status = 200, body = SetupState)))]
pub async fn setup_state(State(state): State<AppState>) -> Result<Json<SetupState>, ApiError> {
    Ok(Json(accounts::setup_state(&state).await?))
}

/// Creates the first admin (only while no user exists) and logs them in.
#[utoipa::path(post, path = "/api/v1/setup", tag = "accounts", request_body = SetupInput,
    responses((status = 201, body = Me, description = "created; the session cookie is set"),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn setup(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<SetupInput>,
) -> Result<Response, ApiError> {
    let outcome = accounts::setup(&state, &ctx, input).await?;
    Ok(with_cookie(
        (StatusCode::CREATED, Json(outcome.me)).into_response(),
        &outcome.set_cookie,
    ))
}

/// Logs in with a user name and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginInput,
    responses((status = 200, body = Me, description = "logged in; the session cookie is set"),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "too many failed logins; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Response, ApiError> {
    let outcome = accounts::login(&state, &ctx, input).await?;
    Ok(with_cookie(
        Json(outcome.me).into_response(),
        &outcome.set_cookie,
    ))
}

/// Ends the session of the request and clears its cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Response, ApiError> {
    let clear = accounts::logout(&state, &ctx).await?;
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &clear))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Caller(ctx): Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(accounts::me(&ctx)?))
}

/// Changes the caller's password; their other sessions end.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "accounts", request_body = ChangePasswordInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<ChangePasswordInput>,
) -> Result<StatusCode, ApiError> {
    accounts::change_password(&state, &ctx, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "accounts",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    Ok(Json(accounts::sessions(&state, &ctx).await?))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    accounts::revoke_session(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
