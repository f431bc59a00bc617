//! The pools' loop: the one owner of every pool host's state. Each tick reads the
//! pools and their machines from the store, lays what the reconciler saw over them,
//! asks `decide` what to do, and starts the work on each machine as a task of its
//! own (at most one per machine). A machine recorded as being made without a task
//! (Berth stopped while its provider ran) is destroyed by name: a restarted Berth
//! never leaves a machine it does not know of.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use domain::wire::{HostState, PoolHostState};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::decide::{self, Input, Machine, Wait};
use super::machine::{self, Work};
use crate::cluster::health;
use crate::events::{self, Level};
use crate::state::AppState;
use crate::store::{PoolHostRow, PoolRow};

/// A tick runs at least this often (a waiting replica's decision is due within
/// the batch window, and the whole decision well within 5 s).
const TICK: Duration = Duration::from_millis(500);
/// Provider calls a pool starts in one tick, at most.
const MAX_CREATES_PER_TICK: u32 = 20;

/// Runs the pools' loop until the token is cancelled. Work on machines under way
/// is dropped with the loop (a provider's process is killed); what it left is in
/// the store, and the next start resumes or cleans up.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut ctl = Controller::default();
    loop {
        ctl.tick(&state).await;
        tokio::select! {
            _ = token.cancelled() => return,
            _ = state.pools.poked() => {}
            _ = tokio::time::sleep(TICK) => {}
            Some(done) = ctl.tasks.join_next_with_id(), if !ctl.tasks.is_empty() => ctl.finished(done),
        }
        while let Some(done) = ctl.tasks.try_join_next_with_id() {
            ctl.finished(done);
        }
    }
}

#[derive(Default)]
struct Controller {
    /// Work on machines, owned: dropped at shutdown, it stops.
    tasks: JoinSet<()>,
    /// Which machine each task works on.
    running: HashMap<tokio::task::Id, i64>,
    /// Pools whose max was announced (until they are below it again).
    told_max: HashSet<String>,
    /// Names made so far (with the time, they do not repeat).
    made: u64,
}

impl Controller {
    /// A machine's work ended (a panic is logged; the machine's state in the
    /// store says what the next tick does with it).
    fn finished(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match &done {
            Ok((id, ())) => *id,
            Err(e) => e.id(),
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "pools: work on a machine failed");
        }
        self.running.remove(&id);
    }

    fn busy(&self, machine_id: i64) -> bool {
        self.running.values().any(|m| *m == machine_id)
    }

    fn spawn(&mut self, state: &AppState, pool: &PoolRow, row: PoolHostRow, work: Work) {
        let id = row.id;
        let handle = self
            .tasks
            .spawn(machine::work(state.clone(), pool.clone(), row, work));
        self.running.insert(handle.id(), id);
    }

    async fn tick(&mut self, state: &AppState) {
        let now = state.clock.now_ms();
        let (pools, rows, homes) = match read(state).await {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("pools: {e}");
                return;
            }
        };
        let machines = self.machines(state, &rows, &homes, now);
        let d = {
            let (seen, failing) = {
                let inner = state.pools.lock();
                (inner.seen.clone(), inner.failing.clone())
            };
            decide::decide(&Input {
                pools: &pools,
                machines: &machines,
                waiting: &seen.waiting,
                observed_at_ms: seen.at_ms,
                failing: &failing,
                now,
            })
        };
        self.announce_max(state, &d.waits).await;
        state.pools.lock().waits = d.waits;
        for (pool_id, n) in d.create {
            if let Some(pool) = pools.iter().find(|p| p.id == pool_id) {
                // The rest are asked for at the next tick (hosts being made count).
                for _ in 0..n.min(MAX_CREATES_PER_TICK) {
                    self.create(state, pool, now).await;
                }
            }
        }
        for id in d.retire {
            let row = rows.iter().find(|r| r.id == id);
            if let Some((row, pool)) = row.and_then(|r| Some((r, pool_of(&pools, r)?))) {
                let idle = format!("idle for {} s", pool.idle_ms / 1000);
                if let Err(e) = machine::retire(state, pool, row, &idle).await {
                    tracing::error!("pools: {e}");
                }
            }
        }
        self.follow(state, &pools, &rows, &machines, now).await;
    }

    /// Each pool host as the decision sees it: its replicas (the reconciler's count
    /// or the heartbeat's, whichever is more), since when it is idle (empty, or its
    /// replicas would all fit elsewhere), whether it holds a per-replica volume.
    fn machines(
        &self,
        state: &AppState,
        rows: &[PoolHostRow],
        homes: &HashSet<i64>,
        now: i64,
    ) -> Vec<Machine> {
        let mut inner = state.pools.lock();
        let mut empty_since = HashMap::new();
        let out = rows
            .iter()
            .map(|r| {
                let replicas = r
                    .host_id
                    .map_or(0, |h| replicas_on(state, &inner.seen.replicas, h));
                let idle =
                    replicas == 0 || r.host_id.is_some_and(|h| inner.seen.movable.contains(&h));
                let empty = match r.host_id {
                    Some(h) if idle && r.state == PoolHostState::Ready && heard(state, h) => {
                        let since = inner.empty_since.get(&h).copied().unwrap_or(now);
                        empty_since.insert(h, since);
                        Some(since)
                    }
                    _ => None,
                };
                Machine {
                    id: r.id,
                    pool_id: r.pool_id,
                    state: r.state,
                    requested_at_ms: r.requested_at,
                    since_ms: r.state_since,
                    replicas,
                    empty_since_ms: empty,
                    home: r.host_id.is_some_and(|h| homes.contains(&h)),
                }
            })
            .collect();
        inner.empty_since = empty_since;
        inner.candidates = rows
            .iter()
            .filter(|r| r.state == PoolHostState::Ready)
            .filter_map(|r| r.host_id)
            .collect();
        out
    }

    /// Records one more machine of the pool, then asks its provider for it.
    async fn create(&mut self, state: &AppState, pool: &PoolRow, now: i64) {
        for _ in 0..5 {
            self.made += 1;
            let name = super::host_name(&pool.name, now, self.made);
            match state.store.create_pool_host(pool.id, &name, now).await {
                Ok(id) => {
                    let row = PoolHostRow {
                        id,
                        pool_id: pool.id,
                        name,
                        state: PoolHostState::Creating,
                        endpoint: None,
                        answer: None,
                        host_id: None,
                        requested_at: now,
                        state_since: now,
                        last_error: None,
                    };
                    self.spawn(state, pool, row, Work::Create);
                    return;
                }
                Err(e) if e.is_unique_violation() => continue,
                Err(e) => {
                    tracing::error!(error = %e, "pools: cannot record a new host");
                    return;
                }
            }
        }
    }

    /// Moves on the machines that need it and have no work under way: one recorded
    /// as being made (its provider's answer was lost), one waiting for its engine,
    /// one drained, one lost for good, one being destroyed.
    async fn follow(
        &mut self,
        state: &AppState,
        pools: &[PoolRow],
        rows: &[PoolHostRow],
        machines: &[Machine],
        now: i64,
    ) {
        for (row, m) in rows.iter().zip(machines) {
            if row.state == PoolHostState::Draining {
                machine::keep_draining(state, row).await;
            }
            let Some(pool) = pool_of(pools, row).filter(|_| !self.busy(row.id)) else {
                continue;
            };
            let work = match row.state {
                PoolHostState::Creating => Some(Work::Abandon),
                PoolHostState::Booting => Some(Work::Boot),
                PoolHostState::Destroying => Some(Work::Destroy),
                PoolHostState::Draining
                    if m.replicas == 0 && row.host_id.is_some_and(|h| heard(state, h)) =>
                {
                    Some(Work::Drained)
                }
                PoolHostState::Ready | PoolHostState::Draining => {
                    lost(state, pool, row, now).then_some(Work::Lost)
                }
            };
            if let Some(work) = work {
                self.spawn(state, pool, row.clone(), work);
            }
        }
    }

    /// An event when a pool reaches its max with replicas waiting, once.
    async fn announce_max(
        &mut self,
        state: &AppState,
        waits: &std::collections::BTreeMap<(i64, u32), Wait>,
    ) {
        let mut at_max: HashMap<String, u32> = HashMap::new();
        for w in waits.values() {
            if let Wait::AtMax { pool, max } = w {
                at_max.insert(pool.clone(), *max);
            }
        }
        for (pool, max) in &at_max {
            if self.told_max.insert(pool.clone()) {
                let n = waits.values().filter(|w| w.pool() == pool).count();
                let message = format!(
                    "pool {pool} is at its max of {max} hosts; {n} replica{} wait{}",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "s" } else { "" }
                );
                events::pool(state, pool, Level::Warn, &message).await;
            }
        }
        self.told_max.retain(|p| at_max.contains_key(p));
    }
}

type Read = (Vec<PoolRow>, Vec<PoolHostRow>, HashSet<i64>);

async fn read(state: &AppState) -> Result<Read, String> {
    let pools = state
        .store
        .list_pools()
        .await
        .map_err(|e| format!("cannot read the pools: {e}"))?;
    let rows = state
        .store
        .list_pool_hosts()
        .await
        .map_err(|e| format!("cannot read the pools' hosts: {e}"))?;
    let homes = state
        .store
        .replica_homes()
        .await
        .map_err(|e| format!("cannot read where volumes live: {e}"))?
        .into_values()
        .flat_map(|slots| slots.into_values())
        .collect();
    Ok((pools, rows, homes))
}

/// A machine's pool (the foreign key keeps it, and a pool with hosts is never
/// deleted; a machine read without one is left for the next tick).
fn pool_of<'a>(pools: &'a [PoolRow], row: &PoolHostRow) -> Option<&'a PoolRow> {
    pools.iter().find(|p| p.id == row.pool_id)
}

/// Berth's replicas on a host: what the reconciler saw, or what the last heartbeat
/// counted, whichever is more (a host is idle only when both agree).
fn replicas_on(state: &AppState, seen: &HashMap<i64, u32>, host_id: i64) -> u32 {
    let beat = state
        .hosts
        .get(host_id)
        .map_or(0, |e| e.live().usage.containers.max(0) as u32);
    seen.get(&host_id).copied().unwrap_or(0).max(beat)
}

/// Whether a host's count of replicas is from this run of Berth: its heartbeat
/// answered (after a restart the registry starts with none counted, and a
/// draining host must not look empty before it was looked at).
fn heard(state: &AppState, host_id: i64) -> bool {
    state.hosts.get(host_id).is_some_and(|e| {
        let live = e.live();
        live.reachable == Some(true) && live.last_ok_ms.is_some()
    })
}

/// A registered pool host that has not answered for longer than the pool lets a
/// new one take: the machine is gone, and is destroyed and forgotten.
fn lost(state: &AppState, pool: &PoolRow, row: &PoolHostRow, now: i64) -> bool {
    let Some(entry) = row.host_id.and_then(|h| state.hosts.get(h)) else {
        return false;
    };
    let live = entry.live();
    health::state(&entry.row(), &live) == HostState::Unreachable
        && live
            .unreachable_since_ms
            .is_some_and(|t| now - t >= pool.boot_timeout_ms)
}
