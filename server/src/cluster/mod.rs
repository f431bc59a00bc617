//! The hosts Berth runs containers on: the registry of hosts with a Docker client
//! each and what their heartbeats observed (`health`), and the background tasks
//! that keep it true (`monitor`: heartbeats and each engine's event stream).

pub mod health;
pub mod monitor;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use domain::wire::{EngineState, EngineStatus, EnginesReport, HostView};
use tokio::sync::Notify;

use crate::runtime::docker::{DockerEngine, Endpoint, TlsFiles};
use crate::store::{HostRow, TlsPem};
use health::Live;

/// How long one Docker call to a host may take.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(5);

/// One registered host: what is stored about it, its client, what was observed.
pub struct HostEntry {
    row: RwLock<HostRow>,
    pub engine: DockerEngine,
    pub live: Mutex<Live>,
}

impl HostEntry {
    pub fn row(&self) -> HostRow {
        self.row.read().expect("host row lock").clone()
    }

    pub fn id(&self) -> i64 {
        self.row.read().expect("host row lock").id
    }

    pub fn name(&self) -> String {
        self.row.read().expect("host row lock").name.clone()
    }

    pub fn live(&self) -> Live {
        self.live.lock().expect("host live lock").clone()
    }

    /// Whether its engine answers (`None` before the first heartbeat's outcome),
    /// without copying the rest of what was observed.
    pub fn reachable(&self) -> Option<bool> {
        self.live.lock().expect("host live lock").reachable
    }

    /// The host as the API shows it, at `now`.
    pub fn view(&self, now: i64) -> HostView {
        let row = self.row();
        let live = self.live();
        HostView {
            id: row.id,
            state: health::state(&row, &live),
            name: row.name,
            endpoint: row.endpoint,
            address: row.address,
            labels: row.labels,
            tls: row.tls.is_some(),
            cordoned: row.cordoned,
            draining: row.draining,
            facts: live.facts,
            last_heartbeat_ms: live.last_ok_ms,
            heartbeat_age_ms: live.last_ok_ms.map(|t| now - t),
            latency_ms: live.latency_ms,
            unreachable_since_ms: live.unreachable_since_ms,
            last_error: live.last_error,
            berth_containers: live.usage.containers,
            reserved_cpu_millis: live.usage.cpu_millis,
            reserved_memory_bytes: live.usage.memory_bytes,
            created_at_ms: row.created_at,
        }
    }
}

/// Every registered host; cheap to clone.
#[derive(Clone)]
pub struct Hosts {
    inner: Arc<Inner>,
}

struct Inner {
    hosts: RwLock<BTreeMap<i64, Arc<HostEntry>>>,
    /// Where TLS material is written for the Docker clients to read.
    tls_dir: PathBuf,
    /// Rung when hosts are added or removed, so the event followers follow.
    changed: Notify,
}

impl Hosts {
    pub fn new(data_dir: &Path) -> Hosts {
        Hosts {
            inner: Arc::new(Inner {
                hosts: RwLock::new(BTreeMap::new()),
                tls_dir: data_dir.join("tls"),
                changed: Notify::new(),
            }),
        }
    }

    /// A client for a host as stored (writing its TLS files if it has any).
    pub fn engine_for(
        &self,
        name: &str,
        endpoint: &Endpoint,
        tls: Option<&TlsPem>,
    ) -> std::io::Result<DockerEngine> {
        let files = match tls {
            Some(pem) => Some(self.write_tls(name, pem)?),
            None => None,
        };
        Ok(DockerEngine::with_tls(
            endpoint.clone(),
            files,
            DOCKER_TIMEOUT,
        ))
    }

    fn write_tls(&self, name: &str, pem: &TlsPem) -> std::io::Result<TlsFiles> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = self.inner.tls_dir.join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let write = |file: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(file);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            Ok(path)
        };
        Ok(TlsFiles {
            ca: write("ca.pem", &pem.ca)?,
            cert: write("cert.pem", &pem.cert)?,
            key: write("key.pem", &pem.key)?,
        })
    }

    /// Forgets the TLS files of a host.
    pub fn remove_tls(&self, name: &str) {
        let _ = std::fs::remove_dir_all(self.inner.tls_dir.join(name));
    }

    /// Adds (or replaces) a host with its client and what is already known of it.
    pub fn insert(&self, row: HostRow, engine: DockerEngine, live: Live) -> Arc<HostEntry> {
        let entry = Arc::new(HostEntry {
            row: RwLock::new(row.clone()),
            engine,
            live: Mutex::new(live),
        });
        self.inner
            .hosts
            .write()
            .expect("hosts lock")
            .insert(row.id, entry.clone());
        self.inner.changed.notify_waiters();
        entry
    }

    /// Replaces what is stored about a host (labels, address, cordon, drain).
    pub fn update_row(&self, row: HostRow) {
        if let Some(entry) = self.get(row.id) {
            *entry.row.write().expect("host row lock") = row;
        }
    }

    pub fn remove(&self, id: i64) -> Option<Arc<HostEntry>> {
        let removed = self.inner.hosts.write().expect("hosts lock").remove(&id);
        self.inner.changed.notify_waiters();
        removed
    }

    pub fn get(&self, id: i64) -> Option<Arc<HostEntry>> {
        self.inner
            .hosts
            .read()
            .expect("hosts lock")
            .get(&id)
            .cloned()
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<HostEntry>> {
        self.entries()
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name))
    }

    /// Every host, by name.
    pub fn entries(&self) -> Vec<Arc<HostEntry>> {
        let mut list: Vec<_> = self
            .inner
            .hosts
            .read()
            .expect("hosts lock")
            .values()
            .cloned()
            .collect();
        list.sort_by_key(|e| e.name());
        list
    }

    pub fn views(&self, now: i64) -> Vec<HostView> {
        self.entries().iter().map(|e| e.view(now)).collect()
    }

    /// Waits until hosts are added or removed.
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// The engines report of `GET /api/v1/engines`, from the last heartbeats.
    pub fn engines_report(&self, now: i64) -> EnginesReport {
        EnginesReport {
            checked_at_ms: now,
            engines: self
                .entries()
                .iter()
                .map(|e| {
                    let row = e.row();
                    let live = e.live();
                    EngineStatus {
                        name: row.name,
                        endpoint: row.endpoint,
                        state: if live.reachable == Some(true) {
                            EngineState::Up
                        } else {
                            EngineState::Down
                        },
                        latency_ms: live.latency_ms,
                        facts: live.facts,
                        error: match live.reachable {
                            Some(true) => None,
                            Some(false) | None => Some(
                                live.last_error
                                    .unwrap_or_else(|| "not heard from yet".into()),
                            ),
                        },
                    }
                })
                .collect(),
        }
    }
}
