//! Helpers for tests, in the library so that unit and integration tests share them:
//! a throwaway folder and a complete `AppState` over a fresh database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use app::wire::{CreateUserInput, TeamRole, UserRole};

use crate::cluster::health::Live;
use crate::ops::{self, Ctx};
use crate::runtime::docker::Endpoint;
use crate::state::AppState;
use crate::store::NewHost;
use crate::store::Store;

/// A fresh folder under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

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
        TempDir(dir)
    }

    /// A database URL inside this folder.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}/berth.db", self.0.display())
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
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `AppState` over a migrated database in its own folder (kept alive with it).
pub struct TestState {
    pub state: AppState,
    _dir: TempDir,
}

impl TestState {
    /// A state with `hosts` (name, endpoint) registered but not yet heard from
    /// (whether they answer or not: no heartbeat runs until asked).
    pub async fn new(hosts: &[(&str, &str)]) -> TestState {
        TestState::with_session_ttl(hosts, Duration::from_secs(3600)).await
    }

    /// [`TestState::new`] with sessions that last `ttl`.
    pub async fn with_session_ttl(hosts: &[(&str, &str)], ttl: Duration) -> TestState {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url())
            .await
            .expect("opening the test store");
        store.migrate().await.expect("migrating the test store");
        let addr = "127.0.0.1:0".parse().expect("an address");
        let state = AppState::new(
            store,
            crate::leptos_options("target/site", addr),
            addr.to_string(),
            ttl,
        );
        let t = TestState { state, _dir: dir };
        for (name, endpoint) in hosts {
            t.add_host(name, endpoint).await;
        }
        t
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
