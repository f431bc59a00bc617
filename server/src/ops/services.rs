//! Services, as teams run them: create, deploy a new revision, scale, delete; read
//! them with their replicas, events, revisions, logs and usage. Every write
//! records an event and an audit entry and pokes the reconciler, which does the
//! rest.

use std::collections::{BTreeMap, HashSet};

use domain::validate;
use domain::wire::{
    CanaryView, CreateServiceInput, DeployInput, EnvValue, EventView, Health, HealthCheck,
    HealthProbe, HostState, ProxyConfig, ReplicaLogs, ReplicaState, ReplicaStats, ReplicaView,
    Resources, RevisionDiff, RevisionView, RollbackInput, RolloutKind, RolloutState, RolloutView,
    RouteSpec, ScaleInput, ServiceDetail, ServicePhase, ServiceSpec, ServiceView,
};

use super::{audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::clock;
use crate::cluster::health;
use crate::events::{self, Level, ServiceRef};
use crate::model::{ObservedReplica, Status};
use crate::reconciler::plan::RolloutReport;
use crate::reconciler::Making;
use crate::rollout::{self, Transition};
use crate::state::AppState;
use crate::store::{EventFilter, NewRollout, NewService, RolloutRow, ServiceRow};

mod changes;
mod listing;
mod replicas;
mod rollouts;
mod routes;
mod view;
mod writes;

pub use changes::{spec_changes, spec_diff};
pub use listing::{Answer, Listing};
pub use replicas::{follow_logs, logs, stats};
pub use rollouts::{control_rollout, diff, rollback, RolloutControl};
pub(crate) use routes::acme_hosts_within_limit;
pub use routes::set_proxy;
pub(crate) use routes::{proxy_to, route_key};
pub use view::{rollout_view, view};
pub(crate) use writes::{check_and_pin, scale_to, write_new};
#[allow(unused_imports)]
use {changes::*, replicas::*, rollouts::*, routes::*, view::*, writes::*};

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
pub(super) async fn readable(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<ServiceRow, OpsError> {
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

/// Whether the caller may change the team's services (and so read the values
/// written in their environment).
fn may_write(ctx: &Ctx, team_id: i64) -> bool {
    ctx.allowed(Action::WriteServices(team_id)).is_ok()
}

/// A service as the caller may read it: environment values hidden from those
/// who may not change it (viewers, read-only tokens); secrets are only ever
/// named.
fn for_reader(ctx: &Ctx, v: ServiceView) -> ServiceView {
    let writes = may_write(ctx, v.team_id);
    for_reader_key(writes, std::borrow::Cow::Owned(v)).into_owned()
}

/// [`for_reader`] for a reader who may (`writes`) or may not change it.
fn for_reader_key(
    writes: bool,
    v: std::borrow::Cow<'_, ServiceView>,
) -> std::borrow::Cow<'_, ServiceView> {
    if writes {
        return v;
    }
    let mut v = v.into_owned();
    v.spec = v.spec.with_values_hidden();
    std::borrow::Cow::Owned(v)
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

pub(crate) fn message_of(m: &Option<String>) -> Result<String, OpsError> {
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
    audited(
        state,
        ctx,
        "service.create",
        &format!("service:{}", input.name),
        async {
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
            let message = message_of(&input.message)?;
            // The cheap refusal first: a taken name is said as such.
            if state.store.service_by_name(&input.name).await?.is_some() {
                return Err(OpsError::Conflict(format!(
                    "a service named {:?} exists already",
                    input.name
                )));
            }
            check_and_pin(state, p, (team.id, &team.name), &mut input, None).await?;
            write_new(state, &author, (team.id, &team.name), &input, &message).await?;
            fresh_view(state, &input.name).await
        },
    )
    .await
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
    audited(
        state,
        ctx,
        "service.deploy",
        &format!("service:{name}"),
        async {
            let (author, row) = writable(state, ctx, name).await?;
            check_spec(ctx.principal()?, &input.spec, Some(&row.spec))?;
            super::volume_classes::check_spec(state, row.team_id, &input.spec, Some(&row.spec))
                .await?;
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
        },
    )
    .await
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

/// Sets how many replicas run.
pub async fn scale(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: ScaleInput,
) -> Result<ServiceView, OpsError> {
    audited(
        state,
        ctx,
        "service.scale",
        &format!("service:{name}"),
        async {
            let (author, row) = writable(state, ctx, name).await?;
            validate::replicas(input.replicas).map_err(OpsError::Invalid)?;
            scale_to(state, &row, input.replicas, &author).await?;
            fresh_view(state, name).await
        },
    )
    .await
}

/// Deletes a service; its volumes are kept (and listed) unless `delete_volumes`.
pub async fn delete(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    delete_volumes: bool,
) -> Result<(), OpsError> {
    audited(
        state,
        ctx,
        "service.delete",
        &format!("service:{name}"),
        async {
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
        },
    )
    .await
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
