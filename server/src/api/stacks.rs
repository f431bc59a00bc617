//! `/stacks`: a team's services as one file (a Berth stack file or a Compose
//! file): plan it, apply the plan, export what runs.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use domain::wire::{
    ErrorBody, StackApplied, StackApplyInput, StackFile, StackPlan, StackPlanInput,
};

use super::{ApiError, ApiJson, ApiQuery, Caller};
use crate::ops::stacks;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(plan))
        .routes(routes!(apply))
        .routes(routes!(export))
}

/// What applying the file would do, per service: create, a new revision with
/// its field diff, scale, routes, or unchanged; where new replicas would go (or
/// why they cannot be placed); every key ignored, adapted or refused with the
/// reason. Nothing is written. A file that does not read is 422 with its line
/// and column; a bad service in it is 422 naming the service.
#[utoipa::path(post, path = "/api/v1/stacks/plan", tag = "stacks", request_body = StackPlanInput,
    responses((status = 200, body = StackPlan), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn plan(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<StackPlanInput>,
) -> Result<Json<StackPlan>, ApiError> {
    Ok(Json(stacks::plan(&state, &ctx, input).await?))
}

/// Applies the file if its plan still holds (the plan's `guard`: 409 naming
/// each service that changed since), all or nothing: a refused key or a bad
/// service is 422 and nothing is written. Audited as one entry with its changes.
#[utoipa::path(post, path = "/api/v1/stacks/apply", tag = "stacks", request_body = StackApplyInput,
    responses((status = 200, body = StackApplied), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<StackApplyInput>,
) -> Result<Json<StackApplied>, ApiError> {
    Ok(Json(stacks::apply(&state, &ctx, input).await?))
}

/// `?team=NAME` for one team's services only.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    pub team: Option<String>,
}

/// The services the caller may read (of one team with `?team=`) as a stack file
/// (YAML) that plans as "no changes". Environment values are hidden from callers
/// who may not change the service.
#[utoipa::path(get, path = "/api/v1/stacks/export", tag = "stacks", params(ExportQuery),
    responses((status = 200, content_type = "application/yaml", body = StackFile), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let text = stacks::export(&state, &ctx, q.team.as_deref()).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        text,
    ))
}
