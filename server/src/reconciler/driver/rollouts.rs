//! Rollouts, as the loop moves them on: batches recorded, gates judged, success,
//! or failure and the failure action, each through [`crate::rollout`] (which
//! owns rollout state).

use super::*;
use crate::rollout::gates::{self, Breach};
use domain::wire::CanaryStep;

/// How often a gated rollout's new replicas are judged (a pass at least this
/// often while it runs).
const GATE_EVERY_MS: i64 = 1_000;

impl Driver {
    /// Rollouts move on, succeed, or fail (then their service's actions wait for
    /// the next pass, which plans towards where the failure action went).
    pub(super) async fn follow_rollouts(
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
            if self
                .follow_rollout(state, d, rollout, report, &snap.observed, now)
                .await
            {
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
        let active: HashSet<i64> = snap.active.values().map(|r| r.id).collect();
        self.watches.retain(|id, _| active.contains(id));
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
        observed: &[ObservedReplica],
        now: i64,
    ) -> bool {
        let store = &state.store;
        let policy = &d.spec.update;
        let batched = policy.batched();
        if rollout.state == RolloutState::Running && !report.failures.is_empty() {
            let reason = self.failure_words(state, d, report);
            self.fail(state, d, rollout, reason, now).await;
            return true;
        }
        let watched = match self.watch_gates(state, d, rollout, observed, now) {
            Ok(watched) => watched,
            Err(breach) => {
                self.fail(state, d, rollout, breach.to_string(), now).await;
                return true;
            }
        };
        if let Some(step) = rollout::canary_step(rollout, policy) {
            let canary = Canary {
                rollout,
                report,
                step,
                watched,
            };
            return self.follow_canary(state, d, canary, now).await;
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
        let monitored = watched.whole_window
            && (!batched || batch_done_at.is_none_or(|t| now >= t + policy.monitor_ms as i64));
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

    /// A canary step: once its new replicas are all ready its pause begins
    /// (recorded), and when the pause ends, and the gates (if any) watched its
    /// replicas a whole window over enough requests to judge, Berth promotes it
    /// to the next step (a step without a pause waits for a person). A
    /// policy-only change (no replica made, none old) has nothing to split: it
    /// is promoted past every step. Returns whether the service's actions must
    /// wait for the next pass (the step changed).
    async fn follow_canary(
        &mut self,
        state: &AppState,
        d: &DesiredService,
        c: Canary<'_>,
        now: i64,
    ) -> bool {
        let (rollout, report) = (c.rollout, c.report);
        if rollout.state != RolloutState::Running {
            return false;
        }
        if report.made == 0 && report.old_remaining == 0 && report.in_transition == 0 {
            let to = rollout::canary_steps(&d.spec.update);
            let why = "no old replica left to share the requests with";
            return self.promote(state, d, rollout, to, why, now).await;
        }
        let Some(ready_at) = rollout.step_ready_at else {
            let wanted = d.rollout.and_then(|r| r.canary).unwrap_or(0);
            if report.in_transition == 0 && report.new_ready >= wanted {
                self.step_ready(state, d, &c, now).await;
            }
            return false;
        };
        let Some(pause) = c.step.pause_ms else {
            return false;
        };
        let due = ready_at.saturating_add(pause as i64);
        if now < due {
            self.wake_at(due);
            return false;
        }
        if !(c.watched.whole_window && c.watched.judged) {
            // The gates' watch asks for a pass every second until it has seen
            // a whole window with enough requests.
            return false;
        }
        let to = rollout.step + 1;
        self.promote(state, d, rollout, to, "its pause ended", now)
            .await
    }

    /// Records that the canary step's new replicas are all ready (its pause
    /// counts from now), and says so in the service's events.
    async fn step_ready(&mut self, state: &AppState, d: &DesiredService, c: &Canary<'_>, now: i64) {
        match rollout::step_ready(&state.store, c.rollout, now).await {
            Ok(Outcome::Done) => {}
            Ok(Outcome::Lost) => return,
            Err(e) => {
                tracing::error!(error = %e, "reconciler: cannot record a canary step");
                return;
            }
        }
        let n = c.report.new_ready;
        let holds = match c.step.pause_ms {
            Some(ms) => format!("for {}", domain::format::duration_words(ms as i64)),
            None => "until promoted".to_string(),
        };
        let words = format!(
            "canary of revision {}: {n} new {} {}% of requests ({holds})",
            c.rollout.to_revision,
            if n == 1 {
                "replica takes"
            } else {
                "replicas take"
            },
            c.step.weight,
        );
        events::service(state, &d.service_ref(), Level::Info, &words).await;
        state.reconciler.changed(d.id);
        if let Some(ms) = c.step.pause_ms {
            self.wake_at(now + ms as i64);
        }
    }

    /// Berth's own promote of `rollout`'s canary to step `to`.
    async fn promote(
        &mut self,
        state: &AppState,
        d: &DesiredService,
        rollout: &RolloutRow,
        to: u32,
        why: &str,
        now: i64,
    ) -> bool {
        let t = Transition::Promote {
            by: None,
            from: rollout.step,
            to,
        };
        match rollout::apply(&state.store, rollout, &t, now).await {
            Ok(Outcome::Done) => {
                let words = rollout::promoted_words(rollout, &d.spec.update, to, why);
                events::service(state, &d.service_ref(), Level::Info, &words).await;
                state.reconciler.written(d.id);
                true
            }
            Ok(Outcome::Lost) => true,
            Err(e) => {
                tracing::error!(error = %e, "reconciler: cannot promote a canary");
                false
            }
        }
    }

    /// Fails a running rollout with `reason`, as its failure action says (a
    /// rollback, or a pause), and tells the service's events.
    async fn fail(
        &mut self,
        state: &AppState,
        d: &DesiredService,
        rollout: &RolloutRow,
        reason: String,
        now: i64,
    ) {
        let t = Transition::fail(rollout, d.spec.update.failure_action, reason.clone());
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
        match rollout::apply(&state.store, rollout, &t, now).await {
            Ok(Outcome::Done) => {
                if matches!(t, Transition::Fail { rollback: true, .. }) {
                    self.rolled_back.insert((d.id, rollout.to_revision));
                }
                events::service(state, &d.service_ref(), Level::Error, &message).await;
                state.reconciler.written(d.id);
            }
            // A newer deploy or a person moved it first: the next pass sees that.
            Ok(Outcome::Lost) => state.reconciler.written(d.id),
            Err(e) => tracing::error!(error = %e, "reconciler: cannot record a failed rollout"),
        }
    }

    /// A gated deploy's new replicas (those the plan counts as current: of its
    /// spec), as the proxy counted them over the window: the breach, or how
    /// far they were watched (without gates, and for rollbacks, which go back
    /// to what ran before: all the way). Judged again every
    /// second while it runs; a paused one starts a fresh window when it
    /// resumes.
    fn watch_gates(
        &mut self,
        state: &AppState,
        d: &DesiredService,
        rollout: &RolloutRow,
        observed: &[ObservedReplica],
        now: i64,
    ) -> Result<Watched, Breach> {
        let unwatched = Watched {
            whole_window: true,
            judged: true,
        };
        let Some(g) = &d.spec.update.gates else {
            return Ok(unwatched);
        };
        if rollout.kind != RolloutKind::Deploy {
            return Ok(unwatched);
        }
        if rollout.state != RolloutState::Running {
            self.watches.remove(&rollout.id);
            return Ok(Watched::default());
        }
        let window = g.window_ms as i64;
        let new: Vec<String> = observed
            .iter()
            .filter(|r| r.service_id == d.id && r.spec_hash == d.spec_hash)
            .filter(|r| !r.pending && !r.stopping)
            .map(|r| r.container_id.clone())
            .collect();
        let counts = state.proxy.samples(&new);
        self.wake_at(now + GATE_EVERY_MS);
        let watch = self.watches.entry(rollout.id).or_default();
        watch.push(now, &new, counts, window);
        let seen = watch.observed(now, window);
        if let Some(b) = seen
            .as_ref()
            .and_then(|(seen, over)| gates::judge(g, seen, *over))
        {
            self.watches.remove(&rollout.id);
            return Err(b);
        }
        Ok(Watched {
            whole_window: watch.watched_all(now, window),
            judged: seen.is_some_and(|(seen, _)| seen.requests >= gates::MIN_REQUESTS),
        })
    }

    pub(super) fn wake_at(&mut self, at: i64) {
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
}

/// A canary step under way, as a pass saw it.
struct Canary<'a> {
    rollout: &'a RolloutRow,
    report: &'a RolloutReport,
    step: CanaryStep,
    /// How far its gates (if any) watched its new replicas.
    watched: Watched,
}

/// How far a rollout's gates watched its new replicas.
#[derive(Debug, Clone, Copy, Default)]
struct Watched {
    /// Every new replica for a whole window.
    whole_window: bool,
    /// Enough requests in the window to judge (a canary is not promoted by
    /// Berth on no evidence).
    judged: bool,
}
