//! Services, as teams run them: create, deploy a new revision, scale, delete; read
//! them with their replicas, events, revisions, logs and usage. Every write
//! records an event and an audit entry and pokes the reconciler, which does the
//! rest.

use std::collections::{BTreeMap, HashSet};

use app::validate;
use app::wire::{
    CreateServiceInput, DeployInput, EnvValue, EventView, Health, HealthCheck, HealthProbe,
    HostState, ProxyConfig, ReplicaLogs, ReplicaState, ReplicaStats, ReplicaView, Resources,
    RevisionDiff, RevisionView, RollbackInput, RolloutKind, RolloutState, RolloutView, RouteSpec,
    ScaleInput, ServiceDetail, ServicePhase, ServiceSpec, ServiceView,
};

use super::{audit, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::clock;
use crate::cluster::health;
use crate::domain::{ObservedReplica, Status};
use crate::events::{self, Level, ServiceRef};
use crate::reconciler::plan::RolloutReport;
use crate::reconciler::Making;
use crate::rollout::{self, Transition};
use crate::state::AppState;
use crate::store::{EventFilter, NewRollout, NewService, RolloutRow, ServiceRow};

/// Lines of a replica's log shown unless asked otherwise, and at most.
pub const LOG_TAIL: u32 = 200;
pub const LOG_TAIL_MAX: u32 = 5000;

async fn find(state: &AppState, name: &str) -> Result<ServiceRow, OpsError> {
    state
        .store
        .service_by_name(name)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("there is no service {name:?}")))
}

/// A service the caller may read.
async fn readable(state: &AppState, ctx: &Ctx, name: &str) -> Result<ServiceRow, OpsError> {
    ctx.principal()?;
    let row = find(state, name).await?;
    ctx.allowed(Action::ReadServices(row.team_id))?;
    Ok(row)
}

/// A service the caller may change, and the caller's name for the records.
async fn writable(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<(String, ServiceRow), OpsError> {
    let author = ctx.principal()?.username.clone();
    let row = find(state, name).await?;
    ctx.allowed(Action::WriteServices(row.team_id))?;
    Ok((author, row))
}

/// A service as it stands after a write, with its rollout.
async fn fresh_view(state: &AppState, name: &str) -> Result<ServiceView, OpsError> {
    let row = find(state, name).await?;
    let rollout = state.store.rollouts_of(row.id, 1).await?;
    Ok(view(state, &row, rollout.first()))
}

/// Every service the caller may see, with how it stands.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<ServiceView>, OpsError> {
    ctx.principal()?;
    let rollouts = state.store.latest_rollouts().await?;
    Ok(state
        .store
        .list_services()
        .await?
        .iter()
        .filter(|row| ctx.allowed(Action::ReadServices(row.team_id)).is_ok())
        .map(|row| for_reader(ctx, view(state, row, rollouts.get(&row.id))))
        .collect())
}

/// Whether the caller may change the team's services (and so read the values
/// written in their environment).
fn may_write(ctx: &Ctx, team_id: i64) -> bool {
    ctx.allowed(Action::WriteServices(team_id)).is_ok()
}

/// A service as the caller may read it: environment values hidden from those
/// who may not change it (viewers, read-only tokens); secrets are only ever
/// named.
fn for_reader(ctx: &Ctx, mut v: ServiceView) -> ServiceView {
    if !may_write(ctx, v.team_id) {
        v.spec = v.spec.with_values_hidden();
    }
    v
}

/// The rollouts under way, across the services the caller may see.
pub async fn active_rollouts(state: &AppState, ctx: &Ctx) -> Result<Vec<RolloutView>, OpsError> {
    ctx.principal()?;
    let rows = state.store.list_services().await?;
    let active = state.store.active_rollouts().await?;
    Ok(active
        .iter()
        .filter_map(|r| {
            let row = rows.iter().find(|s| s.id == r.service_id)?;
            ctx.allowed(Action::ReadServices(row.team_id)).ok()?;
            Some(rollout_view(
                r,
                row,
                &state.reconciler.service(row.id).rollout,
            ))
        })
        .collect())
}

/// A service with its replicas, recent events and revisions.
pub async fn detail(state: &AppState, ctx: &Ctx, name: &str) -> Result<ServiceDetail, OpsError> {
    let row = readable(state, ctx, name).await?;
    let events = service_events(state, row.id, 30).await?;
    let hide = !may_write(ctx, row.team_id);
    let revisions: Vec<RevisionView> = state
        .store
        .list_revisions(row.id)
        .await?
        .into_iter()
        .map(|r| RevisionView {
            number: r.number,
            spec: if hide {
                r.spec.with_values_hidden()
            } else {
                r.spec
            },
            author: r.author,
            message: r.message,
            created_at_ms: r.created_at,
        })
        .collect();
    let rollouts = state.store.rollouts_of(row.id, 20).await?;
    let seen = state.reconciler.service(row.id);
    let message_of = |n: i64| {
        revisions
            .iter()
            .find(|r| r.number == n)
            .map(|r| r.message.clone())
            .unwrap_or_default()
    };
    let mut service = for_reader(ctx, view(state, &row, rollouts.first()));
    if let Some(r) = service.rollout.as_mut() {
        r.message = message_of(r.to_revision);
    }
    Ok(ServiceDetail {
        service,
        events,
        rollouts: rollouts
            .iter()
            .map(|r| RolloutView {
                message: message_of(r.to_revision),
                ..rollout_view(r, &row, &seen.rollout)
            })
            .collect(),
        revisions,
    })
}

/// A service's events: those of this service (by id: a new service of an old name
/// starts with no history).
async fn service_events(
    state: &AppState,
    service_id: i64,
    limit: u32,
) -> Result<Vec<EventView>, OpsError> {
    Ok(state
        .store
        .list_events(&EventFilter {
            kind: Some("service".into()),
            service_id: Some(service_id),
            limit,
            ..Default::default()
        })
        .await?)
}

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
        problems: seen.problems.into_iter().map(|p| p.words).collect(),
        last_error: seen.last_error,
        observed_at_ms: seen.observed_at_ms,
    }
}

/// Hosts by id, for a view: their names, and whether they answer.
struct HostLookup<'a>(&'a AppState);

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
fn instances(
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
        let waiting = seen.problems.iter().find(|p| p.slot == slot);
        let (state, host, note) = match (&h.start_failure, waiting) {
            (Some(f), _) => (
                ReplicaState::Failed,
                hosts.name(f.host_id),
                Some(f.error.clone()),
            ),
            (None, why) => (
                ReplicaState::Waiting,
                String::new(),
                why.map(|p| p.words.clone()),
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
    let phase = match r.state {
        RolloutState::Paused => r.reason.clone(),
        RolloutState::Running if !live => "waiting for its service".to_string(),
        RolloutState::Running => {
            let gate = r
                .batch_done_at
                .map(|t| policy.gate_after(t))
                .filter(|g| *g > clock::now_ms() && report.in_transition == 0);
            match gate {
                Some(g) if report.old_remaining == 0 => format!(
                    "watching the new replicas until {}",
                    app::format::utc_time(g)
                ),
                Some(g) => format!(
                    "next batch at {} ({} old replica{} left)",
                    app::format::utc_time(g),
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
    }
}

/// A spec as its writer may give it: to the grammar (no bind mounts, no host
/// paths, no unknown field: for everyone), and with volume driver options (NFS,
/// tmpfs) only from an admin; a member may keep those the current revision has.
fn check_spec(
    p: &Principal,
    spec: &ServiceSpec,
    current: Option<&ServiceSpec>,
) -> Result<(), OpsError> {
    validate::service_spec(spec).map_err(OpsError::Invalid)?;
    if p.is_admin() {
        return Ok(());
    }
    for v in spec.volumes.iter().filter(|v| !v.options.is_empty()) {
        let kept = current
            .and_then(|c| c.volumes.iter().find(|o| o.name == v.name))
            .is_some_and(|o| o.options == v.options && o.driver == v.driver);
        if !kept {
            return Err(OpsError::Invalid(format!(
                "volume {}: driver options are an admin's to set (they decide what a volume reaches); leave options out for a volume on the host",
                v.name
            )));
        }
    }
    Ok(())
}

fn message_of(m: &Option<String>) -> Result<String, OpsError> {
    let m = m.as_deref().unwrap_or("").trim().to_string();
    if m.len() > 500 {
        return Err(OpsError::Invalid(
            "the message must have at most 500 characters".into(),
        ));
    }
    Ok(m)
}

/// Creates a service in a team the caller operates; its replicas start at once.
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: CreateServiceInput,
) -> Result<ServiceView, OpsError> {
    let mut input = input;
    let outcome = async {
        let p = ctx.principal()?;
        let author = p.username.clone();
        let team = state
            .store
            .list_teams()
            .await?
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(input.team.trim()))
            .ok_or_else(|| OpsError::Invalid(format!("there is no team {:?}", input.team)))?;
        ctx.allowed(Action::WriteServices(team.id))?;
        validate::service_name(&input.name).map_err(OpsError::Invalid)?;
        validate::replicas(input.replicas).map_err(OpsError::Invalid)?;
        check_spec(p, &input.spec, None)?;
        validate::proxy_config(&input.proxy).map_err(OpsError::Invalid)?;
        let message = message_of(&input.message)?;
        if state.store.service_by_name(&input.name).await?.is_some() {
            return Err(OpsError::Conflict(format!(
                "a service named {:?} exists already",
                input.name
            )));
        }
        no_leftovers_of_others(state, &input.name, team.id).await?;
        check_routes(state, p, team.id, &team.name, &input.name, &input.proxy).await?;
        routes_free(state, &input.name, &input.proxy).await?;
        super::secrets::pin(state, team.id, &mut input.spec).await?;
        let now = clock::now_ms();
        let id = state
            .store
            .create_service(NewService {
                name: &input.name,
                team_id: team.id,
                replicas: input.replicas,
                spec: &input.spec,
                proxy: &input.proxy,
                author: &author,
                message: if message.is_empty() {
                    "created"
                } else {
                    &message
                },
                now,
            })
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    OpsError::Conflict(format!("a service named {:?} exists already", input.name))
                } else {
                    e.into()
                }
            })?;
        events::service(
            state,
            &ServiceRef {
                id,
                team_id: Some(team.id),
                name: input.name.clone(),
            },
            Level::Info,
            &format!(
                "service {} created by {author} in team {}: {} of {} (revision 1)",
                input.name,
                team.name,
                replicas_words(input.replicas),
                input.spec.image
            ),
        )
        .await;
        state.reconciler.written(id);
        fresh_view(state, &input.name).await
    }
    .await;
    audit(
        state,
        ctx,
        "service.create",
        &format!("service:{}", input.name),
        &outcome,
    )
    .await;
    outcome
}

fn replicas_words(n: u32) -> String {
    format!("{n} replica{}", if n == 1 { "" } else { "s" })
}

/// What changed between two specs, in a few words each.
pub fn spec_changes(old: &ServiceSpec, new: &ServiceSpec) -> Vec<String> {
    let mut out = Vec::new();
    if old.image != new.image {
        out.push(format!("image {} → {}", old.image, new.image));
    }
    if old.command != new.command || old.args != new.args {
        out.push("command changed".into());
    }
    if old.env != new.env {
        // Variables by name; a secret by name and version, never a value.
        let keys: BTreeMap<&String, ()> = old
            .env
            .iter()
            .chain(new.env.iter())
            .filter(|(k, _)| old.env.get(*k) != new.env.get(*k))
            .map(|(k, _)| (k, ()))
            .collect();
        let word = |k: &String| match (old.env.get(k), new.env.get(k)) {
            (Some(a @ EnvValue::Secret(_)), Some(b @ EnvValue::Secret(_))) => {
                format!("{k} ({} → {})", a.describe(), b.describe())
            }
            (_, Some(b @ EnvValue::Secret(_))) => format!("{k} ({})", b.describe()),
            _ => k.to_string(),
        };
        out.push(format!(
            "env {}",
            keys.keys().map(|k| word(k)).collect::<Vec<_>>().join(", ")
        ));
    }
    if old.port != new.port || old.host_port != new.host_port {
        out.push("ports changed".into());
    }
    if old.resources != new.resources {
        out.push(format!(
            "resources {} → {}",
            resources_words(&old.resources),
            resources_words(&new.resources)
        ));
    }
    if old.health != new.health {
        out.push(format!(
            "health check {} → {}",
            health_words(&old.health),
            health_words(&new.health)
        ));
    }
    if old.restart != new.restart {
        out.push("restart policy changed".into());
    }
    if old.placement != new.placement {
        out.push("placement changed".into());
    }
    if old.update != new.update {
        out.push("update policy changed".into());
    }
    if old.volumes != new.volumes {
        let words = |v: &[app::wire::VolumeSpec]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(validate::format_volume)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        out.push(format!(
            "volumes {} → {}",
            words(&old.volumes),
            words(&new.volumes)
        ));
    }
    out
}

fn resources_words(r: &Resources) -> String {
    format!(
        "{} CPU / {}",
        app::format::cpus(i64::from(r.cpu_millis)),
        app::format::bytes(r.memory_bytes as i64)
    )
}

fn health_words(h: &Option<HealthCheck>) -> String {
    match h {
        None => "none".into(),
        Some(h) => match &h.probe {
            HealthProbe::Http { path } => format!("GET {path}"),
            HealthProbe::Command { command } => command.join(" "),
        },
    }
}

/// A new revision of the spec; the reconciler rolls it out. The same spec again
/// changes nothing.
pub async fn deploy(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: DeployInput,
) -> Result<ServiceView, OpsError> {
    let mut input = input;
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        check_spec(ctx.principal()?, &input.spec, Some(&row.spec))?;
        let message = message_of(&input.message)?;
        super::secrets::pin(state, row.team_id, &mut input.spec).await?;
        let now = clock::now_ms();
        if input.spec == row.spec {
            return fresh_view(state, name).await;
        }
        let changes = spec_changes(&row.spec, &input.spec).join("; ");
        let message = if message.is_empty() {
            changes.clone()
        } else {
            message
        };
        roll_out(state, &row, &input.spec, &author, &message, &changes, now).await?;
        fresh_view(state, name).await
    }
    .await;
    audit(
        state,
        ctx,
        "service.deploy",
        &format!("service:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// Makes `spec` the service's new revision (with `message` for its history) and
/// starts a rollout to it; records the event (with `what` changed) and wakes the
/// reconciler. Returns the revision's number.
pub(crate) async fn roll_out(
    state: &AppState,
    row: &ServiceRow,
    spec: &ServiceSpec,
    author: &str,
    message: &str,
    what: &str,
    now: i64,
) -> Result<i64, OpsError> {
    let current = rollout::Current {
        service_id: row.id,
        revision: row.revision,
        spec: &row.spec,
        spec_hash: &row.spec_hash,
    };
    let number = rollout::deploy(&state.store, current, spec, author, message, now).await?;
    events::service(
        state,
        &ServiceRef::from(row),
        Level::Info,
        &format!("revision {number} by {author}: {what}; rolling out"),
    )
    .await;
    state.reconciler.written(row.id);
    Ok(number)
}

/// A route another service holds already is refused: the proxy could send its
/// requests to one service only.
async fn routes_free(state: &AppState, name: &str, proxy: &ProxyConfig) -> Result<(), OpsError> {
    let others = state.store.list_services().await?;
    for r in &proxy.routes {
        let key = route_key(r);
        if let Some(other) = others
            .iter()
            .filter(|o| o.name != name)
            .find(|o| o.proxy.routes.iter().any(|x| route_key(x) == key))
        {
            return Err(OpsError::Conflict(format!(
                "service {} takes {}{} already",
                other.name,
                r.host.as_deref().unwrap_or("any host "),
                r.path_prefix
            )));
        }
    }
    Ok(())
}

/// A route's host must be the service's team's: in one of its domains, or (for
/// an admin) in no team's. A route for every host is an admin's to make; names
/// under the proxy's domain belong to the services (`<service>.<domain>`).
async fn check_routes(
    state: &AppState,
    p: &Principal,
    team_id: i64,
    team: &str,
    service: &str,
    proxy: &ProxyConfig,
) -> Result<(), OpsError> {
    if proxy.routes.is_empty() {
        return Ok(());
    }
    let domains = state.store.list_domains().await?;
    let default = &state.proxy.settings.domain;
    for r in &proxy.routes {
        let Some(host) = r.host.as_deref() else {
            if p.is_admin() {
                continue;
            }
            return Err(OpsError::Forbidden(
                "a route for every host (one without a host) is an admin's to make; give a host in your team's domains"
                    .into(),
            ));
        };
        if validate::touches_proxy_domain(host, default) {
            return Err(OpsError::Invalid(format!(
                "names under {default} are the services' own ({service}.{default} is this one's); route a host of your team's domains"
            )));
        }
        if let Some(d) = domains
            .iter()
            .find(|d| d.team_id != team_id && validate::domains_overlap(&d.domain, host))
        {
            return Err(OpsError::Conflict(format!(
                "{host} belongs to team {} (its domain {}); route a host of team {team}'s domains",
                d.team, d.domain
            )));
        }
        let ours = domains
            .iter()
            .any(|d| d.team_id == team_id && validate::domain_holds(&d.domain, host));
        if !ours && !p.is_admin() {
            return Err(OpsError::Invalid(format!(
                "team {team} has no domain for {host}; an admin gives teams their domains on the Teams page"
            )));
        }
    }
    Ok(())
}

/// A name whose deleted service of another team still has volumes on the hosts
/// is not given to this team until an admin deletes them: a name's leftovers never
/// pass to another team, not even by their names. Volumes of a deleted service
/// whose team is not known (deleted before Berth kept the history, or of a deleted
/// team) wait for an admin whoever asks.
async fn no_leftovers_of_others(
    state: &AppState,
    name: &str,
    team_id: i64,
) -> Result<(), OpsError> {
    let live: HashSet<i64> = state
        .store
        .list_services()
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    let history: BTreeMap<i64, Option<i64>> = state
        .store
        .deleted_services_named(name)
        .await?
        .into_iter()
        .collect();
    let (hosts, _) = crate::reconciler::driver::host_infos(state);
    let rt = state.reconciler.runtime.clone();
    let mut left = Vec::new();
    let mut owners = Vec::new();
    let mut silent = Vec::new();
    for h in &hosts {
        let volumes = match h.state {
            HostState::Unreachable => Err(()),
            _ => rt.volumes(h.id).await.map_err(|_| ()),
        };
        let Ok(volumes) = volumes else {
            silent.push(h.name.clone());
            continue;
        };
        for v in volumes {
            let named = v.service.eq_ignore_ascii_case(name) || history.contains_key(&v.service_id);
            if !named || live.contains(&v.service_id) {
                continue;
            }
            let owner = history.get(&v.service_id).copied().flatten();
            if owner == Some(team_id) {
                continue;
            }
            owners.push(owner);
            left.push(format!("{} on {}", v.name, h.name));
        }
    }
    // A host that does not answer may hold another team's leftovers of this name:
    // the name waits for it (whatever it holds, a new service never mounts it:
    // volumes are mounted by their service's id).
    let others = history.values().any(|t| *t != Some(team_id));
    if left.is_empty() && others && !silent.is_empty() {
        return Err(OpsError::Conflict(format!(
            "a deleted service of another team had the name {name}, and {} does not answer: it may hold its volumes; try again when it does, or an admin removes the host",
            silent.join(", ")
        )));
    }
    if left.is_empty() {
        return Ok(());
    }
    let teams = state.store.list_teams().await?;
    let owner = owners
        .iter()
        .flatten()
        .find_map(|t| {
            teams
                .iter()
                .find(|x| x.id == *t)
                .map(|x| format!("team {}", x.name))
        })
        .unwrap_or_else(|| "a team Berth no longer knows".into());
    Err(OpsError::Conflict(format!(
        "the name {name} still has volumes of a deleted service of {owner}: {}; an admin deletes them on the Volumes page before the name is given again",
        left.join(", ")
    )))
}

fn route_key(r: &RouteSpec) -> (String, String) {
    (
        r.host.as_deref().unwrap_or("").to_ascii_lowercase(),
        r.path_prefix.trim_end_matches('/').to_string(),
    )
}

/// Sets how the proxy reaches a service (its routes and balancing); no replica
/// moves.
pub async fn set_proxy(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: ProxyConfig,
) -> Result<ServiceView, OpsError> {
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        validate::proxy_config(&input).map_err(OpsError::Invalid)?;
        check_routes(
            state,
            ctx.principal()?,
            row.team_id,
            &row.team,
            &row.name,
            &input,
        )
        .await?;
        routes_free(state, name, &input).await?;
        if input != row.proxy {
            state
                .store
                .set_proxy(row.id, &input, clock::now_ms())
                .await?;
            let routes = if !input.expose {
                "off the proxy".to_string()
            } else if input.routes.is_empty() {
                format!("{}.{} only", row.name, state.proxy.settings.domain)
            } else {
                input
                    .routes
                    .iter()
                    .map(validate::format_route)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            events::service(
                state,
                &ServiceRef::from(&row),
                Level::Info,
                &format!(
                    "proxy routes set by {author}: {routes} ({})",
                    input.balance.as_str()
                ),
            )
            .await;
            state.reconciler.written(row.id);
        }
        fresh_view(state, name).await
    }
    .await;
    audit(
        state,
        ctx,
        "service.proxy",
        &format!("service:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// Goes back to an earlier revision (the one before the current without one): a
/// rollout there, health-gated like any other.
pub async fn rollback(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: RollbackInput,
) -> Result<ServiceView, OpsError> {
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        let target = match input.revision {
            Some(n) => n,
            None => previous_revision(state, &row).await?,
        };
        let Some(old) = state
            .store
            .list_revisions(row.id)
            .await?
            .into_iter()
            .find(|r| r.number == target)
        else {
            return Err(OpsError::NotFound(format!(
                "{} has no revision {target}",
                row.name
            )));
        };
        if target == row.revision {
            return Err(OpsError::Invalid(format!(
                "{} is at revision {target} already",
                row.name
            )));
        }
        // An old revision meets today's rules, as a new one would (it may be from
        // before them: a bind mount, options only an admin sets).
        check_spec(ctx.principal()?, &old.spec, Some(&row.spec))
            .map_err(|e| OpsError::Invalid(format!("revision {target} cannot come back: {e}")))?;
        // ... and the secret versions it names still exist.
        super::secrets::pin(state, row.team_id, &mut old.spec.clone())
            .await
            .map_err(|e| match e {
                OpsError::Invalid(why) => {
                    OpsError::Invalid(format!("revision {target} cannot come back: {why}"))
                }
                other => other,
            })?;
        let now = clock::now_ms();
        rollout::roll_back(
            &state.store,
            NewRollout {
                service_id: row.id,
                from_revision: row.revision,
                to_revision: target,
                kind: RolloutKind::Rollback,
                author: &author,
                now,
            },
        )
        .await?;
        events::service(
            state,
            &ServiceRef::from(&row),
            Level::Warn,
            &format!(
                "rollback from revision {} to revision {target} by {author}",
                row.revision
            ),
        )
        .await;
        state.reconciler.written(row.id);
        fresh_view(state, name).await
    }
    .await;
    audit(
        state,
        ctx,
        "service.rollback",
        &format!("service:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// The revision the service was at before its current one.
async fn previous_revision(state: &AppState, row: &ServiceRow) -> Result<i64, OpsError> {
    let rollouts = state.store.rollouts_of(row.id, 20).await?;
    if let Some(r) = rollouts.iter().find(|r| r.to_revision == row.revision) {
        return Ok(r.from_revision);
    }
    state
        .store
        .list_revisions(row.id)
        .await?
        .iter()
        .map(|r| r.number)
        .find(|n| *n < row.revision)
        .ok_or_else(|| OpsError::Invalid(format!("{} has no earlier revision", row.name)))
}

/// What a person may do to a rollout under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutControl {
    /// Start no more moves; failed replicas are still replaced.
    Pause,
    Resume,
    /// Stop, and take every replica back to the revision before.
    Abort,
}

/// Pauses, resumes or aborts the rollout under way.
pub async fn control_rollout(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    what: RolloutControl,
) -> Result<ServiceView, OpsError> {
    let action = match what {
        RolloutControl::Pause => "service.pause",
        RolloutControl::Resume => "service.resume",
        RolloutControl::Abort => "service.abort",
    };
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        let active = state
            .store
            .rollouts_of(row.id, 1)
            .await?
            .into_iter()
            .next()
            .filter(|r| r.state.active());
        let Some(r) = active else {
            return Err(OpsError::Conflict(format!(
                "{} has no rollout under way",
                row.name
            )));
        };
        let transition = match what {
            RolloutControl::Pause => Transition::Pause { by: author.clone() },
            RolloutControl::Resume => Transition::Resume,
            RolloutControl::Abort => Transition::Abort { by: author.clone() },
        };
        if !transition.from().contains(&r.state) {
            return Err(OpsError::Conflict(format!(
                "the rollout to revision {} is {} already",
                r.to_revision,
                r.state.as_str()
            )));
        }
        if rollout::apply(&state.store, &r, &transition, clock::now_ms()).await?
            == rollout::Outcome::Lost
        {
            return Err(OpsError::Conflict(format!(
                "the rollout to revision {} changed meanwhile; look again",
                r.to_revision
            )));
        }
        let message = match what {
            RolloutControl::Pause => {
                format!("rollout to revision {} paused by {author}", r.to_revision)
            }
            RolloutControl::Resume => {
                format!("rollout to revision {} resumed by {author}", r.to_revision)
            }
            RolloutControl::Abort => format!(
                "rollout to revision {} aborted by {author}; back to revision {}",
                r.to_revision, r.from_revision
            ),
        };
        events::service(state, &ServiceRef::from(&row), Level::Warn, &message).await;
        state.reconciler.written(row.id);
        fresh_view(state, name).await
    }
    .await;
    audit(state, ctx, action, &format!("service:{name}"), &outcome).await;
    outcome
}

/// What differs between two revisions of a service.
pub async fn diff(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    from: i64,
    to: i64,
) -> Result<RevisionDiff, OpsError> {
    let row = readable(state, ctx, name).await?;
    let revisions = state.store.list_revisions(row.id).await?;
    let hide = !may_write(ctx, row.team_id);
    let spec = |n: i64| {
        revisions
            .iter()
            .find(|r| r.number == n)
            .map(|r| {
                if hide {
                    r.spec.with_values_hidden()
                } else {
                    r.spec.clone()
                }
            })
            .ok_or_else(|| OpsError::NotFound(format!("{} has no revision {n}", row.name)))
    };
    Ok(RevisionDiff {
        from,
        to,
        changes: spec_diff(&spec(from)?, &spec(to)?),
    })
}

/// Every field that differs, as `path: old → new`.
pub fn spec_diff(old: &ServiceSpec, new: &ServiceSpec) -> Vec<String> {
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&path, v, out);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(old).unwrap_or_default(), &mut a);
    flatten("", &serde_json::to_value(new).unwrap_or_default(), &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(x), Some(y)) => Some(format!("{k}: {x} → {y}")),
            (None, Some(y)) => Some(format!("{k}: (none) → {y}")),
            (Some(x), None) => Some(format!("{k}: {x} → (none)")),
            (None, None) => None,
        })
        .collect()
}

/// Sets how many replicas run.
pub async fn scale(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: ScaleInput,
) -> Result<ServiceView, OpsError> {
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        validate::replicas(input.replicas).map_err(OpsError::Invalid)?;
        let now = clock::now_ms();
        if input.replicas != row.replicas {
            state
                .store
                .set_replicas(row.id, input.replicas, now)
                .await?;
            events::service(
                state,
                &ServiceRef::from(&row),
                Level::Info,
                &format!("scaled {} -> {} by {author}", row.replicas, input.replicas),
            )
            .await;
            state.reconciler.written(row.id);
        }
        fresh_view(state, name).await
    }
    .await;
    audit(
        state,
        ctx,
        "service.scale",
        &format!("service:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// Deletes a service; the reconciler removes its replicas.
/// Deletes a service; its volumes are kept (and listed) unless `delete_volumes`.
pub async fn delete(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    delete_volumes: bool,
) -> Result<(), OpsError> {
    let outcome = async {
        let (author, row) = writable(state, ctx, name).await?;
        state
            .store
            .delete_service(row.id, clock::now_ms(), delete_volumes)
            .await?;
        let volumes = match (row.spec.volumes.is_empty(), delete_volumes) {
            (true, _) => "",
            (false, true) => "; its volumes are deleted once they are free",
            (false, false) => "; its volumes are kept",
        };
        events::service(
            state,
            &ServiceRef::from(&row),
            Level::Warn,
            &format!(
                "service {} deleted by {author}; its replicas are being removed{volumes}",
                row.name
            ),
        )
        .await;
        state.reconciler.written(row.id);
        Ok(())
    }
    .await;
    audit(
        state,
        ctx,
        "service.delete",
        &format!("service:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// The replica of a slot to read from (the newest running one, else the newest)
/// and its host.
fn replica_in(
    state: &AppState,
    service_id: i64,
    slot: u32,
) -> Result<(ObservedReplica, std::sync::Arc<crate::cluster::HostEntry>), OpsError> {
    let seen = state.reconciler.service(service_id);
    let r = seen
        .replicas
        .into_iter()
        .filter(|r| r.slot == slot)
        .max_by_key(|r| (r.status == Status::Running, r.created_ms))
        .ok_or_else(|| OpsError::NotFound(format!("replica {slot} has no container")))?;
    let entry = state
        .hosts
        .get(r.host_id)
        .ok_or_else(|| OpsError::NotFound(format!("replica {slot}'s host is gone")))?;
    Ok((r, entry))
}

/// The last lines of one replica's log.
pub async fn logs(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    slot: u32,
    tail: Option<u32>,
) -> Result<ReplicaLogs, OpsError> {
    let row = readable(state, ctx, name).await?;
    let tail = tail.unwrap_or(LOG_TAIL);
    if !(1..=LOG_TAIL_MAX).contains(&tail) {
        return Err(OpsError::Invalid(format!(
            "tail must be from 1 to {LOG_TAIL_MAX}"
        )));
    }
    let (r, entry) = replica_in(state, row.id, slot)?;
    let lines = entry
        .engine
        .logs_tail(&r.container_id, tail)
        .await
        .map_err(|e| OpsError::Refused {
            code: "host_unreachable",
            message: e.to_string(),
        })?;
    Ok(ReplicaLogs {
        slot,
        host: entry.name(),
        container_id: r.container_id.chars().take(12).collect(),
        lines,
    })
}

/// One replica's log as it comes, for `follow=true`.
pub async fn follow_logs(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    slot: u32,
    tail: Option<u32>,
) -> Result<
    impl futures::Stream<Item = Result<bytes::Bytes, crate::runtime::docker::DockerError>> + use<>,
    OpsError,
> {
    let row = readable(state, ctx, name).await?;
    let tail = tail.unwrap_or(LOG_TAIL).clamp(0, LOG_TAIL_MAX);
    let (r, entry) = replica_in(state, row.id, slot)?;
    entry
        .engine
        .logs_follow(&r.container_id, tail)
        .await
        .map_err(|e| OpsError::Refused {
            code: "host_unreachable",
            message: e.to_string(),
        })
}

/// CPU and memory of every running replica, sampled now.
pub async fn stats(state: &AppState, ctx: &Ctx, name: &str) -> Result<Vec<ReplicaStats>, OpsError> {
    let row = readable(state, ctx, name).await?;
    let seen = state.reconciler.service(row.id);
    let asks = seen
        .replicas
        .iter()
        .filter(|r| r.status == Status::Running)
        .filter_map(|r| state.hosts.get(r.host_id).map(|e| (r.clone(), e)))
        .map(|(r, e)| async move {
            let usage = e.engine.usage(&r.container_id).await.ok()?;
            Some(ReplicaStats {
                slot: r.slot,
                host: e.name(),
                container_id: r.container_id.chars().take(12).collect(),
                cpu_percent: usage.cpu_percent,
                memory_bytes: usage.memory_bytes,
                memory_limit_bytes: usage.memory_limit_bytes,
            })
        });
    let mut out: Vec<ReplicaStats> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    out.sort_by(|a, b| (a.slot, &a.container_id).cmp(&(b.slot, &b.container_id)));
    Ok(out)
}

/// The demo a newcomer sees on a fresh `make run`: team `demo`, service `demo`, 3
/// replicas of the demo image checked on `/healthz`. Made once: a database that
/// had it (or any service) is left alone. Returns what it did, if anything.
pub async fn bootstrap_demo(state: &AppState) -> Result<Option<String>, OpsError> {
    const DONE: &str = "demo_created";
    if state.store.setting(DONE).await?.is_some() {
        return Ok(None);
    }
    let now = clock::now_ms();
    if !state.store.list_services().await?.is_empty() {
        state.store.set_setting(DONE, "skipped", now).await?;
        return Ok(None);
    }
    let team = match state
        .store
        .list_teams()
        .await?
        .into_iter()
        .find(|t| t.name == "demo")
    {
        Some(t) => t.id,
        None => state.store.create_team("demo", now).await?,
    };
    let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "127.0.0.1:5000/berth-demo:v1",
        "port": 8080,
        "resources": {"cpu_millis": 100, "memory_bytes": 32 << 20},
        "health": {"kind": "http", "path": "/healthz", "interval_ms": 2000, "start_period_ms": 10000}
    }))
    .map_err(|_| OpsError::Internal)?;
    let id = state
        .store
        .create_service(NewService {
            name: "demo",
            team_id: team,
            replicas: 3,
            spec: &spec,
            proxy: &Default::default(),
            author: "system",
            message: "the demo service",
            now,
        })
        .await?;
    state.store.set_setting(DONE, "yes", now).await?;
    let message = "created the demo service `demo` (3 replicas of berth-demo:v1) in team `demo`";
    events::service(
        state,
        &ServiceRef {
            id,
            team_id: Some(team),
            name: "demo".into(),
        },
        Level::Info,
        message,
    )
    .await;
    state.reconciler.written(id);
    Ok(Some(message.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> ServiceSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn diffs_name_every_field_that_differs() {
        let a = spec(
            serde_json::json!({"image": "demo:v1", "env": {"A": "1", "B": "2"}, "port": 8080}),
        );
        let b = spec(serde_json::json!({
            "image": "demo:v2", "env": {"A": "1", "C": "4"}, "port": 8080,
            "health": {"kind": "http", "path": "/healthz"}
        }));
        assert_eq!(
            spec_diff(&a, &b),
            [
                "env.B: 2 → (none)",
                "env.C: (none) → 4",
                "health.interval_ms: (none) → 2000",
                "health.kind: (none) → http",
                "health.path: (none) → /healthz",
                "health.retries: (none) → 3",
                "health.start_period_ms: (none) → 10000",
                "health.timeout_ms: (none) → 1000",
                "image: demo:v1 → demo:v2",
            ]
        );
        assert!(spec_diff(&a, &a).is_empty());
    }

    #[test]
    fn changes_between_specs_in_words() {
        let a = spec(serde_json::json!({"image": "demo:v1", "env": {"A": "1", "B": "2"}}));
        let b = spec(serde_json::json!({
            "image": "demo:v2", "env": {"A": "1", "B": "3", "C": "4"},
            "resources": {"cpu_millis": 500, "memory_bytes": 134217728},
            "health": {"kind": "http", "path": "/healthz"}
        }));
        assert_eq!(
            spec_changes(&a, &b),
            [
                "image demo:v1 → demo:v2",
                "env B, C",
                "resources 0 CPU / 0 B → 0.5 CPU / 128 MiB",
                "health check none → GET /healthz"
            ]
        );
        assert!(spec_changes(&a, &a).is_empty());
    }
}
