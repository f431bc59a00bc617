//! Berth's server: the `berth` binary's library, so that tests build the same
//! router and run the same start-up as production.
//!
//! # Layout
//! - [`config`]: flags and environment (clap), each option `--flag` and `BERTH_*`.
//! - [`cli`]: the `berth user create` command.
//! - [`client`]: the client commands (`berth login`, `services`, `deploy`, `plan`,
//!   `apply`…): the `berth` binary driving a Berth over its JSON API.
//! - [`store`]: the only SQL; SQLite or PostgreSQL through sqlx's Any driver, one
//!   query text for both, migrations from `migrations/` and `migrations-postgres/`.
//! - [`auth`]: passwords, sessions, tokens, the permission policy, login limiting,
//!   CSRF protection.
//! - [`runtime`]: the `ContainerRuntime` seam the reconciler uses; Docker engines
//!   through bollard (`docker`, `docker_runtime`), an in-memory one for tests
//!   (`fake`), and the labels Berth puts on its containers and volumes (`labels`).
//! - [`cluster`]: the host registry, heartbeats and engine event followers.
//! - [`model`]: plain data of the pure core: hosts (with their volume drivers),
//!   desired services (with where their per-replica volumes live and the volume
//!   classes they name), observed replicas and volumes. The spec, the
//!   wire types and the validation rules come from the `domain` crate (shared with
//!   the browser); `app` is only the UI (pages and server functions).
//! - [`scheduler`]: placement (pure): which host gets a replica, or why none.
//! - [`reconciler`]: `plan` (pure; `plan::whatif` asks it what losing hosts would
//!   do), health checks, and the loop that makes what runs match what the services
//!   want.
//! - [`pools`]: host pools: when no host has room, a new one from a provider
//!   (the decision pure, the loop owning each machine's state), retired when idle.
//! - [`rollout`]: rollout state, owned: the state machine (a canary's step in
//!   it), and every move of a rollout as one transaction guarded on the state it
//!   expects; its gates' arithmetic.
//! - [`proxy`]: the reverse proxy to the services' healthy replicas, its route
//!   table, counters, and exports (Prometheus, nginx); HTTP and HTTPS listeners.
//! - [`leader`]: several instances on one database: the lease with its fencing
//!   term, the leader's loops started and stopped with it, the published state
//!   the others' proxies and pages follow.
//! - [`certs`]: certificates for HTTPS: served by SNI, ordered and renewed from an
//!   ACME CA (the plan pure, one task the writer of their state), or uploaded.
//! - [`stacks`]: stack and Compose files read into wanted services (every key
//!   not taken noted), written back (export), and the pure plan between what
//!   runs and a file.
//! - [`events`]: recorded events and the in-process event bus.
//! - [`ops`]: use cases shared by the REST API and the UI's server functions.
//! - [`api`]: the JSON API under `/api/v1`, `/healthz`, `/readyz`, and `ApiError`.
//! - [`web`]: the Leptos pages, server functions and static files.
//! - [`assets`]: the dashboard's files under `/pkg`: precompressed, hashed, cached.
//! - [`secrets`]: the key that seals team secrets at rest (AES-256-GCM).
//! - [`http`]: serving untrusted clients: connection cap, header and idle
//!   timeouts; address ranges of trusted proxies.
//! - [`state`]: `AppState`, cloned into every handler and task.
//! - [`shutdown`]: SIGINT/SIGTERM into the one `CancellationToken`.
//! - [`telemetry`]: tracing set-up.
//! - [`metrics`]: Berth's own series for `/metrics`: reconcile passes, actions,
//!   errors, heartbeats, API requests by route.
//! - [`history`]: the last hour of each replica's CPU and memory and each
//!   service's traffic, sampled every step for the pages' charts.
//! - [`clock`]: wall-clock time, for records only; the core is handed `now`.
//! - `testing` (tests and the `testing` feature only): a temp folder and a ready
//!   `AppState` made by [`build`], shared by all tests.
//!
//! [`build`] makes the state from the configuration (for `run` and the tests alike);
//! [`run`] opens the store, builds, checks the engines, then serves until the token
//! is cancelled; [`router`] is the whole HTTP surface for a given state.
#![forbid(unsafe_code)]
// The pages' view types are deep; release builds (which do not erase component
// types) lay them out in this crate.
#![recursion_limit = "256"]

pub mod api;
pub mod assets;
pub mod auth;
pub mod certs;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod events;
pub mod history;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod pools;
pub mod proxy;
pub mod reconciler;
pub mod rollout;
pub mod runtime;
pub mod scheduler;
pub mod secrets;
pub mod shutdown;
pub mod stacks;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod web;

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use leptos::config::LeptosOptions;

use config::Config;
use state::AppState;
use store::{Store, StoreError};

/// Why Berth could not start, in one line that says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Docker host '{name}' cannot be registered: {cause}; start it (scripts/hosts local starts one) or point --engine / BERTH_ENGINES at a running engine")]
    EngineDown { name: String, cause: String },
    #[error("cannot load the registered hosts: {0}")]
    Hosts(String),
    #[error(
        "cannot listen on {addr}: {cause}; choose another address with --listen or BERTH_LISTEN"
    )]
    Listen { addr: SocketAddr, cause: String },
    #[error("the proxy cannot listen on {addr}: {cause}; choose another address with --proxy-listen or BERTH_PROXY_LISTEN (off for none)")]
    ProxyListen { addr: SocketAddr, cause: String },
    #[error("the proxy cannot listen for HTTPS on {addr}: {cause}; choose another address with --proxy-tls-listen or BERTH_PROXY_TLS_LISTEN (off for none)")]
    ProxyTlsListen { addr: SocketAddr, cause: String },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot create the first admin: {0} (BERTH_ADMIN_USER / BERTH_ADMIN_PASSWORD)")]
    Admin(String),
    #[error("cannot create the demo service: {0} (BERTH_DEMO)")]
    Demo(String),
    #[error(transparent)]
    SecretKey(#[from] secrets::KeyError),
}

/// The first start notes a value sealed with the key; every later start must open
/// it, so a changed or lost key is found before a secret is needed.
async fn check_secret_key(store: &Store, keyring: &secrets::Keyring) -> Result<(), StartError> {
    const CHECK: &str = "secret_key_check";
    match store.setting(CHECK).await? {
        Some(stored) => Ok(keyring.verify(&stored)?),
        None => Ok(store
            .set_setting(CHECK, &keyring.check_value(), clock::now_ms())
            .await?),
    }
}

/// The state Berth serves from, made from its configuration over an open, migrated
/// store: the secret key (checked against the store), the reconciler's, sessions'
/// and proxy's settings, and the registered hosts. `run` and the tests (and a
/// test's restart) all start here; `runtime` replaces Docker engines (tests run
/// replicas in memory).
pub async fn build(
    config: &Config,
    store: Store,
    listen: SocketAddr,
    runtime: Option<(
        cluster::Hosts,
        std::sync::Arc<dyn runtime::ContainerRuntime>,
    )>,
) -> Result<AppState, StartError> {
    let keyring = secrets::Keyring::load(config.secret_key.as_deref(), &store.data_dir())?;
    check_secret_key(&store, &keyring).await?;
    let leptos = leptos_options(&config.site_root, listen);
    let mut state = match runtime {
        None => {
            let owner = store.instance_id().await?;
            let ttl = config.session_ttl;
            AppState::new(store, leptos, listen.to_string(), ttl, owner, keyring)
        }
        Some((hosts, runtime)) => AppState::with_runtime(
            store,
            leptos,
            listen.to_string(),
            config.session_ttl,
            hosts,
            runtime,
            keyring,
        ),
    };
    state.reconciler.configure(reconciler::Settings {
        host_grace: config.host_grace,
        interval: config.reconcile_interval,
    });
    state.auth = std::sync::Arc::new(state::AuthState::new(
        config.session_ttl,
        config.streams_per_user as usize,
    ));
    state.proxy = std::sync::Arc::new(proxy::Proxy::new(proxy::Settings {
        domain: config.proxy_domain.clone(),
        trusted: config.proxy_trusted.clone(),
        limits: config.proxy_limits(),
        upstream_timeout: config.proxy_timeout,
        drain_timeout: config.drain_timeout,
        https: config.proxy_tls_listen != config::ProxyListen::Off,
        https_public_port: config.proxy_https_public_port.map(u16::from),
        ..Default::default()
    }));
    state.certs = std::sync::Arc::new(certs::Certs::new(config.acme()));
    state.history = std::sync::Arc::new(history::History::new(config.history_every));
    // What was stored is served from the first connection on.
    certs::task::reload(&state).await?;
    ops::hosts::load(&state)
        .await
        .map_err(|e| StartError::Hosts(e.to_string()))?;
    Ok(state)
}

/// The configured database, keeping Berth's own files in `--data-dir` when given.
pub async fn open_store(config: &Config) -> Result<Store, store::StoreError> {
    let store = Store::open(&config.database_url).await?;
    Ok(match &config.data_dir {
        Some(dir) => store.with_data_dir(dir.clone()),
        None => store,
    })
}

/// The longest a starting Berth holds proxy connections back for its first
/// route table (hosts that do not answer are given 5 s, then listed as they were).
const PROXY_LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs Berth until SIGINT/SIGTERM: store, engines, then the HTTP server.
pub async fn run(config: Config) -> Result<(), StartError> {
    let store = open_store(&config).await?;
    store.migrate().await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen {
            addr: config.listen,
            cause: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let state = build(&config, store.clone(), addr, None).await?;
    let proxy_listener = match config.proxy_listen {
        config::ProxyListen::Off => None,
        config::ProxyListen::At(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                StartError::ProxyListen {
                    addr,
                    cause: e.to_string(),
                }
            })?)
        }
    };
    let proxy_tls_listener = match config.proxy_tls_listen {
        config::ProxyListen::Off => None,
        config::ProxyListen::At(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                StartError::ProxyTlsListen {
                    addr,
                    cause: e.to_string(),
                }
            })?)
        }
    };
    let mut state = state;
    // Elected: the loops that change things run while this instance leads.
    state.leadership = std::sync::Arc::new(leader::Leadership::elected());
    let shutdown = state.shutdown.clone();
    tokio::spawn(shutdown::on_signal(shutdown.clone()));

    ops::hosts::bootstrap(&state, &config.bootstrap_hosts())
        .await
        .map_err(|(name, e)| StartError::EngineDown {
            name,
            cause: e.to_string(),
        })?;
    spawn_observers(&state, config.heartbeat_interval);
    // Owned: awaited after the server stops, so the leader lets its lease go
    // before the store closes.
    let mut leadership = tokio::task::JoinSet::new();
    leadership.spawn(leader::run(state.clone(), shutdown.clone()));
    leadership.spawn(leader::follow(state.clone(), shutdown.clone()));
    leadership.spawn(leader::forward_writes(state.clone(), shutdown.clone()));
    // The proxy's listeners are bound (connections wait in their queues) but
    // accept only once the first table is made, or after PROXY_LOAD_WAIT when
    // the hosts are slow to answer.
    let first = state.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = first.shutdown.cancelled() => return,
            _ = tokio::time::timeout(PROXY_LOAD_WAIT, first.proxy.loaded()) => {}
        }
        serve_proxy(&first, proxy_listener, proxy_tls_listener);
    });
    warn_if_site_missing(&config.site_root);

    if let Some(password) = &config.admin_password {
        if ops::accounts::bootstrap_admin(&state, &config.admin_user, password)
            .await
            .map_err(|e| StartError::Admin(e.to_string()))?
        {
            tracing::info!(user = %config.admin_user, "created the first admin from BERTH_ADMIN_PASSWORD");
        }
    }
    if config.demo {
        // Says what it did as an event (and in the log).
        ops::services::bootstrap_demo(&state)
            .await
            .map_err(|e| StartError::Demo(e.to_string()))?;
    }
    if !ops::accounts::setup_done(&state)
        .await
        .map_err(|e| StartError::Admin(e.to_string()))?
    {
        tracing::info!("no account yet: open http://{addr}/setup to create the first admin (or start Berth with BERTH_ADMIN_PASSWORD)");
    }

    tracing::info!(
        hosts = state.hosts.entries().len(),
        database = %store.location(),
        "Berth is serving the dashboard on http://{addr}"
    );
    http::serve_router(listener, router(state), config.limits(), shutdown).await;
    while leadership.join_next().await.is_some() {}
    store.close().await;
    tracing::info!("Berth stopped");
    Ok(())
}

/// Serves the proxy on its listeners: plain HTTP (which also answers ACME's
/// HTTP-01 challenges), and HTTPS with the certificates by SNI.
pub fn serve_proxy(
    state: &AppState,
    http: Option<tokio::net::TcpListener>,
    https: Option<tokio::net::TcpListener>,
) {
    let proxy = state.proxy.clone();
    proxy.set_certs(state.certs.clone());
    let config = certs::server_config(state.certs.clone());
    for (listener, tls) in [(http, None), (https, Some(config))] {
        let Some(listener) = listener else { continue };
        let (proxy, token) = (proxy.clone(), state.shutdown.clone());
        tokio::spawn(async move {
            let served = match tls {
                None => proxy::server::serve(proxy, listener, token).await,
                Some(tls) => proxy::server::serve_tls(proxy, listener, tls, token).await,
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "the proxy stopped");
            }
        });
    }
}

/// Starts every background task as a leader that never stops leading (tests
/// and benches that drive one Berth): the observers and the leader's loops.
pub fn spawn_background(state: &AppState, heartbeat_interval: std::time::Duration) {
    spawn_observers(state, heartbeat_interval);
    for task in leading_tasks(state, &state.shutdown) {
        tokio::spawn(task);
    }
}

/// Starts what every instance runs until shutdown: heartbeats and engine event
/// followers (for its own pages; only the leader records their events), the
/// proxy's sampler and the history's (each instance keeps its own hour).
pub fn spawn_observers(state: &AppState, heartbeat_interval: std::time::Duration) {
    let token = state.shutdown.clone();
    tokio::spawn(cluster::monitor::heartbeats(
        state.clone(),
        heartbeat_interval,
        token.clone(),
    ));
    tokio::spawn(cluster::monitor::followers(state.clone(), token.clone()));
    tokio::spawn(cluster::monitor::volume_sizes(state.clone(), token.clone()));
    tokio::spawn(proxy::sampler(state.proxy.clone(), token.clone()));
    tokio::spawn(history::sampler::run(state.clone(), token));
}

/// The leader's loops (the reconcile loop, the health checks, the host pools,
/// the certificates), each stopping when `token` is cancelled.
pub fn leading_tasks(
    state: &AppState,
    token: &tokio_util::sync::CancellationToken,
) -> Vec<futures::future::BoxFuture<'static, ()>> {
    use futures::FutureExt;
    vec![
        reconciler::driver::run(state.clone(), token.clone()).boxed(),
        reconciler::prober::run(state.reconciler.clone(), token.clone()).boxed(),
        pools::run(state.clone(), token.clone()).boxed(),
        certs::task::run(state.clone(), token.clone()).boxed(),
    ]
}

/// The whole HTTP surface: health, the JSON API, the pages and static files.
pub fn router(state: AppState) -> Router {
    let router = Router::new().merge(api::router());
    web::routes(router, &state)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::page_guard,
        ))
        .layer(axum::middleware::from_fn(auth::csrf::guard))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            http::STALL_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track_requests,
        ))
        .with_state(state)
}

/// Leptos's options, from Berth's own configuration rather than Cargo.toml, so the
/// binary runs anywhere its site folder is. The pages load the dashboard's files
/// from a folder named after their content (see [`assets`]).
pub fn leptos_options(site_root: &str, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(assets::OUTPUT)
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

fn warn_if_site_missing(site_root: &str) {
    let missing = assets::missing(Path::new(site_root));
    if let Some(first) = missing.first() {
        tracing::warn!(
            "{} is missing: pages will render but not come alive; build the site with `make build` (`cargo leptos build --split`) or set LEPTOS_SITE_ROOT",
            first.display()
        );
    }
}
