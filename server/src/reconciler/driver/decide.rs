//! Deciding, for one pass: what was observed (a [`Snapshot`]) and `now` in; the
//! plan, the restarts that wait their delay, and when to look again out. Health as
//! the checks see it is laid over what was observed before.

use super::*;

/// What one pass saw: the input of deciding.
pub(super) struct Snapshot {
    pub(super) rows: Vec<ServiceRow>,
    /// Services whose row does not read and was never read: nothing of theirs is
    /// started or removed.
    pub(super) held: HashSet<i64>,
    pub(super) active: HashMap<i64, RolloutRow>,
    pub(super) desired: Vec<DesiredService>,
    pub(super) hosts: Vec<HostInfo>,
    pub(super) addresses: HashMap<i64, String>,
    pub(super) observed: Vec<ObservedReplica>,
}

/// What a pass decided: the plan (less the restarts that wait), the restarts
/// that wait and why, and when to look again.
pub(super) struct Decision {
    pub(super) plan: Plan,
    pub(super) delayed: HashMap<i64, Vec<Problem>>,
    pub(super) wake: i64,
}

/// The plan for what the pass saw, with the restarts of slots that keep failing
/// held back for their delay.
pub(super) fn decide(state: &AppState, snap: &Snapshot, now: i64) -> Decision {
    let r = &state.reconciler;
    let settings = r.settings();
    let mut plan = plan::plan(
        &snap.desired,
        &snap.observed,
        &snap.hosts,
        now,
        r.plan_settings(),
    );
    // Their replicas look like a deleted service's; they are not.
    plan.actions
        .retain(|a| !snap.held.contains(&a.service_id()));
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
pub(super) fn delay_restarts(
    actions: &mut Vec<Action>,
    history: impl Fn(i64, u32) -> crate::reconciler::SlotHistory,
    now: i64,
) -> (HashMap<i64, Vec<Problem>>, Option<i64>) {
    let failing_now: HashMap<(i64, u32), String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove {
                service_id,
                slot,
                reason,
                ..
            } => reason
                .failure()
                .map(|why| ((*service_id, *slot), why.to_string())),
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
        let problem = Problem::RestartDelayed {
            slot: *slot,
            secs: (until - now + 999) / 1000,
            failures,
            why: why.unwrap_or_else(|| "failed".into()),
        };
        delayed.entry(*service_id).or_default().push(problem);
        false
    });
    (delayed, earliest)
}

/// Health as Berth's checks (HTTP probes) or Docker's (command probes) see it,
/// laid over what runs; replicas' endpoints on their hosts' addresses. Returns
/// the prober's targets.
pub(super) fn overlay_health(
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
