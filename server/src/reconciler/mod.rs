//! The reconciler: `plan` (pure: desired + observed + hosts + now -> actions),
//! `prober` (HTTP health checks from outside, through published ports), and
//! `driver` (the loop: observes Docker, plans, executes the actions with their
//! reasons, and is triggered by writes, engine events, health changes and a
//! periodic pass; per-service work serialized; errors backed off).
//!
//! [`Reconciler`] is the handle the rest of Berth holds: it is poked after writes,
//! and it keeps what the last pass saw for the pages and the API.

pub mod driver;
pub mod plan;
pub mod prober;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, Notify};

use crate::model::{ObservedReplica, Problem, Status};
use crate::runtime::ContainerRuntime;

/// How the loop behaves; none of it is part of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a host may be unreachable before its replicas are placed elsewhere.
    pub host_grace: Duration,
    /// A full pass runs at least this often, whatever else happens.
    pub interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host_grace: Duration::from_secs(10),
            interval: Duration::from_secs(10),
        }
    }
}

/// What is being done to a slot that has no container yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub slot: u32,
    pub host_id: i64,
    pub revision: i64,
    pub spec_hash: String,
    /// What Berth is doing to make it.
    pub step: Making,
    pub since_ms: i64,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub host_port: Option<u16>,
}

/// What Berth is doing to make a replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Making {
    Starting,
    Pulling { image: String },
}

impl std::fmt::Display for Making {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Making::Starting => f.write_str("starting"),
            Making::Pulling { image } => write!(f, "pulling {image}"),
        }
    }
}

/// Why the last start of a slot failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartFailure {
    pub host_id: i64,
    pub error: String,
    pub at_ms: i64,
}

/// A slot's history since Berth started.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotHistory {
    /// Replicas of this slot replaced because they failed.
    pub restarts: u32,
    /// Failures since the slot was last ready; the crash back-off grows with it.
    pub failures_in_row: u32,
    pub last_failure_ms: i64,
    /// `exited with code 137`, `unhealthy`.
    pub last_exit: Option<String>,
    pub start_failure: Option<StartFailure>,
}

/// What the last pass knows of one service.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceState {
    /// Its containers (health as Berth's checks or Docker's see it).
    pub replicas: Vec<ObservedReplica>,
    /// Replicas being made.
    pub pending: Vec<Pending>,
    pub slots: BTreeMap<u32, SlotHistory>,
    /// Why some replicas wait.
    pub problems: Vec<Problem>,
    /// The last failure while it backs off.
    pub last_error: Option<String>,
    /// How far it is on its way to its current revision.
    pub rollout: plan::RolloutReport,
    pub observed_at_ms: i64,
}

impl ServiceState {
    /// Whether two states say the same, the time of the pass that made them
    /// aside: a pass that found nothing new changes nothing a reader sees.
    pub fn same_but_time(&self, other: &ServiceState) -> bool {
        // Every field named: a new one is compared or left out on purpose.
        let ServiceState {
            replicas,
            pending,
            slots,
            problems,
            last_error,
            rollout,
            observed_at_ms: _,
        } = self;
        *replicas == other.replicas
            && *pending == other.pending
            && *slots == other.slots
            && *problems == other.problems
            && *last_error == other.last_error
            && *rollout == other.rollout
    }
}

/// The reconciler's handle: cheap to share through `AppState`.
pub struct Reconciler {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub prober: prober::Prober,
    settings: RwLock<Settings>,
    poked: Notify,
    /// Service ids whose state changed, for live pages.
    changes: broadcast::Sender<i64>,
    /// Service ids written here, for the leader when another instance leads.
    writes: broadcast::Sender<i64>,
    services: Mutex<HashMap<i64, ServiceState>>,
    /// Set by writes, taken by the driver: services poked by a write skip
    /// their back-off (a set: on a follower nothing takes it).
    pub(crate) fresh_writes: Mutex<std::collections::HashSet<i64>>,
    /// Raised whenever what a reader of the services sees may have changed
    /// (see [`Reconciler::generation`]).
    generation: std::sync::atomic::AtomicU64,
}

impl Reconciler {
    pub fn new(runtime: Arc<dyn ContainerRuntime>) -> Self {
        Reconciler {
            runtime,
            prober: prober::Prober::default(),
            settings: RwLock::new(Settings::default()),
            poked: Notify::new(),
            changes: broadcast::channel(1024).0,
            writes: broadcast::channel(1024).0,
            services: Mutex::new(HashMap::new()),
            fresh_writes: Mutex::new(std::collections::HashSet::new()),
            generation: Default::default(),
        }
    }

    pub fn settings(&self) -> Settings {
        *self.settings.read().expect("settings lock")
    }

    /// What of the settings planning takes.
    pub fn plan_settings(&self) -> plan::Settings {
        plan::Settings {
            host_grace_ms: self.settings().host_grace.as_millis() as i64,
        }
    }

    pub fn configure(&self, settings: Settings) {
        *self.settings.write().expect("settings lock") = settings;
    }

    /// Asks for a pass soon.
    pub fn poke(&self) {
        self.poked.notify_one();
    }

    /// A service's desired state was written: it is reconciled at once, past any
    /// back-off, and live pages (and the leader, when another instance leads)
    /// hear of it.
    pub fn written(&self, service_id: i64) {
        let _ = self.writes.send(service_id);
        self.heard(service_id);
    }

    /// A write made through another instance: reconciled at once, past any
    /// back-off; not told on again.
    pub fn heard(&self, service_id: i64) {
        self.fresh_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service_id);
        self.changed(service_id);
        self.poke();
    }

    /// Service ids as they are written here.
    pub fn subscribe_writes(&self) -> broadcast::Receiver<i64> {
        self.writes.subscribe()
    }

    pub(crate) async fn poked(&self) {
        self.poked.notified().await;
    }

    /// Tells live pages that a service changed.
    pub fn changed(&self, service_id: i64) {
        self.touch();
        let _ = self.changes.send(service_id);
    }

    /// Something every service's view reads changed (a host came or went).
    pub fn touch(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// A number that moves whenever a service's state, a write or a host's
    /// reachability changed: lists built at one generation are current while
    /// it stays.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Service ids as they change.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.changes.subscribe()
    }

    /// What the last pass knows of a service.
    pub fn service(&self, service_id: i64) -> ServiceState {
        whole(&self.services)
            .get(&service_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `f` on a service's state (made when missing); tells live pages when it
    /// changed.
    pub(crate) fn update<T>(&self, service_id: i64, f: impl FnOnce(&mut ServiceState) -> T) -> T {
        let (out, changed) = {
            let mut all = whole(&self.services);
            let entry = all.entry(service_id).or_default();
            // `f` works on a copy that replaces the entry only once `f` returned:
            // a panic in `f` leaves the entry as it was (see `whole`).
            let mut next = entry.clone();
            let out = f(&mut next);
            let changed = !next.same_but_time(entry);
            *entry = next;
            (out, changed)
        };
        if changed {
            self.changed(service_id);
        }
        out
    }

    /// Every replica running now (not being made, not being stopped).
    pub fn running(&self) -> Vec<ObservedReplica> {
        whole(&self.services)
            .values()
            .flat_map(|s| &s.replicas)
            .filter(|r| r.status == Status::Running && !r.pending && !r.stopping)
            .cloned()
            .collect()
    }

    /// Every service's state (the leader publishes them for the others' pages).
    pub fn all(&self) -> Vec<(i64, ServiceState)> {
        let mut all: Vec<(i64, ServiceState)> = whole(&self.services)
            .iter()
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Takes the leader's published states (a follower): each changed one is
    /// told to live pages, and services it no longer has are forgotten.
    pub fn replace_all(&self, states: Vec<(i64, ServiceState)>) {
        let ids: std::collections::HashSet<i64> = states.iter().map(|(id, _)| *id).collect();
        for (id, state) in states {
            self.update(id, |s| *s = state);
        }
        self.retain(|id| ids.contains(&id));
    }

    /// Forgets every replica being made: a new leader's, whose tasks (the only
    /// ones that clear such an entry) were another instance's.
    pub fn forget_pending(&self) {
        let ids: Vec<i64> = whole(&self.services).keys().copied().collect();
        for id in ids {
            self.update(id, |s| s.pending.clear());
        }
    }

    /// Forgets services that are gone.
    pub(crate) fn retain(&self, keep: impl Fn(i64) -> bool) {
        let removed = {
            let mut all = whole(&self.services);
            let before = all.len();
            all.retain(|id, _| keep(*id));
            all.len() < before
        };
        if removed {
            self.touch();
        }
    }
}

/// The services' states, even after a panic elsewhere while the lock was held:
/// every change replaces an entry whole once it is computed, so what a panicking
/// holder left is never half-written, and one panic must not stop every later
/// page and pass from reading.
fn whole(m: &Mutex<HashMap<i64, ServiceState>>) -> MutexGuard<'_, HashMap<i64, ServiceState>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    #[test]
    fn a_panic_while_updating_leaves_the_state_whole_and_readable() {
        let r = Reconciler::new(Arc::new(FakeRuntime::new()));
        let problem = Problem::NotPlaced {
            slot: 1,
            why: "no host".into(),
        };
        r.update(1, |s| s.problems = vec![problem.clone()]);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            r.update(1, |s| {
                s.problems.clear();
                panic!("a bug in a caller");
            })
        }));
        assert!(panicked.is_err());
        // Later reads and writes still work, and see the entry as it was.
        assert_eq!(r.service(1).problems, [problem]);
        r.update(1, |s| s.problems.clear());
        assert!(r.service(1).problems.is_empty());
    }
}
