//! Host pools: where Berth gets a new host when none has room, and the hosts it made.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a pool gets and gives back machines.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provider {
    /// An executable on Berth's machine, called with a JSON request on stdin
    /// (`{"action":"create","pool":…,"name":…}` or `{"action":"destroy",…}`) that
    /// answers JSON on stdout: for `create`, a [`ProviderAnswer`].
    Command {
        /// An absolute path.
        command: String,
        #[serde(default)]
        args: Vec<String>,
    },
}

/// What a provider answers to `create`: how to reach the new host's engine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAnswer {
    /// `unix:///path` or `tcp://host:port`.
    pub endpoint: String,
    /// Where the host's published ports are reached.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsInput>,
}

/// `POST /api/v1/pools` and `PUT /api/v1/pools/{name}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolInput {
    /// A DNS label of at most 40 characters; its hosts are named `<pool>-<6 hex>`.
    pub name: String,
    pub provider: Provider,
    /// Labels every host of the pool gets (placement constraints match them).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// CPUs of one new host, in millicores (1000 = one CPU).
    pub cpu_millis: u64,
    /// Memory of one new host, in bytes.
    pub memory_bytes: u64,
    #[serde(default)]
    pub min_hosts: u32,
    pub max_hosts: u32,
    /// How long a host may stay idle before it is retired (default 600 s).
    #[serde(default = "default_idle_secs")]
    pub idle_secs: u64,
    /// How long a new host may take to answer (default 600 s).
    #[serde(default = "default_boot_timeout_secs")]
    pub boot_timeout_secs: u64,
}

pub fn default_idle_secs() -> u64 {
    600
}

pub fn default_boot_timeout_secs() -> u64 {
    600
}

/// Where one of a pool's hosts stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolHostState {
    /// The provider was asked for the machine and has not answered yet.
    Creating,
    /// The provider answered; Berth waits for its engine to answer.
    Booting,
    /// Registered, takes replicas.
    Ready,
    /// Idle (or retired by an admin): its replicas move, then it is destroyed.
    Draining,
    /// The provider is asked to destroy it.
    Destroying,
}

impl PoolHostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolHostState::Creating => "creating",
            PoolHostState::Booting => "booting",
            PoolHostState::Ready => "ready",
            PoolHostState::Draining => "draining",
            PoolHostState::Destroying => "destroying",
        }
    }

    /// Being made: counts towards the replicas waiting for the pool.
    pub fn in_flight(self) -> bool {
        matches!(self, PoolHostState::Creating | PoolHostState::Booting)
    }
}

impl std::str::FromStr for PoolHostState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "creating" => PoolHostState::Creating,
            "booting" => PoolHostState::Booting,
            "ready" => PoolHostState::Ready,
            "draining" => PoolHostState::Draining,
            "destroying" => PoolHostState::Destroying,
            other => return Err(format!("unknown pool host state {other:?}")),
        })
    }
}

impl std::fmt::Display for PoolHostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoolHostState::Creating => "being made",
            PoolHostState::Booting => "waiting for its engine",
            PoolHostState::Ready => "ready",
            PoolHostState::Draining => "draining",
            PoolHostState::Destroying => "being destroyed",
        })
    }
}

/// One machine a pool made (or is making, or destroying).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolHostView {
    /// Also its name as a registered host, once ready.
    pub name: String,
    pub state: PoolHostState,
    /// Since when it is in this state.
    pub since_ms: i64,
    /// How long it has been in this state, when this was made.
    pub state_for_ms: i64,
    pub requested_at_ms: i64,
    /// Its engine's endpoint, once the provider answered.
    pub endpoint: Option<String>,
    /// Whether it is registered as a host.
    pub registered: bool,
    /// Berth's replicas on it now.
    pub replicas: u32,
    /// How long it has been idle (no replica, or all of them would fit on other
    /// hosts), when this was made; it is retired after the pool's idle time.
    pub idle_for_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// A pool as admins see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    pub name: String,
    pub provider: Provider,
    pub labels: BTreeMap<String, String>,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub min_hosts: u32,
    pub max_hosts: u32,
    pub idle_secs: u64,
    pub boot_timeout_secs: u64,
    pub hosts: Vec<PoolHostView>,
    /// Replicas waiting for a host of this pool now.
    pub waiting: u32,
    /// Provider failures in a row; the next request waits longer after each.
    pub failures: u32,
    pub last_error: Option<String>,
    /// When the pool may ask its provider again after failures.
    pub retry_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}
