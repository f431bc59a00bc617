//! `/tokens`: the caller's API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use domain::wire::{CreateTokenInput, ErrorBody, NewToken, TokenView};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::tokens;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(tokens::list(&state, &ctx).await?))
}

/// Creates a token; its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenInput,
    responses((status = 201, body = NewToken), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<CreateTokenInput>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tokens::create(&state, &ctx, input).await?),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
