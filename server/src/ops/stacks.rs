//! Stacks as a use case: plan a file against what runs (every service checked as
//! its single write would check it, placement tried on the cluster as it is),
//! apply a plan only while the revisions it saw still stand (all checks first,
//! then the writes, one audit entry listing them), and export what runs as a
//! stack file that plans as "no changes".

use std::collections::{BTreeMap, HashMap};

use domain::wire::{
    CreateServiceInput, KeyVerdict, PlanAction, PlanChange, ProxyConfig, ServicePlan, ServiceSpec,
    StackApplied, StackApplyInput, StackFormat, StackPlan, StackPlanInput, TeamView,
};

use super::services::{check_and_pin, proxy_to, roll_out, scale_to, write_new};
use super::{audited_detail, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::clock;
use crate::model::ObservedReplica;
use crate::scheduler::Need;
use crate::stacks::{self, plan::Ask, plan::Current, Parsed, Wanted};
use crate::state::AppState;
use crate::store::ServiceRow;

/// Services one file may hold.
pub const MAX_SERVICES: usize = 1000;

/// A file's service, checked, with its team and what stands now.
struct Item {
    input: CreateServiceInput,
    team: TeamView,
    current: Option<ServiceRow>,
}

/// A file read and checked.
struct Prepared {
    format: StackFormat,
    notes: Vec<domain::wire::KeyNote>,
    items: Vec<Item>,
}

/// What applying a file would do, with placement tried for the replicas it adds.
pub async fn plan(
    state: &AppState,
    ctx: &Ctx,
    input: StackPlanInput,
) -> Result<StackPlan, OpsError> {
    let prepared = prepare(state, ctx, input).await?;
    let mut services = plan_of(&prepared.items);
    preview(state, &prepared.items, &mut services).await?;
    Ok(answer(prepared.format, prepared.notes, services))
}

fn answer(
    format: StackFormat,
    notes: Vec<domain::wire::KeyNote>,
    services: Vec<ServicePlan>,
) -> StackPlan {
    StackPlan {
        format,
        appliable: !notes.iter().any(|n| n.verdict == KeyVerdict::Refused),
        changes: services
            .iter()
            .filter(|s| s.action != PlanAction::Unchanged)
            .count() as u32,
        guard: services
            .iter()
            .map(|s| (s.name.clone(), s.revision))
            .collect(),
        services,
        notes,
    }
}

/// Applies a file if its plan still holds: every service at the revision the
/// plan saw (none for one that did not exist), nothing refused, every service
/// checked; then all its writes, audited as one entry with its changes.
pub async fn apply(
    state: &AppState,
    ctx: &Ctx,
    input: StackApplyInput,
) -> Result<StackApplied, OpsError> {
    let target = format!("stack:{}", input.team.as_deref().unwrap_or("file"));
    audited_detail(state, ctx, "stack.apply", &target, async {
        let author = ctx.principal()?.username.clone();
        let message = super::services::message_of(&input.message)?;
        let file = StackPlanInput {
            file: input.file,
            format: input.format,
            team: input.team,
            files: input.files,
        };
        let prepared = prepare(state, ctx, file).await?;
        if let Some(n) = prepared
            .notes
            .iter()
            .find(|n| n.verdict == KeyVerdict::Refused)
        {
            return Err(OpsError::Invalid(format!(
                "the file cannot be applied: {} is refused ({})",
                n.key, n.reason
            )));
        }
        stale(&prepared.items, &input.guard)?;
        let services = plan_of(&prepared.items);
        let mut done: Vec<String> = Vec::new();
        for (item, plan) in prepared.items.iter().zip(&services) {
            if let Err(e) = write(state, item, plan, &author, &message).await {
                return Err(partly(e, &plan.name, &done));
            }
            if plan.action != PlanAction::Unchanged {
                done.push(change_line(plan));
            }
        }
        let changes = done.len() as u32;
        let line = if done.is_empty() {
            "no changes".to_string()
        } else {
            done.join("; ")
        };
        Ok((StackApplied { services, changes }, line))
    })
    .await
}

/// `web: new revision after 4, rolled out, scale 3 → 5`
fn change_line(plan: &ServicePlan) -> String {
    let what: Vec<String> = plan.changes.iter().map(|c| c.to_string()).collect();
    format!("{}: {}", plan.name, what.join(", "))
}

/// A write that failed after others were made (a name taken or a service
/// deployed meanwhile): the error says what stands applied, for the caller and
/// the audit entry.
fn partly(e: OpsError, name: &str, done: &[String]) -> OpsError {
    let e = for_service(name, e);
    if done.is_empty() {
        return e;
    }
    let applied = format!("; applied before it: {}", done.join("; "));
    match e {
        OpsError::Conflict(m) => OpsError::Conflict(m + &applied),
        OpsError::Invalid(m) => OpsError::Invalid(m + &applied),
        other => other,
    }
}

/// 409 naming each service whose revision moved since the plan.
fn stale(items: &[Item], guard: &BTreeMap<String, Option<i64>>) -> Result<(), OpsError> {
    let moved: Vec<String> = items
        .iter()
        .filter_map(|i| {
            let now = i.current.as_ref().map(|c| c.revision);
            let seen = guard.get(&i.input.name).copied();
            let word =
                |r: Option<i64>| r.map_or("absent".to_string(), |n| format!("at revision {n}"));
            match seen {
                Some(seen) if seen == now => None,
                Some(seen) => Some(format!(
                    "{} was {} and is {} now",
                    i.input.name,
                    word(seen),
                    word(now)
                )),
                None => Some(format!("{} is not in the plan", i.input.name)),
            }
        })
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    Err(OpsError::Conflict(format!(
        "the plan is stale: {}; plan again",
        moved.join(", ")
    )))
}

/// One service's writes, as its plan says.
async fn write(
    state: &AppState,
    item: &Item,
    plan: &ServicePlan,
    author: &str,
    message: &str,
) -> Result<(), OpsError> {
    let Some(row) = &item.current else {
        write_new(
            state,
            author,
            (item.team.id, &item.team.name),
            &item.input,
            message,
        )
        .await?;
        return Ok(());
    };
    for change in &plan.changes {
        match change {
            PlanChange::Revision { .. } | PlanChange::Policy { .. } => {
                let what =
                    crate::ops::services::spec_changes(&row.spec, &item.input.spec).join("; ");
                let why = if message.is_empty() {
                    what.clone()
                } else {
                    message.to_string()
                };
                roll_out(
                    state,
                    row,
                    &item.input.spec,
                    author,
                    &why,
                    &what,
                    clock::now_ms(),
                )
                .await?;
            }
            PlanChange::Scale { to, .. } => scale_to(state, row, *to, author).await?,
            PlanChange::Proxy => proxy_to(state, row, &item.input.proxy, author).await?,
            PlanChange::Create { .. } => {}
        }
    }
    Ok(())
}

/// Reads the file (off the async threads) and checks each service.
async fn prepare(state: &AppState, ctx: &Ctx, input: StackPlanInput) -> Result<Prepared, OpsError> {
    let p = ctx.principal()?.clone();
    let StackPlanInput {
        file,
        format,
        team,
        files,
    } = input;
    let parsed: Parsed =
        tokio::task::spawn_blocking(move || stacks::read(&file, format, team.as_deref(), &files))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading a stack file");
                OpsError::Internal
            })?
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
    if parsed.services.is_empty() {
        return Err(OpsError::Invalid("the file has no services".into()));
    }
    if parsed.services.len() > MAX_SERVICES {
        return Err(OpsError::Invalid(format!(
            "a file holds at most {MAX_SERVICES} services"
        )));
    }
    let teams = state.store.list_teams().await?;
    let rows = state.store.list_services().await?;
    let mut items = Vec::new();
    for w in parsed.services {
        items.push(check(state, ctx, &p, &teams, &rows, w).await?);
    }
    // In the plan's order (by name), so that items and plans pair up.
    items.sort_by(|a, b| a.input.name.cmp(&b.input.name));
    routes_once(&items)?;
    acme_hosts_once(state, &items).await?;
    Ok(Prepared {
        format: parsed.format,
        notes: parsed.notes,
        items,
    })
}

async fn check(
    state: &AppState,
    ctx: &Ctx,
    p: &crate::auth::principal::Principal,
    teams: &[TeamView],
    rows: &[ServiceRow],
    w: Wanted,
) -> Result<Item, OpsError> {
    let about = |e: OpsError| for_service(&w.name, e);
    let team = teams
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(w.team.trim()))
        .cloned()
        .ok_or_else(|| {
            OpsError::Invalid(format!("service {}: there is no team {:?}", w.name, w.team))
        })?;
    ctx.allowed(Action::WriteServices(team.id)).map_err(about)?;
    let current = rows.iter().find(|r| r.name == w.name).cloned();
    if current.as_ref().is_some_and(|c| c.team_id != team.id) {
        return Err(about(OpsError::Conflict(format!(
            "a service named {:?} exists already",
            w.name
        ))));
    }
    let mut input = CreateServiceInput {
        name: w.name.clone(),
        team: team.name.clone(),
        replicas: w.replicas,
        spec: w.spec,
        proxy: w.proxy,
        message: None,
    };
    check_and_pin(
        state,
        p,
        (team.id, &team.name),
        &mut input,
        current.as_ref(),
    )
    .await
    .map_err(about)?;
    Ok(Item {
        input,
        team,
        current,
    })
}

/// Two services of one file may not claim the same route.
fn routes_once(items: &[Item]) -> Result<(), OpsError> {
    let mut seen: HashMap<(String, String), &str> = HashMap::new();
    for i in items {
        for r in &i.input.proxy.routes {
            let key = super::services::route_key(r);
            if let Some(other) = seen.insert(key, &i.input.name) {
                return Err(OpsError::Conflict(format!(
                    "services {other} and {} both claim the route {}",
                    i.input.name,
                    domain::validate::format_route(r)
                )));
            }
        }
    }
    Ok(())
}

/// The file's services together keep each team within its ACME hosts (each was
/// checked alone, against what is stored).
async fn acme_hosts_once(state: &AppState, items: &[Item]) -> Result<(), OpsError> {
    type Changed<'a> = Vec<(&'a str, &'a ProxyConfig)>;
    let mut by_team: BTreeMap<i64, (&str, Changed)> = BTreeMap::new();
    for i in items {
        by_team
            .entry(i.team.id)
            .or_insert_with(|| (&i.team.name, Vec::new()))
            .1
            .push((&i.input.name, &i.input.proxy));
    }
    for (team_id, (team, changed)) in by_team {
        super::services::acme_hosts_within_limit(state, team_id, team, &changed).await?;
    }
    Ok(())
}

/// The same error about one service of the file.
fn for_service(name: &str, e: OpsError) -> OpsError {
    let say = |m: String| format!("service {name}: {m}");
    match e {
        OpsError::Invalid(m) => OpsError::Invalid(say(m)),
        OpsError::Conflict(m) => OpsError::Conflict(say(m)),
        OpsError::Forbidden(m) => OpsError::Forbidden(say(m)),
        OpsError::NotFound(m) => OpsError::NotFound(say(m)),
        OpsError::Refused { code, message } => OpsError::Refused {
            code,
            message: say(message),
        },
        other => other,
    }
}

fn plan_of(items: &[Item]) -> Vec<ServicePlan> {
    let current: Vec<Current> = items
        .iter()
        .filter_map(|i| {
            let c = i.current.as_ref()?;
            Some(Current {
                id: c.id,
                name: c.name.clone(),
                team: i.team.name.clone(),
                revision: c.revision,
                replicas: c.replicas,
                spec: c.spec.clone(),
                proxy: c.proxy.clone(),
            })
        })
        .collect();
    let wanted: Vec<Wanted> = items
        .iter()
        .map(|i| Wanted {
            name: i.input.name.clone(),
            team: i.team.name.clone(),
            replicas: i.input.replicas,
            spec: i.input.spec.clone(),
            proxy: i.input.proxy.clone(),
        })
        .collect();
    stacks::plan::plan(&current, &wanted)
}

/// Fills each plan's placement: where the replicas it adds would go.
async fn preview(
    state: &AppState,
    items: &[Item],
    plans: &mut [ServicePlan],
) -> Result<(), OpsError> {
    let classes: HashMap<String, String> = state
        .store
        .list_volume_classes()
        .await?
        .into_iter()
        .map(|c| (c.name, c.driver))
        .collect();
    let (hosts, _) = crate::reconciler::driver::host_infos(state);
    let rows = state.store.list_services().await?;
    let alive: Vec<ObservedReplica> = rows
        .iter()
        .flat_map(|r| state.reconciler.service(r.id).replicas)
        .filter(|r| r.status.alive())
        .collect();
    let by_name: HashMap<&str, &Item> = items.iter().map(|i| (i.input.name.as_str(), i)).collect();
    let drivers: Vec<Vec<String>> = plans
        .iter()
        .map(|p| drivers_of(&by_name[p.name.as_str()].input.spec, &classes))
        .collect();
    let mut asks = Vec::new();
    let mut asked = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let item = by_name[p.name.as_str()];
        if let Some((count, replaces)) = adds(p, item.input.replicas) {
            asks.push(ask(item, count, replaces, &drivers[i]));
            asked.push(i);
        }
    }
    let previews = stacks::plan::dry_run(&hosts, &alive, &asks);
    for (i, preview) in asked.into_iter().zip(previews) {
        plans[i].placement = Some(preview);
    }
    Ok(())
}

/// How many replicas a plan places, and whether they replace the running ones.
fn adds(p: &ServicePlan, replicas: u32) -> Option<(u32, bool)> {
    let revision = p
        .changes
        .iter()
        .any(|c| matches!(c, PlanChange::Revision { .. }));
    let grows = p.changes.iter().find_map(|c| match c {
        PlanChange::Scale { from, to } if to > from => Some(to - from),
        _ => None,
    });
    // A new service or a new revision places all its replicas (the latter in
    // place of the running ones); a scale-up only the new ones.
    if (p.action == PlanAction::Create || revision) && replicas > 0 {
        Some((replicas, revision))
    } else {
        grows.map(|n| (n, false))
    }
}

fn ask<'a>(item: &'a Item, count: u32, replaces: bool, drivers: &'a [String]) -> Ask<'a> {
    let spec = &item.input.spec;
    Ask {
        service_id: item.current.as_ref().map(|c| c.id),
        replaces,
        count,
        need: Need {
            cpu_millis: u64::from(spec.resources.cpu_millis),
            memory_bytes: spec.resources.memory_bytes,
            host_port: spec.host_port,
            constraints: &spec.placement.constraints,
            strategy: spec.placement.strategy,
            drivers,
        },
    }
}

fn drivers_of(spec: &ServiceSpec, classes: &HashMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = spec
        .volumes
        .iter()
        .filter_map(|v| v.class.as_ref().and_then(|c| classes.get(c)).cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What runs as a stack file: every service the caller may read (of `team`
/// when named), environment values hidden from those who may not see them.
pub async fn export(state: &AppState, ctx: &Ctx, team: Option<&str>) -> Result<String, OpsError> {
    ctx.principal()?;
    let teams = state.store.list_teams().await?;
    let team_id = match team.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(name) => {
            let t = teams
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| OpsError::Invalid(format!("there is no team {name:?}")))?;
            ctx.allowed(Action::ReadServices(t.id))?;
            Some(t.id)
        }
    };
    let names: HashMap<i64, &str> = teams.iter().map(|t| (t.id, t.name.as_str())).collect();
    let services: Vec<Wanted> = state
        .store
        .list_services()
        .await?
        .into_iter()
        .filter(|r| team_id.is_none_or(|id| r.team_id == id))
        .filter(|r| ctx.allowed(Action::ReadServices(r.team_id)).is_ok())
        .map(|r| {
            let spec = if ctx.allowed(Action::WriteServices(r.team_id)).is_ok() {
                r.spec
            } else {
                r.spec.with_values_hidden()
            };
            Wanted {
                team: names.get(&r.team_id).copied().unwrap_or("").to_string(),
                name: r.name,
                replicas: r.replicas,
                spec,
                proxy: r.proxy,
            }
        })
        .collect();
    Ok(stacks::write_stack(services))
}
