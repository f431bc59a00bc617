//! What a pass leaves for others: each service's state for the pages (replicas,
//! problems, progress), events for problems not said before, and the proxy's
//! routes to the replicas that are ready on hosts that answer.

use super::*;

impl Driver {
    /// Puts what the pass saw where pages read it, and records new problems.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn publish(
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
            let current: BTreeSet<String> = announced.iter().map(Problem::to_string).collect();
            for problem in current.difference(told) {
                events::service(state, &d.service_ref(), Level::Warn, problem).await;
            }
            *told = current;
        }
    }
}

/// The replicas the proxy may send to, of those observed: one this pass
/// removes (`removed`: a newer replica took its slot, an aborted canary) takes
/// no new request from this pass on, not from when its stop begins; a revision
/// an automatic rollback goes back from (running, or failed in this very pass:
/// `failed`, by service and revision), whose replicas failed or breached a gate,
/// takes none either, as long as the other revisions' ready replicas are at
/// least as many (half of what serves).
pub fn serving(
    observed: &[ObservedReplica],
    active: &HashMap<i64, RolloutRow>,
    failed: &HashSet<(i64, i64)>,
    removed: &HashSet<&str>,
) -> Vec<ObservedReplica> {
    let ready = |o: &ObservedReplica| {
        !o.pending
            && o.status == Status::Running
            && matches!(o.health, Health::Healthy | Health::None)
    };
    let rolling_back = active
        .values()
        .filter(|r| r.kind == RolloutKind::AutoRollback && r.state == RolloutState::Running)
        .map(|r| (r.service_id, r.from_revision));
    let mut shed: HashSet<(i64, i64)> = HashSet::new();
    for (service_id, revision) in rolling_back.chain(failed.iter().copied()) {
        let of = |o: &&ObservedReplica| o.service_id == service_id && ready(o);
        let bad = observed
            .iter()
            .filter(of)
            .filter(|o| o.revision == revision)
            .count();
        let others = observed.iter().filter(of).count() - bad;
        if bad > 0 && others >= bad {
            shed.insert((service_id, revision));
        }
    }
    observed
        .iter()
        .filter(|o| !shed.contains(&(o.service_id, o.revision)))
        .filter(|o| !removed.contains(o.container_id.as_str()))
        .cloned()
        .collect()
}

/// A canary step's share of its service's requests, and the spec hash of the
/// new replicas that take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryShare {
    pub weight: u8,
    /// The step before's weight (0 for the first), and the new replicas the
    /// step runs: until they are all ready, the share grows with those that
    /// are (never below the step before's), so that a promote does not send a
    /// step's share to the last step's replicas alone.
    pub previous: u8,
    pub replicas: u32,
    pub spec_hash: String,
}

impl CanaryShare {
    /// The share with `ready` of the step's new replicas ready to serve.
    pub fn weight_with(&self, ready: u32) -> u8 {
        if ready >= self.replicas {
            return self.weight;
        }
        let part = u32::from(self.weight) * ready / self.replicas.max(1);
        (part as u8).max(self.previous).max(1)
    }
}

/// Each service whose rollout holds a canary step (running or paused): its
/// share. A rollout that ended, failed into a rollback, or was promoted past
/// its last step has none.
pub fn canary_shares(
    desired: &[DesiredService],
    active: &HashMap<i64, RolloutRow>,
) -> HashMap<i64, CanaryShare> {
    desired
        .iter()
        .filter_map(|d| {
            let r = active.get(&d.id).filter(|r| r.to_revision == d.revision)?;
            let policy = &d.spec.update;
            let step = crate::rollout::canary_step(r, policy)?;
            let previous = r
                .step
                .checked_sub(1)
                .and_then(|p| policy.canary.as_ref()?.steps.get(p as usize))
                .map_or(0, |s| s.weight);
            Some((
                d.id,
                CanaryShare {
                    weight: step.weight,
                    previous,
                    replicas: crate::rollout::canary_replicas(r, policy, d.replicas)?,
                    spec_hash: d.spec_hash.clone(),
                },
            ))
        })
        .collect()
}

/// The proxy's routes: each exposed service with a port is reachable as
/// `<service>.<domain>` and by its own routes, through its replicas that are
/// running and ready on a host that answers; a service with a canary step
/// splits its requests by the step's weight.
pub fn route_inputs(
    rows: &[ServiceRow],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    domain: &str,
    shares: &HashMap<i64, CanaryShare>,
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
                if host.state == domain::wire::HostState::Unreachable {
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
        let canary = shares.get(&row.id).and_then(|share| {
            let mut canaries: Vec<String> = observed
                .iter()
                .filter(|o| o.service_id == row.id && o.spec_hash == share.spec_hash)
                .map(|o| o.container_id.clone())
                .filter(|id| backends.iter().any(|b| &b.container_id == id))
                .collect();
            canaries.sort();
            let weight = share.weight_with(canaries.len() as u32);
            (!canaries.is_empty()).then_some(Split { weight, canaries })
        });
        let default = RouteSpec {
            host: Some(format!("{}.{domain}", row.name)),
            path_prefix: "/".into(),
            strip_prefix: false,
            acme: false,
            redirect_https: false,
        };
        // Names under the proxy's domain are the services' own: a route that
        // claims one (written before routes were checked) is left out.
        let own = |r: &&RouteSpec| {
            r.host
                .as_deref()
                .is_none_or(|h| !domain::validate::touches_proxy_domain(h, domain))
        };
        for r in std::iter::once(&default).chain(row.proxy.routes.iter().filter(own)) {
            out.push(RouteInput {
                service_id: row.id,
                team_id: row.team_id,
                service: row.name.clone(),
                host: HostMatch::parse(r.host.as_deref()),
                prefix: r.path_prefix.clone(),
                strip: r.strip_prefix,
                redirect: r.redirect_https,
                balance: row.proxy.balance,
                backends: backends.clone(),
                canary: canary.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str, service_id: i64, revision: i64, health: Health) -> ObservedReplica {
        ObservedReplica {
            container_id: id.into(),
            host_id: 1,
            service_id,
            slot: 1,
            revision,
            spec_hash: format!("h{revision}"),
            status: Status::Running,
            health,
            created_ms: 0,
            cpu_millis: 0,
            memory_bytes: 0,
            host_port: None,
            endpoint: None,
            pending: false,
            stopping: false,
        }
    }

    fn rollout(service_id: i64, kind: RolloutKind, state: RolloutState) -> (i64, RolloutRow) {
        let row = RolloutRow {
            id: service_id * 10,
            service_id,
            from_revision: 2,
            to_revision: 1,
            kind,
            state,
            reason: String::new(),
            author: "berth".into(),
            started_at: 0,
            updated_at: 0,
            finished_at: None,
            batch_done_at: None,
            batch_ready: 0,
            step: 0,
            step_ready_at: None,
        };
        (service_id, row)
    }

    fn ids(list: Vec<ObservedReplica>) -> Vec<String> {
        list.into_iter().map(|r| r.container_id).collect()
    }

    #[test]
    fn an_automatic_rollback_takes_the_failed_revision_out_while_the_others_can_serve() {
        use Health::{Healthy, Starting};
        let three_old_one_new = vec![
            rep("old1", 5, 1, Healthy),
            rep("old2", 5, 1, Healthy),
            rep("old3", 5, 1, Healthy),
            rep("new1", 5, 2, Healthy),
            rep("other", 6, 2, Healthy),
        ];
        let cases = [
            // Rolling back from revision 2: its replica takes no requests.
            (
                rollout(5, RolloutKind::AutoRollback, RolloutState::Running),
                vec!["old1", "old2", "old3", "other"],
            ),
            // A person's rollback, or one that ended: nothing is held back.
            (
                rollout(5, RolloutKind::Rollback, RolloutState::Running),
                vec!["old1", "old2", "old3", "new1", "other"],
            ),
            (
                rollout(5, RolloutKind::AutoRollback, RolloutState::Succeeded),
                vec!["old1", "old2", "old3", "new1", "other"],
            ),
        ];
        for (active, want) in cases {
            let active = HashMap::from([active]);
            assert_eq!(
                ids(serving(
                    &three_old_one_new,
                    &active,
                    &HashSet::new(),
                    &HashSet::new()
                )),
                want,
                "{active:?}"
            );
        }
        // Failed in this very pass (its automatic rollback not yet read): held
        // back at once.
        let failed = HashSet::from([(5, 2)]);
        assert_eq!(
            ids(serving(
                &three_old_one_new,
                &HashMap::new(),
                &failed,
                &HashSet::new()
            )),
            ["old1", "old2", "old3", "other"]
        );
        // Fewer ready old replicas than failed ones: all stay (failures beat no answer).
        let one_old_two_new = vec![
            rep("old1", 5, 1, Healthy),
            rep("old2", 5, 1, Starting),
            rep("new1", 5, 2, Healthy),
            rep("new2", 5, 2, Healthy),
        ];
        let active = HashMap::from([rollout(5, RolloutKind::AutoRollback, RolloutState::Running)]);
        assert_eq!(
            ids(serving(
                &one_old_two_new,
                &active,
                &HashSet::new(),
                &HashSet::new()
            )),
            ["old1", "old2", "new1", "new2"]
        );
    }

    #[test]
    fn a_canary_step_splits_its_routes_by_weight_and_nothing_else_does() {
        let spec = |canary: bool| -> domain::wire::ServiceSpec {
            let mut v = serde_json::json!({"image": "demo:v2", "port": 80});
            if canary {
                v["update"] =
                    serde_json::json!({"canary": {"steps": [{"weight": 10}, {"weight": 50}]}});
            }
            serde_json::from_value(v).unwrap()
        };
        let desired = |canary: bool| DesiredService {
            id: 5,
            name: "web".into(),
            team_id: 1,
            replicas: 4,
            revision: 2,
            spec: spec(canary),
            spec_hash: "h2".into(),
            rollout: None,
            homes: Default::default(),
            classes: Default::default(),
            drivers: vec![],
        };
        let deploy = |state, step| {
            let (id, mut r) = rollout(5, RolloutKind::Deploy, state);
            (r.from_revision, r.to_revision, r.step) = (1, 2, step);
            HashMap::from([(id, r)])
        };
        use RolloutState::{Paused, Running, Succeeded};
        // (canary steps, rollout state, its step, the share)
        let cases = [
            (true, Running, 0, Some(10)),
            (true, Paused, 1, Some(50)),
            (true, Running, 2, None),
            (true, Succeeded, 0, None),
            (false, Running, 0, None),
        ];
        for (canary, state, step, want) in cases {
            let shares = canary_shares(&[desired(canary)], &deploy(state, step));
            assert_eq!(
                shares.get(&5).map(|s| s.weight),
                want,
                "{canary} {state:?} {step}"
            );
        }
        // The route names the canary's ready replicas on hosts that answer.
        let row = ServiceRow {
            id: 5,
            name: "web".into(),
            team_id: 1,
            team: "t".into(),
            replicas: 4,
            revision: 2,
            spec: spec(true),
            spec_hash: "h2".into(),
            proxy: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        let host = HostInfo {
            id: 1,
            name: "h1".into(),
            state: domain::wire::HostState::Ready,
            unreachable_since_ms: None,
            labels: Default::default(),
            cpu_millis: 0,
            memory_bytes: 0,
            volume_drivers: vec![],
        };
        let mut observed = vec![
            rep("old1", 5, 1, Health::Healthy),
            rep("new1", 5, 2, Health::Healthy),
            rep("new2", 5, 2, Health::Starting),
        ];
        for (i, o) in observed.iter_mut().enumerate() {
            o.endpoint = Some(("127.0.0.1".into(), 8000 + i as u16));
        }
        // The second step's share with its replicas not all ready: grows with
        // those that are, never below the first step's.
        let second = &canary_shares(&[desired(true)], &deploy(Running, 1))[&5];
        assert_eq!((second.previous, second.replicas), (10, 2));
        let grown: Vec<u8> = (0..=2).map(|ready| second.weight_with(ready)).collect();
        assert_eq!(grown, [10, 25, 50]);
        let shares = canary_shares(&[desired(true)], &deploy(Running, 0));
        let routes = route_inputs(&[row], &observed, &[host], "localhost", &shares);
        assert_eq!(
            routes[0].canary,
            Some(Split {
                weight: 10,
                canaries: vec!["new1".into()]
            })
        );
    }
}
