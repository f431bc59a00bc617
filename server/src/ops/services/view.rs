//! How a service stands, as pages and the API show it: its replicas (running,
//! being made, or a wanted slot without one and why), its phase, its rollout.

use super::*;
use crate::model::Problem;

/// How a service stands, from its row and what the reconciler last saw.
pub fn view(state: &AppState, row: &ServiceRow, rollout: Option<&RolloutRow>) -> ServiceView {
    let seen = state.reconciler.service(row.id);
    let hosts = HostLookup(state);
    let up: Vec<&ObservedReplica> = seen
        .replicas
        .iter()
        .filter(|r| !hosts.down(r.host_id))
        .collect();
    let running = up.iter().filter(|r| r.status == Status::Running).count() as u32;
    let ready = |r: &ObservedReplica| {
        r.status == Status::Running && matches!(r.health, Health::Healthy | Health::None)
    };
    let healthy = up
        .iter()
        .filter(|r| ready(r) && r.revision == row.revision && r.slot <= row.replicas)
        .map(|r| r.slot)
        .collect::<HashSet<_>>()
        .len() as u32;
    let instances = instances(state, &hosts, row, &seen);
    let settled = instances.len() as u32 == row.replicas
        && instances
            .iter()
            .all(|i| i.current && i.state == ReplicaState::Running);
    let phase = if row.replicas == 0 && instances.is_empty() {
        ServicePhase::Stopped
    } else if healthy >= row.replicas && settled {
        ServicePhase::Running
    } else if !seen.problems.is_empty() || seen.last_error.is_some() {
        ServicePhase::Degraded
    } else {
        ServicePhase::Progressing
    };
    ServiceView {
        rollout: rollout.map(|r| rollout_view(r, row, &seen.rollout)),
        id: row.id,
        name: row.name.clone(),
        team: row.team.clone(),
        team_id: row.team_id,
        replicas: row.replicas,
        revision: row.revision,
        spec: row.spec.clone(),
        proxy: row.proxy.clone(),
        default_host: (row.spec.port.is_some() && row.proxy.expose)
            .then(|| format!("{}.{}", row.name, state.proxy.settings.domain)),
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
        phase,
        running,
        healthy,
        instances,
        problems: seen
            .problems
            .iter()
            .map(|p| problem_words(state, row.id, p))
            .chain(certificate_problems(state, row))
            .collect(),
        last_error: seen.last_error,
        observed_at_ms: seen.observed_at_ms,
    }
}

/// Why a route's HTTPS is not what it asks for (the service is still served over
/// plain HTTP, and over HTTPS while an older certificate lasts).
fn certificate_problems<'a>(
    state: &'a AppState,
    row: &'a ServiceRow,
) -> impl Iterator<Item = String> + 'a {
    let now = crate::clock::now_ms();
    // By host: one asking ACME among a host's routes makes it an ACME host.
    let mut hosts: BTreeMap<&str, bool> = BTreeMap::new();
    for r in row
        .proxy
        .routes
        .iter()
        .filter(|r| r.acme || r.redirect_https)
    {
        if let Some(h) = r.host.as_deref() {
            *hosts.entry(h).or_default() |= r.acme;
        }
    }
    hosts.into_iter().filter_map(move |(h, acme)| {
        let why = https_problem(state, h, acme, now)?;
        Some(format!("HTTPS for {h}: {why}"))
    })
}

/// Within this long of its end, an uploaded certificate is a problem to see.
const ENDS_SOON_MS: i64 = 14 * 24 * 3600 * 1000;

fn https_problem(state: &AppState, host: &str, acme: bool, now: i64) -> Option<String> {
    let certs = &state.certs;
    if !state.proxy.settings.https {
        return Some(
            "this Berth serves no HTTPS (started with --proxy-tls-listen off); plain HTTP is served"
                .into(),
        );
    }
    if let Some(p) = certs.problem(host) {
        return Some(p);
    }
    if acme && certs.acme.is_none() {
        return Some(
            "this Berth orders no certificates (started with --acme-directory off); upload one on the Certificates page"
                .into(),
        );
    }
    match certs.served_until(host) {
        None if !acme => Some(
            "there is no certificate for it; upload one on the Certificates page (until then it is served over plain HTTP only)"
                .into(),
        ),
        Some((end, domain::wire::CertSource::Uploaded)) if end - now < ENDS_SOON_MS => Some(format!(
            "its uploaded certificate ends on {}; upload a new one",
            domain::format::utc_datetime(end)
        )),
        _ => None,
    }
}

/// A problem in words; a replica no host takes, for which a pool is making a
/// host (or cannot), says so with the placement's words after it.
fn problem_words(state: &AppState, service_id: i64, p: &Problem) -> String {
    match p {
        Problem::NotPlaced { slot, why } => match state.pools.wait_of(service_id, *slot) {
            Some(w) => format!("{}; {why}", w.sentence(*slot, crate::clock::now_ms())),
            None => p.to_string(),
        },
        _ => p.to_string(),
    }
}

/// Hosts by id, for a view: their names, and whether they answer.
pub(super) struct HostLookup<'a>(&'a AppState);

impl HostLookup<'_> {
    fn name(&self, id: i64) -> String {
        self.0
            .hosts
            .get(id)
            .map(|e| e.name())
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn down(&self, id: i64) -> bool {
        self.0
            .hosts
            .get(id)
            .is_some_and(|e| health::state(&e.row(), &e.live()) == HostState::Unreachable)
    }
}

/// Every replica of the service as a page shows it: those that run (or ran),
/// those being made, and wanted slots with nothing in them (why they wait, or why
/// their start failed), by slot.
pub(super) fn instances(
    state: &AppState,
    hosts: &HostLookup,
    row: &ServiceRow,
    seen: &crate::reconciler::ServiceState,
) -> Vec<ReplicaView> {
    let history = |slot: u32| seen.slots.get(&slot).cloned().unwrap_or_default();
    let mut out: Vec<ReplicaView> = seen
        .replicas
        .iter()
        .map(|r| {
            let down = hosts.down(r.host_id);
            let note = if down {
                Some("its host does not answer".to_string())
            } else if matches!(r.health, Health::Starting | Health::Unhealthy) {
                state.reconciler.prober.last_error(&r.container_id)
            } else {
                None
            };
            let h = history(r.slot);
            ReplicaView {
                slot: r.slot,
                revision: r.revision,
                host: hosts.name(r.host_id),
                container_id: r.container_id.chars().take(12).collect(),
                state: if down {
                    ReplicaState::Unknown
                } else {
                    r.status.replica_state()
                },
                health: r.health,
                endpoint: r.endpoint.as_ref().map(|(a, p)| format!("{a}:{p}")),
                restarts: h.restarts,
                last_exit: h.last_exit,
                current: r.spec_hash == row.spec_hash,
                note,
                created_at_ms: r.created_ms,
            }
        })
        .collect();
    for p in &seen.pending {
        let h = history(p.slot);
        out.push(ReplicaView {
            slot: p.slot,
            revision: p.revision,
            host: hosts.name(p.host_id),
            container_id: String::new(),
            state: match p.step {
                Making::Pulling { .. } => ReplicaState::Pulling,
                Making::Starting => ReplicaState::Starting,
            },
            health: Health::Starting,
            endpoint: None,
            restarts: h.restarts,
            last_exit: h.last_exit,
            current: p.spec_hash == row.spec_hash,
            note: Some(p.step.to_string()),
            created_at_ms: p.since_ms,
        });
    }
    let occupied: HashSet<u32> = out.iter().map(|i| i.slot).collect();
    for slot in (1..=row.replicas).filter(|s| !occupied.contains(s)) {
        let h = history(slot);
        let waiting = seen.problems.iter().find(|p| p.slot() == slot);
        let (state, host, note) = match (&h.start_failure, waiting) {
            (Some(f), _) => (
                ReplicaState::Failed,
                hosts.name(f.host_id),
                Some(f.error.clone()),
            ),
            (None, why) => (
                ReplicaState::Waiting,
                String::new(),
                why.map(|p| problem_words(state, row.id, p)),
            ),
        };
        out.push(ReplicaView {
            slot,
            revision: row.revision,
            host,
            container_id: String::new(),
            state,
            health: Health::Starting,
            endpoint: None,
            restarts: h.restarts,
            last_exit: h.last_exit,
            current: true,
            note,
            created_at_ms: 0,
        });
    }
    out.sort_by(|a, b| {
        (a.slot, a.created_at_ms, &a.container_id).cmp(&(b.slot, b.created_at_ms, &b.container_id))
    });
    out
}

/// A rollout as people read it: how far it got, and what it does now.
pub fn rollout_view(r: &RolloutRow, row: &ServiceRow, report: &RolloutReport) -> RolloutView {
    let live = r.state.active() && r.to_revision == row.revision;
    let (new_ready, old_remaining) = if live {
        (report.new_ready, report.old_remaining)
    } else if r.state == RolloutState::Succeeded {
        (row.replicas, 0)
    } else {
        (0, 0)
    };
    let policy = &row.spec.update;
    let canary = live.then(|| canary_view(r, row, report)).flatten();
    let phase = match r.state {
        RolloutState::Paused => r.reason.clone(),
        RolloutState::Running if !live => "waiting for its service".to_string(),
        RolloutState::Running if canary.is_some() => {
            let gated = policy.gates.is_some();
            canary
                .as_ref()
                .map(|c| canary_phase(c, gated, clock::now_ms()))
                .unwrap_or_default()
        }
        RolloutState::Running => {
            let gate = r
                .batch_done_at
                .map(|t| policy.gate_after(t))
                .filter(|g| *g > clock::now_ms() && report.in_transition == 0);
            match gate {
                Some(g) if report.old_remaining == 0 => format!(
                    "watching the new replicas until {}",
                    domain::format::utc_time(g)
                ),
                Some(g) => format!(
                    "next batch at {} ({} old replica{} left)",
                    domain::format::utc_time(g),
                    report.old_remaining,
                    if report.old_remaining == 1 { "" } else { "s" }
                ),
                None => format!(
                    "{} of {} replicas on revision {}, {} starting, {} old left",
                    report.new_ready,
                    report.wanted,
                    r.to_revision,
                    report.in_transition,
                    report.old_remaining
                ),
            }
        }
        RolloutState::Succeeded => "done".to_string(),
        RolloutState::RolledBack | RolloutState::Aborted => r.reason.clone(),
    };
    RolloutView {
        id: r.id,
        service: row.name.clone(),
        from_revision: r.from_revision,
        to_revision: r.to_revision,
        kind: r.kind,
        state: r.state,
        reason: r.reason.clone(),
        author: r.author.clone(),
        started_at_ms: r.started_at,
        updated_at_ms: r.updated_at,
        finished_at_ms: r.finished_at,
        wanted: row.replicas,
        new_ready,
        old_remaining,
        phase,
        message: String::new(),
        canary,
    }
}

/// Where `r`'s canary step is, while one holds.
fn canary_view(r: &RolloutRow, row: &ServiceRow, report: &RolloutReport) -> Option<CanaryView> {
    let policy = &row.spec.update;
    let step = rollout::canary_step(r, policy)?;
    let replicas = rollout::canary_replicas(r, policy, row.replicas)?;
    Some(CanaryView {
        step: r.step + 1,
        steps: rollout::canary_steps(policy),
        weight: step.weight,
        replicas,
        ready: report.new_ready.min(replicas),
        next_at_ms: r
            .step_ready_at
            .zip(step.pause_ms)
            .map(|(t, ms)| t.saturating_add(ms as i64)),
        until_promoted: step.pause_ms.is_none(),
    })
}

/// "canary step 1 of 2: 10% of requests to 1 new replica, promoted at 12:01:00".
/// A gated step past its pause waits for its gates' verdict (a whole window
/// with enough requests).
fn canary_phase(c: &CanaryView, gated: bool, now: i64) -> String {
    let head = format!("canary step {} of {}", c.step, c.steps);
    if c.ready < c.replicas {
        return format!(
            "{head}: starting {} new replica{} beside the old ones ({} ready)",
            c.replicas,
            if c.replicas == 1 { "" } else { "s" },
            c.ready
        );
    }
    let then = match c.next_at_ms {
        Some(at) if at <= now && gated => {
            "next step once its gates have judged a whole window of requests".to_string()
        }
        Some(at) => format!("next step at {}", domain::format::utc_time(at)),
        None if c.until_promoted => "holds until promoted".to_string(),
        None => "its pause begins".to_string(),
    };
    format!(
        "{head}: {}% of requests to {} new replica{}, {then}",
        c.weight,
        c.replicas,
        if c.replicas == 1 { "" } else { "s" }
    )
}
