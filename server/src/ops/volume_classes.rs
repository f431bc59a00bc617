//! Volume classes, as admins define them (a driver, its options, a scope, the teams
//! that may use it) and as services' specs name them: a spec's class must exist,
//! be open to the service's team, and have a host whose engine has its driver.

use std::collections::{BTreeSet, HashMap};

use domain::validate;
use domain::wire::{ClassScope, ServiceSpec, VolumeClassInput, VolumeClassView};

use super::{audited, team_names, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::clock;
use crate::model::HostInfo;
use crate::reconciler::driver::host_infos;
use crate::state::AppState;
use crate::store::{VolumeClassFields, VolumeClassRow};

/// The classes the caller may use (admins: every class, with its options).
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<VolumeClassView>, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let teams = team_names(state).await?;
    let used = used_by(state).await?;
    let rows = state.store.list_volume_classes().await?;
    let (hosts, _) = host_infos(state);
    Ok(rows
        .iter()
        .filter(|c| p.is_admin() || c.team_ids.iter().any(|t| p.team_role(*t).is_some()))
        .map(|c| view(&hosts, c, &teams, &used, p))
        .collect())
}

/// One class the caller may use.
pub async fn show(state: &AppState, ctx: &Ctx, name: &str) -> Result<VolumeClassView, OpsError> {
    list(state, ctx)
        .await?
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| not_found(name))
}

/// Defines a class.
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: VolumeClassInput,
) -> Result<VolumeClassView, OpsError> {
    let target = format!("volume-class:{}", input.name);
    audited(state, ctx, "volume-class.create", &target, async {
        ctx.allowed(Action::ManageHosts)?;
        validate::volume_class(&input).map_err(OpsError::Invalid)?;
        let team_ids = team_ids(state, &input.teams).await?;
        let fields = fields(&input, &team_ids);
        state.store.create_volume_class(fields).await.map_err(|e| {
            if e.is_unique_violation() {
                OpsError::Conflict(format!(
                    "a volume class named {:?} exists already",
                    input.name
                ))
            } else {
                e.into()
            }
        })?;
        show(state, ctx, &input.name).await
    })
    .await
}

/// Changes a class (its name stays). Its driver and scope stay while a service
/// names it: volumes made already keep what they were made with, and a scope
/// decides whether replicas may move.
pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: VolumeClassInput,
) -> Result<VolumeClassView, OpsError> {
    let target = format!("volume-class:{name}");
    audited(state, ctx, "volume-class.update", &target, async {
        ctx.allowed(Action::ManageHosts)?;
        let row = find(state, name).await?;
        if !input.name.eq_ignore_ascii_case(&row.name) {
            return Err(OpsError::Invalid(format!(
                "a volume class keeps its name: the body names {:?}, the path {name:?}",
                input.name
            )));
        }
        validate::volume_class(&input).map_err(OpsError::Invalid)?;
        let team_ids = team_ids(state, &input.teams).await?;
        let users = used_by(state).await?.remove(&row.name).unwrap_or_default();
        in_use_keeps(&row, &input, &team_ids, &users)?;
        if !state
            .store
            .update_volume_class(row.id, fields(&input, &team_ids))
            .await?
        {
            return Err(not_found(name));
        }
        show(state, ctx, &row.name).await
    })
    .await
}

/// Deletes a class no service names.
pub async fn delete(state: &AppState, ctx: &Ctx, name: &str) -> Result<(), OpsError> {
    let target = format!("volume-class:{name}");
    audited(state, ctx, "volume-class.delete", &target, async {
        ctx.allowed(Action::ManageHosts)?;
        let row = find(state, name).await?;
        let users = used_by(state).await?.remove(&row.name).unwrap_or_default();
        if !users.is_empty() {
            return Err(OpsError::Conflict(format!(
                "volume class {} is used by {}: change their volumes first",
                row.name,
                names(&users)
            )));
        }
        if !state.store.delete_volume_class(row.id).await? {
            return Err(not_found(name));
        }
        Ok(())
    })
    .await
}

/// The classes a spec names, checked for the service's team: each exists, is
/// open to the team, and has a host with its driver. A class the current
/// revision names already is kept even when no host has its driver now (the
/// hosts may be down; the replicas wait and say so).
pub async fn check_spec(
    state: &AppState,
    team_id: i64,
    spec: &ServiceSpec,
    current: Option<&ServiceSpec>,
) -> Result<(), OpsError> {
    let named: BTreeSet<&str> = spec
        .volumes
        .iter()
        .filter_map(|v| v.class.as_deref())
        .collect();
    keeps_classes(spec, current)?;
    if named.is_empty() {
        return Ok(());
    }
    let rows = state.store.list_volume_classes().await?;
    let (hosts, _) = host_infos(state);
    for name in named {
        // One answer for a class that does not exist and one closed to the team:
        // a member learns nothing of other teams' classes.
        let class = rows
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) && c.team_ids.contains(&team_id))
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "there is no volume class {name:?} open to this service's team; an admin defines classes and the teams that may use them on the Volumes page"
                ))
            })?;
        let kept =
            current.is_some_and(|c| c.volumes.iter().any(|v| v.class.as_deref() == Some(name)));
        let with = hosts
            .iter()
            .filter(|h| h.volume_drivers.contains(&class.driver))
            .count();
        if with == 0 && !kept {
            return Err(OpsError::Conflict(format!(
                "no host has the volume driver {} (class {name}): install the plugin on a host first",
                class.driver
            )));
        }
    }
    Ok(())
}

/// What a class keeps while services name it: its driver and scope (volumes made
/// already, and whether replicas may move), a global class's options (a replica
/// moving makes its volume again from them: other options would reach other data),
/// and the teams of those services.
fn in_use_keeps(
    row: &VolumeClassRow,
    input: &VolumeClassInput,
    team_ids: &[i64],
    users: &[(i64, String)],
) -> Result<(), OpsError> {
    if users.is_empty() {
        return Ok(());
    }
    let refuse = |what: &str| {
        Err(OpsError::Conflict(format!(
            "volume class {} is used by {}: {what} stay while a service names it",
            row.name,
            names(users)
        )))
    };
    if input.driver != row.driver || input.scope != row.scope {
        return refuse("its driver and scope");
    }
    if row.scope == ClassScope::Global && input.options != row.options {
        return refuse("a global class's options");
    }
    if users.iter().any(|(team, _)| !team_ids.contains(team)) {
        return refuse("the teams of those services");
    }
    Ok(())
}

fn names(users: &[(i64, String)]) -> String {
    users
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A volume keeps the class it was made with: another class (or none) under the
/// same name would mount the old data on one host and make new, empty data on the
/// next.
fn keeps_classes(spec: &ServiceSpec, current: Option<&ServiceSpec>) -> Result<(), OpsError> {
    let Some(current) = current else {
        return Ok(());
    };
    for v in &spec.volumes {
        let Some(was) = current.volumes.iter().find(|o| o.name == v.name) else {
            continue;
        };
        if was.class != v.class || (v.class.is_some() && was.scope != v.scope) {
            let class = match &was.class {
                Some(c) => format!("class {c}"),
                None => "no class".to_string(),
            };
            return Err(OpsError::Invalid(format!(
                "volume {}: a volume keeps its class and scope ({class}, {}); give it a new name to change them (its data stays under the old name)",
                v.name,
                was.scope.as_str()
            )));
        }
    }
    Ok(())
}

/// A class as `p` may see it: a member, only their own teams and services, and
/// never the options (they may say where the data lives, with credentials).
fn view(
    hosts: &[HostInfo],
    c: &VolumeClassRow,
    teams: &HashMap<i64, String>,
    used: &HashMap<String, Vec<(i64, String)>>,
    p: &Principal,
) -> VolumeClassView {
    let readable = |team: i64| p.is_admin() || p.team_role(team).is_some();
    VolumeClassView {
        name: c.name.clone(),
        driver: c.driver.clone(),
        options: p.is_admin().then(|| c.options.clone()),
        scope: c.scope,
        teams: c
            .team_ids
            .iter()
            .filter(|id| readable(**id))
            .filter_map(|id| teams.get(id).cloned())
            .collect(),
        hosts_with_driver: hosts
            .iter()
            .filter(|h| h.volume_drivers.contains(&c.driver))
            .count() as u32,
        hosts: hosts.len() as u32,
        used_by: used
            .get(&c.name)
            .into_iter()
            .flatten()
            .filter(|(team, _)| readable(*team))
            .map(|(_, name)| name.clone())
            .collect(),
        created_at_ms: c.created_at,
    }
}

fn fields<'a>(input: &'a VolumeClassInput, team_ids: &'a [i64]) -> VolumeClassFields<'a> {
    VolumeClassFields {
        name: &input.name,
        driver: &input.driver,
        options: &input.options,
        scope: input.scope,
        team_ids,
        now: clock::now_ms(),
    }
}

/// The teams' ids, each name checked.
async fn team_ids(state: &AppState, names: &[String]) -> Result<Vec<i64>, OpsError> {
    let teams = state.store.list_teams().await?;
    let mut ids = Vec::new();
    for name in names {
        let team = teams
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| OpsError::Invalid(format!("there is no team {name:?}")))?;
        if !ids.contains(&team.id) {
            ids.push(team.id);
        }
    }
    Ok(ids)
}

/// The services naming each class (by class name), with their teams.
async fn used_by(state: &AppState) -> Result<HashMap<String, Vec<(i64, String)>>, OpsError> {
    let mut out: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for s in state.store.list_services().await? {
        let named: BTreeSet<&str> = s
            .spec
            .volumes
            .iter()
            .filter_map(|v| v.class.as_deref())
            .collect();
        for class in named {
            out.entry(class.to_string())
                .or_default()
                .push((s.team_id, s.name.clone()));
        }
    }
    Ok(out)
}

async fn find(state: &AppState, name: &str) -> Result<VolumeClassRow, OpsError> {
    validate::volume_class_name(name).map_err(|_| not_found(name))?;
    state
        .store
        .volume_class_by_name(name)
        .await?
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> OpsError {
    OpsError::NotFound(format!("there is no volume class {name:?}"))
}
