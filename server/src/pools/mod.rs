//! Host pools: when no registered host has room for a waiting replica, Berth asks a
//! pool's provider for a new host, registers it with the pool's labels once its
//! engine answers, and retires it when it has been idle long enough.
//!
//! - `decide` (pure): waiting replicas, pools and their machines -> hosts to ask
//!   for, hosts to retire, what each replica waits for.
//! - `provider`: runs a pool's command with a JSON request and reads its answer.
//! - `controller`: the loop that owns every pool host's state (recorded before the
//!   provider is called, so a restarted Berth resumes or cleans up), and `machine`:
//!   the work on one machine (create, wait for its engine, destroy).
//!
//! [`Pools`] is the handle in `AppState`: the reconciler hands it what waits after
//! each pass; pages read what each replica waits for and each pool's failures.

mod controller;
pub mod decide;
mod machine;
pub mod movable;
pub mod provider;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

pub use controller::run;
pub use decide::{Failing, Wait, Waiting};
pub use machine::retire;

/// What the reconciler's last pass saw that the pools need.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Replicas that no ready host takes, with since when they wait.
    pub waiting: Vec<Waiting>,
    /// Berth's replicas on each host (running or being made).
    pub replicas: HashMap<i64, u32>,
    /// Pool hosts whose replicas would all fit on other hosts.
    pub movable: HashSet<i64>,
    pub at_ms: i64,
}

/// What the reconciler saw on the hosts, for the pools.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Berth's replicas on each host (running or being made).
    pub replicas: HashMap<i64, u32>,
    /// Pool hosts whose replicas would all fit on other hosts.
    pub movable: HashSet<i64>,
}

/// A replica that waits, as the reconciler hands it over (without its since).
#[derive(Debug, Clone, PartialEq)]
pub struct Unplaced {
    pub service_id: i64,
    pub slot: u32,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub host_port: Option<u16>,
    pub constraints: Vec<domain::validate::Constraint>,
}

#[derive(Default)]
struct Inner {
    seen: Observation,
    /// The last decision's waits, per (service id, slot).
    waits: BTreeMap<(i64, u32), Wait>,
    /// Provider failures per pool id.
    failing: HashMap<i64, Failing>,
    /// Since when each registered pool host has been idle (no replica, or all of
    /// them fit elsewhere).
    empty_since: HashMap<i64, i64>,
    /// The registered, ready pool hosts (host ids): the reconciler works out which
    /// of them could be given back.
    candidates: Vec<i64>,
}

/// The pools' shared state; cheap to clone.
#[derive(Clone, Default)]
pub struct Pools {
    inner: Arc<Mutex<Inner>>,
    poked: Arc<Notify>,
}

impl Pools {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change replaces values whole: what a panicking holder left is whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reconciler's pass saw these replicas wait and these replicas on hosts.
    /// A replica keeps the time it was first seen waiting.
    pub fn observe(&self, unplaced: Vec<Unplaced>, seen: Seen, now: i64) {
        let mut inner = self.lock();
        let before: HashMap<(i64, u32), i64> = inner
            .seen
            .waiting
            .iter()
            .map(|w| ((w.service_id, w.slot), w.since_ms))
            .collect();
        let waiting: Vec<Waiting> = unplaced
            .into_iter()
            .map(|u| Waiting {
                since_ms: before.get(&(u.service_id, u.slot)).copied().unwrap_or(now),
                service_id: u.service_id,
                slot: u.slot,
                cpu_millis: u.cpu_millis,
                memory_bytes: u.memory_bytes,
                host_port: u.host_port,
                constraints: u.constraints,
            })
            .collect();
        let changed = waiting.len() != inner.seen.waiting.len() || !waiting.is_empty();
        inner.seen = Observation {
            waiting,
            replicas: seen.replicas,
            movable: seen.movable,
            at_ms: now,
        };
        drop(inner);
        if changed {
            self.poked.notify_one();
        }
    }

    /// The ready pool hosts (host ids) whose replicas the reconciler checks.
    pub fn candidates(&self) -> Vec<i64> {
        self.lock().candidates.clone()
    }

    /// What the replica waits for, if a pool is involved.
    pub fn wait_of(&self, service_id: i64, slot: u32) -> Option<Wait> {
        self.lock().waits.get(&(service_id, slot)).cloned()
    }

    /// Replicas waiting for each pool (by name).
    pub fn waiting_by_pool(&self) -> HashMap<String, u32> {
        let mut out: HashMap<String, u32> = HashMap::new();
        for w in self.lock().waits.values() {
            *out.entry(w.pool().to_string()).or_default() += 1;
        }
        out
    }

    /// A pool's provider failures in a row, if any.
    pub fn failing(&self, pool_id: i64) -> Option<Failing> {
        self.lock().failing.get(&pool_id).cloned()
    }

    /// A pool's provider failed: it asks again after a growing wait.
    pub fn fail(&self, pool_id: i64, error: &str, now: i64) {
        let mut inner = self.lock();
        let failures = inner.failing.get(&pool_id).map_or(1, |f| f.failures + 1);
        let f = Failing {
            failures,
            retry_at_ms: now + retry_ms(failures),
            error: error.to_string(),
        };
        inner.failing.insert(pool_id, f);
    }

    /// A pool's provider made a host: its failures are over.
    pub fn succeeded(&self, pool_id: i64) {
        self.lock().failing.remove(&pool_id);
    }

    /// Since when a registered host has had no replica.
    pub fn empty_since(&self, host_id: i64) -> Option<i64> {
        self.lock().empty_since.get(&host_id).copied()
    }

    /// Wakes the controller (a pool changed, a host was retired).
    pub fn poke(&self) {
        self.poked.notify_one();
    }

    async fn poked(&self) {
        self.poked.notified().await
    }
}

/// How long a pool waits after `failures` provider failures in a row: 5 s, 10 s,
/// 20 s … up to 5 minutes.
pub fn retry_ms(failures: u32) -> i64 {
    (5_000i64 << failures.saturating_sub(1).min(6)).min(300_000)
}

/// `<pool>-<6 hex>`: a DNS label that does not repeat (the time and a counter).
pub fn host_name(pool: &str, now: i64, n: u64) -> String {
    let mix =
        (now as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    format!("{pool}-{:06x}", (mix >> 40) & 0xff_ffff)
}
