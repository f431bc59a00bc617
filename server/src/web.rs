//! The Leptos side of the server: the backend the server functions reach through
//! context, and the routes that render and hydrate the pages.

use std::sync::Arc;

use app::backend::{Backend, BackendError, BackendHandle};
use app::wire::{About, EnginesReport};
use async_trait::async_trait;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::ops::{self, OpsError};
use crate::state::AppState;

/// Server functions' way into the use cases.
pub struct ServerBackend {
    state: AppState,
}

#[async_trait]
impl Backend for ServerBackend {
    async fn engines(&self) -> EnginesReport {
        ops::system::engines(&self.state).await
    }

    async fn about(&self) -> Result<About, BackendError> {
        ops::system::about(&self.state).await.map_err(backend_error)
    }
}

fn backend_error(e: OpsError) -> BackendError {
    let code = match e {
        OpsError::Internal => "internal",
    };
    BackendError {
        code,
        message: e.to_string(),
    }
}

/// Adds the pages, the server functions and the static files (WASM, JS, CSS) to
/// `router`. The same backend goes into the context of page renders and server
/// function calls alike.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let backend = BackendHandle(Arc::new(ServerBackend {
        state: state.clone(),
    }));
    let context = move || provide_context(backend.clone());
    let leptos = state.leptos.clone();
    router
        .leptos_routes_with_context(
            state,
            generate_route_list(app::App),
            context.clone(),
            move || app::shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
}
