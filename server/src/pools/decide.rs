//! The pools' decision, pure: replicas that wait for room, the pools, and the
//! machines they have (being made, ready, draining) in; how many hosts to ask each
//! pool for, which idle hosts to retire, and what each waiting replica waits for,
//! out. No IO and no clock: `now` is given.
//!
//! Scale up packs the waiting replicas (largest first) into the room of hosts
//! already being made, then into new hosts of the smallest pool whose labels and
//! capacity take them, up to the pool's max (every machine it has counts, even one
//! being destroyed): hosts in flight are counted, so a second decision before they
//! answer asks for nothing more. Scale down retires a
//! ready host that has been idle (no replica, or replicas that would all fit
//! elsewhere) for the pool's idle time, above its min, unless it holds a
//! per-replica volume.

use std::collections::{BTreeMap, HashMap, HashSet};

use domain::validate::Constraint;
use domain::wire::PoolHostState;

use crate::store::PoolRow;

/// How long the first waiting replica waits before a decision, so that a burst
/// across services is asked for in one go.
pub const BATCH_MS: i64 = 1000;

/// A replica that no ready host takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub service_id: i64,
    pub slot: u32,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub host_port: Option<u16>,
    pub constraints: Vec<Constraint>,
    /// Since when it waits (first seen by the reconciler).
    pub since_ms: i64,
}

/// One machine of a pool, as the decision needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub id: i64,
    pub pool_id: i64,
    pub state: PoolHostState,
    pub requested_at_ms: i64,
    /// When it entered its state (for a ready one: since when it takes replicas).
    pub since_ms: i64,
    /// Berth's replicas on it.
    pub replicas: u32,
    /// Since when it has been idle: no replica, or all of them fit on other hosts.
    pub empty_since_ms: Option<i64>,
    /// It holds a per-replica volume: never retired.
    pub home: bool,
}

/// A pool's provider failures: it asks again only after `retry_at_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failing {
    pub failures: u32,
    pub retry_at_ms: i64,
    pub error: String,
}

/// What the decision reads.
pub struct Input<'a> {
    pub pools: &'a [PoolRow],
    pub machines: &'a [Machine],
    pub waiting: &'a [Waiting],
    /// When the reconciler saw the waiting replicas: a host ready since then is
    /// still counted as room for them (the reconciler has not placed there yet).
    pub observed_at_ms: i64,
    pub failing: &'a HashMap<i64, Failing>,
    pub now: i64,
}

/// What a waiting replica waits for, in the pools' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// A host of the pool is being made (or asked for now) and will take it.
    ForHost { pool: String, since_ms: i64 },
    /// Every pool that would take it has its max of hosts.
    AtMax { pool: String, max: u32 },
    /// The pool that would take it failed to make hosts; it asks again later.
    Failing {
        pool: String,
        retry_at_ms: i64,
        error: String,
    },
}

impl Wait {
    /// What replica `slot` waits for, as a sentence, at `now`.
    pub fn sentence(&self, slot: u32, now: i64) -> String {
        match self {
            Wait::ForHost { pool, since_ms } => format!(
                "replica {slot} waits for a new host from pool {pool} ({} s)",
                ((now - since_ms).max(0) + 500) / 1000
            ),
            Wait::AtMax { pool, max } => format!(
                "replica {slot} waits: pool {pool} is at its max of {max} host{}",
                if *max == 1 { "" } else { "s" }
            ),
            // The provider's words are for admins (the Pools page and its events):
            // a team reads that the pool fails, not what its machinery said.
            Wait::Failing {
                pool, retry_at_ms, ..
            } => format!(
                "replica {slot} waits: pool {pool} could not make a host (admins see why on the Pools page); it tries again in {} s",
                ((retry_at_ms - now).max(0) + 999) / 1000
            ),
        }
    }

    pub fn pool(&self) -> &str {
        match self {
            Wait::ForHost { pool, .. } | Wait::AtMax { pool, .. } | Wait::Failing { pool, .. } => {
                pool
            }
        }
    }
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Hosts to ask each pool for (pool id -> count).
    pub create: BTreeMap<i64, u32>,
    /// Ready machines to drain and destroy.
    pub retire: Vec<i64>,
    /// What each waiting replica (service id, slot) waits for; a replica no pool
    /// would take is left out (placement's words stand).
    pub waits: BTreeMap<(i64, u32), Wait>,
}

/// Room on one host, made or being made.
struct Bin {
    pool: usize,
    cpu: i64,
    memory: i64,
    ports: HashSet<u16>,
    since_ms: i64,
}

impl Bin {
    fn fits(&self, w: &Waiting) -> bool {
        self.cpu >= w.cpu_millis as i64
            && self.memory >= w.memory_bytes as i64
            && w.host_port.is_none_or(|p| !self.ports.contains(&p))
    }

    fn take(&mut self, w: &Waiting) {
        self.cpu -= w.cpu_millis as i64;
        self.memory -= w.memory_bytes as i64;
        if let Some(p) = w.host_port {
            self.ports.insert(p);
        }
    }
}

/// The pools' decision for `input`.
pub fn decide(input: &Input) -> Decision {
    let mut out = Decision::default();
    let pools = by_size(input.pools);
    let mut bins = open_bins(input, &pools);
    // Every machine counts towards the max until it is gone: one being destroyed
    // still exists (and costs), and a provider that fails to destroy stops the pool
    // from asking for more at its max instead of piling machines up.
    let mut count: Vec<u32> = pools
        .iter()
        .map(|p| input.machines.iter().filter(|m| m.pool_id == p.id).count() as u32)
        .collect();
    let batch_due = input
        .waiting
        .iter()
        .any(|w| input.now - w.since_ms >= BATCH_MS);
    for w in largest_first(input.waiting) {
        let takers: Vec<usize> = (0..pools.len()).filter(|&i| takes(pools[i], w)).collect();
        if takers.is_empty() {
            continue;
        }
        let wait = if let Some(bin) = bins
            .iter_mut()
            .find(|b| takers.contains(&b.pool) && b.fits(w))
        {
            bin.take(w);
            Some(Wait::ForHost {
                pool: pools[bin.pool].name.clone(),
                since_ms: bin.since_ms,
            })
        } else {
            grow(
                input, &pools, &takers, &mut count, &mut bins, w, batch_due, &mut out,
            )
        };
        if let Some(wait) = wait {
            out.waits.insert((w.service_id, w.slot), wait);
        }
    }
    for (i, p) in pools.iter().enumerate() {
        let backing_off = input
            .failing
            .get(&p.id)
            .is_some_and(|f| f.retry_at_ms > input.now);
        if count[i] < p.min_hosts && !backing_off {
            *out.create.entry(p.id).or_default() += p.min_hosts - count[i];
            count[i] = p.min_hosts;
        }
    }
    out.retire = retirements(input, &pools, &out.create);
    out
}

/// Asks a taker pool for one more host for `w`, if one has room under its max and
/// is not backing off; else says why it waits. Nothing before the batch is due.
#[allow(clippy::too_many_arguments)]
fn grow(
    input: &Input,
    pools: &[&PoolRow],
    takers: &[usize],
    count: &mut [u32],
    bins: &mut Vec<Bin>,
    w: &Waiting,
    batch_due: bool,
    out: &mut Decision,
) -> Option<Wait> {
    let Some(&i) = takers.iter().find(|&&i| count[i] < pools[i].max_hosts) else {
        let p = pools[takers[0]];
        return Some(Wait::AtMax {
            pool: p.name.clone(),
            max: p.max_hosts,
        });
    };
    let p = pools[i];
    if let Some(f) = input
        .failing
        .get(&p.id)
        .filter(|f| f.retry_at_ms > input.now)
    {
        return Some(Wait::Failing {
            pool: p.name.clone(),
            retry_at_ms: f.retry_at_ms,
            error: f.error.clone(),
        });
    }
    if !batch_due {
        return None;
    }
    count[i] += 1;
    *out.create.entry(p.id).or_default() += 1;
    let mut bin = empty_bin(i, p, input.now);
    bin.take(w);
    bins.push(bin);
    Some(Wait::ForHost {
        pool: p.name.clone(),
        since_ms: input.now,
    })
}

/// Pools smallest host first (memory, then CPUs, then name): a replica gets the
/// smallest machine that takes it.
fn by_size(pools: &[PoolRow]) -> Vec<&PoolRow> {
    let mut v: Vec<&PoolRow> = pools.iter().collect();
    v.sort_by(|a, b| {
        (a.memory_bytes, a.cpu_millis, &a.name).cmp(&(b.memory_bytes, b.cpu_millis, &b.name))
    });
    v
}

/// Whether a new host of the pool would take the replica.
fn takes(p: &PoolRow, w: &Waiting) -> bool {
    w.cpu_millis <= p.cpu_millis
        && w.memory_bytes <= p.memory_bytes
        && w.constraints.iter().all(|c| c.matches(&p.labels))
}

fn empty_bin(pool: usize, p: &PoolRow, since_ms: i64) -> Bin {
    Bin {
        pool,
        cpu: p.cpu_millis as i64,
        memory: p.memory_bytes as i64,
        ports: HashSet::new(),
        since_ms,
    }
}

/// The room of hosts being made, and of hosts ready since the reconciler looked.
fn open_bins(input: &Input, pools: &[&PoolRow]) -> Vec<Bin> {
    let mut bins = Vec::new();
    for m in input.machines {
        let fresh = m.state == PoolHostState::Ready && m.since_ms > input.observed_at_ms;
        if !(m.state.in_flight() || fresh) {
            continue;
        }
        if let Some(i) = pools.iter().position(|p| p.id == m.pool_id) {
            bins.push(empty_bin(i, pools[i], m.requested_at_ms));
        }
    }
    bins
}

/// The waiting replicas, most memory first (then CPU), so that packing fills hosts
/// well; ties in a stable order.
fn largest_first(waiting: &[Waiting]) -> Vec<&Waiting> {
    let mut v: Vec<&Waiting> = waiting.iter().collect();
    v.sort_by(|a, b| {
        (b.memory_bytes, b.cpu_millis)
            .cmp(&(a.memory_bytes, a.cpu_millis))
            .then((a.service_id, a.slot).cmp(&(b.service_id, b.slot)))
    });
    v
}

/// Ready hosts idle for their pool's idle time, oldest idle first, keeping the
/// pool's min; none of a pool that is asking for hosts now. A host whose replicas
/// would move (not empty) is retired only alone: one per pool at a time, and not
/// while another of the pool drains, so that two hosts never count on the same
/// room elsewhere.
fn retirements(input: &Input, pools: &[&PoolRow], creating: &BTreeMap<i64, u32>) -> Vec<i64> {
    let mut out = Vec::new();
    for p in pools {
        if creating.contains_key(&p.id) {
            continue;
        }
        let mine = || input.machines.iter().filter(|m| m.pool_id == p.id);
        let mut staying = mine()
            .filter(|m| !matches!(m.state, PoolHostState::Draining | PoolHostState::Destroying))
            .count() as u32;
        let mut moving_allowed = !mine().any(|m| m.state == PoolHostState::Draining);
        let mut idle: Vec<&Machine> = mine()
            .filter(|m| m.state == PoolHostState::Ready && !m.home)
            .filter(|m| m.empty_since_ms.is_some_and(|t| input.now - t >= p.idle_ms))
            .collect();
        idle.sort_by_key(|m| (m.replicas > 0, m.empty_since_ms, m.id));
        for m in idle {
            if staying <= p.min_hosts {
                break;
            }
            if m.replicas > 0 {
                if !moving_allowed {
                    continue;
                }
                moving_allowed = false;
            }
            staying -= 1;
            out.push(m.id);
        }
    }
    out
}

#[cfg(test)]
mod tests;
