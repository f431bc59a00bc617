//! Helpers for tests, in the library so that unit and integration tests share them:
//! a throwaway folder and a complete `AppState` over a fresh database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::runtime::docker::Endpoint;
use crate::runtime::engines::Engines;
use crate::state::{AppState, ServerInfo};
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
        let state = AppState {
            store,
            engines,
            leptos: crate::leptos_options("target/site", addr),
            info: Arc::new(ServerInfo {
                version: env!("CARGO_PKG_VERSION"),
                listen: addr.to_string(),
                started_at_ms: crate::clock::now_ms(),
            }),
            shutdown: CancellationToken::new(),
        };
        TestState { state, _dir: dir }
    }

    /// The whole HTTP surface over this state.
    pub fn router(&self) -> axum::Router {
        crate::router(self.state.clone())
    }
}
