//! What a pass reads: the desired services from the store (with their rollouts,
//! the homes of their slots and the volume classes they name), the hosts as
//! placement sees them, and what runs: each host's listing (the last one standing
//! in for a host that does not answer) and the replicas being made.

use super::*;

/// The hosts as placement sees them, and the address each publishes ports on.
pub fn host_infos(state: &AppState) -> (Vec<HostInfo>, HashMap<i64, String>) {
    let mut infos = Vec::new();
    let mut addresses = HashMap::new();
    for e in state.hosts.entries() {
        let row = e.row();
        let live = e.live();
        addresses.insert(row.id, row.address.clone());
        infos.push(HostInfo {
            id: row.id,
            state: health::state(&row, &live),
            unreachable_since_ms: live.unreachable_since_ms,
            cpu_millis: live
                .facts
                .as_ref()
                .map(|f| f.cpus.max(0) as u64 * 1000)
                .unwrap_or(0),
            memory_bytes: live
                .facts
                .as_ref()
                .map(|f| f.memory_bytes.max(0) as u64)
                .unwrap_or(0),
            name: row.name,
            labels: row.labels,
            volume_drivers: live
                .facts
                .as_ref()
                .map(|f| f.volume_drivers.clone())
                .unwrap_or_default(),
        });
    }
    (infos, addresses)
}

fn desired_from(
    row: &ServiceRow,
    rollout: Option<&RolloutRow>,
    homes: BTreeMap<u32, i64>,
    all_classes: &BTreeMap<String, (VolumeClass, Vec<i64>)>,
) -> DesiredService {
    let policy = &row.spec.update;
    let classes: BTreeMap<String, VolumeClass> = row
        .spec
        .volumes
        .iter()
        .filter_map(|v| v.class.as_ref())
        // A class closed to the service's team since is as good as gone (fail
        // closed: its replicas wait and say so).
        .filter_map(|c| {
            all_classes
                .get(c)
                .filter(|(_, teams)| teams.contains(&row.team_id))
        })
        .map(|(class, _)| (class.name.clone(), class.clone()))
        .collect();
    DesiredService {
        homes,
        drivers: DesiredService::drivers_of(&classes),
        classes,
        id: row.id,
        name: row.name.clone(),
        team_id: row.team_id,
        replicas: row.replicas,
        revision: row.revision,
        spec: row.spec.clone(),
        spec_hash: row.spec_hash.clone(),
        rollout: rollout.map(|r| RolloutCtx {
            paused: r.state == RolloutState::Paused,
            gate_until_ms: r.batch_done_at.map(|t| policy.gate_after(t)),
            started_ms: r.started_at,
            batch_ready: r.batch_ready,
            canary: crate::rollout::canary_replicas(r, policy, row.replicas),
        }),
    }
}

/// Every volume class by name, with the teams that may use it.
async fn volume_classes(
    state: &AppState,
) -> Result<BTreeMap<String, (VolumeClass, Vec<i64>)>, String> {
    let rows = state
        .store
        .list_volume_classes()
        .await
        .map_err(|e| format!("cannot read the volume classes: {e}"))?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let class = VolumeClass {
                name: c.name.clone(),
                driver: c.driver,
                options: c.options,
                scope: c.scope,
            };
            (c.name, (class, c.team_ids))
        })
        .collect())
}

/// The services as planning wants them, from their stored rows: each with its
/// rollout under way (if it goes to the row's revision), its slots' homes and the
/// volume classes it may use. Returns the rollouts under way too.
async fn desired_services(
    state: &AppState,
    rows: &[ServiceRow],
) -> Result<(HashMap<i64, RolloutRow>, Vec<DesiredService>), String> {
    let store = &state.store;
    let active: HashMap<i64, RolloutRow> = store
        .active_rollouts()
        .await
        .map_err(|e| format!("cannot read the rollouts: {e}"))?
        .into_iter()
        .map(|r| (r.service_id, r))
        .collect();
    let mut homes = store
        .replica_homes()
        .await
        .map_err(|e| format!("cannot read where volumes live: {e}"))?;
    let classes = volume_classes(state).await?;
    let desired = rows
        .iter()
        .map(|row| {
            let rollout = active
                .get(&row.id)
                .filter(|r| r.to_revision == row.revision);
            let homes = homes.remove(&row.id).unwrap_or_default();
            desired_from(row, rollout, homes, &classes)
        })
        .collect();
    Ok((active, desired))
}

/// What planning needs, read outside a pass (the what-if): the services as stored
/// and as planning wants them, the hosts, and what runs as the last pass saw it
/// (on a follower, as the leader published it), replicas being made included.
pub struct Inputs {
    pub rows: Vec<ServiceRow>,
    pub desired: Vec<DesiredService>,
    pub observed: Vec<ObservedReplica>,
    pub hosts: Vec<HostInfo>,
}

/// Reads [`Inputs`]. What runs is every replica of the services the last pass
/// planned (also those whose rows no longer read: they hold room; a deleted
/// service's replicas, being removed, do not count); the services planned are
/// those whose rows read now.
pub async fn inputs(state: &AppState) -> Result<Inputs, String> {
    let (rows, _unreadable) = state
        .store
        .read_services()
        .await
        .map_err(|e| format!("cannot read the services: {e}"))?;
    let (_, desired) = desired_services(state, &rows).await?;
    let (hosts, _) = host_infos(state);
    let observed = state
        .reconciler
        .all()
        .into_iter()
        .flat_map(|(service_id, seen)| {
            let making: Vec<ObservedReplica> = seen
                .pending
                .iter()
                .map(|p| pending_replica(service_id, p))
                .collect();
            making.into_iter().chain(seen.replicas)
        })
        .collect();
    Ok(Inputs {
        rows,
        desired,
        observed,
        hosts,
    })
}

impl Driver {
    /// What is wanted (the store), what runs (every host that answers, the last
    /// listing of those that do not, replicas being made) and how healthy it is.
    pub(super) async fn observe(&mut self, state: &AppState) -> Result<Snapshot, String> {
        let store = &state.store;
        let (mut rows, unreadable) = store
            .read_services()
            .await
            .map_err(|e| format!("cannot read the services: {e}"))?;
        let held = self.stand_in(&mut rows, &unreadable);
        self.tell_unreadable(state, &unreadable).await;
        let (active, desired) = desired_services(state, &rows).await?;
        for d in &desired {
            self.names.insert(d.id, d.service_ref());
        }
        let (hosts, addresses) = host_infos(state);
        // Replicas being made: read before listing, so that one finished in between
        // is seen at least once (as pending, or as a container).
        // So are the replicas being stopped: one stopped in between is not
        // listed, one still listed is marked.
        let r = &state.reconciler;
        let stopping = self.shared.lock().expect("driver lock").stopping.clone();
        let mut observed: Vec<ObservedReplica> = desired
            .iter()
            .flat_map(|d| {
                r.service(d.id)
                    .pending
                    .into_iter()
                    .map(|p| pending_replica(d.id, &p))
            })
            .collect();
        let mut listed = self.list(state, &hosts).await;
        for o in listed.iter_mut() {
            o.stopping = stopping.contains(&o.container_id);
        }
        observed.extend(listed);
        let targets = overlay_health(state, &desired, &addresses, &mut observed);
        r.prober.set_targets(targets);
        Ok(Snapshot {
            rows,
            held,
            active,
            desired,
            hosts,
            addresses,
            observed,
        })
    }

    /// What runs on each host: listed now where the host answers, else as it was
    /// last listed.
    async fn list(&mut self, state: &AppState, hosts: &[HostInfo]) -> Vec<ObservedReplica> {
        let listings = futures::future::join_all(hosts.iter().map(|h| {
            let r = state.reconciler.clone();
            let ask = h.state != domain::wire::HostState::Unreachable;
            let id = h.id;
            async move {
                (
                    id,
                    if ask {
                        Some(r.runtime.list(id).await)
                    } else {
                        None
                    },
                )
            }
        }))
        .await;
        let registered: HashSet<i64> = hosts.iter().map(|h| h.id).collect();
        self.seen.retain(|id, _| registered.contains(id));
        let mut observed = Vec::new();
        for (host_id, listing) in listings {
            match listing {
                Some(Ok(list)) => {
                    self.seen.insert(host_id, list);
                }
                Some(Err(e)) => {
                    tracing::debug!(host_id, error = %e, "reconciler: listing failed; using the last one")
                }
                None => {}
            }
            if let Some(list) = self.seen.get(&host_id) {
                observed.extend(list.iter().cloned());
            }
        }
        observed
    }
}

/// A placeholder id for a replica being made, unique per slot and host; the
/// replica's `pending` flag, not this text, says what it is.
fn pending_id(service_id: i64, p: &Pending) -> String {
    format!("pending:{service_id}:{}:{}", p.slot, p.host_id)
}

/// A replica being made, as the plan sees it: there, and not ready yet.
fn pending_replica(service_id: i64, p: &Pending) -> ObservedReplica {
    ObservedReplica {
        container_id: pending_id(service_id, p),
        host_id: p.host_id,
        service_id,
        slot: p.slot,
        revision: p.revision,
        spec_hash: p.spec_hash.clone(),
        status: Status::Created,
        health: Health::Starting,
        created_ms: p.since_ms,
        cpu_millis: p.cpu_millis,
        memory_bytes: p.memory_bytes,
        host_port: p.host_port,
        endpoint: None,
        pending: true,
        stopping: false,
    }
}
