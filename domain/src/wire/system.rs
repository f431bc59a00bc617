//! The engines, the server's own facts, and the body of every error.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// Whether a Docker engine answered the last time Berth asked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineState {
    Up,
    Down,
}

impl EngineState {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineState::Up => "up",
            EngineState::Down => "down",
        }
    }
}

/// What a Docker engine says about itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineFacts {
    /// Engine version, e.g. `20.10.24`.
    pub version: String,
    /// The API version Berth negotiated with the engine, e.g. `1.41`.
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub cpus: i64,
    pub memory_bytes: i64,
    pub containers_running: i64,
    pub containers_total: i64,
    pub images: i64,
    /// The volume drivers the engine has: `local` and its plugins'.
    #[serde(default)]
    pub volume_drivers: Vec<String>,
}

/// One Docker engine Berth is configured to use, and how it answered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub name: String,
    /// The endpoint as configured, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
    pub state: EngineState,
    /// Round trip of the check in milliseconds, when the engine answered.
    pub latency_ms: Option<u64>,
    /// Present when `state` is `up`.
    pub facts: Option<EngineFacts>,
    /// Why the engine is down, in words, when `state` is `down`.
    pub error: Option<String>,
}

/// The answer of `GET /api/v1/engines`: every configured engine, checked now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnginesReport {
    /// When the engines were asked, in milliseconds since the Unix epoch.
    pub checked_at_ms: i64,
    pub engines: Vec<EngineStatus>,
}

impl EnginesReport {
    pub fn up(&self) -> usize {
        self.engines
            .iter()
            .filter(|e| e.state == EngineState::Up)
            .count()
    }

    pub fn containers_running(&self) -> i64 {
        self.facts().map(|f| f.containers_running).sum()
    }

    pub fn cpus(&self) -> i64 {
        self.facts().map(|f| f.cpus).sum()
    }

    pub fn memory_bytes(&self) -> i64 {
        self.facts().map(|f| f.memory_bytes).sum()
    }

    fn facts(&self) -> impl Iterator<Item = &EngineFacts> {
        self.engines.iter().filter_map(|e| e.facts.as_ref())
    }
}

/// Which database holds Berth's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseEngine {
    /// One file beside one Berth (the embedded default).
    #[default]
    Sqlite,
    /// A PostgreSQL server.
    Postgresql,
}

impl std::fmt::Display for DatabaseEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DatabaseEngine::Sqlite => "SQLite",
            DatabaseEngine::Postgresql => "PostgreSQL",
        })
    }
}

/// Facts about this Berth server, for the Settings page and `GET /api/v1/about`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct About {
    pub version: String,
    /// A random id made when the database was created.
    pub instance_id: String,
    /// The database file, or PostgreSQL's address without its password.
    pub database: String,
    /// Which database holds Berth's state.
    #[serde(default)]
    pub engine: DatabaseEngine,
    /// SQLite's journal mode, `wal` in normal operation; `postgresql` on
    /// PostgreSQL, which has none to choose.
    pub journal_mode: String,
    /// The newest migration applied.
    pub schema_version: i64,
    pub started_at_ms: i64,
    pub listen: String,
    /// This process's id among the instances on the database (a new one at
    /// every start).
    #[serde(default)]
    pub this_instance: String,
    /// Whether this instance leads (runs the reconciler, the pools and the
    /// certificates); the others serve and follow.
    #[serde(default)]
    pub leads: bool,
    /// The leader's term: raised each time the lead changes hands.
    #[serde(default)]
    pub term: i64,
    /// Every instance seen on this database in the last day, the most recently
    /// seen first.
    #[serde(default)]
    pub instances: Vec<InstanceInfo>,
}

/// One Berth instance on the database.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    /// Where it serves the dashboard and the API.
    pub address: String,
    pub version: String,
    /// Whether it holds the lead now.
    pub leader: bool,
    pub started_at_ms: i64,
    /// When it last noted itself (every 2 s while it runs), by the database's clock.
    pub last_seen_ms: i64,
    /// How long ago that was, by the same clock.
    #[serde(default)]
    pub seen_ms_ago: i64,
    /// Not seen for over 10 s: stopped or cut off.
    #[serde(default)]
    pub stopped: bool,
}

/// An answer that is one sentence: what was done (a replica moved).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: String,
}

/// The body of every API error: `{"error":{"code","message"}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}
