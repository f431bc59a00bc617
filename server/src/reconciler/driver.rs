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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use app::wire::{Health, HealthProbe, RolloutKind, RolloutState, RouteSpec};

use super::plan::{self, Action, Plan, RolloutReport};
use super::prober::Target;
use super::{Making, Pending, StartFailure};
use crate::cluster::health;
use crate::domain::{DesiredService, HostInfo, ObservedReplica, Problem, RolloutCtx, Status};
use crate::events::{self, ClusterEvent, Level, ServiceRef};
use crate::proxy::table::{Backend, HostMatch, RouteInput};
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
    /// The service tasks under way, owned: dropped (at shutdown) they stop.
    tasks: JoinSet<()>,
    /// Which service each task works for.
    running: HashMap<tokio::task::Id, i64>,
}

/// The hosts as placement sees them, and the address each publishes ports on.
pub fn host_infos(state: &AppState) -> (Vec<HostInfo>, HashMap<i64, String>) {
    let mut infos = Vec::new();
    let mut addresses = HashMap::new();
    for e in state.hosts.entries() {
        let row = e.row();
        let live = e.live();
        addresses.insert(row.id, row.address.clone());
        infos.push(HostInfo {
            id: row.id,
            state: health::state(&row, &live),
            unreachable_since_ms: live.unreachable_since_ms,
            cpu_millis: live
                .facts
                .as_ref()
                .map(|f| f.cpus.max(0) as u64 * 1000)
                .unwrap_or(0),
            memory_bytes: live
                .facts
                .as_ref()
                .map(|f| f.memory_bytes.max(0) as u64)
                .unwrap_or(0),
            name: row.name,
            labels: row.labels,
        });
    }
    (infos, addresses)
}

fn desired_from(
    row: &ServiceRow,
    rollout: Option<&RolloutRow>,
    homes: BTreeMap<u32, i64>,
) -> DesiredService {
    let policy = &row.spec.update;
    DesiredService {
        homes,
        id: row.id,
        name: row.name.clone(),
        team_id: row.team_id,
        replicas: row.replicas,
        revision: row.revision,
        spec: row.spec.clone(),
        spec_hash: row.spec_hash.clone(),
        rollout: rollout.map(|r| RolloutCtx {
            paused: r.state == RolloutState::Paused,
            gate_until_ms: r.batch_done_at.map(|t| policy.gate_after(t)),
            started_ms: r.started_at,
            batch_ready: r.batch_ready,
        }),
    }
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
    /// Collects the service tasks that finished. One that panicked leaves its
    /// service busy no more, and waiting a back-off before it is tried again.
    fn reap(&mut self, now: i64) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            let id = match &done {
                Ok((id, ())) => *id,
                Err(e) => e.id(),
            };
            let service_id = self.running.remove(&id);
            if let (Err(e), Some(service_id)) = (done, service_id) {
                tracing::error!(service_id, error = %e, "reconciler: a service task failed");
                let mut shared = self.shared.lock().expect("driver lock");
                shared.busy.remove(&service_id);
                shared.backoff.insert(
                    service_id,
                    Backoff {
                        failures: 1,
                        until_ms: now + backoff_ms(2),
                        error: "an internal error stopped its last change (see the server log)"
                            .into(),
                    },
                );
            }
        }
    }

    /// One pass: observe, decide, act. Returns when the next one is due at the
    /// latest (ms since the epoch).
    pub async fn pass(&mut self, state: &AppState) -> i64 {
        let now = state.clock.now_ms();
        self.reap(now);
        let snap = match self.observe(state).await {
            Ok(snap) => snap,
            Err(why) => {
                tracing::error!("reconciler: {why}");
                return now + 1000;
            }
        };
        let mut decision = decide(state, &snap, now);
        self.follow_rollouts(state, &snap, &mut decision, now).await;
        self.act(state, snap, decision, now).await
    }

    /// What is wanted (the store), what runs (every host that answers, the last
    /// listing of those that do not, replicas being made) and how healthy it is.
    async fn observe(&mut self, state: &AppState) -> Result<Snapshot, String> {
        let store = &state.store;
        let rows = store
            .list_services()
            .await
            .map_err(|e| format!("cannot read the services: {e}"))?;
        let active: HashMap<i64, RolloutRow> = store
            .active_rollouts()
            .await
            .map_err(|e| format!("cannot read the rollouts: {e}"))?
            .into_iter()
            .map(|r| (r.service_id, r))
            .collect();
        let mut homes = store
            .replica_homes()
            .await
            .map_err(|e| format!("cannot read where volumes live: {e}"))?;
        let desired: Vec<DesiredService> = rows
            .iter()
            .map(|row| {
                let rollout = active
                    .get(&row.id)
                    .filter(|r| r.to_revision == row.revision);
                desired_from(row, rollout, homes.remove(&row.id).unwrap_or_default())
            })
            .collect();
        for d in &desired {
            self.names.insert(d.id, d.service_ref());
        }
        let (hosts, addresses) = host_infos(state);
        // Replicas being made: read before listing, so that one finished in between
        // is seen at least once (as pending, or as a container).
        let r = &state.reconciler;
        let mut observed: Vec<ObservedReplica> = desired
            .iter()
            .flat_map(|d| {
                r.service(d.id)
                    .pending
                    .into_iter()
                    .map(|p| pending_replica(d.id, &p))
            })
            .collect();
        observed.extend(self.list(state, &hosts).await);
        let targets = overlay_health(state, &desired, &addresses, &mut observed);
        r.prober.set_targets(targets);
        Ok(Snapshot {
            rows,
            active,
            desired,
            hosts,
            addresses,
            observed,
        })
    }

    /// What runs on each host: listed now where the host answers, else as it was
    /// last listed.
    async fn list(&mut self, state: &AppState, hosts: &[HostInfo]) -> Vec<ObservedReplica> {
        let listings = futures::future::join_all(hosts.iter().map(|h| {
            let r = state.reconciler.clone();
            let ask = h.state != app::wire::HostState::Unreachable;
            let id = h.id;
            async move {
                (
                    id,
                    if ask {
                        Some(r.runtime.list(id).await)
                    } else {
                        None
                    },
                )
            }
        }))
        .await;
        let registered: HashSet<i64> = hosts.iter().map(|h| h.id).collect();
        self.seen.retain(|id, _| registered.contains(id));
        let mut observed = Vec::new();
        for (host_id, listing) in listings {
            match listing {
                Some(Ok(list)) => {
                    self.seen.insert(host_id, list);
                }
                Some(Err(e)) => {
                    tracing::debug!(host_id, error = %e, "reconciler: listing failed; using the last one")
                }
                None => {}
            }
            if let Some(list) = self.seen.get(&host_id) {
                observed.extend(list.iter().cloned());
            }
        }
        observed
    }

    /// Rollouts move on, succeed, or fail (then their service's actions wait for
    /// the next pass, which plans towards where the failure action went).
    async fn follow_rollouts(
        &mut self,
        state: &AppState,
        snap: &Snapshot,
        decision: &mut Decision,
        now: i64,
    ) {
        let mut held: HashSet<i64> = HashSet::new();
        for d in &snap.desired {
            let rollout = snap.active.get(&d.id);
            let report = decision.plan.rollouts.get(&d.id);
            let (Some(rollout), Some(report)) = (rollout, report) else {
                continue;
            };
            if rollout.to_revision != d.revision {
                continue;
            }
            if self.follow_rollout(state, d, rollout, report, now).await {
                held.insert(d.id);
            }
        }
        if !held.is_empty() {
            decision
                .plan
                .actions
                .retain(|a| !held.contains(&a.service_id()));
            decision.wake = now;
        }
        if let Some(at) = self.wake.take() {
            decision.wake = decision.wake.min(at.max(now));
        }
    }

    /// Publishes what the pass saw (pages, events, the proxy's table), then hands
    /// each service's actions to a task of its own. Returns the next wake-up.
    async fn act(&mut self, state: &AppState, snap: Snapshot, d: Decision, now: i64) -> i64 {
        let mut wake = d.wake;
        // Writes since the last pass clear their service's back-off.
        let fresh: Vec<i64> = std::mem::take(
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
            ..
        } = snap;
        self.publish(
            state, &desired, &observed, &d.plan, &d.delayed, &backoff, now,
        )
        .await;
        // The proxy's table follows before any replica is stopped below.
        let domain = &state.proxy.settings.domain;
        state
            .proxy
            .update(route_inputs(&rows, &observed, &hosts, domain));
        if !d.plan.actions.is_empty() {
            tracing::debug!(
                actions = d.plan.actions.len(),
                observed = observed.len(),
                took_ms = state.clock.now_ms() - now,
                "reconciler: planned"
            );
        }
        let host_names: HashMap<i64, String> =
            hosts.iter().map(|h| (h.id, h.name.clone())).collect();
        let by_id: HashMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
        let mut by_service: BTreeMap<i64, Vec<Action>> = BTreeMap::new();
        for a in d.plan.actions {
            by_service.entry(a.service_id()).or_default().push(a);
        }
        for (service_id, actions) in by_service {
            if busy.contains(&service_id) {
                continue;
            }
            // Bounded: the rest wait for a task to finish (it pokes the loop).
            if self.tasks.len() >= MAX_TASKS {
                break;
            }
            if let Some(b) = backoff.get(&service_id).filter(|b| b.until_ms > now) {
                wake = wake.min(b.until_ms);
                continue;
            }
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
        self.running.insert(handle.id(), service_id);
    }

    /// Deleted services' volumes that are to be deleted: once none of the
    /// service's containers is left on a host that answers (they hold them), a task
    /// deletes them there; hosts that do not answer wait for their turn.
    #[allow(clippy::too_many_arguments)]
    async fn collect_volumes(
        &mut self,
        state: &AppState,
        observed: &[ObservedReplica],
        hosts: &[HostInfo],
        busy: &HashSet<i64>,
        backoff: &HashMap<i64, Backoff>,
        now: i64,
        wake: &mut i64,
    ) {
        let deletions = match state.store.volumes_to_delete().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reconciler: cannot read the volumes to delete");
                return;
            }
        };
        let answers = |host_id: i64| {
            hosts
                .iter()
                .any(|h| h.id == host_id && h.state != app::wire::HostState::Unreachable)
        };
        for d in deletions {
            let id = d.service_id;
            let held = observed
                .iter()
                .any(|o| o.service_id == id && (o.pending || answers(o.host_id)));
            if busy.contains(&id) || held {
                continue;
            }
            if let Some(b) = backoff.get(&id).filter(|b| b.until_ms > now) {
                *wake = (*wake).min(b.until_ms);
                continue;
            }
            if self.tasks.len() >= MAX_TASKS {
                break;
            }
            self.shared.lock().expect("driver lock").busy.insert(id);
            let task = collect::run(state.clone(), self.shared.clone(), d, hosts.to_vec());
            let handle = self.tasks.spawn(task);
            self.running.insert(handle.id(), id);
        }
    }

    /// Moves a rollout on from what the pass saw: its batches, its success, or its
    /// failure and the failure action. Returns whether the service's actions must
    /// wait for the next pass (the revision changed under them).
    async fn follow_rollout(
        &mut self,
        state: &AppState,
        d: &DesiredService,
        rollout: &RolloutRow,
        report: &RolloutReport,
        now: i64,
    ) -> bool {
        let store = &state.store;
        let policy = &d.spec.update;
        let batched = policy.batched();
        if rollout.state == RolloutState::Running && !report.failures.is_empty() {
            let reason = self.failure_words(state, d, report);
            let t = Transition::fail(rollout, policy.failure_action, reason.clone());
            let message = match &t {
                Transition::Fail { rollback: true, .. } => format!(
                    "rollout to revision {} rolled back to revision {}: {reason}",
                    rollout.to_revision, rollout.from_revision
                ),
                _ => format!(
                    "rollout to revision {} paused: {reason}",
                    rollout.to_revision
                ),
            };
            match rollout::apply(store, rollout, &t, now).await {
                Ok(Outcome::Done) => {
                    events::service(state, &d.service_ref(), Level::Error, &message).await;
                    state.reconciler.written(d.id);
                }
                // A newer deploy or a person moved it first: the next pass sees that.
                Ok(Outcome::Lost) => state.reconciler.written(d.id),
                Err(e) => tracing::error!(error = %e, "reconciler: cannot record a failed rollout"),
            }
            return true;
        }
        // The next batch may begin after the monitor window and the delay.
        if let Some(gate) = d.rollout.and_then(|r| r.gate_until_ms).filter(|g| *g > now) {
            self.wake_at(gate);
        }
        // A batch is done when nothing is on its way any more and more new replicas
        // are ready than at the last batch.
        let mut batch_done_at = rollout.batch_done_at;
        if batched && report.in_transition == 0 && report.new_ready > rollout.batch_ready {
            match rollout::batch_done(store, rollout, now, report.new_ready).await {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Lost) => return true,
                Err(e) => tracing::error!(error = %e, "reconciler: cannot record a batch"),
            }
            batch_done_at = Some(now);
            self.wake_at(policy.gate_after(now));
        }
        let converged = report.in_transition == 0
            && report.old_remaining == 0
            && report.new_ready == report.wanted;
        let monitored =
            !batched || batch_done_at.is_none_or(|t| now >= t + policy.monitor_ms as i64);
        if rollout.state == RolloutState::Running && converged && monitored {
            match rollout::apply(store, rollout, &Transition::Succeed, now).await {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Lost) => return false,
                Err(e) => {
                    tracing::error!(error = %e, "reconciler: cannot record a finished rollout");
                    return false;
                }
            }
            let what = match rollout.kind {
                RolloutKind::Deploy => "rollout",
                RolloutKind::Rollback | RolloutKind::AutoRollback => "rollback",
            };
            events::service(
                state,
                &d.service_ref(),
                Level::Info,
                &format!(
                    "{what} to revision {} done: {} of {} replicas healthy",
                    rollout.to_revision, report.new_ready, report.wanted
                ),
            )
            .await;
            state.reconciler.changed(d.id);
        } else if rollout.state == RolloutState::Running && converged && batched {
            // The last batch's monitor window: look again when it ends.
            if let Some(t) = batch_done_at {
                self.wake_at(t + policy.monitor_ms as i64);
            }
        }
        false
    }

    fn wake_at(&mut self, at: i64) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// "2 of 2 new replicas failed: GET /healthz answered 500".
    fn failure_words(
        &self,
        state: &AppState,
        d: &DesiredService,
        report: &RolloutReport,
    ) -> String {
        let mut whys: Vec<String> = report
            .failures
            .iter()
            .map(
                |(_, container, why)| match state.reconciler.prober.last_error(container) {
                    Some(check) if why == "unhealthy" || why.starts_with("not healthy") => {
                        format!("{why} ({check})")
                    }
                    _ => why.clone(),
                },
            )
            .collect();
        whys.sort();
        whys.dedup();
        let started: u32 = report.new_ready + report.failures.len() as u32 + report.in_transition;
        format!(
            "{} of {} new replica{} of revision {} failed: {}",
            report.failures.len(),
            started.max(report.failures.len() as u32),
            if started == 1 { "" } else { "s" },
            d.revision,
            whys.join("; ")
        )
    }

    /// Puts what the pass saw where pages read it, and records new problems.
    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &mut self,
        state: &AppState,
        desired: &[DesiredService],
        observed: &[ObservedReplica],
        p: &Plan,
        delayed: &HashMap<i64, Vec<Problem>>,
        backoff: &HashMap<i64, Backoff>,
        now: i64,
    ) {
        let r = &state.reconciler;
        let ids: HashSet<i64> = desired.iter().map(|d| d.id).collect();
        r.retain(|id| ids.contains(&id));
        self.told.retain(|id, _| ids.contains(id));
        for d in desired {
            let replicas: Vec<ObservedReplica> = observed
                .iter()
                .filter(|o| o.service_id == d.id && !o.pending)
                .cloned()
                .collect();
            // The plan's problems are announced as events once each; a delayed
            // restart's countdown changes every pass (its restart is an event of
            // its own): shown, never announced.
            let announced = p.problems.get(&d.id).cloned().unwrap_or_default();
            let mut problems = announced.clone();
            problems.extend(delayed.get(&d.id).cloned().unwrap_or_default());
            let last_error = backoff.get(&d.id).map(|b| {
                if b.until_ms > now {
                    format!(
                        "{} (retrying in {} s)",
                        b.error,
                        (b.until_ms - now + 999) / 1000
                    )
                } else {
                    b.error.clone()
                }
            });
            let ready_slots: HashSet<u32> = replicas
                .iter()
                .filter(|o| {
                    o.revision == d.revision
                        && o.status == Status::Running
                        && matches!(o.health, Health::Healthy | Health::None)
                        && now - o.created_ms >= STEADY_MS
                })
                .map(|o| o.slot)
                .collect();
            let occupied: HashSet<u32> = replicas.iter().map(|o| o.slot).collect();
            let report = p.rollouts.get(&d.id).cloned().unwrap_or_default();
            r.update(d.id, |s| {
                s.replicas = replicas;
                s.rollout = report;
                s.problems = problems.clone();
                s.last_error = last_error;
                s.observed_at_ms = now;
                for (slot, h) in s.slots.iter_mut() {
                    if ready_slots.contains(slot) {
                        h.failures_in_row = 0;
                    }
                    if occupied.contains(slot) {
                        h.start_failure = None;
                    }
                }
                s.slots
                    .retain(|slot, _| *slot <= d.replicas.max(1) || occupied.contains(slot));
            });
            let told = self.told.entry(d.id).or_default();
            let current: BTreeSet<String> = announced.into_iter().map(|p| p.words).collect();
            for problem in current.difference(told) {
                events::service(state, &d.service_ref(), Level::Warn, problem).await;
            }
            *told = current;
        }
    }
}

/// What one pass saw: the input of deciding.
struct Snapshot {
    rows: Vec<ServiceRow>,
    active: HashMap<i64, RolloutRow>,
    desired: Vec<DesiredService>,
    hosts: Vec<HostInfo>,
    addresses: HashMap<i64, String>,
    observed: Vec<ObservedReplica>,
}

/// What a pass decided: the plan (less the restarts that wait), the restarts
/// that wait and why, and when to look again.
struct Decision {
    plan: Plan,
    delayed: HashMap<i64, Vec<Problem>>,
    wake: i64,
}

/// The plan for what the pass saw, with the restarts of slots that keep failing
/// held back for their delay.
fn decide(state: &AppState, snap: &Snapshot, now: i64) -> Decision {
    let r = &state.reconciler;
    let settings = r.settings();
    let mut plan = plan::plan(
        &snap.desired,
        &snap.observed,
        &snap.hosts,
        now,
        plan::Settings {
            host_grace_ms: settings.host_grace.as_millis() as i64,
        },
    );
    let mut wake = now + settings.interval.as_millis() as i64;
    if let Some(at) = plan.wake_at_ms {
        wake = wake.min(at);
    }
    let histories = |service_id: i64, slot: u32| {
        r.service(service_id)
            .slots
            .get(&slot)
            .cloned()
            .unwrap_or_default()
    };
    let (delayed, until) = delay_restarts(&mut plan.actions, histories, now);
    Decision {
        plan,
        delayed,
        wake: until.map_or(wake, |u| wake.min(u)),
    }
}

/// Holds back the starts of slots whose replica failed twice or more in a row
/// until their growing delay is over (a failure this pass removes counts
/// already). Returns the problems that say so, by service, and the earliest end
/// of a delay.
fn delay_restarts(
    actions: &mut Vec<Action>,
    history: impl Fn(i64, u32) -> super::SlotHistory,
    now: i64,
) -> (HashMap<i64, Vec<Problem>>, Option<i64>) {
    let failing_now: HashMap<(i64, u32), String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove {
                service_id,
                slot,
                failure: Some(why),
                ..
            } => Some(((*service_id, *slot), why.clone())),
            _ => None,
        })
        .collect();
    let mut delayed: HashMap<i64, Vec<Problem>> = HashMap::new();
    let mut earliest: Option<i64> = None;
    actions.retain(|a| {
        let Action::Start {
            service_id, slot, ..
        } = a
        else {
            return true;
        };
        let h = history(*service_id, *slot);
        let (failures, last, why) = match failing_now.get(&(*service_id, *slot)) {
            Some(why) => (h.failures_in_row + 1, now, Some(why.clone())),
            None => (h.failures_in_row, h.last_failure_ms, h.last_exit),
        };
        let until = last + backoff_ms(failures);
        if failures < 2 || until <= now {
            return true;
        }
        earliest = Some(earliest.map_or(until, |e| e.min(until)));
        let words = format!(
            "replica {slot} restarts in {} s: it failed {failures} times in a row ({})",
            (until - now + 999) / 1000,
            why.as_deref().unwrap_or("failed")
        );
        let problem = Problem { slot: *slot, words };
        delayed.entry(*service_id).or_default().push(problem);
        false
    });
    (delayed, earliest)
}

/// Health as Berth's checks (HTTP probes) or Docker's (command probes) see it,
/// laid over what runs; replicas' endpoints on their hosts' addresses. Returns
/// the prober's targets.
fn overlay_health(
    state: &AppState,
    desired: &[DesiredService],
    addresses: &HashMap<i64, String>,
    observed: &mut [ObservedReplica],
) -> HashMap<String, Target> {
    let by_id: HashMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
    let mut targets = HashMap::new();
    for o in observed.iter_mut() {
        let Some(d) = by_id.get(&o.service_id) else {
            continue;
        };
        if let (Some(address), Some((_, port))) = (addresses.get(&o.host_id), &o.endpoint) {
            o.endpoint = Some((address.clone(), *port));
        }
        match d.spec.health.as_ref().map(|h| (&h.probe, h)) {
            None => o.health = Health::None,
            Some((HealthProbe::Command { .. }, _)) => {}
            Some((HealthProbe::Http { path }, check)) => {
                if o.status != Status::Running {
                    continue;
                }
                if let Some((address, port)) = &o.endpoint {
                    let target = Target {
                        service_id: d.id,
                        address: address.clone(),
                        port: *port,
                        path: path.clone(),
                        check: check.clone(),
                    };
                    targets.insert(o.container_id.clone(), target);
                }
                o.health = state.reconciler.prober.health(&o.container_id);
            }
        }
    }
    targets
}

/// The proxy's routes: each exposed service with a port is reachable as
/// `<service>.<domain>` and by its own routes, through its replicas that are
/// running and ready on a host that answers.
pub fn route_inputs(
    rows: &[ServiceRow],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    domain: &str,
) -> Vec<RouteInput> {
    let host_of: HashMap<i64, &HostInfo> = hosts.iter().map(|h| (h.id, h)).collect();
    let mut out = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.spec.port.is_some() && r.proxy.expose)
    {
        let mut backends: Vec<Backend> = observed
            .iter()
            .filter(|o| o.service_id == row.id && !o.pending)
            .filter(|o| {
                o.status == Status::Running && matches!(o.health, Health::Healthy | Health::None)
            })
            .filter_map(|o| {
                let host = host_of.get(&o.host_id)?;
                if host.state == app::wire::HostState::Unreachable {
                    return None;
                }
                let (address, port) = o.endpoint.as_ref()?;
                Some(Backend {
                    container_id: o.container_id.clone(),
                    slot: o.slot,
                    host: host.name.clone(),
                    authority: format!("{address}:{port}"),
                })
            })
            .collect();
        backends.sort_by(|a, b| (a.slot, &a.container_id).cmp(&(b.slot, &b.container_id)));
        let default = RouteSpec {
            host: Some(format!("{}.{domain}", row.name)),
            path_prefix: "/".into(),
            strip_prefix: false,
        };
        // Names under the proxy's domain are the services' own: a route that
        // claims one (written before routes were checked) is left out.
        let own = |r: &&RouteSpec| {
            r.host
                .as_deref()
                .is_none_or(|h| !app::validate::touches_proxy_domain(h, domain))
        };
        for r in std::iter::once(&default).chain(row.proxy.routes.iter().filter(own)) {
            out.push(RouteInput {
                service_id: row.id,
                team_id: row.team_id,
                service: row.name.clone(),
                host: HostMatch::parse(r.host.as_deref()),
                prefix: r.path_prefix.clone(),
                strip: r.strip_prefix,
                balance: row.proxy.balance,
                backends: backends.clone(),
            });
        }
    }
    out
}

/// A placeholder id for a replica being made, unique per slot and host; the
/// replica's `pending` flag, not this text, says what it is.
fn pending_id(service_id: i64, p: &Pending) -> String {
    format!("pending:{service_id}:{}:{}", p.slot, p.host_id)
}

/// A replica being made, as the plan sees it: there, and not ready yet.
fn pending_replica(service_id: i64, p: &Pending) -> ObservedReplica {
    ObservedReplica {
        container_id: pending_id(service_id, p),
        host_id: p.host_id,
        service_id,
        slot: p.slot,
        revision: p.revision,
        spec_hash: p.spec_hash.clone(),
        status: Status::Created,
        health: Health::Starting,
        created_ms: p.since_ms,
        cpu_millis: p.cpu_millis,
        memory_bytes: p.memory_bytes,
        host_port: p.host_port,
        endpoint: None,
        pending: true,
    }
}

/// One service's actions, run together.
struct ServiceTask {
    state: AppState,
    shared: Arc<Mutex<Shared>>,
    service_id: i64,
    service: ServiceRef,
    desired: Option<DesiredService>,
    addresses: HashMap<i64, String>,
    host_names: HashMap<i64, String>,
}

impl ServiceTask {
    fn host_name(&self, id: i64) -> String {
        self.host_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    async fn run(self, actions: Vec<Action>) {
        let outcomes: Vec<Result<(), String>> = futures::stream::iter(actions)
            .map(|a| self.execute(a))
            .buffer_unordered(PARALLEL_ACTIONS)
            .collect()
            .await;
        let first_error = outcomes.into_iter().find_map(Result::err);
        let r = &self.state.reconciler;
        {
            let mut shared = self.shared.lock().expect("driver lock");
            shared.busy.remove(&self.service_id);
            match first_error {
                None => {
                    shared.backoff.remove(&self.service_id);
                }
                Some(error) => {
                    let failures = shared
                        .backoff
                        .get(&self.service_id)
                        .map_or(1, |b| b.failures + 1);
                    shared.backoff.insert(
                        self.service_id,
                        Backoff {
                            failures,
                            until_ms: self.state.clock.now_ms() + backoff_ms(failures + 1),
                            error,
                        },
                    );
                }
            }
        }
        r.poke();
    }

    async fn execute(&self, action: Action) -> Result<(), String> {
        tracing::debug!(service = %self.service.name, reason = action.reason(), "reconciler: executing");
        match action {
            Action::Start {
                slot,
                host_id,
                reason,
                fills_empty_slot,
                ..
            } => self.start(slot, host_id, &reason, fills_empty_slot).await,
            Action::Remove {
                slot,
                host_id,
                container_id,
                reason,
                failure,
                ..
            } => {
                self.remove(slot, host_id, &container_id, &reason, failure)
                    .await
            }
        }
    }

    /// What Berth does to make the slot's replica on the host now; `None` once
    /// it is made (or failed).
    fn note(&self, slot: u32, host_id: i64, step: Option<Making>) {
        self.state
            .reconciler
            .update(self.service_id, |s| match step {
                Some(step) => {
                    for p in s
                        .pending
                        .iter_mut()
                        .filter(|p| p.slot == slot && p.host_id == host_id)
                    {
                        p.step = step.clone();
                    }
                }
                None => s
                    .pending
                    .retain(|p| !(p.slot == slot && p.host_id == host_id)),
            });
    }

    async fn start(
        &self,
        slot: u32,
        host_id: i64,
        reason: &str,
        fills_empty_slot: bool,
    ) -> Result<(), String> {
        let Some(d) = &self.desired else {
            return Ok(());
        };
        let host = self.host_name(host_id);
        let outcome = self.make(d, slot, host_id).await;
        self.note(slot, host_id, None);
        if let Err(e) = outcome {
            let message = format!("replica {slot} not started on {host}: {e}");
            self.state.reconciler.update(self.service_id, |s| {
                s.slots.entry(slot).or_default().start_failure = Some(StartFailure {
                    host_id,
                    error: e.clone(),
                    at_ms: self.state.clock.now_ms(),
                });
            });
            events::service(&self.state, &self.service, Level::Error, &message).await;
            return Err(message);
        }
        let (level, reason) = self.started_words(slot, reason, fills_empty_slot);
        let words = format!("{reason} (on {host}, revision {})", d.revision);
        events::service(&self.state, &self.service, level, &words).await;
        Ok(())
    }

    /// Makes and starts the slot's container on the host: the image pulled if
    /// missing, the slot's home recorded, its secrets opened.
    async fn make(&self, d: &DesiredService, slot: u32, host_id: i64) -> Result<(), String> {
        // What is made meets today's rules, whatever revision asks for it (one from
        // before them may hold a bind mount).
        app::validate::service_spec(&d.spec).map_err(|why| {
            format!(
                "revision {} is no longer allowed: {why}; deploy one that is",
                d.revision
            )
        })?;
        self.ensure_image(&d.spec.image, slot, host_id).await?;
        // Where this slot's own volumes are from now on: remembered before they are
        // made, so a Berth stopped in between still knows.
        if d.spec.has_per_replica_volumes() {
            let now = self.state.clock.now_ms();
            self.state
                .store
                .set_replica_home(d.id, slot, host_id, now)
                .await
                .map_err(|e| format!("cannot record where its volumes are: {e}"))?;
        }
        let address = self.addresses.get(&host_id).cloned().unwrap_or_default();
        // Secrets are opened now, for this container only.
        let env = crate::ops::secrets::resolve_env(&self.state, d.team_id, &d.spec)
            .await
            .map_err(|e| e.to_string())?;
        let replica = ReplicaSpec {
            service_id: d.id,
            service: d.name.clone(),
            slot,
            revision: d.revision,
            spec_hash: d.spec_hash.clone(),
            spec: d.spec.clone(),
            env,
            // Docker binds published ports to an IP; a host reached by name
            // publishes on all of its addresses.
            publish_ip: if address.parse::<std::net::Ipv4Addr>().is_ok() {
                address
            } else {
                String::new()
            },
        };
        let rt = &self.state.reconciler.runtime;
        rt.start(host_id, &replica)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Pulls `image` on the host unless it is there.
    async fn ensure_image(&self, image: &str, slot: u32, host_id: i64) -> Result<(), String> {
        let rt = &self.state.reconciler.runtime;
        if rt
            .has_image(host_id, image)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        let pulling = Making::Pulling {
            image: image.to_string(),
        };
        self.note(slot, host_id, Some(pulling));
        rt.pull(host_id, image).await.map_err(|e| e.to_string())?;
        let host = self.host_name(host_id);
        let words = format!("replica {slot}: pulled {image} on {host}");
        events::service(&self.state, &self.service, Level::Info, &words).await;
        self.note(slot, host_id, Some(Making::Starting));
        Ok(())
    }

    /// How a started replica is announced: a slot emptied by a failure earlier (its
    /// restart was delayed) is a restart, not a first start.
    fn started_words(&self, slot: u32, reason: &str, fills_empty_slot: bool) -> (Level, String) {
        let r = &self.state.reconciler;
        let history = r
            .service(self.service_id)
            .slots
            .get(&slot)
            .cloned()
            .unwrap_or_default();
        match (fills_empty_slot, &history.last_exit) {
            (true, Some(why)) if history.failures_in_row > 0 => {
                let n = history.failures_in_row;
                let s = if n == 1 { "" } else { "s" };
                let words =
                    format!("replica {slot} restarted after {n} failure{s} in a row ({why})");
                (Level::Warn, words)
            }
            (true, _) => (Level::Info, reason.to_string()),
            (false, _) => (Level::Warn, reason.to_string()),
        }
    }

    async fn remove(
        &self,
        slot: u32,
        host_id: i64,
        container_id: &str,
        reason: &str,
        failure: Option<String>,
    ) -> Result<(), String> {
        let host = self.host_name(host_id);
        if failure.is_none() {
            // Out of the proxy first; stopped once its requests are answered.
            let left = self.state.proxy.drain(container_id).await;
            if left > 0 {
                tracing::warn!(service = %self.service.name, slot, left, "stopping a replica with requests still in flight");
            }
        }
        let rt = self.state.reconciler.runtime.clone();
        match rt.remove(host_id, container_id).await {
            Ok(()) => {
                let level = if failure.is_some() {
                    Level::Warn
                } else {
                    Level::Info
                };
                if let Some(why) = failure {
                    let now = self.state.clock.now_ms();
                    self.state.reconciler.update(self.service_id, |s| {
                        let h = s.slots.entry(slot).or_default();
                        h.restarts += 1;
                        h.failures_in_row += 1;
                        h.last_failure_ms = now;
                        h.last_exit = Some(why);
                    });
                }
                events::service(
                    &self.state,
                    &self.service,
                    level,
                    &format!("{reason} (on {host})"),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let message = format!("replica {slot} not removed from {host}: {e}");
                events::service(&self.state, &self.service, Level::Error, &message).await;
                Err(message)
            }
        }
    }
}

mod collect;
#[cfg(test)]
mod tests;
