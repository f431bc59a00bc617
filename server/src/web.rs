//! The Leptos side of the server: the backend the server functions reach through
//! context, the guard that sends people without a session to the login page, and
//! the routes that render and hydrate the pages.

use std::sync::Arc;

use app::backend::{ApiAnswer, ApiCall, Backend, BackendHandle, Request};
use app::errors::AppError;
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::ops;
use crate::state::AppState;

mod backend;

pub use backend::ServerBackend;

/// Paths that are not pages: the API, server functions, assets, probes, metrics.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics")
}

/// What a page may load and run: its own files, the inline scripts Leptos writes
/// with this response's nonce, and the WASM it compiles; inline `style`
/// attributes (bars' widths); nothing framed, nothing from elsewhere.
fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Everything else (JSON, text, files) runs nothing and is framed nowhere.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every response: a CSP (the page's own, with its nonce, or one that
/// allows nothing), no MIME sniffing, no framing, and no full URL in `Referer`.
pub async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    use axum::http::{header, HeaderValue};
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Sends page loads without a session to the login page (or, before the first
/// admin exists, to the setup page), and logged-in people away from both.
pub async fn page_guard(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if request.method() != Method::GET || !is_page(&path) {
        return next.run(request).await;
    }
    let setup_done = match ops::accounts::setup_done(&state).await {
        Ok(done) => done,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !setup_done {
        return if path == "/setup" {
            next.run(request).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    if path == "/setup" {
        return Redirect::to("/login").into_response();
    }
    let logged_in =
        crate::auth::authenticate(&state.store, request.headers(), crate::clock::now_ms())
            .await
            .ok()
            .flatten()
            .is_some();
    match (path.as_str(), logged_in) {
        ("/login", true) => Redirect::to("/").into_response(),
        ("/login", false) | (_, true) => next.run(request).await,
        (_, false) => {
            let target = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            Redirect::to(&format!("/login?next={}", percent_encode(&target))).into_response()
        }
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Adds the pages, the server functions and the static files (WASM, JS, CSS) to
/// `router`. The same backend goes into the context of page renders and server
/// function calls alike.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let backend = BackendHandle(Arc::new(ServerBackend::new(state)));
    let leptos = state.leptos.clone();
    let site = std::path::Path::new(&*leptos.site_root);
    let build = crate::assets::Build::read(site);
    let files = build
        .hash
        .as_deref()
        .map(|h| app::AssetRoot(crate::assets::root(h)));
    let context = move || {
        provide_context(backend.clone());
        if let Some(files) = &files {
            provide_context(files.clone());
        }
        // A page render has a nonce for its inline scripts; its CSP names it.
        if let (Some(response), Some(nonce)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            leptos::nonce::use_nonce(),
        ) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&page_csp(&nonce.to_string())) {
                response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
            }
        }
    };
    router
        .merge(crate::assets::router(site, &build))
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

#[cfg(test)]
mod tests;
