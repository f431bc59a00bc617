//! Volumes: what Berth made on the hosts for services' storage, listed with the
//! replica that uses each and the space it takes; deleting those no replica needs
//! any more; moving a replica away from a lost host that holds its data.

use std::collections::HashMap;

use domain::wire::{ClassScope, HostState, VolumeScope, VolumeView};

use super::{audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::events::{self, Level, ServiceRef};
use crate::model::{HostInfo, ObservedReplica, ObservedVolume};
use crate::reconciler::driver::host_infos;
use crate::state::AppState;
use crate::store::ServiceRow;

/// Which volumes to list.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub service: Option<String>,
    pub host: Option<String>,
}

/// Every volume the caller may see on the hosts that answer: their services'
/// volumes, and for admins those of deleted services too.
pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    filter: &VolumeFilter,
) -> Result<Vec<VolumeView>, OpsError> {
    let admin = ctx.principal()?.is_admin();
    let rows: HashMap<i64, ServiceRow> = state
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    if let Some(name) = &filter.service {
        // Admins may ask for a deleted service's volumes by its name.
        match rows.values().find(|r| &r.name == name) {
            Some(row) => {
                ctx.allowed(Action::ReadServices(row.team_id))?;
            }
            None if admin => {}
            None => return Err(OpsError::NotFound(format!("there is no service {name:?}"))),
        }
    }
    let homes = state.store.replica_homes().await?;
    let (hosts, _) = host_infos(state);
    let names: HashMap<i64, String> = hosts.iter().map(|h| (h.id, h.name.clone())).collect();
    let mut out = Vec::new();
    for found in scan(state, &hosts, filter).await {
        for v in found.volumes {
            // A service id can be taken again after a deletion: the name must match.
            let row = rows.get(&v.service_id).filter(|r| r.name == v.service);
            let visible = match row {
                Some(r) => ctx.allowed(Action::ReadServices(r.team_id)).is_ok(),
                None => admin,
            };
            if !visible || filter.service.as_ref().is_some_and(|n| n != &v.service) {
                continue;
            }
            let home = v
                .slot
                .and_then(|slot| homes.get(&v.service_id).and_then(|h| h.get(&slot)))
                .copied();
            let users = users_of(&v, &found.containers);
            let size = found.sizes.get(&v.name).copied();
            if size.is_none() {
                // New since the last measurement: measured at the next look.
                if let Some(e) = state.hosts.get(found.host_id) {
                    e.live.lock().expect("host live lock").volume_sizes_wanted = true;
                }
            }
            out.push(view(&v, row, home, &names, size, found.host_id, users));
        }
    }
    let owner = state.store.instance_id().await?;
    for (service_id, slots) in &homes {
        let Some(row) = rows.get(service_id) else {
            continue;
        };
        if filter.service.as_ref().is_some_and(|n| n != &row.name)
            || ctx.allowed(Action::ReadServices(row.team_id)).is_err()
        {
            continue;
        }
        out.extend(stranded(&owner, row, slots, &hosts, filter));
    }
    with_classes(state, &mut out).await?;
    out.sort_by(|a, b| {
        (&a.service, a.slot, &a.volume, &a.host).cmp(&(&b.service, b.slot, &b.volume, &b.host))
    });
    Ok(out)
}

/// Each volume's class scope, and where a volume that follows its replica is
/// mounted now (the hosts it was on before still list it, unused).
async fn with_classes(state: &AppState, out: &mut [VolumeView]) -> Result<(), OpsError> {
    let scopes: HashMap<String, ClassScope> = state
        .store
        .list_volume_classes()
        .await?
        .into_iter()
        .map(|c| (c.name, c.scope))
        .collect();
    let (hosts, _) = host_infos(state);
    for v in out.iter_mut() {
        v.class_scope = v.class.as_ref().and_then(|c| scopes.get(c)).copied();
        if v.class_scope != Some(ClassScope::Global) || v.used_by.is_some() {
            continue;
        }
        // Where its slot's replica runs now, as the reconciler last saw it.
        let seen = state.reconciler.service(v.service_id);
        v.attached_on = seen
            .replicas
            .iter()
            .filter(|r| v.slot.is_none_or(|s| s == r.slot) && r.status.alive())
            .filter_map(|r| hosts.iter().find(|h| h.id == r.host_id))
            .find(|h| h.state != HostState::Unreachable)
            .map(|h| h.name.clone());
        if let (Some(on), Some(slot)) = (&v.attached_on, v.slot) {
            v.note = Some(format!(
                "follows replica {slot}: mounted on {on} now (the data is the driver's, not this host's)"
            ));
        }
    }
    Ok(())
}

/// What one host holds: its volumes of Berth's, their sizes, and every container of
/// Berth's there (stopped ones too: they hold their volumes until removed).
struct HostVolumes {
    host_id: i64,
    volumes: Vec<ObservedVolume>,
    sizes: std::sync::Arc<HashMap<String, i64>>,
    containers: Vec<ObservedReplica>,
}

/// Asks every host that answers (and passes the filter) what it holds. A host
/// whose volumes or containers cannot be listed is left out, as one that does not
/// answer: a volume whose users are unknown must not read as free to delete.
async fn scan(state: &AppState, hosts: &[HostInfo], filter: &VolumeFilter) -> Vec<HostVolumes> {
    let asked = hosts.iter().filter(|h| {
        h.state != HostState::Unreachable && filter.host.as_ref().is_none_or(|n| n == &h.name)
    });
    let rt = state.reconciler.runtime.clone();
    let found = futures::future::join_all(asked.map(|h| {
        let rt = rt.clone();
        let host_id = h.id;
        async move {
            let (Ok(volumes), Ok(containers)) = (rt.volumes(host_id).await, rt.list(host_id).await)
            else {
                return None;
            };
            // Sizes as last measured in the background (cluster::monitor):
            // Docker's disk usage report takes seconds. Unknown ones show so.
            let sizes = state
                .hosts
                .get(host_id)
                .and_then(|e| e.live.lock().expect("host live lock").volume_sizes.clone())
                .map(|s| s.bytes)
                .unwrap_or_default();
            Some(HostVolumes {
                host_id,
                volumes,
                sizes,
                containers,
            })
        }
    }))
    .await;
    found.into_iter().flatten().collect()
}

/// Slots of `row` waiting for a host that does not answer: their volumes cannot be
/// listed from it, but Berth knows they are there.
fn stranded(
    owner: &str,
    row: &ServiceRow,
    slots: &std::collections::BTreeMap<u32, i64>,
    hosts: &[HostInfo],
    filter: &VolumeFilter,
) -> Vec<VolumeView> {
    let mut out = Vec::new();
    for (slot, host_id) in slots {
        let Some(h) = hosts.iter().find(|h| h.id == *host_id) else {
            continue;
        };
        if h.state != HostState::Unreachable
            || *slot > row.replicas
            || filter.host.as_ref().is_some_and(|n| n != &h.name)
        {
            continue;
        }
        let per_replica = row
            .spec
            .volumes
            .iter()
            .filter(|d| d.scope == VolumeScope::PerReplica);
        for d in per_replica {
            out.push(VolumeView {
                host: h.name.clone(),
                host_id: h.id,
                name: crate::runtime::labels::volume_name(owner, row.id, &row.name, d, *slot),
                service: Some(row.name.clone()),
                service_id: row.id,
                volume: d.name.clone(),
                slot: Some(*slot),
                scope: d.scope,
                driver: d.driver.clone(),
                path: Some(d.path.clone()),
                size_bytes: None,
                created_at: String::new(),
                used_by: None,
                note: Some(format!(
                    "host {} does not answer: replica {slot} waits for it",
                    h.name
                )),
                deletable: false,
                stranded: true,
                class: d.class.clone(),
                class_scope: None,
                attached_on: None,
            });
        }
    }
    out
}

/// The containers on the volume's host that mount it, in words.
fn users_of(v: &ObservedVolume, containers: &[ObservedReplica]) -> Vec<String> {
    containers
        .iter()
        .filter(|r| r.service_id == v.service_id && v.slot.is_none_or(|slot| slot == r.slot))
        .map(|r| {
            format!(
                "replica {} ({}{})",
                r.slot,
                r.container_id.chars().take(12).collect::<String>(),
                if r.status.alive() { "" } else { ", stopped" }
            )
        })
        .collect()
}

fn view(
    v: &ObservedVolume,
    row: Option<&ServiceRow>,
    home: Option<i64>,
    names: &HashMap<i64, String>,
    size: Option<i64>,
    host_id: i64,
    users: Vec<String>,
) -> VolumeView {
    let host = names.get(&host_id).cloned().unwrap_or_default();
    let declared = row.and_then(|r| {
        r.spec
            .volumes
            .iter()
            .find(|d| d.name == v.volume && d.scope == v.scope)
    });
    let (note, needed) = match (row, declared) {
        (None, _) => (Some("its service was deleted".to_string()), false),
        (Some(_), None) => (Some("no longer in the service's spec".to_string()), false),
        (Some(r), Some(_)) => match v.slot {
            Some(slot) if slot > r.replicas => (
                Some(format!(
                    "replica {slot} is scaled away; kept for when it comes back"
                )),
                false,
            ),
            Some(slot) if home.is_some_and(|h| h != host_id) => (
                Some(format!(
                    "left behind: replica {slot} lives on {} now",
                    home.and_then(|h| names.get(&h).cloned())
                        .unwrap_or_default()
                )),
                false,
            ),
            Some(slot) if users.is_empty() => {
                (Some(format!("replica {slot} starts here again")), true)
            }
            None if users.is_empty() => (
                Some("mounted again by the next replica on this host".to_string()),
                false,
            ),
            _ => (None, true),
        },
    };
    VolumeView {
        host_id,
        name: v.name.clone(),
        service: row.map(|r| r.name.clone()),
        service_id: v.service_id,
        volume: v.volume.clone(),
        slot: v.slot,
        scope: v.scope,
        driver: v.driver.clone(),
        path: declared.map(|d| d.path.clone()),
        size_bytes: size,
        created_at: v.created_at.clone(),
        deletable: users.is_empty() && !needed,
        stranded: false,
        attached_on: (!users.is_empty()).then(|| host.clone()),
        host,
        used_by: (!users.is_empty()).then(|| users.join(", ")),
        note: if users.is_empty() { note } else { None },
        class: v.class.clone(),
        class_scope: None,
    }
}

/// Deletes a volume no replica uses or needs (admins): one of a deleted service,
/// one left behind, one of a slot scaled away.
pub async fn delete(state: &AppState, ctx: &Ctx, host: &str, name: &str) -> Result<(), OpsError> {
    audited(
        state,
        ctx,
        "volume.delete",
        &format!("volume:{host}/{name}"),
        async {
            let who = ctx.allowed(Action::ManageHosts)?.username.clone();
            let filter = VolumeFilter {
                service: None,
                host: Some(host.to_string()),
            };
            let (hosts, _) = host_infos(state);
            let h = hosts
                .iter()
                .find(|h| h.name == host)
                .ok_or_else(|| OpsError::NotFound(format!("there is no host {host:?}")))?;
            if h.state == HostState::Unreachable {
                return Err(OpsError::Conflict(format!(
                    "host {host} does not answer: its volumes cannot be deleted now"
                )));
            }
            let v = list(state, ctx, &filter)
                .await?
                .into_iter()
                .find(|v| v.name == name)
                .ok_or_else(|| {
                    OpsError::NotFound(format!("there is no volume {name:?} of Berth's on {host}"))
                })?;
            if !v.deletable {
                let why = v
                    .used_by
                    .map(|u| format!("{u} uses it"))
                    .or(v.note)
                    .unwrap_or_else(|| "a replica needs it".into());
                return Err(OpsError::Conflict(format!("volume {name} is kept: {why}")));
            }
            state
                .reconciler
                .runtime
                .remove_volume(h.id, name)
                .await
                .map_err(|e| OpsError::Conflict(format!("{host} refused: {e}")))?;
            let message = format!("volume {name} deleted from {host} by {who}; its data is gone");
            match state.store.team_of_service(v.service_id).await? {
                Some(team_id) => {
                    let service = ServiceRef {
                        id: v.service_id,
                        team_id: Some(team_id),
                        name: v.service.clone().unwrap_or_else(|| v.volume.clone()),
                    };
                    events::service(state, &service, Level::Warn, &message).await
                }
                // A service deleted before Berth knew teams of deleted services: on
                // the host's record, without the volume's (and service's) name.
                None => {
                    let message =
                        format!("a volume of a deleted service was deleted from {host} by {who}");
                    events::host(state, host, Level::Warn, &message).await
                }
            }
            Ok(())
        },
    )
    .await
}

/// Forgets where a replica's own volumes are, so it starts on another host with
/// empty ones (admins). Only for a slot whose host is not ready: the data stays
/// behind on it.
pub async fn move_replica(
    state: &AppState,
    ctx: &Ctx,
    service: &str,
    slot: u32,
) -> Result<String, OpsError> {
    audited(state, ctx, "service.move_replica", &format!("service:{service}/{slot}"), async {
        let who = ctx.allowed(Action::ManageHosts)?.username.clone();
        let row = state
            .store
            .service_by_name(service)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("there is no service {service:?}")))?;
        let homes = state.store.replica_homes().await?;
        let home = homes
            .get(&row.id)
            .and_then(|h| h.get(&slot))
            .copied()
            .ok_or_else(|| {
                OpsError::NotFound(format!(
                    "replica {slot} of {service} has no volumes of its own to leave"
                ))
            })?;
        let (hosts, _) = host_infos(state);
        let host = hosts.iter().find(|h| h.id == home);
        let host_name = host
            .map(|h| h.name.clone())
            .unwrap_or_else(|| format!("#{home}"));
        if host.is_some_and(|h| h.state == HostState::Ready) {
            return Err(OpsError::Conflict(format!(
                "host {host_name} is ready: replica {slot} runs there with its data; nothing to move"
            )));
        }
        state.store.forget_replica_home(row.id, slot).await?;
        let message = format!(
            "replica {slot} moved off {host_name} by {who}: its volumes stay behind there, and it starts elsewhere with empty ones"
        );
        events::service(state, &ServiceRef::from(&row), Level::Warn, &message).await;
        state.reconciler.written(row.id);
        Ok(message)
    })
    .await
}
