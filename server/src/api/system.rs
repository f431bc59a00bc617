//! `GET /api/v1/engines` and `GET /api/v1/about`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use app::wire::{About, EnginesReport};

use super::ApiError;
use crate::ops;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/engines", get(engines))
        .route("/about", get(about))
}

async fn engines(State(state): State<AppState>) -> Json<EnginesReport> {
    Json(ops::system::engines(&state).await)
}

async fn about(State(state): State<AppState>) -> Result<Json<About>, ApiError> {
    Ok(Json(ops::system::about(&state).await?))
}
