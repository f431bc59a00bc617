//! Liveness and readiness: `/healthz` answers while the process serves; `/readyz`
//! only while the database answers too, saying whether this instance leads.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::ApiError;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(super::proxy::metrics))
}

/// The process serves: `{"status":"ok"}`.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process serves and its database answers: `{"status":"ready","leader":
/// true|false,"instance":"…"}` (whether this instance leads), else 503.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, body = domain::wire::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // The client learns only that the database is unavailable; why is in the log.
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "database unavailable".to_string(),
        )
    };
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({
            "status": "ready",
            "leader": state.leadership.leads(),
            "instance": state.leadership.instance,
        }))),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "readiness: the database does not answer");
            Err(unavailable())
        }
        Err(_) => {
            tracing::error!(
                "readiness: the database does not answer within {} s",
                READY_TIMEOUT.as_secs()
            );
            Err(unavailable())
        }
    }
}
