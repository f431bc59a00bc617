//! The JSON API under `/api/v1`, plus `/healthz` and `/readyz`. One `router()` per
//! resource; every error renders as `{"error":{"code","message"}}`.

pub mod health;
mod system;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use app::wire::{ErrorBody, ErrorDetail};

use crate::ops::OpsError;
use crate::state::AppState;

/// The `/api/v1` routes.
pub fn router() -> Router<AppState> {
    Router::new().merge(system::router()).fallback(|| async {
        ApiError::not_found("no such API endpoint; see /api/v1 in the README")
    })
}

/// An error as the API shows it: a status, a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Internal => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}
