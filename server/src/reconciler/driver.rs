//! The reconcile loop. A pass reads the desired services from the store, lists
//! Berth's containers on every host that answers (the last listing stands in for a
//! host that does not), adds the replicas being made, lays the health checks'
//! verdicts over them, calls [`plan`], and hands each service's actions to a task
//! of its own. A service with a task running is left out of later passes until it
//! is done (per-service work is serialized); a service whose actions failed waits,
//! doubling the wait each time (the loop itself never dies). A slot whose replica
//! keeps failing is restarted after a growing delay too, so a crashing image does
//! not spin.
//!
//! Passes are triggered by writes ([`super::Reconciler::written`]), by container and
//! host events on the bus, by health changes, when a planned wait ends, and at
//! least every [`super::Settings::interval`].
//!
//! A pass reads as its steps: [`Driver::pass`] observes (`observe.rs`), decides
//! (`decide.rs`, over plain data), moves rollouts on (`rollouts.rs`, through
//! [`crate::rollout`]), and acts: it publishes (`publish.rs`: pages, events, the
//! proxy's routes), runs each service's actions (`task.rs`) and deletes deleted
//! services' volumes (`collect.rs`), every task in the driver's own set.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use domain::wire::{Health, HealthProbe, RolloutKind, RolloutState, RouteSpec};

use super::plan::{self, Action, Plan, Reason, RolloutReport};
use super::prober::Target;
use super::{Making, Pending, StartFailure};
use crate::cluster::health;
use crate::events::{self, ClusterEvent, Level, ServiceRef};
use crate::model::{
    DesiredService, HostInfo, ObservedReplica, Problem, RolloutCtx, Status, VolumeClass,
};
use crate::proxy::table::{Backend, HostMatch, RouteInput, Split};
use crate::rollout::{self, Outcome, Transition};
use crate::runtime::ReplicaSpec;
use crate::state::AppState;
use crate::store::{RolloutRow, ServiceRow};

/// Actions run at once per service task.
const PARALLEL_ACTIONS: usize = 32;
/// Events that come in a burst are taken in one pass.
const SETTLE: Duration = Duration::from_millis(15);
/// How soon after an engine event a pass looks again (Docker's listing lags its
/// events by a moment).
const RECHECK: Duration = Duration::from_millis(100);
/// The longest wait after failures.
const MAX_BACKOFF_MS: i64 = 60_000;
/// A slot whose replica has been ready this long has stopped crashing: its restart
/// delay starts over.
const STEADY_MS: i64 = 10_000;
/// How long the first pass after a start waits for its one check of each
/// replica it found (the proxy's listeners wait for that pass).
const FIRST_CHECKS: Duration = Duration::from_secs(5);
/// Service tasks under way at once, at most.
const MAX_TASKS: usize = 256;

/// How long to wait before retrying after `failures` failures in a row: nothing
/// for the first, then 1 s, 2 s, 4 s … up to a minute.
pub fn backoff_ms(failures: u32) -> i64 {
    match failures {
        0 | 1 => 0,
        n => (1000i64 << (n - 2).min(16)).min(MAX_BACKOFF_MS),
    }
}

/// A service that failed, and until when it waits.
#[derive(Debug, Clone)]
struct Backoff {
    failures: u32,
    until_ms: i64,
    error: String,
}

#[derive(Default)]
struct Shared {
    busy: HashSet<i64>,
    backoff: HashMap<i64, Backoff>,
    /// Containers out of the proxy that a stop task drains and stops after their
    /// service's task ended: marked before that service is free again, so that
    /// no pass removes them twice, whatever becomes of the service meanwhile.
    stopping: HashSet<String>,
}

impl Shared {
    /// A service's task ended: free again, and waiting longer after each failure
    /// in a row (`Err`), or not at all (`Ok`).
    fn finished(&mut self, service_id: i64, outcome: Result<(), String>, now: i64) {
        self.busy.remove(&service_id);
        match outcome {
            Ok(()) => {
                self.backoff.remove(&service_id);
            }
            Err(error) => self.failed(service_id, error, now),
        }
    }

    /// A service's task ended and left stops (`ids`) to run after it: free again,
    /// its back-off left as it was until they are done (see [`Shared::stopped`]).
    fn handed_over(
        &mut self,
        service_id: i64,
        ids: &[String],
        outcome: Result<(), String>,
        now: i64,
    ) {
        self.stopping.extend(ids.iter().cloned());
        self.busy.remove(&service_id);
        if let Err(error) = outcome {
            self.failed(service_id, error, now);
        }
    }

    /// A service's stops ended: no longer marked; a failure makes the service
    /// wait longer, as any failure in a row does.
    fn stopped(&mut self, service_id: i64, ids: &[String], outcome: Result<(), String>, now: i64) {
        for id in ids {
            self.stopping.remove(id);
        }
        match outcome {
            Err(error) => self.failed(service_id, error, now),
            Ok(()) if !self.busy.contains(&service_id) => {
                self.backoff.remove(&service_id);
            }
            Ok(()) => {}
        }
    }

    /// A service's action failed: it waits longer after each failure in a row.
    fn failed(&mut self, service_id: i64, error: String, now: i64) {
        let failures = self.backoff.get(&service_id).map_or(1, |b| b.failures + 1);
        let until_ms = now + backoff_ms(failures + 1);
        let b = Backoff {
            failures,
            until_ms,
            error,
        };
        self.backoff.insert(service_id, b);
    }
}

/// What a task of the driver's set does.
enum Job {
    /// A service's actions: the service is busy until it ends.
    Service(i64),
    /// Stops a service's task left (those containers).
    Stops(i64, Vec<String>),
}

/// What the loop keeps between passes.
#[derive(Default)]
pub struct Driver {
    shared: Arc<Mutex<Shared>>,
    /// The last listing of each host, for when it does not answer.
    seen: HashMap<i64, Vec<ObservedReplica>>,
    /// Problems already recorded as events, per service.
    told: HashMap<i64, BTreeSet<String>>,
    /// Services seen (name and team), for events about replicas of deleted ones.
    names: HashMap<i64, ServiceRef>,
    /// The earliest time a rollout asked to be looked at again.
    wake: Option<i64>,
    /// The service tasks under way, owned: dropped (at shutdown) they stop. A
    /// service task may leave stops to run after it (its [`Stops`]).
    tasks: JoinSet<Option<Stops>>,
    /// What each task does.
    running: HashMap<tokio::task::Id, Job>,
    /// Each service's last good read, to stand in when its row does not read.
    last_read: HashMap<i64, ServiceRow>,
    /// Unreadable services already told of.
    unreadable_told: HashSet<i64>,
    /// Whether the first pass has checked the replicas it found (see
    /// [`Driver::pass`]).
    primed: bool,
    /// What the proxy counted of each gated rollout's new replicas (by rollout
    /// id), for its gates.
    watches: HashMap<i64, crate::rollout::gates::Watch>,
    /// Revisions (by service) whose rollout failed into a rollback in this
    /// pass: out of the proxy's routes at the end of it, not a pass later.
    rolled_back: HashSet<(i64, i64)>,
}

/// What the host pools need from a pass: the replicas no host takes (with what
/// they need), and Berth's replicas on each host.
fn for_pools(
    desired: &[DesiredService],
    observed: &[ObservedReplica],
    plan: &Plan,
) -> (Vec<crate::pools::Unplaced>, crate::pools::Seen) {
    let by_id: HashMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
    let mut unplaced = Vec::new();
    for (service_id, problems) in &plan.problems {
        let Some(d) = by_id.get(service_id) else {
            continue;
        };
        for p in problems {
            // A slot with per-replica volumes starts on their host or nowhere: a
            // new host would not take it.
            if let Problem::NotPlaced { slot, .. } = p {
                if d.pins_slots() && d.homes.contains_key(slot) {
                    continue;
                }
                unplaced.push(crate::pools::Unplaced {
                    service_id: *service_id,
                    slot: *slot,
                    cpu_millis: u64::from(d.spec.resources.cpu_millis),
                    memory_bytes: d.spec.resources.memory_bytes,
                    host_port: d.spec.host_port,
                    constraints: d.spec.placement.constraints.clone(),
                });
            }
        }
    }
    let mut seen = crate::pools::Seen::default();
    for r in observed.iter().filter(|r| r.status.alive()) {
        *seen.replicas.entry(r.host_id).or_default() += 1;
    }
    (unplaced, seen)
}

/// Whether a bus event may change what a pass would do.
fn relevant(event: &ClusterEvent) -> bool {
    match event {
        ClusterEvent::Engine { event, .. } => {
            event.kind == "container"
                && matches!(
                    event.action.split(':').next().unwrap_or(""),
                    "die"
                        | "start"
                        | "destroy"
                        | "stop"
                        | "kill"
                        | "oom"
                        | "health_status"
                        | "pause"
                        | "unpause"
                )
        }
        ClusterEvent::HostUp { .. }
        | ClusterEvent::HostDown { .. }
        | ClusterEvent::HostChanged { .. } => true,
    }
}

/// Runs passes until the token is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut bus = state.bus.subscribe();
    let mut driver = Driver::default();
    // At start-up, give every host a heartbeat's chance to answer, so that the
    // first pass adopts what runs there instead of placing it anew.
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5)
        && state
            .hosts
            .entries()
            .iter()
            .any(|e| e.live().reachable.is_none())
    {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    // Docker announces a container's death a moment before its listing says so:
    // after an engine event, look once more shortly after.
    let mut recheck: Option<tokio::time::Instant> = None;
    loop {
        let wake_ms = driver.pass(&state).await;
        let wait =
            Duration::from_millis((wake_ms - state.clock.now_ms()).clamp(0, i64::MAX) as u64);
        let mut deadline = tokio::time::Instant::now() + wait;
        if let Some(at) = recheck.take() {
            deadline = deadline.min(at);
        }
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = state.reconciler.poked() => break,
                _ = tokio::time::sleep_until(deadline) => break,
                event = bus.recv() => match event {
                    Ok(e) if relevant(&e) => {
                        if matches!(e, ClusterEvent::Engine { .. }) {
                            recheck = Some(tokio::time::Instant::now() + RECHECK);
                        }
                        break;
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(SETTLE) => {}
        }
    }
}

impl Driver {
    /// Collects the tasks that finished, and starts the stops they left. A
    /// service task that panicked leaves its service busy no more, and waiting a
    /// back-off before it is tried again; a stop task, its containers no longer
    /// marked as stopping.
    fn reap(&mut self, state: &AppState, now: i64) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            let id = match &done {
                Ok((id, _)) => *id,
                Err(e) => e.id(),
            };
            let job = self.running.remove(&id);
            match (done, job) {
                (Ok((_, Some(stops))), _) => {
                    let job = Job::Stops(stops.service_id(), stops.ids());
                    let handle = self.tasks.spawn(stops.run());
                    self.running.insert(handle.id(), job);
                }
                (Ok(_), _) | (Err(_), None) => {}
                (Err(e), Some(Job::Service(service_id))) => {
                    tracing::error!(service_id, error = %e, "reconciler: a service task failed");
                    state.metrics.reconcile_error();
                    let error = "an internal error stopped its last change (see the server log)";
                    self.shared.lock().expect("driver lock").finished(
                        service_id,
                        Err(error.into()),
                        now,
                    );
                }
                (Err(e), Some(Job::Stops(service_id, ids))) => {
                    tracing::error!(service_id, error = %e, "reconciler: a stop task failed");
                    state.metrics.reconcile_error();
                    let error = "an internal error stopped its last change (see the server log)";
                    self.shared.lock().expect("driver lock").stopped(
                        service_id,
                        &ids,
                        Err(error.into()),
                        now,
                    );
                }
            }
        }
    }

    /// One pass: observe, decide, act. Returns when the next one is due at the
    /// latest (ms since the epoch).
    pub async fn pass(&mut self, state: &AppState) -> i64 {
        let now = state.clock.now_ms();
        self.reap(state, now);
        if !state.leadership.leads() {
            // A leader that was paused past its lease: its loop is being
            // stopped; it plans and publishes nothing meanwhile.
            return now + 1000;
        }
        let started = tokio::time::Instant::now();
        let mut snap = match self.observe(state).await {
            Ok(snap) => snap,
            Err(why) => {
                tracing::error!("reconciler: {why}");
                state.metrics.reconcile_error();
                return now + 1000;
            }
        };
        if !self.primed {
            // The first pass after a start finds replicas that were serving:
            // check each once now and look again, so that the proxy's first table
            // (which its listeners wait for) holds them.
            self.primed = true;
            let changed = state.reconciler.prober.check_unchecked(FIRST_CHECKS).await;
            for service_id in changed {
                state.reconciler.changed(service_id);
            }
            if let Ok(again) = self.observe(state).await {
                snap = again;
            }
        }
        let mut decision = decide(state, &snap, now);
        self.follow_rollouts(state, &snap, &mut decision, now).await;
        let wake = self.act(state, snap, decision, now).await;
        state.metrics.reconcile_pass(started.elapsed());
        wake
    }

    /// Publishes what the pass saw (pages, events, the proxy's table), then hands
    /// each service's actions to a task of its own. Returns the next wake-up.
    async fn act(&mut self, state: &AppState, snap: Snapshot, d: Decision, now: i64) -> i64 {
        let mut wake = d.wake;
        // Writes since the last pass clear their service's back-off.
        let fresh = std::mem::take(
            &mut *state
                .reconciler
                .fresh_writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let (busy, backoff) = {
            let mut shared = self.shared.lock().expect("driver lock");
            for id in &fresh {
                shared.backoff.remove(id);
            }
            (shared.busy.clone(), shared.backoff.clone())
        };
        let Snapshot {
            rows,
            desired,
            hosts,
            addresses,
            observed,
            active,
            ..
        } = snap;
        self.publish(
            state, &desired, &observed, &d.plan, &d.delayed, &backoff, now,
        )
        .await;
        let (unplaced, mut seen) = for_pools(&desired, &observed, &d.plan);
        seen.movable =
            crate::pools::movable::movable(&state.pools.candidates(), &hosts, &observed, &desired);
        state.pools.observe(unplaced, seen, now);
        let by_id: HashMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
        let mut by_service: BTreeMap<i64, Vec<Action>> = BTreeMap::new();
        if !d.plan.actions.is_empty() {
            tracing::debug!(
                actions = d.plan.actions.len(),
                observed = observed.len(),
                took_ms = state.clock.now_ms() - now,
                "reconciler: planned"
            );
        }
        for a in d.plan.actions {
            by_service.entry(a.service_id()).or_default().push(a);
        }
        // A stop that began after this pass looked is not planned twice.
        let stopping = self.shared.lock().expect("driver lock").stopping.clone();
        if !stopping.is_empty() {
            for actions in by_service.values_mut() {
                actions.retain(|a| {
                    !matches!(a, Action::Remove { container_id, .. } if stopping.contains(container_id))
                });
            }
        }
        // The services acted on: not busy, not backing off, as many as tasks
        // may run (the rest wait for a task to finish; it pokes the loop).
        let mut acting: Vec<i64> = Vec::new();
        for (service_id, actions) in &by_service {
            if busy.contains(service_id) || actions.is_empty() {
                continue;
            }
            if self.tasks.len() + acting.len() >= MAX_TASKS {
                break;
            }
            match backoff.get(service_id).filter(|b| b.until_ms > now) {
                Some(b) => wake = wake.min(b.until_ms),
                None => acting.push(*service_id),
            }
        }
        // The proxy's table follows before any replica is stopped below; the
        // replicas this pass removes take no new request from now on.
        let removed: HashSet<&str> = acting
            .iter()
            .flat_map(|id| &by_service[id])
            .filter_map(|a| match a {
                Action::Remove { container_id, .. } => Some(container_id.as_str()),
                Action::Start { .. } => None,
            })
            .collect();
        let serving = publish::serving(&observed, &active, &self.rolled_back, &removed);
        self.rolled_back.clear();
        let shares = publish::canary_shares(&desired, &active);
        let domain = &state.proxy.settings.domain;
        state
            .proxy
            .update(route_inputs(&rows, &serving, &hosts, domain, &shares));
        crate::leader::offer(state);
        let host_names: HashMap<i64, String> =
            hosts.iter().map(|h| (h.id, h.name.clone())).collect();
        for service_id in acting {
            let Some(actions) = by_service.remove(&service_id) else {
                continue;
            };
            let task = ServiceTask {
                state: state.clone(),
                shared: self.shared.clone(),
                service_id,
                service: self.service_ref(service_id),
                desired: by_id.get(&service_id).map(|d| (*d).clone()),
                addresses: addresses.clone(),
                host_names: host_names.clone(),
            };
            self.spawn(task, actions, now);
        }
        self.collect_volumes(state, &observed, &hosts, &busy, &backoff, now, &mut wake)
            .await;
        wake
    }

    /// A service's name and team for its events; a service deleted before this
    /// Berth started has no team known, and its events are an admin's to read.
    fn service_ref(&self, service_id: i64) -> ServiceRef {
        self.names
            .get(&service_id)
            .cloned()
            .unwrap_or_else(|| ServiceRef {
                id: service_id,
                team_id: None,
                name: format!("#{service_id}"),
            })
    }

    /// Marks the service busy, notes the replicas it starts as being made, and
    /// runs its actions in a task of the driver's set.
    fn spawn(&mut self, task: ServiceTask, actions: Vec<Action>, now: i64) {
        let service_id = task.service_id;
        self.shared
            .lock()
            .expect("driver lock")
            .busy
            .insert(service_id);
        let starts: Vec<Pending> = actions
            .iter()
            .filter_map(|a| match (a, &task.desired) {
                (Action::Start { slot, host_id, .. }, Some(d)) => Some(Pending {
                    slot: *slot,
                    host_id: *host_id,
                    revision: d.revision,
                    spec_hash: d.spec_hash.clone(),
                    step: Making::Starting,
                    since_ms: now,
                    cpu_millis: u64::from(d.spec.resources.cpu_millis),
                    memory_bytes: d.spec.resources.memory_bytes,
                    host_port: d.spec.host_port,
                }),
                _ => None,
            })
            .collect();
        if !starts.is_empty() {
            let r = &task.state.reconciler;
            r.update(service_id, |s| s.pending.extend(starts));
        }
        let handle = self.tasks.spawn(task.run(actions));
        self.running.insert(handle.id(), Job::Service(service_id));
    }
}

mod collect;
mod decide;
mod observe;
mod publish;
mod rollouts;
mod task;
mod unreadable;

#[cfg(test)]
use decide::delay_restarts;
use decide::{decide, overlay_health, Decision, Snapshot};
pub use observe::{host_infos, inputs, Inputs};
pub use publish::route_inputs;
use task::{ServiceTask, Stops};
#[cfg(test)]
mod tests;
