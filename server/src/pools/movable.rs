//! Which pool hosts could be given back although replicas run there: every replica
//! on one would be placed on the other hosts, as the scheduler places (state,
//! constraints, free CPU and memory, ports). Pure, over the reconciler's plain data.

use std::collections::{HashMap, HashSet};

use crate::model::{DesiredService, HostInfo, ObservedReplica};
use crate::scheduler::{self, Need, Slot};

/// The hosts among `candidates` whose replicas all fit elsewhere, each judged on
/// its own against the cluster as it is. An empty host is not listed (it is idle
/// anyway), nor one running a replica of a service not known here.
pub fn movable(
    candidates: &[i64],
    hosts: &[HostInfo],
    observed: &[ObservedReplica],
    desired: &[DesiredService],
) -> HashSet<i64> {
    let alive: Vec<&ObservedReplica> = observed.iter().filter(|r| r.status.alive()).collect();
    let services: HashMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
    let mut out = HashSet::new();
    for &candidate in candidates {
        let mine: Vec<&ObservedReplica> = alive
            .iter()
            .copied()
            .filter(|r| r.host_id == candidate)
            .collect();
        if !mine.is_empty() && fits_elsewhere(candidate, &mine, hosts, &alive, &services) {
            out.insert(candidate);
        }
    }
    out
}

fn fits_elsewhere(
    candidate: i64,
    mine: &[&ObservedReplica],
    hosts: &[HostInfo],
    alive: &[&ObservedReplica],
    services: &HashMap<i64, &DesiredService>,
) -> bool {
    let others: Vec<&HostInfo> = hosts.iter().filter(|h| h.id != candidate).collect();
    let mut slots: Vec<Slot> = others.iter().map(|h| Slot::new(h)).collect();
    for r in alive {
        if let Some(i) = others.iter().position(|h| h.id == r.host_id) {
            slots[i].take(r.cpu_millis, r.memory_bytes, r.host_port);
        }
    }
    let counts = vec![0; slots.len()];
    mine.iter().all(|r| {
        let Some(d) = services.get(&r.service_id) else {
            return false;
        };
        let need = Need {
            cpu_millis: r.cpu_millis,
            memory_bytes: r.memory_bytes,
            host_port: r.host_port,
            constraints: &d.spec.placement.constraints,
            strategy: d.spec.placement.strategy,
            drivers: &d.drivers,
        };
        match scheduler::place(&need, &slots, &counts) {
            Ok(i) => {
                slots[i].take(r.cpu_millis, r.memory_bytes, r.host_port);
                true
            }
            Err(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use domain::wire::{Health, HostState, ServiceSpec};

    const GIB: u64 = 1 << 30;

    fn host(id: i64, memory_gib: u64, labels: &[(&str, &str)]) -> HostInfo {
        HostInfo {
            id,
            name: format!("h{id}"),
            state: HostState::Ready,
            unreachable_since_ms: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpu_millis: 4000,
            memory_bytes: memory_gib * GIB,
            volume_drivers: vec!["local".into()],
        }
    }

    fn replica(service_id: i64, slot: u32, host_id: i64, memory_gib: u64) -> ObservedReplica {
        ObservedReplica {
            container_id: format!("c{service_id}-{slot}"),
            host_id,
            service_id,
            slot,
            revision: 1,
            spec_hash: "h".into(),
            status: Status::Running,
            health: Health::Healthy,
            created_ms: 0,
            cpu_millis: 0,
            memory_bytes: memory_gib * GIB,
            host_port: None,
            endpoint: None,
            pending: false,
            stopping: false,
        }
    }

    fn service(id: i64, constraints: &[&str]) -> DesiredService {
        let mut spec: ServiceSpec =
            serde_json::from_value(serde_json::json!({"image": "demo:v1"})).unwrap();
        spec.placement.constraints = constraints
            .iter()
            .map(|c| domain::validate::constraint(c).unwrap())
            .collect();
        DesiredService {
            id,
            name: format!("s{id}"),
            team_id: 1,
            replicas: 1,
            revision: 1,
            spec,
            spec_hash: "h".into(),
            rollout: None,
            homes: Default::default(),
            classes: Default::default(),
            drivers: Vec::new(),
        }
    }

    #[test]
    fn a_pool_host_is_movable_only_when_all_its_replicas_fit_on_the_others() {
        let hosts = [
            host(1, 8, &[]),
            host(2, 8, &[("pool", "p")]),
            host(3, 8, &[("pool", "p")]),
        ];
        let desired = [service(10, &[]), service(11, &["pool=p"])];
        // (replicas, candidates -> movable)
        let table: &[(Vec<ObservedReplica>, &[i64])] = &[
            // h3 runs 2 GiB; h1 has room: movable.
            (vec![replica(10, 1, 3, 2)], &[3]),
            // h3 runs 7 GiB, h1 has 6 GiB taken, h2 has 4 GiB taken: no host has 7 free.
            (
                vec![
                    replica(10, 1, 3, 7),
                    replica(10, 2, 1, 6),
                    replica(10, 3, 2, 4),
                ],
                &[],
            ),
            // Constrained to the pool: h2 takes it.
            (vec![replica(11, 1, 3, 2)], &[3]),
            // Two replicas that each fit but not both on the one host left with room.
            (
                vec![
                    replica(10, 1, 3, 5),
                    replica(10, 2, 3, 5),
                    replica(10, 3, 2, 8),
                ],
                &[],
            ),
            // An empty candidate is not listed (it is idle anyway).
            (vec![replica(10, 1, 1, 1)], &[]),
        ];
        for (observed, want) in table {
            let mut got: Vec<i64> = movable(&[3], &hosts, observed, &desired)
                .into_iter()
                .collect();
            got.sort();
            assert_eq!(got, *want, "{observed:?}");
        }
        // A constrained replica with no other host of its pool stays.
        let only = [host(1, 8, &[]), host(3, 8, &[("pool", "p")])];
        assert!(movable(&[3], &only, &[replica(11, 1, 3, 1)], &desired).is_empty());
        // A replica of a service not known here stays.
        assert!(movable(&[3], &hosts, &[replica(99, 1, 3, 1)], &desired).is_empty());
    }
}
