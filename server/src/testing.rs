//! Helpers for tests, in the library so that unit and integration tests share them:
//! a throwaway folder and a complete `AppState` over a fresh database (with real
//! Docker hosts, or an in-memory runtime and hosts that answer as told).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use domain::wire::{CreateUserInput, EngineFacts, TeamRole, UserRole};

use crate::clock::ManualClock;
use crate::cluster::health::{Live, Probe};
use crate::cluster::Hosts;
use crate::config::Config;
use crate::ops::{self, Ctx};
use crate::runtime::docker::Endpoint;
use crate::runtime::fake::FakeRuntime;
use crate::state::AppState;
use crate::store::NewHost;
use crate::store::Store;

/// A fresh folder under the system's temp dir, removed when dropped; with
/// `BERTH_TEST_DATABASE` set (a PostgreSQL URL, from `scripts/postgres env`), its
/// database is a fresh PostgreSQL database, dropped with it.
pub struct TempDir(pub PathBuf, OnceLock<String>);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-test-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("creating a temp dir");
        TempDir(dir, OnceLock::new())
    }

    /// This folder's database: a SQLite file inside it, or (with
    /// `BERTH_TEST_DATABASE`) a PostgreSQL database of its own, made on first use.
    pub fn db_url(&self) -> String {
        self.1
            .get_or_init(|| match postgres_server() {
                Some(server) => postgres::create(&server, &self.db_name()),
                None => format!("sqlite://{}/berth.db", self.0.display()),
            })
            .clone()
    }

    /// A database name unique to this folder.
    fn db_name(&self) -> String {
        let name = self.0.file_name().unwrap_or_default().to_string_lossy();
        name.replace('-', "_")
    }
}

/// The PostgreSQL server the tests run on, if asked for.
fn postgres_server() -> Option<String> {
    std::env::var("BERTH_TEST_DATABASE")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Test databases on a PostgreSQL server, made and dropped from sync code (a
/// `TempDir` is made and dropped outside any runtime's control) on a thread of
/// their own.
mod postgres {
    use sqlx::Connection;

    /// Runs `sql` on the server; `Err` with what went wrong.
    fn on_server(server: &str, sql: String) -> Result<(), String> {
        let server = server.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("a runtime for the test database: {e}"))?;
            rt.block_on(async move {
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&server)
                    .await
                    .map_err(|e| format!("connecting to BERTH_TEST_DATABASE: {e}"))?;
                let done = sqlx::raw_sql(&sql).execute(&mut conn).await;
                let _ = conn.close().await;
                done.map(|_| ()).map_err(|e| format!("{sql}: {e}"))
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the test database thread panicked".into()))
    }

    /// Makes database `name` and answers its URL.
    pub fn create(server: &str, name: &str) -> String {
        if let Err(e) = on_server(server, format!("CREATE DATABASE {name}")) {
            panic!("making the test database: {e}");
        }
        let (base, _) = server.rsplit_once('/').expect("a URL with a database");
        format!("{base}/{name}")
    }

    /// Drops database `name`, closing whatever still holds it. Called from a
    /// `Drop`, maybe while a failed test unwinds: a failure is said, not raised.
    pub fn drop(server: &str, name: &str) {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(e) = on_server(server, sql) {
            eprintln!("dropping the test database {name}: {e}");
        }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TestState {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let (Some(url), Some(server)) = (self.1.get(), postgres_server()) {
            if !url.starts_with("sqlite:") {
                postgres::drop(&server, &self.db_name());
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `AppState` over a migrated database in its own folder (kept alive with it).
pub struct TestState {
    pub state: AppState,
    /// The loop's clock, moved by hand ([`TestState::advance`]); only states over
    /// the in-memory runtime have one: real engines run on real time.
    manual: Option<Arc<ManualClock>>,
    /// What it was built from, to build it again on a restart.
    config: Config,
    _dir: TempDir,
}

/// Berth's configuration as tests start it: the defaults of `berth` with no flags,
/// over the database in `dir`, sessions lasting `session_ttl`.
pub fn config(dir: &TempDir, session_ttl: Duration) -> Config {
    use clap::Parser;
    let mut config = Config::try_parse_from(["berth"]).expect("the default configuration");
    config.database_url = dir.db_url();
    config.site_root = "target/site".into();
    config.secret_key = None;
    config.session_ttl = session_ttl;
    // Tests reach nothing outside this machine: a test that orders certificates
    // points Berth at its own Pebble.
    config.acme_directory = crate::config::AcmeDirectory::Off;
    config
}

/// Where a test state says it listens (no test serves on it).
fn listen() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

/// A fresh store in `dir`, migrated.
async fn open_store(dir: &TempDir) -> Store {
    let store = Store::open(&dir.db_url())
        .await
        .expect("opening the test store")
        .with_data_dir(dir.0.clone());
    store.migrate().await.expect("migrating the test store");
    store
}

impl TestState {
    /// A state with `hosts` (name, endpoint) registered but not yet heard from
    /// (whether they answer or not: no heartbeat runs until asked).
    pub async fn new(hosts: &[(&str, &str)]) -> TestState {
        TestState::with_session_ttl(hosts, Duration::from_secs(3600)).await
    }

    /// [`TestState::new`] with sessions that last `ttl`.
    pub async fn with_session_ttl(hosts: &[(&str, &str)], ttl: Duration) -> TestState {
        TestState::with_config(hosts, |c| c.session_ttl = ttl).await
    }

    /// [`TestState::new`] with the test configuration changed by `tweak` first
    /// (kept for [`TestState::restart`]).
    pub async fn with_config(hosts: &[(&str, &str)], tweak: impl FnOnce(&mut Config)) -> TestState {
        let dir = TempDir::new();
        let mut config = config(&dir, Duration::from_secs(3600));
        tweak(&mut config);
        let store = open_store(&dir).await;
        let state = crate::build(&config, store, listen(), None)
            .await
            .expect("building the test state");
        let t = TestState {
            state,
            manual: None,
            config,
            _dir: dir,
        };
        for (name, endpoint) in hosts {
            t.add_host(name, endpoint).await;
        }
        t
    }

    /// A state over a fresh database whose replicas run on an in-memory runtime,
    /// with `hosts` hosts (`h1`…) that answer with 2 CPUs and 4 GiB each.
    pub async fn with_fake(hosts: usize) -> (TestState, Arc<FakeRuntime>) {
        let dir = TempDir::new();
        let config = config(&dir, Duration::from_secs(3600));
        let store = open_store(&dir).await;
        let manual = Arc::new(ManualClock::at(crate::clock::now_ms()));
        let fake = Arc::new(FakeRuntime::with_clock(manual.clone()));
        let registry = Hosts::new(&store.data_dir());
        let mut state = crate::build(&config, store, listen(), Some((registry, fake.clone())))
            .await
            .expect("building the test state");
        state.clock = manual.clone();
        let t = TestState {
            state,
            manual: Some(manual),
            config,
            _dir: dir,
        };
        for n in 1..=hosts {
            let id = t
                .add_host(&format!("h{n}"), &format!("unix:///nonexistent/h{n}.sock"))
                .await;
            t.set_host_answering(id, true);
        }
        (t, fake)
    }

    /// Moves the loop's clock on by `ms` (states over the in-memory runtime only).
    pub fn advance(&self, ms: i64) {
        self.manual
            .as_ref()
            .expect("only a state over the in-memory runtime has a clock to move")
            .advance(ms);
    }

    /// Makes a host's heartbeat answer (2 CPUs, 4 GiB) or fail, as the monitor would
    /// find it, without asking any engine.
    pub fn set_host_answering(&self, host_id: i64, answering: bool) {
        let entry = self.state.hosts.get(host_id).expect("a registered host");
        let probe = if answering {
            Probe::Answered {
                facts: EngineFacts {
                    version: "20.10.24".into(),
                    api_version: "1.41".into(),
                    os: "test".into(),
                    arch: "x86_64".into(),
                    cpus: 2,
                    memory_bytes: 4 << 30,
                    containers_running: 0,
                    containers_total: 0,
                    images: 0,
                    // As the test hosts of `scripts/hosts`: rclone's plugin on each.
                    volume_drivers: vec!["local".into(), "rclone".into()],
                },
                usage: Default::default(),
                latency_ms: 1,
            }
        } else {
            Probe::Failed {
                error: "the test made it fail".into(),
            }
        };
        let mut live = entry.live.lock().expect("host live lock");
        for _ in 0..crate::cluster::health::MISSED_BEATS {
            crate::cluster::health::apply(&mut live, probe.clone(), self.state.clock.now_ms());
        }
    }

    /// Registers a host directly, without connecting to it (it is `pending` until a
    /// heartbeat); returns its id.
    pub async fn add_host(&self, name: &str, endpoint: &str) -> i64 {
        let parsed: Endpoint = endpoint.parse().expect("a valid endpoint");
        let labels = Default::default();
        let id = self
            .state
            .store
            .create_host(NewHost {
                name,
                endpoint,
                address: "127.0.0.1",
                labels: &labels,
                tls: None,
                now: crate::clock::now_ms(),
            })
            .await
            .expect("registering a test host");
        let row = self
            .state
            .store
            .host_by_id(id)
            .await
            .expect("reading it back")
            .expect("the host");
        let engine = self
            .state
            .hosts
            .engine_for(name, &parsed, None)
            .expect("a client for the test host");
        self.state.hosts.insert(row, engine, Live::default());
        id
    }

    /// Berth restarted: this state's background tasks stop, and a new state starts
    /// over on the same database, with a host registry loaded from the store and a
    /// reconciler that remembers nothing.
    pub async fn restart(&mut self) {
        self.state.shutdown.cancel();
        let store = self.state.store.clone();
        let state = crate::build(&self.config, store, listen(), None)
            .await
            .expect("building the restarted state");
        state.reconciler.configure(self.state.reconciler.settings());
        self.state = state;
    }

    /// One heartbeat to every host, as the background task does each interval.
    pub async fn heartbeat(&self) {
        for entry in self.state.hosts.entries() {
            crate::cluster::monitor::beat(&self.state, &entry, Duration::from_secs(5)).await;
        }
    }

    /// Starts the background tasks; they stop when this state is dropped.
    pub fn spawn_background(&self, heartbeat_interval: Duration) {
        crate::spawn_background(&self.state, heartbeat_interval);
    }

    /// Creates a user directly, as the command line does; returns their id.
    pub async fn add_user(&self, username: &str, password: &str, role: UserRole) -> i64 {
        let input = CreateUserInput {
            username: username.into(),
            password: password.into(),
            role,
        };
        ops::users::insert(&self.state, &Ctx::system("test"), input)
            .await
            .expect("creating a test user")
            .id
    }

    /// Creates a team directly; returns its id.
    pub async fn add_team(&self, name: &str) -> i64 {
        self.state
            .store
            .create_team(name, crate::clock::now_ms())
            .await
            .expect("creating a test team")
    }

    /// Puts a user into a team directly.
    pub async fn add_member(&self, team: i64, user: i64, role: TeamRole) {
        self.state
            .store
            .set_member(team, user, role, crate::clock::now_ms())
            .await
            .expect("adding a test member");
    }

    /// Every text value in every table, to prove what the database does not hold.
    pub async fn all_stored_text(&self) -> String {
        self.state
            .store
            .dump_text()
            .await
            .expect("dumping the test database")
    }

    /// The whole HTTP surface over this state.
    pub fn router(&self) -> axum::Router {
        crate::router(self.state.clone())
    }
}
