//! Hosts, their containers and engine events, and Berth's events.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// Where a host stands, derived from its heartbeat and what admins set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Registered, not heard from yet.
    Pending,
    /// Answers its heartbeat and takes new replicas.
    Ready,
    /// Missed its last heartbeats.
    Unreachable,
    /// Answers, but takes no new replicas.
    Cordoned,
    /// Answers; its replicas move elsewhere.
    Draining,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Pending => "pending",
            HostState::Ready => "ready",
            HostState::Unreachable => "unreachable",
            HostState::Cordoned => "cordoned",
            HostState::Draining => "draining",
        }
    }
}

/// A Docker host as Berth sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub id: i64,
    pub name: String,
    /// `unix:///path`, or `tcp://host:port` (with TLS when `tls` is true).
    pub endpoint: String,
    /// Where this host's published ports are reached.
    pub address: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub tls: bool,
    pub state: HostState,
    pub cordoned: bool,
    pub draining: bool,
    /// What the engine said at the last heartbeat that reached it.
    pub facts: Option<EngineFacts>,
    pub last_heartbeat_ms: Option<i64>,
    /// How long ago the last answered heartbeat was, when this was made.
    pub heartbeat_age_ms: Option<i64>,
    pub latency_ms: Option<u64>,
    /// Since when the host does not answer, and why.
    pub unreachable_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Containers of Berth's on the host, and the CPU and memory they reserve.
    pub berth_containers: i64,
    pub reserved_cpu_millis: i64,
    pub reserved_memory_bytes: i64,
    pub created_at_ms: i64,
}

/// TLS material for a `tcp://` endpoint, in PEM.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInput {
    /// The CA that signed the engine's certificate.
    pub ca: String,
    /// Berth's client certificate.
    pub cert: String,
    /// Berth's client key.
    pub key: String,
}

/// `POST /api/v1/hosts`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddHostInput {
    pub name: String,
    pub endpoint: String,
    /// Where published ports are reached; defaults to 127.0.0.1 for unix sockets and
    /// to the endpoint's host for tcp.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub tls: Option<TlsInput>,
}

/// `PATCH /api/v1/hosts/{name}`: what is given changes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateHostInput {
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A container on a host.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `running`, `exited`, …
    pub state: String,
    /// Docker's words, e.g. `Up 3 minutes`.
    pub status: String,
    /// Made by Berth (labelled `berth.managed`).
    pub berth: bool,
    pub service: Option<String>,
    pub created_ms: i64,
    /// Not of the caller's teams: its name, image and service are not shown.
    #[serde(default)]
    pub hidden: bool,
}

/// Something a Docker engine reported on its event stream.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEventView {
    pub at_ms: i64,
    /// `container`, `image`, `network`, …
    pub kind: String,
    /// `start`, `die`, `health_status: healthy`, …
    pub action: String,
    /// The container's (or image's) name, else its id.
    pub actor: String,
}

/// `GET /api/v1/hosts/{name}`: a host with its containers and recent events.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostDetail {
    pub host: HostView,
    pub containers: Vec<ContainerView>,
    /// Why the containers could not be listed (the host is down).
    pub containers_error: Option<String>,
    /// The engine's own recent events, newest first.
    pub engine_events: Vec<EngineEventView>,
    /// What Berth recorded about this host, newest first.
    pub events: Vec<EventView>,
}

/// One event Berth recorded: a host going down, a replica replaced, …
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: i64,
    pub at_ms: i64,
    /// `host`, `service`, …
    pub kind: String,
    /// The host's or service's name.
    pub subject: String,
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// `GET /api/v1/events` filters; all optional.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// Events older than this id (the `next_before` of the previous page).
    #[serde(default)]
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of events, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<EventView>,
    pub next_before: Option<i64>,
}

/// `GET /api/v1/whatif?lose=h2,h3`: the hosts to imagine lost.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfQuery {
    /// Host names, comma-separated (`h2` or `h2,h3`), at most 50.
    pub lose: String,
}

/// A replica on a lost host that would start on another.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfMove {
    pub service: String,
    pub team: String,
    pub slot: u32,
    pub from: String,
    pub to: String,
}

/// A replica on a lost host that no host could take, and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfUnplaced {
    pub service: String,
    pub team: String,
    pub slot: u32,
    pub from: String,
    /// The planner's words: `replica 2 not placed: 2 hosts lack CPU (…)`.
    pub why: String,
}

/// A slot whose own volumes are on a lost host: it would wait for that host
/// rather than start elsewhere on empty volumes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfStranded {
    pub service: String,
    pub team: String,
    pub slot: u32,
    pub host: String,
    /// The per-replica volumes, by the names the spec gives them.
    pub volumes: Vec<String>,
}

/// What losing some hosts would do to the services the caller may see, as the
/// reconciler would then plan it (from what runs now).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIfView {
    pub lose: Vec<String>,
    /// Every service keeps all of its replicas: nothing unplaced or stranded.
    pub whole: bool,
    pub moves: Vec<WhatIfMove>,
    pub unplaced: Vec<WhatIfUnplaced>,
    pub stranded: Vec<WhatIfStranded>,
    /// When it was worked out (ms since the epoch).
    pub at_ms: i64,
}

/// Losing one host, in short (the N-1 check).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLossView {
    pub host: String,
    pub whole: bool,
    pub moves: u32,
    pub unplaced: u32,
    pub stranded: u32,
}

/// `GET /api/v1/whatif/each-host`: whether losing any one host leaves every
/// service whole, host by host.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EachHostView {
    pub whole: bool,
    pub hosts: Vec<HostLossView>,
    pub at_ms: i64,
}
