//! `AppState`: everything a request handler or background task needs, cheap to clone.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::auth::limiter::LoginLimiter;
use crate::cluster::Hosts;
use crate::events::EventBus;
use crate::store::Store;

/// Facts fixed at start-up.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: &'static str,
    pub listen: String,
    pub started_at_ms: i64,
}

/// Accounts' moving parts: failed-login limiting and session lifetime.
#[derive(Debug)]
pub struct AuthState {
    pub limiter: Mutex<LoginLimiter>,
    pub session_ttl: Duration,
    /// Set once a user exists; spares a query per page load after the first run.
    pub setup_done: AtomicBool,
}

impl AuthState {
    /// 5 failed logins a minute per account and per client address.
    pub fn new(session_ttl: Duration) -> Self {
        AuthState {
            limiter: Mutex::new(LoginLimiter::new(5, Duration::from_secs(60))),
            session_ttl,
            setup_done: AtomicBool::new(false),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The registered hosts and what their heartbeats observed.
    pub hosts: Hosts,
    /// Cluster events, in-process.
    pub bus: EventBus,
    pub leptos: LeptosOptions,
    pub info: Arc<ServerInfo>,
    pub auth: Arc<AuthState>,
    /// Cancelled once, when Berth shuts down; every background task watches it.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// A state with a fresh shutdown token and no user logged in yet.
    pub fn new(
        store: Store,
        leptos: LeptosOptions,
        listen: String,
        session_ttl: Duration,
    ) -> AppState {
        AppState {
            hosts: Hosts::new(&store.data_dir()),
            bus: EventBus::new(),
            store,
            leptos,
            info: Arc::new(ServerInfo {
                version: env!("CARGO_PKG_VERSION"),
                listen,
                started_at_ms: crate::clock::now_ms(),
            }),
            auth: Arc::new(AuthState::new(session_ttl)),
            shutdown: CancellationToken::new(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
