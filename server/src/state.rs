//! `AppState`: everything a request handler or background task needs, cheap to clone.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::runtime::engines::Engines;
use crate::store::Store;

/// Facts fixed at start-up.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: &'static str,
    pub listen: String,
    pub started_at_ms: i64,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engines: Engines,
    pub leptos: LeptosOptions,
    pub info: Arc<ServerInfo>,
    /// Cancelled once, when Berth shuts down; every background task watches it.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
