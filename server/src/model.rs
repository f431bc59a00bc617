//! Plain data the pure core works on: what is wanted (services at a revision), what
//! is seen (replicas on hosts) and the hosts themselves. No IO here.

use std::collections::BTreeMap;

use domain::wire::{Health, HostState, ServiceSpec, VolumeScope};

/// A host as placement and planning see it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub id: i64,
    pub name: String,
    pub state: HostState,
    /// Since when the host does not answer (for the grace before its replicas move).
    pub unreachable_since_ms: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// Capacity from the engine, in millicores and bytes; 0 when never heard from.
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    /// Volume drivers its engine has (`local` and plugins'); empty when never heard
    /// from.
    pub volume_drivers: Vec<String>,
}

/// How a replica's container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Created,
    Running,
    Restarting,
    Paused,
    Exited { code: i64 },
    Dead,
    Removing,
}

impl Status {
    /// Whether the container is (or is about to be) running, so counts against its
    /// host's capacity.
    pub fn alive(self) -> bool {
        matches!(
            self,
            Status::Created | Status::Running | Status::Restarting | Status::Paused
        )
    }

    /// The replica's state as pages and the API show it.
    pub fn replica_state(self) -> domain::wire::ReplicaState {
        use domain::wire::ReplicaState as S;
        match self {
            Status::Created => S::Created,
            Status::Running => S::Running,
            Status::Restarting => S::Restarting,
            Status::Paused => S::Paused,
            Status::Exited { .. } => S::Exited,
            Status::Dead => S::Dead,
            Status::Removing => S::Removing,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Paused => "paused",
            Status::Exited { .. } => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        }
    }
}

/// What keeps a replica slot of a service from being as wanted. The variant and
/// the slot are data (pages find a slot's problem by its slot, never by its
/// words); Display is the sentence a person reads ("replica 2 not placed: 3 hosts
/// lack 1.0 GiB free memory").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Problem {
    /// No host takes the replica; `why` is placement's tally of refusals.
    NotPlaced { slot: u32, why: String },
    /// Its host does not answer, within the grace before it moves.
    HostSilent { slot: u32, grace_secs: i64 },
    /// Its volumes are on a host that does not answer: it waits for that host.
    WaitsForHome { slot: u32, host: String },
    /// Its data follows it, and its host does not answer: it moves once the
    /// host is fenced (past the grace; the old replica is removed first if the
    /// host returns).
    WaitsForFence {
        slot: u32,
        host: String,
        secs_left: i64,
    },
    /// Its volumes are on a host that takes nothing new: it keeps its revision.
    HomeRefuses {
        slot: u32,
        revision: i64,
        host: String,
        state: domain::wire::HostState,
    },
    /// It keeps failing: its next start waits for a growing delay.
    RestartDelayed {
        slot: u32,
        secs: i64,
        failures: u32,
        why: String,
    },
}

impl Problem {
    pub fn slot(&self) -> u32 {
        match self {
            Problem::NotPlaced { slot, .. }
            | Problem::HostSilent { slot, .. }
            | Problem::WaitsForHome { slot, .. }
            | Problem::WaitsForFence { slot, .. }
            | Problem::HomeRefuses { slot, .. }
            | Problem::RestartDelayed { slot, .. } => *slot,
        }
    }
}

/// A problem compares with its words (tests).
impl PartialEq<&str> for Problem {
    fn eq(&self, words: &&str) -> bool {
        self.to_string().as_str() == *words
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotPlaced { slot, why } => write!(f, "replica {slot} not placed: {why}"),
            Problem::HostSilent { slot, grace_secs } => write!(
                f,
                "replica {slot} waits: its host does not answer (grace {grace_secs} s)"
            ),
            Problem::WaitsForFence {
                slot,
                host,
                secs_left,
            } => write!(
                f,
                "replica {slot} waits for host {host} to be fenced: it does not answer, and \
                 the replica's volume follows it to another host once its old copy cannot \
                 write (in {secs_left} s)"
            ),
            Problem::WaitsForHome { slot, host } => write!(
                f,
                "replica {slot} waits for host {host}: its volumes are there and it does not \
                 answer; an admin may move it elsewhere (its data stays behind)"
            ),
            Problem::HomeRefuses {
                slot,
                revision,
                host,
                state,
            } => write!(
                f,
                "replica {slot} keeps revision {revision}: its volumes are on {host}, which is \
                 {} and takes no new replica",
                state.as_str()
            ),
            Problem::RestartDelayed {
                slot,
                secs,
                failures,
                why,
            } => write!(
                f,
                "replica {slot} restarts in {secs} s: it failed {failures} times in a row ({why})"
            ),
        }
    }
}

/// A container of Berth's, read back from its labels and state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObservedReplica {
    pub container_id: String,
    pub host_id: i64,
    pub service_id: i64,
    pub slot: u32,
    pub revision: i64,
    pub spec_hash: String,
    pub status: Status,
    pub health: Health,
    pub created_ms: i64,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub host_port: Option<u16>,
    /// The published port and its address, when the container publishes one.
    pub endpoint: Option<(String, u16)>,
    /// A replica being made: a task is starting it and its host has not shown it
    /// yet. Its `container_id` is a placeholder: nothing can be done to it.
    pub pending: bool,
    /// A replica out of the proxy whose stop runs after its service's task ended
    /// (the driver's stop tasks): counted on its host until it is gone, never
    /// removed twice.
    #[serde(default)]
    pub stopping: bool,
}

/// A volume of Berth's on a host, read back from its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedVolume {
    pub host_id: i64,
    /// Docker's name for it.
    pub name: String,
    pub service_id: i64,
    pub service: String,
    /// Its name in the spec.
    pub volume: String,
    pub slot: Option<u32>,
    pub scope: VolumeScope,
    pub driver: String,
    pub created_at: String,
    /// The volume class it was made from.
    pub class: Option<String>,
}

/// A service as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    pub id: i64,
    pub name: String,
    /// The team that owns it (whose secrets its environment may name).
    pub team_id: i64,
    pub replicas: u32,
    pub revision: i64,
    pub spec: ServiceSpec,
    pub spec_hash: String,
    /// The rollout under way, if one is.
    pub rollout: Option<RolloutCtx>,
    /// The host that holds each slot's per-replica volumes (slot -> host id).
    pub homes: BTreeMap<u32, i64>,
    /// The volume classes its volumes name, by name (one it names that is not
    /// here does not exist).
    pub classes: BTreeMap<String, VolumeClass>,
    /// The volume drivers those classes use: every host it runs on needs them.
    pub drivers: Vec<String>,
}

/// A volume class as planning and the runtime need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeClass {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub scope: domain::wire::ClassScope,
}

impl DesiredService {
    /// The drivers `classes` use, each once.
    pub fn drivers_of(classes: &BTreeMap<String, VolumeClass>) -> Vec<String> {
        let set: std::collections::BTreeSet<&String> =
            classes.values().map(|c| &c.driver).collect();
        set.into_iter().cloned().collect()
    }

    fn per_replica(&self) -> impl Iterator<Item = &domain::wire::VolumeSpec> {
        self.spec
            .volumes
            .iter()
            .filter(|v| v.scope == domain::wire::VolumeScope::PerReplica)
    }

    /// Whether a volume's data follows its replica to any host (its class is global).
    pub fn follows(&self, v: &domain::wire::VolumeSpec) -> bool {
        v.class
            .as_ref()
            .and_then(|c| self.classes.get(c))
            .is_some_and(|c| c.scope == domain::wire::ClassScope::Global)
    }

    /// Whether each slot stays on the host that holds its own volumes (a
    /// per-replica volume kept on one host: local, or of a host-scoped class).
    pub fn pins_slots(&self) -> bool {
        self.per_replica().any(|v| !self.follows(v))
    }

    /// The names of its per-replica volumes that stay on one host (what a slot
    /// leaves behind on a host it can no longer reach).
    pub fn pinned_volumes(&self) -> impl Iterator<Item = &str> {
        self.per_replica()
            .filter(|v| !self.follows(v))
            .map(|v| v.name.as_str())
    }

    /// Whether a slot's own volume moves with it between hosts: then the slot has
    /// one writer at a time.
    pub fn moves_data(&self) -> bool {
        self.per_replica().any(|v| self.follows(v))
    }

    /// The order replicas are replaced in: the spec's, but always stop-first when
    /// a replica's data follows it (a second writer could corrupt it).
    pub fn update_order(&self) -> domain::wire::UpdateOrder {
        if self.moves_data() {
            domain::wire::UpdateOrder::StopFirst
        } else {
            self.spec.update_order()
        }
    }

    /// A class its volumes name that does not exist (deleted since).
    pub fn missing_class(&self) -> Option<&str> {
        self.spec
            .volumes
            .iter()
            .filter_map(|v| v.class.as_deref())
            .find(|c| !self.classes.contains_key(*c))
    }

    /// The service as events name it.
    pub fn service_ref(&self) -> crate::events::ServiceRef {
        crate::events::ServiceRef {
            id: self.id,
            team_id: Some(self.team_id),
            name: self.name.clone(),
        }
    }
}

/// What planning needs of a rollout under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutCtx {
    /// No replica starts its move to the new revision (failed ones are still
    /// replaced).
    pub paused: bool,
    /// Moves begin only from then on (the monitor window and the delay after a
    /// batch).
    pub gate_until_ms: Option<i64>,
    pub started_ms: i64,
    /// New replicas ready when the last batch was recorded done: more ready than
    /// that means a batch finished that is not recorded yet.
    pub batch_ready: u32,
    /// A canary step holds: this many slots run a new replica beside their old
    /// one, the others stay as they are.
    pub canary: Option<u32>,
}
