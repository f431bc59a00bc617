//! Helpers for tests, in the library so that unit and integration tests share them:
//! a throwaway folder and a complete `AppState` over a fresh database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use app::wire::{CreateUserInput, TeamRole, UserRole};

use crate::ops::{self, Ctx};
use crate::runtime::docker::Endpoint;
use crate::runtime::engines::Engines;
use crate::state::AppState;
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
    /// A state whose engines are `engines` (name, endpoint).
    pub async fn new(engines: &[(&str, &str)]) -> TestState {
        TestState::with_session_ttl(engines, Duration::from_secs(3600)).await
    }

    /// [`TestState::new`] with sessions that last `ttl`.
    pub async fn with_session_ttl(engines: &[(&str, &str)], ttl: Duration) -> TestState {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url())
            .await
            .expect("opening the test store");
        store.migrate().await.expect("migrating the test store");
        let engines = Engines::new(engines.iter().map(|(name, endpoint)| {
            let endpoint: Endpoint = endpoint.parse().expect("a valid endpoint");
            (name.to_string(), endpoint)
        }));
        let addr = "127.0.0.1:0".parse().expect("an address");
        let state = AppState::new(
            store,
            engines,
            crate::leptos_options("target/site", addr),
            addr.to_string(),
            ttl,
        );
        TestState { state, _dir: dir }
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
