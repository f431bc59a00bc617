//! The labels Berth puts on every container it makes. Observed state is read back
//! from them, so a restarted Berth adopts what runs instead of duplicating it, and
//! never touches containers it did not make (other owners' included).

/// Present on every container Berth made.
pub const MANAGED: &str = "berth.managed";
/// The Berth instance that made the container (its instance id).
pub const OWNER: &str = "berth.owner";
/// The service the container is a replica of, by name and by id.
pub const SERVICE: &str = "berth.service";
pub const SERVICE_ID: &str = "berth.service_id";
/// The replica's slot, 1..=replicas.
pub const SLOT: &str = "berth.slot";
/// The revision the replica runs, and the hash of its spec.
pub const REVISION: &str = "berth.revision";
pub const SPEC_HASH: &str = "berth.spec_hash";
/// CPU the replica reserves, in millicores.
pub const RESERVE_CPU_MILLIS: &str = "berth.reserve.cpu_millis";
/// Memory the replica reserves, in bytes.
pub const RESERVE_MEMORY: &str = "berth.reserve.memory";
/// The fixed host port the replica holds, if any.
pub const HOST_PORT: &str = "berth.host_port";

/// On volumes: the volume's name in the spec, and its scope.
pub const VOLUME: &str = "berth.volume";
pub const SCOPE: &str = "berth.scope";

use std::collections::HashMap;

use app::wire::{Health, VolumeScope, VolumeSpec};

use crate::domain::{ObservedReplica, ObservedVolume, Status};

/// Docker's name for a service's volume: `berth.<service>.<volume>` shared by the
/// replicas on a host, `berth.<service>.<volume>.<slot>` for one slot. Service and
/// volume names hold no dots, so no two of these collide.
pub fn volume_name(service: &str, v: &VolumeSpec, slot: u32) -> String {
    match v.scope {
        VolumeScope::Shared => format!("berth.{service}.{}", v.name),
        VolumeScope::PerReplica => format!("berth.{service}.{}.{slot}", v.name),
    }
}

/// The labels a volume is made with.
pub fn volume_labels(
    owner: &str,
    service_id: i64,
    service: &str,
    v: &VolumeSpec,
    slot: u32,
) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (OWNER.to_string(), owner.to_string()),
        (SERVICE.to_string(), service.to_string()),
        (SERVICE_ID.to_string(), service_id.to_string()),
        (VOLUME.to_string(), v.name.clone()),
        (SCOPE.to_string(), v.scope.as_str().to_string()),
    ]);
    if v.scope == VolumeScope::PerReplica {
        l.insert(SLOT.to_string(), slot.to_string());
    }
    l
}

/// A volume read back from its labels; `None` when they are not Berth's.
pub fn observe_volume(
    host_id: i64,
    name: &str,
    driver: &str,
    created_at: &str,
    labels: &HashMap<String, String>,
) -> Option<ObservedVolume> {
    Some(ObservedVolume {
        host_id,
        name: name.to_string(),
        service_id: labels.get(SERVICE_ID)?.parse().ok()?,
        service: labels.get(SERVICE)?.clone(),
        volume: labels.get(VOLUME)?.clone(),
        slot: labels.get(SLOT).and_then(|s| s.parse().ok()),
        scope: if labels.get(SCOPE).map(String::as_str) == Some("shared") {
            VolumeScope::Shared
        } else {
            VolumeScope::PerReplica
        },
        driver: driver.to_string(),
        created_at: created_at.to_string(),
    })
}

/// A replica read back from a listed container's labels and state; `None` for a
/// container whose labels are not Berth's (or are damaged).
pub fn observe(
    host_id: i64,
    id: &str,
    labels: &HashMap<String, String>,
    state: &str,
    status: &str,
    created_s: i64,
    ports: &[(String, u16, u16)],
) -> Option<ObservedReplica> {
    let num = |key: &str| labels.get(key).and_then(|v| v.parse::<i64>().ok());
    let service_id = num(SERVICE_ID)?;
    let slot = u32::try_from(num(SLOT)?).ok()?;
    let revision = num(REVISION)?;
    let status_word = match state {
        "created" => Status::Created,
        "running" => Status::Running,
        "restarting" => Status::Restarting,
        "paused" => Status::Paused,
        "exited" => Status::Exited {
            code: exit_code(status).unwrap_or(-1),
        },
        "removing" => Status::Removing,
        _ => Status::Dead,
    };
    let host_port = num(HOST_PORT).and_then(|p| u16::try_from(p).ok());
    // The port Berth publishes is the only one it maps; prefer IPv4 listings.
    let endpoint = ports
        .iter()
        .find(|(ip, _, _)| !ip.contains(':'))
        .or(ports.first())
        .map(|(ip, port, _)| (ip.clone(), *port));
    Some(ObservedReplica {
        container_id: id.to_string(),
        host_id,
        service_id,
        slot,
        revision,
        spec_hash: labels.get(SPEC_HASH).cloned().unwrap_or_default(),
        status: status_word,
        health: docker_health(status),
        created_ms: created_s * 1000,
        cpu_millis: num(RESERVE_CPU_MILLIS).unwrap_or(0).max(0) as u64,
        memory_bytes: num(RESERVE_MEMORY).unwrap_or(0).max(0) as u64,
        host_port,
        endpoint,
    })
}

/// `Exited (137) 2 seconds ago` -> 137.
fn exit_code(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.trim().parse().ok()
}

/// The health Docker's own HEALTHCHECK reports in the status text; `None` when the
/// container has no HEALTHCHECK.
fn docker_health(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replicas_are_read_back_from_labels_and_state() {
        let l = labels(&[
            (MANAGED, "true"),
            (SERVICE_ID, "7"),
            (SLOT, "2"),
            (REVISION, "3"),
            (SPEC_HASH, "abc"),
            (RESERVE_CPU_MILLIS, "250"),
            (RESERVE_MEMORY, "1048576"),
        ]);
        let ports = [("127.0.0.11".to_string(), 49153, 8080)];
        let r = observe(
            1,
            "c1",
            &l,
            "running",
            "Up 3 seconds (healthy)",
            100,
            &ports,
        )
        .unwrap();
        assert_eq!(
            (r.service_id, r.slot, r.revision, r.spec_hash.as_str()),
            (7, 2, 3, "abc")
        );
        assert_eq!((r.status, r.health), (Status::Running, Health::Healthy));
        assert_eq!(
            (r.cpu_millis, r.memory_bytes, r.created_ms),
            (250, 1 << 20, 100_000)
        );
        assert_eq!(r.endpoint, Some(("127.0.0.11".into(), 49153)));

        let dead = observe(1, "c2", &l, "exited", "Exited (137) 2 seconds ago", 0, &[]).unwrap();
        assert_eq!(dead.status, Status::Exited { code: 137 });
        assert_eq!(dead.health, Health::None);
        let starting = observe(
            1,
            "c3",
            &l,
            "running",
            "Up 1 second (health: starting)",
            0,
            &[],
        )
        .unwrap();
        assert_eq!(starting.health, Health::Starting);

        // Not Berth's, or damaged: left alone.
        assert_eq!(
            observe(
                1,
                "x",
                &labels(&[(MANAGED, "true")]),
                "running",
                "Up",
                0,
                &[]
            ),
            None
        );
        let bad_slot = labels(&[(SERVICE_ID, "7"), (SLOT, "-1"), (REVISION, "1")]);
        assert_eq!(observe(1, "y", &bad_slot, "running", "Up", 0, &[]), None);
    }
}
