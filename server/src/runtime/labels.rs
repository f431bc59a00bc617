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
/// The volume class a volume was made from.
pub const CLASS: &str = "berth.class";

use std::collections::HashMap;

use domain::wire::{Health, VolumeScope, VolumeSpec};

use crate::model::{ObservedReplica, ObservedVolume, Status};

/// Docker's name for a service's volume:
/// `berth_<berth>_<id>.<service>.<volume>` shared by the replicas on a host,
/// `berth_<berth>_<id>.<service>.<volume>.<slot>` for one slot, where `<berth>` is
/// the first 8 hex digits of this Berth's instance id and `<id>` the service's.
/// Service ids are never given twice by a Berth, and two Berths on one host differ
/// by their instance ids, so a new service of an old name never meets the old
/// one's volumes; service and volume names hold no dots or `_`, so no two of
/// these collide.
pub fn volume_name(
    owner: &str,
    service_id: i64,
    service: &str,
    v: &VolumeSpec,
    slot: u32,
) -> String {
    let berth: String = owner.chars().take(8).collect();
    match v.scope {
        VolumeScope::Shared => format!("berth_{berth}_{service_id}.{service}.{}", v.name),
        VolumeScope::PerReplica => {
            format!("berth_{berth}_{service_id}.{service}.{}.{slot}", v.name)
        }
    }
}

/// The name volumes had before they carried the service's id:
/// `berth.<service>.<volume>[.<slot>]`. Mounted still, when its labels name this
/// Berth and this service.
pub fn legacy_volume_name(service: &str, v: &VolumeSpec, slot: u32) -> String {
    match v.scope {
        VolumeScope::Shared => format!("berth.{service}.{}", v.name),
        VolumeScope::PerReplica => format!("berth.{service}.{}.{slot}", v.name),
    }
}

/// What to do for one of a replica's volumes, given the volumes of its names that
/// exist on the host (their labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeChoice {
    /// None exists: make this one.
    Make(String),
    /// This one is the service's own: mount it.
    Mount(String),
    /// A volume of that name is not this service's: mount nothing.
    Refuse(String),
}

/// Berth mounts an existing volume only when its labels name this Berth and this
/// service (by id): a volume of the same name made by anyone else is never
/// handed to a replica.
pub fn choose_volume(
    owner: &str,
    service_id: i64,
    name: String,
    existing: Option<&HashMap<String, String>>,
    legacy: (String, Option<&HashMap<String, String>>),
) -> VolumeChoice {
    let ours = |l: &HashMap<String, String>| {
        l.get(OWNER).map(String::as_str) == Some(owner)
            && l.get(SERVICE_ID).and_then(|v| v.parse::<i64>().ok()) == Some(service_id)
    };
    match (existing, legacy) {
        (Some(l), _) if ours(l) => VolumeChoice::Mount(name),
        (Some(_), _) => VolumeChoice::Refuse(format!(
            "a volume named {name} exists on the host and is not this service's; Berth will not mount it"
        )),
        (None, (old, Some(l))) if ours(l) => VolumeChoice::Mount(old),
        (None, _) => VolumeChoice::Make(name),
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
    if let Some(class) = &v.class {
        l.insert(CLASS.to_string(), class.clone());
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
        class: labels.get(CLASS).cloned(),
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
        pending: false,
        stopping: false,
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

    #[test]
    fn volumes_are_mounted_only_when_their_labels_name_this_service() {
        let v = VolumeSpec {
            name: "data".into(),
            path: "/data".into(),
            read_only: false,
            scope: VolumeScope::PerReplica,
            driver: "local".into(),
            options: Default::default(),
            class: None,
        };
        assert_eq!(
            volume_name("0123abcd4567", 12, "db", &v, 2),
            "berth_0123abcd_12.db.data.2"
        );
        assert_eq!(legacy_volume_name("db", &v, 2), "berth.db.data.2");
        let ours = labels(&[(OWNER, "me"), (SERVICE_ID, "12")]);
        let stranger = labels(&[(OWNER, "me"), (SERVICE_ID, "4")]);
        let other_berth = labels(&[(OWNER, "them"), (SERVICE_ID, "12")]);
        let name = || "berth_0123abcd_12.db.data.2".to_string();
        let old = || "berth.db.data.2".to_string();
        use VolumeChoice::*;
        assert_eq!(
            choose_volume("me", 12, name(), None, (old(), None)),
            Make(name())
        );
        assert_eq!(
            choose_volume("me", 12, name(), Some(&ours), (old(), None)),
            Mount(name())
        );
        assert_eq!(
            choose_volume("me", 12, name(), None, (old(), Some(&ours))),
            Mount(old())
        );
        // The old name of a deleted service of that name: made anew, never mounted.
        assert_eq!(
            choose_volume("me", 12, name(), None, (old(), Some(&stranger))),
            Make(name())
        );
        for l in [&stranger, &other_berth, &labels(&[])] {
            assert!(matches!(
                choose_volume("me", 12, name(), Some(l), (old(), None)),
                Refuse(_)
            ));
        }
    }

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
