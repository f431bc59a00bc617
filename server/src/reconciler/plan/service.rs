//! Planning one service: how far its rollout is, what it may move this pass, and
//! for each slot what to remove, what to start where, or why it waits.

use super::*;

/// Plans one service: its rollout's progress, then each slot in turn.
pub(super) fn plan_service(
    ctx: &Ctx,
    s: &DesiredService,
    replicas: &[&ObservedReplica],
    slots: &mut [Slot],
    out: &mut Plan,
) {
    let mut by_slot: BTreeMap<u32, Vec<&ObservedReplica>> = BTreeMap::new();
    for r in replicas {
        by_slot.entry(r.slot).or_default().push(r);
    }
    let highest = by_slot.keys().next_back().copied().unwrap_or(0);
    // Replicas of this service per host, for spreading.
    let mut counts = vec![0u32; slots.len()];
    for r in replicas.iter().filter(|r| r.status.alive() && !r.stopping) {
        if let Some(&i) = ctx.host_index.get(&r.host_id) {
            counts[i] += 1;
        }
    }
    let report = rollout_report(ctx, s, &by_slot, replicas);
    let mut p = ServicePlanner {
        ctx,
        s,
        need: Need {
            cpu_millis: u64::from(s.spec.resources.cpu_millis),
            memory_bytes: s.spec.resources.memory_bytes,
            host_port: s.spec.host_port,
            constraints: &s.spec.placement.constraints,
            strategy: s.spec.placement.strategy,
            drivers: &s.drivers,
        },
        fixed: std::cell::OnceCell::new(),
        placer: Default::default(),
        budget: move_budget(ctx, s, &report),
        observed_slots: by_slot.keys().filter(|slot| **slot > 0).count() as u32,
        counts,
        slots,
        out,
        problems: Vec::new(),
    };
    for slot in 1..=highest.max(s.replicas) {
        let rs = by_slot.remove(&slot).unwrap_or_default();
        if slot > s.replicas {
            p.scale_away(slot, &rs);
        } else {
            p.slot(slot, &rs);
        }
    }
    let problems = std::mem::take(&mut p.problems);
    if !problems.is_empty() {
        p.out.problems.insert(s.id, problems);
    }
    p.out.rollouts.insert(s.id, report);
}

/// What a replica runs is its spec's hash: the revision number it was started
/// under may differ (a policy-only change, a rollback to a like revision).
fn current(s: &DesiredService, r: &ObservedReplica) -> bool {
    r.spec_hash == s.spec_hash
}

/// How far the service is on its way to its current revision. Slots on their way
/// (a new replica starting without a ready one beside it, or nothing there yet)
/// use up the allowance of moves at once (the surge, the unavailable count, or
/// the batch).
fn rollout_report(
    ctx: &Ctx,
    s: &DesiredService,
    by_slot: &BTreeMap<u32, Vec<&ObservedReplica>>,
    replicas: &[&ObservedReplica],
) -> RolloutReport {
    let restart = s.spec.restart;
    let mut report = RolloutReport {
        wanted: s.replicas,
        ..RolloutReport::default()
    };
    for slot in 1..=s.replicas {
        let rs = by_slot.get(&slot).map(Vec::as_slice).unwrap_or(&[]);
        let alive: Vec<&&ObservedReplica> = rs
            .iter()
            .filter(|r| ctx.kind(r, restart) == Kind::Alive)
            .collect();
        let good = |r: &&&ObservedReplica| current(s, r) && !ctx.draining(r.host_id);
        let ready_good = alive.iter().any(|r| good(r) && ready(r));
        let starting_good = alive.iter().any(|r| good(r) && !ready(r));
        let waiting = rs.iter().any(|r| {
            matches!(
                ctx.kind(r, restart),
                Kind::Hidden | Kind::Dead { replace: false }
            )
        });
        if ready_good {
            report.new_ready += 1;
        } else if starting_good || (alive.is_empty() && !waiting) {
            report.in_transition += 1;
        }
    }
    for r in replicas {
        // One being stopped is still there: the rollout is done once it is gone.
        let leaving = match ctx.kind(r, restart) {
            Kind::Alive => !current(s, r) || ctx.draining(r.host_id),
            Kind::Stopping => true,
            _ => false,
        };
        if leaving {
            report.old_remaining += 1;
        }
        if made_for_rollout(s, r) {
            report.made += 1;
        }
        if let Some(why) = rollout_failure(ctx, s, r) {
            report.failures.push((r.slot, r.container_id.clone(), why));
        }
    }
    report
}

/// Whether `r` is of the current revision and was made since the rollout under
/// way began (Docker's creation time has whole seconds).
fn made_for_rollout(s: &DesiredService, r: &ObservedReplica) -> bool {
    s.rollout
        .as_ref()
        .is_some_and(|rollout| current(s, r) && r.created_ms + 1000 >= rollout.started_ms)
}

/// Why a replica of the new revision failed since the rollout began, if it did.
fn rollout_failure(ctx: &Ctx, s: &DesiredService, r: &ObservedReplica) -> Option<String> {
    if !made_for_rollout(s, r) {
        return None;
    }
    let deadline_ms = s.spec.update.deadline_ms;
    match ctx.kind(r, s.spec.restart) {
        // Its maker stopped before starting it: the revision did not fail.
        Kind::Dead { .. } if ctx.abandoned(r) => None,
        Kind::Dead { .. } => Some(exit_words(r.status)),
        Kind::Unhealthy => Some("unhealthy".to_string()),
        Kind::Alive if !ready(r) && ctx.now - r.created_ms > deadline_ms as i64 => {
            Some(format!("not healthy after {} s", deadline_ms / 1000))
        }
        _ => None,
    }
}

/// How many slots may begin moving to the current revision this pass. Moves may
/// begin unless the rollout is paused or waits out its monitor window and delay;
/// batches begin whole, once the previous one is healthy and recorded done.
fn move_budget(ctx: &Ctx, s: &DesiredService, report: &RolloutReport) -> u32 {
    let policy = &s.spec.update;
    let may_begin = match &s.rollout {
        None => true,
        Some(r) if r.paused => false,
        Some(r) if policy.batched() => {
            let recorded = report.new_ready <= r.batch_ready;
            let gate_open = if recorded {
                r.gate_until_ms.is_none_or(|g| ctx.now >= g)
            } else {
                // The last batch turned healthy this pass (the loop records it
                // before acting): the next may begin now if nothing is waited out.
                policy.gate_after(ctx.now) <= ctx.now
            };
            report.in_transition == 0 && gate_open
        }
        Some(_) => true,
    };
    if !may_begin {
        return 0;
    }
    policy
        .parallelism(s.update_order())
        .saturating_sub(report.in_transition)
}

/// The newest of the ready replicas among `good` (ties: the first by id): the
/// one a slot keeps.
fn newest_ready<'r>(good: &[&'r ObservedReplica]) -> Option<&'r ObservedReplica> {
    good.iter().copied().filter(|r| ready(r)).max_by(|a, b| {
        (a.created_ms, std::cmp::Reverse(&a.container_id))
            .cmp(&(b.created_ms, std::cmp::Reverse(&b.container_id)))
    })
}

/// How a slot's replicas stand before deciding.
#[derive(Default)]
struct Triage<'r> {
    /// Why the slot needs a new replica, if it turns out to.
    replaced_because: Option<Reason>,
    /// A replica ended for good (the restart policy does not replace it).
    finished: bool,
    /// A replica is on a host within its grace (that host).
    hidden: Option<i64>,
    /// A running replica is removed this pass (unhealthy) or being stopped: it
    /// may still write.
    stopping: bool,
    alive: Vec<&'r ObservedReplica>,
}

/// One service's planning: what the hosts have left, what this service has where,
/// and what it may still move this pass.
struct ServicePlanner<'a, 'h, 'p> {
    ctx: &'a Ctx<'a>,
    s: &'a DesiredService,
    need: Need<'a>,
    /// What the hosts' states and labels refuse, worked out on the first start.
    fixed: std::cell::OnceCell<Vec<Option<scheduler::Refusal>>>,
    /// Where the next of its replicas goes, without a look at every host each time.
    placer: scheduler::Placer,
    budget: u32,
    observed_slots: u32,
    counts: Vec<u32>,
    slots: &'p mut [Slot<'h>],
    out: &'p mut Plan,
    problems: Vec<Problem>,
}

impl<'a> ServicePlanner<'a, '_, '_> {
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// A slot above the replica count: emptied.
    fn scale_away(&mut self, slot: u32, rs: &[&ObservedReplica]) {
        let restart = self.s.spec.restart;
        for r in rs.iter().filter(|r| {
            !matches!(
                self.ctx.kind(r, restart),
                Kind::Lost | Kind::Hidden | Kind::Stopping
            )
        }) {
            let reason = Reason::ScaledDown {
                slot,
                from: self.observed_slots,
                to: self.s.replicas,
            };
            self.remove(r, reason);
        }
    }

    /// A slot that wants one replica of the current revision, healthy, on a usable
    /// host.
    fn slot(&mut self, slot: u32, rs: &[&'a ObservedReplica]) {
        let t = self.triage(slot, rs);
        let good: Vec<&ObservedReplica> = t
            .alive
            .iter()
            .copied()
            .filter(|r| current(self.s, r) && !self.ctx.draining(r.host_id))
            .collect();
        if let Some(k) = self.s.rollout.and_then(|r| r.canary) {
            if self.canary_slot(slot, k, &t.alive, &good) {
                return;
            }
        }
        if good.iter().any(|r| ready(r)) {
            self.keep_newest_ready(slot, &t.alive, &good);
            return;
        }
        if !good.is_empty() || t.finished {
            // The new replica is coming up (or the slot finished for good): wait.
            return;
        }
        if !t.alive.is_empty() {
            self.replace(slot, &t.alive);
            return;
        }
        // A slot whose data follows it has one writer: nothing starts while an
        // old replica may still run (stopping, or on a silent host in its grace).
        let one_writer = self.s.moves_data();
        if let Some(host_id) = t
            .hidden
            .filter(|_| one_writer || t.replaced_because.is_none())
        {
            self.problem(self.silent(slot, host_id));
            return;
        }
        if one_writer && t.stopping {
            return;
        }
        let reason = t.replaced_because.unwrap_or(Reason::Started { slot });
        self.start(slot, reason);
    }

    /// While a canary step holds, a slot's stable replica (its oldest of
    /// another spec) stays: in the first `k` slots a new one starts beside it
    /// (unless the rollout is paused), the others wait. Any other old replica
    /// in the slot goes: a canary a newer deploy superseded, or all of them when
    /// the slot's ready new replica is older still (the deploy went back to what
    /// the slot ran). Returns whether the slot is decided; a slot without an old
    /// replica alive, or with a replica on a draining host, is planned as any
    /// other (a drain is not held up by a canary).
    fn canary_slot(
        &mut self,
        slot: u32,
        k: u32,
        alive: &[&ObservedReplica],
        good: &[&ObservedReplica],
    ) -> bool {
        let mut old: Vec<&ObservedReplica> = alive
            .iter()
            .copied()
            .filter(|r| !current(self.s, r))
            .collect();
        if old.is_empty() || alive.iter().any(|r| self.ctx.draining(r.host_id)) {
            return false;
        }
        old.sort_by(|a, b| (a.created_ms, &a.container_id).cmp(&(b.created_ms, &b.container_id)));
        let keep = newest_ready(good);
        let stable_stays = keep.is_none_or(|g| g.created_ms >= old[0].created_ms);
        for r in old.iter().skip(usize::from(stable_stays)) {
            let reason = Reason::Superseded {
                slot,
                revision: r.revision,
                by: self.s.revision,
            };
            self.leaves(r);
            self.remove(r, reason);
        }
        if let Some(keep) = keep {
            for r in good.iter().filter(|r| r.container_id != keep.container_id) {
                let host = self.ctx.host_name(r.host_id);
                self.leaves(r);
                self.remove(r, Reason::ExtraCopy { slot, host });
            }
            return true;
        }
        let paused = self.s.rollout.as_ref().is_some_and(|r| r.paused);
        if good.is_empty() && slot <= k && !paused {
            let revision = self.s.revision;
            self.start(slot, Reason::Canary { slot, revision });
        }
        true
    }

    /// Removes the slot's dead, unhealthy and lost replicas (saying why the slot
    /// needs a new one) and sorts the others.
    fn triage(&mut self, slot: u32, rs: &[&'a ObservedReplica]) -> Triage<'a> {
        let mut t = Triage::default();
        for r in rs {
            match self.ctx.kind(r, self.s.spec.restart) {
                Kind::Dead { replace: true } => {
                    let why = exit_words(r.status);
                    t.replaced_because.get_or_insert(Reason::Replaced {
                        slot,
                        why: why.clone(),
                    });
                    self.remove(r, Reason::Failed { slot, why });
                }
                Kind::Dead { replace: false } => t.finished = true,
                Kind::Unhealthy => {
                    t.stopping = true;
                    self.remove(r, Reason::Unhealthy { slot });
                    t.replaced_because.get_or_insert(Reason::Replaced {
                        slot,
                        why: "unhealthy".into(),
                    });
                }
                Kind::Lost => {
                    // Its host has been gone past the grace: it is not touched (its
                    // leftover is removed when the host returns).
                    let h = self.ctx.host(r.host_id);
                    let secs = h
                        .and_then(|h| h.unreachable_since_ms)
                        .map(|t| (self.ctx.now - t) / 1000)
                        .unwrap_or(0);
                    t.replaced_because.get_or_insert(Reason::HostLost {
                        slot,
                        host: self.ctx.host_name(r.host_id),
                        secs,
                    });
                }
                Kind::Hidden => t.hidden = Some(r.host_id),
                Kind::Stopping => t.stopping = true,
                Kind::Alive => t.alive.push(r),
            }
        }
        t
    }

    /// A ready replica of the current revision is there: the newest one stays,
    /// everything else alive in the slot goes.
    fn keep_newest_ready(
        &mut self,
        slot: u32,
        alive: &[&ObservedReplica],
        good: &[&ObservedReplica],
    ) {
        let keep = newest_ready(good).expect("a ready replica");
        for r in alive.iter().filter(|r| r.container_id != keep.container_id) {
            let host = self.ctx.host_name(r.host_id);
            let reason = if self.ctx.draining(r.host_id) {
                Reason::MovedOffDraining { slot, host }
            } else if !current(self.s, r) {
                Reason::Superseded {
                    slot,
                    revision: r.revision,
                    by: self.s.revision,
                }
            } else {
                Reason::ExtraCopy { slot, host }
            };
            self.leaves(r);
            self.remove(r, reason);
        }
    }

    /// Only old replicas, or ones on a draining host: replaced within the
    /// allowance, stop-first (the old goes, the new starts next pass) or
    /// start-first (the new starts beside the old).
    fn replace(&mut self, slot: u32, alive: &[&ObservedReplica]) {
        if self.budget == 0 {
            return;
        }
        let stop_first = self.s.update_order() == UpdateOrder::StopFirst;
        // Stopping first where no new replica may start would leave the slot empty:
        // a slot whose volumes are on a host that takes nothing new keeps its old
        // replica.
        if stop_first && self.home_refuses(slot, alive[0].revision) {
            return;
        }
        self.budget -= 1;
        let old = alive[0];
        for r in alive {
            self.leaves(r);
        }
        let moving = self.ctx.draining(old.host_id);
        if stop_first {
            for r in alive {
                let host = self.ctx.host_name(r.host_id);
                let reason = if moving {
                    Reason::StoppedToMove { slot, host }
                } else {
                    Reason::StoppedForRevision {
                        slot,
                        revision: r.revision,
                        by: self.s.revision,
                    }
                };
                self.remove(r, reason);
            }
            return;
        }
        let reason = if moving {
            let host = self.ctx.host_name(old.host_id);
            Reason::MovingOffDraining { slot, host }
        } else {
            Reason::RollingOut {
                slot,
                revision: self.s.revision,
                was: old.revision,
            }
        };
        self.start(slot, reason);
    }

    /// Whether the slot's home takes no new replica (it keeps `revision`, and
    /// says so).
    fn home_refuses(&mut self, slot: u32, revision: i64) -> bool {
        let Some(h) = self.home(slot).and_then(|id| self.ctx.host(id)) else {
            return false;
        };
        if h.state == HostState::Ready {
            return false;
        }
        self.problem(Problem::HomeRefuses {
            slot,
            revision,
            host: h.name.clone(),
            state: h.state,
        });
        true
    }

    /// Where the slot's per-replica volumes are, if they stay on one host.
    fn home(&self, slot: u32) -> Option<i64> {
        if self.s.pins_slots() {
            self.s.homes.get(&slot).copied()
        } else {
            None
        }
    }

    /// Why a slot whose replica's host is silent waits: the grace; and when its
    /// data follows it, that the host must be fenced first (one writer at a time).
    fn silent(&self, slot: u32, host_id: i64) -> Problem {
        let grace_ms = self.ctx.settings.host_grace_ms;
        if !self.s.moves_data() {
            return Problem::HostSilent {
                slot,
                grace_secs: grace_ms / 1000,
            };
        }
        let since = self
            .ctx
            .host(host_id)
            .and_then(|h| h.unreachable_since_ms)
            .unwrap_or(self.ctx.now);
        Problem::WaitsForFence {
            slot,
            host: self.ctx.host_name(host_id),
            secs_left: ((since + grace_ms - self.ctx.now).max(0) + 999) / 1000,
        }
    }

    /// Starts a replica in `slot` where placement says, or says why it cannot.
    fn start(&mut self, slot: u32, reason: Reason) {
        if let Some(class) = self.s.missing_class() {
            let why = format!(
                "its volumes name the class {class}, which does not exist or is not open to its team"
            );
            self.problem(Problem::NotPlaced { slot, why });
            return;
        }
        let placed = match self.place(slot) {
            Some(placed) => placed,
            None => return,
        };
        match placed {
            Ok(i) => {
                let need = &self.need;
                self.slots[i].take(need.cpu_millis, need.memory_bytes, need.host_port);
                self.counts[i] += 1;
                self.placer.changed(need, self.slots, &self.counts, i);
                self.out.actions.push(Action::Start {
                    service_id: self.s.id,
                    slot,
                    host_id: self.slots[i].host.id,
                    reason,
                });
            }
            // Room held by replicas being stopped is free in a moment (their task
            // pokes the loop): the slot waits for it rather than be reported, and a
            // host pool adds no host for it.
            Err(_) if self.ctx.stopping_anywhere => {}
            Err(why) => self.problem(Problem::NotPlaced { slot, why }),
        }
    }

    /// The host (by index) for a new replica of `slot`, or why none; `None` when
    /// the slot waits for its home (and says so). A slot with a home starts there
    /// or nowhere: its data is there.
    fn place(&mut self, slot: u32) -> Option<Result<usize, String>> {
        let (need, slots, counts, ctx) = (&self.need, &*self.slots, &self.counts, self.ctx);
        let fixed = self
            .fixed
            .get_or_init(|| scheduler::fixed_refusals(need, slots));
        let Some(host_id) = self.home(slot) else {
            return Some(self.placer.place(need, slots, counts, fixed));
        };
        Some(match ctx.host_index.get(&host_id) {
            None => Err(format!(
                "its volumes were on host #{host_id}, which is no longer registered; \
                 an admin may move it (its data stays behind)"
            )),
            Some(&i) if ctx.hosts[i].state == HostState::Unreachable => {
                self.problems.push(Problem::WaitsForHome {
                    slot,
                    host: ctx.hosts[i].name.clone(),
                });
                return None;
            }
            Some(&i) => scheduler::place_with(need, &slots[i..=i], &counts[i..=i], &fixed[i..=i])
                .map(|_| i)
                .map_err(|why| format!("its volumes are on {}: {why}", ctx.hosts[i].name)),
        })
    }

    /// Spreading counts the replicas that stay: one planned to go (removed, or
    /// replaced in its slot) leaves its host's count, so a new revision lands
    /// where the old one was and the spread holds when the rollout is done.
    fn leaves(&mut self, r: &ObservedReplica) {
        if let Some(&i) = self.ctx.host_index.get(&r.host_id) {
            if r.status.alive() {
                self.counts[i] = self.counts[i].saturating_sub(1);
                self.placer.changed(&self.need, self.slots, &self.counts, i);
            }
        }
    }

    fn remove(&mut self, r: &ObservedReplica, reason: Reason) {
        // A replica being made is not there yet: nothing to remove.
        if r.pending {
            return;
        }
        self.out.actions.push(Action::Remove {
            service_id: self.s.id,
            slot: r.slot,
            host_id: r.host_id,
            container_id: r.container_id.clone(),
            reason,
        });
    }
}
