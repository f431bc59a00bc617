//! Services as pages and the API show them, and what creating, deploying and
//! scaling one takes.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// `POST /api/v1/services`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceInput {
    pub name: String,
    /// The owning team's name.
    pub team: String,
    pub replicas: u32,
    pub spec: ServiceSpec,
    /// How the proxy reaches it (routes, balancing).
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// Why, for the revision history.
    #[serde(default)]
    pub message: Option<String>,
}

/// `PUT /api/v1/services/{name}/spec` (and `POST …/deploy`): a new revision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployInput {
    pub spec: ServiceSpec,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /api/v1/services/{name}/scale`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleInput {
    pub replicas: u32,
}

/// A replica's health, as the last checks found it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The service has no health check.
    None,
    /// Not yet known: checks have not passed yet.
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One replica of a service, as observed (or about to be: a replica whose image is
/// being pulled shows with state `pulling` and no container yet).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
    pub slot: u32,
    pub revision: i64,
    pub host: String,
    /// The container's id, 12 characters; empty while it is being made.
    pub container_id: String,
    /// `running`, `exited`, `created`, … `pulling` or `starting` while Berth makes
    /// it, `waiting` or `failed` for a wanted slot without one, or `unknown` while
    /// its host is unreachable.
    pub state: ReplicaState,
    pub health: Health,
    /// Where it answers, `address:port`, when it publishes a port.
    pub endpoint: Option<String>,
    /// Times this slot's replica was replaced since Berth started.
    pub restarts: u32,
    /// The last exit of a replica in this slot, e.g. `exited with code 137`.
    pub last_exit: Option<String>,
    /// Whether it runs what the service's current revision says.
    pub current: bool,
    /// What Berth is doing with it, or why making it failed.
    pub note: Option<String>,
    pub created_at_ms: i64,
}

/// How a replica (or a wanted slot without one) stands, in one word.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaState {
    /// Its container, as Docker says.
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Removing,
    /// Berth pulls its image on the host.
    Pulling,
    /// Berth makes and starts its container.
    Starting,
    /// A wanted slot with nothing in it yet (its problem says why).
    Waiting,
    /// A wanted slot whose last start failed.
    Failed,
    /// Its host does not answer.
    Unknown,
}

impl ReplicaState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Created => "created",
            ReplicaState::Running => "running",
            ReplicaState::Restarting => "restarting",
            ReplicaState::Paused => "paused",
            ReplicaState::Exited => "exited",
            ReplicaState::Dead => "dead",
            ReplicaState::Removing => "removing",
            ReplicaState::Pulling => "pulling",
            ReplicaState::Starting => "starting",
            ReplicaState::Waiting => "waiting",
            ReplicaState::Failed => "failed",
            ReplicaState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ReplicaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a service stands, in one word.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServicePhase {
    /// Every wanted replica runs the current revision and is ready.
    Running,
    /// Replicas are being started, replaced or removed.
    Progressing,
    /// Fewer ready replicas than wanted, and some cannot be placed or keep failing.
    Degraded,
    /// Scaled to zero and nothing runs.
    Stopped,
}

impl ServicePhase {
    pub const ALL: [ServicePhase; 4] = [
        ServicePhase::Running,
        ServicePhase::Progressing,
        ServicePhase::Degraded,
        ServicePhase::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServicePhase::Running => "running",
            ServicePhase::Progressing => "progressing",
            ServicePhase::Degraded => "degraded",
            ServicePhase::Stopped => "stopped",
        }
    }
}

/// `GET /api/v1/services` filters and paging; all optional. Without `limit` every
/// matching service is listed; the answer's `X-Total-Count` says how many match.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceQuery {
    /// At most this many, 1 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Skip this many of the matching services (in name order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Only this team's (its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Only services in these phases, comma-separated: `degraded,progressing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Only services whose name contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

/// The services the caller may see, counted: how many stand how, and their
/// replicas wanted and ready (the dashboard's summary at any number of services).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub services: u32,
    pub running: u32,
    pub progressing: u32,
    pub degraded: u32,
    pub stopped: u32,
    pub replicas_wanted: u64,
    pub replicas_ready: u64,
}

/// One page of services and how many match in all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePage {
    pub services: Vec<ServiceView>,
    pub total: u32,
}

/// A service and how it stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub team_id: i64,
    /// Replicas wanted.
    pub replicas: u32,
    /// The revision every replica should run.
    pub revision: i64,
    pub spec: ServiceSpec,
    /// How the proxy reaches it.
    pub proxy: ProxyConfig,
    /// The name the proxy gives it, `<service>.<domain>`, when it is on the proxy
    /// (it has a port and is exposed).
    #[serde(default)]
    pub default_host: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub phase: ServicePhase,
    /// The rollout under way, or the last one.
    pub rollout: Option<RolloutView>,
    /// Replicas running (any revision), and of those ready: running, and healthy
    /// when the service has a health check.
    pub running: u32,
    pub healthy: u32,
    /// Every replica, by slot.
    pub instances: Vec<ReplicaView>,
    /// Why replicas wait, in words: "replica 3 not placed: …".
    pub problems: Vec<String>,
    /// The last failure of the reconciler for this service, while it retries.
    pub last_error: Option<String>,
    /// When the reconciler last looked (0: not yet).
    pub observed_at_ms: i64,
}

/// A service with its recent events and revision history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceDetail {
    pub service: ServiceView,
    pub events: Vec<EventView>,
    pub revisions: Vec<RevisionView>,
    /// Rollouts, newest first.
    pub rollouts: Vec<RolloutView>,
}

/// The log of one replica.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLogs {
    pub slot: u32,
    pub host: String,
    pub container_id: String,
    /// The last lines, oldest first.
    pub lines: Vec<String>,
}

/// One revision in a service's history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionView {
    pub number: i64,
    pub spec: ServiceSpec,
    pub author: String,
    pub message: String,
    pub created_at_ms: i64,
}

/// CPU and memory of one replica, now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStats {
    pub slot: u32,
    pub host: String,
    pub container_id: String,
    /// Percent of one CPU.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}
