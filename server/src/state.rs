//! `AppState`: everything a request handler or background task needs, cheap to clone.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::auth::limiter::LoginLimiter;
use crate::auth::streams::Streams;
use crate::clock::{Clock, SystemClock};
use crate::cluster::Hosts;
use crate::events::EventBus;
use crate::proxy::Proxy;
use crate::reconciler::Reconciler;
use crate::runtime::docker_runtime::DockerRuntime;
use crate::runtime::ContainerRuntime;
use crate::secrets::Keyring;
use crate::store::Store;

/// Facts fixed at start-up.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: &'static str,
    pub listen: String,
    pub started_at_ms: i64,
}

/// Accounts' moving parts: failed-login limiting, session lifetime, open streams.
#[derive(Debug)]
pub struct AuthState {
    pub limiter: Mutex<LoginLimiter>,
    pub session_ttl: Duration,
    /// Set once a user exists; spares a query per page load after the first run.
    pub setup_done: AtomicBool,
    /// Live streams per user, ended when their credentials are revoked.
    pub streams: Arc<Streams>,
}

/// Streams one user may keep open unless configured otherwise.
pub const STREAMS_PER_USER: usize = 16;

impl AuthState {
    /// 5 failed logins a minute per account and per client address.
    pub fn new(session_ttl: Duration, streams_per_user: usize) -> Self {
        AuthState {
            limiter: Mutex::new(LoginLimiter::new(5, Duration::from_secs(60))),
            session_ttl,
            setup_done: AtomicBool::new(false),
            streams: Streams::new(streams_per_user),
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
    /// Keeps what runs as the services want it.
    pub reconciler: Arc<Reconciler>,
    /// Host pools: what waits for a new host, and the pools' failures.
    pub pools: crate::pools::Pools,
    /// Sends requests to the services' healthy replicas.
    pub proxy: Arc<Proxy>,
    /// The certificates the proxy serves over HTTPS, and the ACME challenges.
    pub certs: Arc<crate::certs::Certs>,
    pub leptos: LeptosOptions,
    pub info: Arc<ServerInfo>,
    pub auth: Arc<AuthState>,
    /// Seals and opens team secrets.
    pub keyring: Arc<Keyring>,
    /// Cancelled once, when Berth shuts down; every background task watches it.
    pub shutdown: CancellationToken,
    /// Where the reconciler reads the time (the system's; loop tests move their
    /// own by hand).
    pub clock: Arc<dyn Clock>,
    /// Whether this instance leads (runs the loops that change things).
    pub leadership: Arc<crate::leader::Leadership>,
    /// Berth's own series for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The services list, built once per change for every reader.
    pub listing: Arc<crate::ops::services::Listing>,
    /// The last N-1 check, for every open dashboard.
    pub whatif: Arc<crate::ops::whatif::WhatIfs>,
    /// The last hour of each replica's usage and each service's traffic.
    pub history: Arc<crate::history::History>,
}

impl AppState {
    /// A state with a fresh shutdown token and no user logged in yet; replicas run
    /// on the registered hosts' Docker engines, labelled with `owner` (the
    /// instance id).
    pub fn new(
        store: Store,
        leptos: LeptosOptions,
        listen: String,
        session_ttl: Duration,
        owner: String,
        keyring: Keyring,
    ) -> AppState {
        let hosts = Hosts::new(&store.data_dir());
        let runtime = Arc::new(DockerRuntime::new(hosts.clone(), owner));
        AppState::with_runtime(store, leptos, listen, session_ttl, hosts, runtime, keyring)
    }

    /// A state whose replicas run on `runtime` (tests use an in-memory one).
    pub fn with_runtime(
        store: Store,
        leptos: LeptosOptions,
        listen: String,
        session_ttl: Duration,
        hosts: Hosts,
        runtime: Arc<dyn ContainerRuntime>,
        keyring: Keyring,
    ) -> AppState {
        AppState {
            hosts,
            bus: EventBus::new(),
            reconciler: Arc::new(Reconciler::new(runtime)),
            pools: Default::default(),
            proxy: Arc::new(Proxy::new(Default::default())),
            certs: Arc::new(crate::certs::Certs::new(None)),
            store,
            leptos,
            info: Arc::new(ServerInfo {
                version: env!("CARGO_PKG_VERSION"),
                listen,
                started_at_ms: crate::clock::now_ms(),
            }),
            auth: Arc::new(AuthState::new(session_ttl, STREAMS_PER_USER)),
            keyring: Arc::new(keyring),
            shutdown: CancellationToken::new(),
            clock: Arc::new(SystemClock),
            leadership: Arc::new(crate::leader::Leadership::solo()),
            metrics: Default::default(),
            listing: Default::default(),
            whatif: Default::default(),
            history: Arc::new(crate::history::History::new(Duration::from_secs(10))),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
