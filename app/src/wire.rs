//! Wire types: what the server sends to the browser and to API clients. The REST API
//! and the server functions serialise the same structs.

use serde::{Deserialize, Serialize};

/// Whether a Docker engine answered the last time Berth asked.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
}

/// One Docker engine Berth is configured to use, and how it answered.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

/// Facts about this Berth server, for the Settings page and `GET /api/v1/about`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct About {
    pub version: String,
    /// A random id made when the database was created.
    pub instance_id: String,
    /// The database file, without any credentials.
    pub database: String,
    /// SQLite's journal mode; `wal` in normal operation.
    pub journal_mode: String,
    /// The newest migration applied.
    pub schema_version: i64,
    pub started_at_ms: i64,
    pub listen: String,
}

/// The body of every API error: `{"error":{"code","message"}}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

// ---------------------------------------------------------------------------
// Errors

/// The one error type of the server functions: a stable code and a sentence. The
/// REST API renders the same pair as `{"error":{"code","message"}}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppError {
    /// `unauthenticated`, `forbidden`, `not_found`, `conflict`, `invalid`,
    /// `rate_limited`, `internal`, or `transport` (the call did not reach the server).
    pub code: String,
    pub message: String,
    /// Seconds to wait, with `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl AppError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        AppError {
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// The HTTP status that goes with the code, for the API and server functions alike.
    pub fn status(&self) -> u16 {
        status_of(&self.code)
    }
}

/// The HTTP status of an error code.
pub fn status_of(code: &str) -> u16 {
    match code {
        "bad_request" => 400,
        "unauthenticated" => 401,
        "forbidden" => 403,
        "not_found" => 404,
        "method_not_allowed" => 405,
        "conflict" => 409,
        "too_large" => 413,
        "unsupported_media_type" => 415,
        "invalid" | "host_unreachable" | "tls_failed" | "engine_too_old" => 422,
        "rate_limited" => 429,
        "not_ready" | "transport" => 503,
        _ => 500,
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        AppError::new("transport", value.to_string())
    }
}

// ---------------------------------------------------------------------------
// Accounts

/// A cluster-wide role.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Manages users, teams and hosts, and every team's services.
    Admin,
    /// Works in the teams they belong to.
    Member,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<UserRole> {
        match s {
            "admin" => Some(UserRole::Admin),
            "member" => Some(UserRole::Member),
            _ => None,
        }
    }
}

/// A role inside a team.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    /// Creates, deploys, scales, rolls back and deletes the team's services.
    Operator,
    /// Reads the team's services.
    Viewer,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Operator => "operator",
            TeamRole::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "operator" => Some(TeamRole::Operator),
            "viewer" => Some(TeamRole::Viewer),
            _ => None,
        }
    }
}

/// A team the caller belongs to, with their role in it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRef {
    pub id: i64,
    pub name: String,
    pub role: TeamRole,
}

/// How a request proved who it is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Session,
    Token,
}

/// The caller: `GET /api/v1/me`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub role: UserRole,
    pub teams: Vec<TeamRef>,
    pub auth: AuthMethod,
    /// True when the request came with a read-only token.
    pub read_only: bool,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }
}

/// `POST /api/v1/auth/login`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// `GET /api/v1/setup`: whether the first admin still has to be created.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupState {
    pub needed: bool,
}

/// `POST /api/v1/setup`: the first admin.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInput {
    pub username: String,
    pub password: String,
}

/// `PUT /api/v1/me/password`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

/// A user, as admins see them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: UserRole,
    pub teams: Vec<TeamRef>,
    pub created_at_ms: i64,
    /// Sessions that have not expired.
    pub active_sessions: i64,
}

/// `POST /api/v1/users`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserInput {
    pub username: String,
    pub password: String,
    pub role: UserRole,
}

/// `PATCH /api/v1/users/{id}`: what is given changes.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateUserInput {
    #[serde(default)]
    pub role: Option<UserRole>,
    /// A new password; the user's sessions end.
    #[serde(default)]
    pub password: Option<String>,
}

/// A team with its members and domains.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    pub members: Vec<MemberView>,
    /// Host names its routes may use: `shop.example.com`, `*.shop.example.com`.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// `POST /api/v1/teams/{id}/domains`: a domain for the team's routes (admins).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDomainInput {
    /// `shop.example.com` (that name) or `*.shop.example.com` (every name under it).
    pub domain: String,
}

/// A team secret, without its value (values are never shown back).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretView {
    pub name: String,
    /// Goes up by one each time the value is replaced.
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub updated_by: String,
    /// Services whose current revision takes a variable from it.
    pub used_by: Vec<String>,
}

/// `PUT /api/v1/teams/{id}/secrets/{name}`: a new secret, or a new version of one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecretInput {
    pub value: String,
}

impl std::fmt::Debug for SetSecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSecretInput { value: (hidden) }")
    }
}

/// The answer to a secret being set: the secret, and the rollouts it started.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSet {
    pub secret: SecretView,
    /// Services rolled out to the new version, by name.
    pub rolled_out: Vec<String>,
    /// Services that use it and were not rolled out, each with why.
    #[serde(default)]
    pub not_rolled_out: Vec<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: i64,
    pub username: String,
    pub role: TeamRole,
}

/// `POST /api/v1/teams`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTeamInput {
    pub name: String,
}

/// `PUT /api/v1/teams/{id}/members/{user_id}`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMemberInput {
    pub role: TeamRole,
}

/// An API token, without its secret.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub read_only: bool,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

/// `POST /api/v1/tokens`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTokenInput {
    pub name: String,
    /// Days until the token stops working; none for a token that does not expire.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    #[serde(default)]
    pub read_only: bool,
}

/// The answer to `POST /api/v1/tokens`: the secret, shown this once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// A login session of the caller.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub client_addr: String,
    pub user_agent: String,
    /// The session this request came with.
    pub current: bool,
}

/// How an audited action ended.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    Ok,
    Denied,
    Failed,
}

impl AuditResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Denied => "denied",
            AuditResult::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AuditResult> {
        match s {
            "ok" => Some(AuditResult::Ok),
            "denied" => Some(AuditResult::Denied),
            "failed" => Some(AuditResult::Failed),
            _ => None,
        }
    }
}

/// One line of the audit log.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    /// The user's name, or `anonymous`, or `system`.
    pub actor: String,
    /// What was done, e.g. `user.create`, `auth.login`.
    pub action: String,
    /// What it was done to, e.g. `user:alice`.
    pub target: String,
    pub client_addr: String,
    pub result: AuditResult,
    /// Why, for a refusal or a failure.
    pub detail: String,
}

/// `GET /api/v1/audit` filters; all optional.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: Option<String>,
    /// An action, or its prefix followed by `.` (e.g. `user.`).
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub result: Option<AuditResult>,
    /// Entries older than this id (the `next_before` of the previous page).
    #[serde(default)]
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of the audit log, newest first.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; none at the end.
    pub next_before: Option<i64>,
}

// ---------------------------------------------------------------------------
// Hosts

/// Where a host stands, derived from its heartbeat and what admins set.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

    /// The badge colour for the state.
    pub fn tone(self) -> &'static str {
        match self {
            HostState::Ready => "ok",
            HostState::Unreachable => "bad",
            HostState::Cordoned | HostState::Draining => "warn",
            HostState::Pending => "muted",
        }
    }
}

/// A Docker host as Berth sees it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateHostInput {
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A container on a host.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<EventView>,
    pub next_before: Option<i64>,
}

// ---------------------------------------------------------------------------
// Services

/// How Berth tells a replica is healthy.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HealthProbe {
    /// `GET path` on the container port answers 2xx or 3xx (Berth asks from outside,
    /// through the published port, so the image needs no tools).
    Http { path: String },
    /// A command run inside the container exits 0 (Docker's HEALTHCHECK).
    Command { command: Vec<String> },
}

/// A health check and its timing, in milliseconds. Read through
/// [`HealthCheckInput`], so that a field Berth does not know is refused.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "HealthCheckInput")]
pub struct HealthCheck {
    #[serde(flatten)]
    pub probe: HealthProbe,
    #[serde(default = "defaults::health_interval")]
    pub interval_ms: u64,
    #[serde(default = "defaults::health_timeout")]
    pub timeout_ms: u64,
    /// Failures in a row before the replica counts as unhealthy.
    #[serde(default = "defaults::health_retries")]
    pub retries: u32,
    /// Failures in this first stretch after a start do not count.
    #[serde(default = "defaults::health_start_period")]
    pub start_period_ms: u64,
}

/// A health check as written: every field named, none unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckInput {
    kind: ProbeKind,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default = "defaults::health_interval")]
    interval_ms: u64,
    #[serde(default = "defaults::health_timeout")]
    timeout_ms: u64,
    #[serde(default = "defaults::health_retries")]
    retries: u32,
    #[serde(default = "defaults::health_start_period")]
    start_period_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProbeKind {
    Http,
    Command,
}

impl TryFrom<HealthCheckInput> for HealthCheck {
    type Error = String;

    fn try_from(h: HealthCheckInput) -> Result<Self, Self::Error> {
        let probe = match (h.kind, h.path, h.command) {
            (ProbeKind::Http, Some(path), None) => HealthProbe::Http { path },
            (ProbeKind::Command, None, Some(command)) => HealthProbe::Command { command },
            (ProbeKind::Http, _, _) => {
                return Err("an http health check has a path and no command".into())
            }
            (ProbeKind::Command, _, _) => {
                return Err("a command health check has a command and no path".into())
            }
        };
        Ok(HealthCheck {
            probe,
            interval_ms: h.interval_ms,
            timeout_ms: h.timeout_ms,
            retries: h.retries,
            start_period_ms: h.start_period_ms,
        })
    }
}

/// What Berth does when a replica's container stops.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Replace it, whatever its exit code.
    #[default]
    Always,
    /// Replace it when it exited with a code other than 0.
    OnFailure,
    /// Leave it stopped.
    Never,
}

/// How replicas are spread over the hosts that fit.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// As few replicas of the service per host as possible.
    #[default]
    Spread,
    /// Fill the fullest host that fits first.
    Binpack,
}

/// Where replicas may go.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Host label constraints: `zone=a`, `zone!=b`, `ssd` (has the label), `!gpu`
    /// (has not).
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub strategy: Strategy,
}

/// CPU in millicores and memory in bytes; 0 means none.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Set aside on the host for each replica (what placement counts).
    #[serde(default)]
    pub cpu_millis: u32,
    #[serde(default)]
    pub memory_bytes: u64,
    /// Hard limits Docker enforces; none when 0.
    #[serde(default)]
    pub cpu_limit_millis: u32,
    #[serde(default)]
    pub memory_limit_bytes: u64,
}

/// Whose a volume is: each replica's own, or one per host shared by the service's
/// replicas there.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeScope {
    /// Each slot has its own volume, and the slot stays on the host that holds it.
    #[default]
    PerReplica,
    /// One volume per host, mounted by every replica of the service there.
    Shared,
}

impl VolumeScope {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeScope::PerReplica => "per-replica",
            VolumeScope::Shared => "shared",
        }
    }
}

/// A volume a service declares.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Lowercase letters, digits and `-`; part of the Docker volume's name.
    pub name: String,
    /// Where it is mounted in the container: an absolute path.
    pub path: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub scope: VolumeScope,
    /// Docker's volume driver; `local` (with `options` such as `type`, `o` and
    /// `device`, an NFS or bind-backed volume can be declared).
    #[serde(default = "defaults::volume_driver")]
    pub driver: String,
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// A volume of Berth's on a host, as the volumes page and `GET /api/v1/volumes`
/// show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeView {
    pub host: String,
    pub host_id: i64,
    /// Docker's name: `berth.<service>.<volume>` or `berth.<service>.<volume>.<slot>`.
    pub name: String,
    /// The service it belongs to; `None` once that service is deleted.
    pub service: Option<String>,
    pub service_id: i64,
    /// The volume's name in the spec.
    pub volume: String,
    /// The slot it belongs to (per-replica volumes).
    pub slot: Option<u32>,
    pub scope: VolumeScope,
    pub driver: String,
    /// Where the current spec mounts it.
    pub path: Option<String>,
    /// Space used, from the engine (unknown for hosts reached over TLS).
    pub size_bytes: Option<i64>,
    /// When the engine made it (RFC 3339).
    pub created_at: String,
    /// The replica that uses it now, e.g. `replica 2 (3f2a9c1b2d4e)`.
    pub used_by: Option<String>,
    /// Why nothing uses it, when nothing does.
    pub note: Option<String>,
    /// Whether it may be deleted now: nothing uses it and no replica will.
    pub deletable: bool,
    /// Its host does not answer and the slot waits for it: an admin may move the
    /// replica elsewhere (its data stays behind).
    #[serde(default)]
    pub stranded: bool,
}

/// In which order a slot's old replica is replaced.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// The new replica starts and turns healthy before the old one stops.
    #[default]
    StartFirst,
    /// The old replica stops first (one writer at a time, for per-replica volumes).
    StopFirst,
}

impl UpdateOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateOrder::StartFirst => "start-first",
            UpdateOrder::StopFirst => "stop-first",
        }
    }
}

/// What a rollout does when new replicas fail.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Go back to the previous revision, health-gated.
    #[default]
    Rollback,
    /// Stop where it is and wait for a person.
    Pause,
}

impl FailureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
        }
    }
}

/// How a new revision replaces the replicas of the old one. Not part of what makes
/// replicas differ: changing only the policy replaces no replica.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// Extra replicas allowed during a rollout (start-first).
    #[serde(default = "defaults::max_surge")]
    pub max_surge: u32,
    /// Replicas that may be missing during a rollout (stop-first).
    #[serde(default)]
    pub max_unavailable: u32,
    /// Replicas replaced together; the next batch starts when this one is healthy
    /// (and after the monitor window and the delay). Without it, replicas are
    /// replaced one after another within the surge or unavailable allowance.
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Wait between batches, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Unset: start-first, or stop-first for a service with per-replica volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<UpdateOrder>,
    /// How long new replicas are watched after each batch before the next, in
    /// milliseconds; a failure in it fails the rollout.
    #[serde(default)]
    pub monitor_ms: u64,
    #[serde(default)]
    pub failure_action: FailureAction,
    /// How long a new replica may take to turn healthy, in milliseconds.
    #[serde(default = "defaults::deadline")]
    pub deadline_ms: u64,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        UpdatePolicy {
            max_surge: defaults::max_surge(),
            max_unavailable: 0,
            batch_size: None,
            delay_ms: 0,
            order: None,
            monitor_ms: 0,
            failure_action: FailureAction::Rollback,
            deadline_ms: defaults::deadline(),
        }
    }
}

impl UpdatePolicy {
    /// Slots replaced at once, in the given (effective) order.
    pub fn parallelism(&self, order: UpdateOrder) -> u32 {
        match (self.batch_size, order) {
            (Some(b), _) => b.max(1),
            (None, UpdateOrder::StartFirst) => self.max_surge.max(1),
            (None, UpdateOrder::StopFirst) => self.max_unavailable.max(1),
        }
    }

    /// Whether replicas change in batches that each wait for the one before (a batch
    /// size, a delay or a monitor window), rather than as fast as the surge allows.
    pub fn batched(&self) -> bool {
        self.batch_size.is_some() || self.delay_ms > 0 || self.monitor_ms > 0
    }

    /// When the next batch may begin, for a batch that turned healthy at `done_at`:
    /// after its monitor window and the delay.
    pub fn gate_after(&self, done_at: i64) -> i64 {
        done_at.saturating_add(self.monitor_ms.saturating_add(self.delay_ms) as i64)
    }
}

/// A secret of the service's team that an environment variable takes its value
/// from. Berth writes down the version a revision runs with (the current one when
/// it is deployed), so that changing the secret is a new revision and a rollback
/// brings back the value it had.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
    /// Filled in by Berth when left out: the secret's version now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// In place of a value the caller may not read (viewers and read-only tokens do not
/// see environment values): `{"hidden": true}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HiddenValue {
    pub hidden: bool,
}

/// An environment variable's value.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// Written in the spec (shown to those who may change the service).
    Plain(String),
    /// Taken from a team secret when the container is made; never shown.
    Secret(SecretRef),
    /// Hidden from this caller; never accepted in a spec.
    Hidden(HiddenValue),
}

impl EnvValue {
    pub fn plain(s: impl Into<String>) -> EnvValue {
        EnvValue::Plain(s.into())
    }

    /// The secret it names, if it names one.
    pub fn secret(&self) -> Option<&SecretRef> {
        match self {
            EnvValue::Secret(r) => Some(r),
            _ => None,
        }
    }

    /// How it reads where values are not shown: `secret db-password v3`, or
    /// `(a value)`.
    pub fn describe(&self) -> String {
        match self {
            EnvValue::Plain(_) | EnvValue::Hidden(_) => "(a value)".into(),
            EnvValue::Secret(r) => match r.version {
                Some(v) => format!("secret {} v{v}", r.secret),
                None => format!("secret {}", r.secret),
            },
        }
    }
}

impl From<&str> for EnvValue {
    fn from(s: &str) -> Self {
        EnvValue::Plain(s.to_string())
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The object forms, every field named.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Object {
            #[serde(default)]
            secret: Option<String>,
            #[serde(default)]
            version: Option<i64>,
            #[serde(default)]
            hidden: Option<bool>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvValue;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, or {\"secret\": \"name\"}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EnvValue, A::Error> {
                let o = Object::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                match o {
                    Object {
                        secret: Some(secret),
                        version,
                        hidden: None,
                    } => Ok(EnvValue::Secret(SecretRef { secret, version })),
                    Object {
                        secret: None,
                        version: None,
                        hidden: Some(hidden),
                    } => Ok(EnvValue::Hidden(HiddenValue { hidden })),
                    _ => Err(serde::de::Error::custom(
                        "an environment value is a string or {\"secret\": \"name\"}",
                    )),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Everything about a service's replicas that makes a revision: a change to any of
/// it is a new revision. The replica count is not part of it (scaling is not a
/// rollout).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub image: String,
    /// Replaces the image's entrypoint when given.
    #[serde(default)]
    pub command: Vec<String>,
    /// Replaces the image's default arguments when given.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables: a value, or `{"secret": "name"}` for a secret of the
    /// service's team (resolved only when a container is made).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, EnvValue>,
    /// The container port to publish (and to route and health-check).
    #[serde(default)]
    pub port: Option<u16>,
    /// A fixed host port; without it Docker picks a free one. A fixed port allows one
    /// replica per host.
    #[serde(default)]
    pub host_port: Option<u16>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub health: Option<HealthCheck>,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub update: UpdatePolicy,
    /// Storage mounted into every replica. Left out of the JSON when empty, so that
    /// specs from before volumes keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
}

impl ServiceSpec {
    /// The secrets its environment names, by variable.
    pub fn secret_refs(&self) -> impl Iterator<Item = (&String, &SecretRef)> {
        self.env
            .iter()
            .filter_map(|(k, v)| v.secret().map(|r| (k, r)))
    }

    /// The spec with every written environment value hidden (for callers who may
    /// read the service but not change it).
    pub fn with_values_hidden(&self) -> ServiceSpec {
        let mut spec = self.clone();
        for v in spec.env.values_mut() {
            if let EnvValue::Plain(_) = v {
                *v = EnvValue::Hidden(HiddenValue { hidden: true });
            }
        }
        spec
    }

    /// Whether a replica has storage of its own (and so a home host).
    pub fn has_per_replica_volumes(&self) -> bool {
        self.volumes
            .iter()
            .any(|v| v.scope == VolumeScope::PerReplica)
    }

    /// The order replicas are replaced in: as set, else stop-first when replicas
    /// have volumes of their own (one writer at a time), else start-first.
    pub fn update_order(&self) -> UpdateOrder {
        self.update
            .order
            .unwrap_or(if self.has_per_replica_volumes() {
                UpdateOrder::StopFirst
            } else {
                UpdateOrder::StartFirst
            })
    }

    /// A short, stable fingerprint of the spec, written on every replica so that a
    /// replica of an outdated spec is recognised.
    ///
    /// FNV-1a over the spec's canonical JSON: keys sorted at every level, and keys
    /// whose value is `null`, `[]` or `{}` left out, so that neither the order of
    /// the fields in this file nor a new optional field (at its default) changes
    /// any hash. The update policy says how replicas change, not what they are: it
    /// is left out too. A new field whose default is not empty must skip
    /// serialising its default for the same reason.
    pub fn hash(&self) -> String {
        let mut replica = self.clone();
        replica.update = UpdatePolicy::default();
        // A spec is plain data (strings, numbers, string-keyed maps): it always
        // serialises.
        let value = serde_json::to_value(&replica).expect("a spec always serialises");
        canonical_hash(&value)
    }

    /// Whether replicas of both specs are the same (they differ at most in how
    /// replicas change), so that replicas of one count as current for the other.
    pub fn same_replicas(&self, other: &ServiceSpec) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.update = UpdatePolicy::default();
        b.update = UpdatePolicy::default();
        a == b
    }
}

/// FNV-1a over `value` written canonically (see [`ServiceSpec::hash`]).
pub fn canonical_hash(value: &serde_json::Value) -> String {
    let mut text = String::new();
    write_canonical(value, &mut text);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !empty(v))
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Defaults of the spec's optional fields.
pub mod defaults {
    pub fn volume_driver() -> String {
        "local".into()
    }
    pub fn health_interval() -> u64 {
        2_000
    }
    pub fn health_timeout() -> u64 {
        1_000
    }
    pub fn health_retries() -> u32 {
        3
    }
    pub fn health_start_period() -> u64 {
        10_000
    }
    pub fn max_surge() -> u32 {
        1
    }
    pub fn deadline() -> u64 {
        60_000
    }
}

/// `POST /api/v1/services`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployInput {
    pub spec: ServiceSpec,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /api/v1/services/{name}/scale`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleInput {
    pub replicas: u32,
}

/// A replica's health, as the last checks found it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

    pub fn tone(self) -> &'static str {
        match self {
            Health::Healthy => "ok",
            Health::Unhealthy => "bad",
            Health::Starting => "warn",
            Health::None => "muted",
        }
    }
}

/// One replica of a service, as observed (or about to be: a replica whose image is
/// being pulled shows with state `pulling` and no container yet).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    pub fn as_str(self) -> &'static str {
        match self {
            ServicePhase::Running => "running",
            ServicePhase::Progressing => "progressing",
            ServicePhase::Degraded => "degraded",
            ServicePhase::Stopped => "stopped",
        }
    }

    pub fn tone(self) -> &'static str {
        match self {
            ServicePhase::Running => "ok",
            ServicePhase::Progressing => "warn",
            ServicePhase::Degraded => "bad",
            ServicePhase::Stopped => "muted",
        }
    }
}

/// A service and how it stands.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceDetail {
    pub service: ServiceView,
    pub events: Vec<EventView>,
    pub revisions: Vec<RevisionView>,
    /// Rollouts, newest first.
    pub rollouts: Vec<RolloutView>,
}

/// The log of one replica.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLogs {
    pub slot: u32,
    pub host: String,
    pub container_id: String,
    /// The last lines, oldest first.
    pub lines: Vec<String>,
}

/// One revision in a service's history.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionView {
    pub number: i64,
    pub spec: ServiceSpec,
    pub author: String,
    pub message: String,
    pub created_at_ms: i64,
}

/// CPU and memory of one replica, now.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

// ---------------------------------------------------------------------------
// The proxy

/// How the proxy spreads a route's requests over the replicas.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// To the replica with the fewest requests in flight.
    #[default]
    LeastInFlight,
    /// To each replica in turn.
    RoundRobin,
}

impl Balance {
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::LeastInFlight => "least_in_flight",
            Balance::RoundRobin => "round_robin",
        }
    }
}

fn root() -> String {
    "/".into()
}

/// A way into a service through Berth's proxy. Every service with a port is also
/// reachable as `<service>.localhost` without one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `shop.example.com`, `*.example.com`, or none for any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Only paths under this prefix (`/api`); `/` for all.
    #[serde(default = "root")]
    pub path_prefix: String,
    /// Remove the prefix before passing the request on (`/api/orders` -> `/orders`).
    #[serde(default)]
    pub strip_prefix: bool,
}

/// How the proxy reaches a service: its routes and balancing. Not part of a
/// revision: changing it moves no replica.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    pub balance: Balance,
    /// Reachable through the proxy at all: `false` keeps the service off it (no
    /// default route `<service>.<domain>`, no routes).
    #[serde(default = "yes")]
    pub expose: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            routes: Vec::new(),
            balance: Balance::default(),
            expose: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// A replica as the proxy sees it, with what went through it lately.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    pub slot: u32,
    pub host: String,
    /// `address:port` the proxy connects to.
    pub address: String,
    pub container_id: String,
    /// `serving`, or `ejected` for a while after it refused connections.
    pub state: String,
    pub in_flight: u64,
    pub requests: u64,
    pub errors: u64,
    /// Over the last 10 seconds.
    pub requests_per_second: f64,
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One route of the proxy and the replicas behind it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyRouteView {
    pub service: String,
    /// `shop.localhost`, `*.example.com`, or `*` for any host.
    pub host: String,
    pub path_prefix: String,
    pub strip_prefix: bool,
    pub balance: Balance,
    pub backends: Vec<BackendView>,
}

/// The proxy's table and counters.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyView {
    /// Where the proxy listens, when it does.
    pub listen: Option<String>,
    /// Every exposed service is `<service>.<domain>`.
    #[serde(default)]
    pub domain: String,
    pub routes: Vec<ProxyRouteView>,
    /// Requests for a host no route takes (404).
    pub unknown_host: u64,
    /// Requests for a service without a healthy replica (503).
    pub no_backend: u64,
    /// Replicas that did not answer in time (504).
    pub timeouts: u64,
    /// Replicas that could not be reached at all (502).
    pub bad_gateway: u64,
}

/// `PUT /api/v1/services/{name}/proxy`
pub type ProxyInput = ProxyConfig;

// ---------------------------------------------------------------------------
// Rollouts

/// Why a rollout runs.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutKind {
    /// A new revision was deployed.
    Deploy,
    /// Someone rolled back to an earlier revision (or aborted a rollout).
    Rollback,
    /// A rollout failed and Berth went back by itself.
    AutoRollback,
}

impl RolloutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutKind::Deploy => "deploy",
            RolloutKind::Rollback => "rollback",
            RolloutKind::AutoRollback => "auto_rollback",
        }
    }

    pub fn parse(s: &str) -> Option<RolloutKind> {
        [
            RolloutKind::Deploy,
            RolloutKind::Rollback,
            RolloutKind::AutoRollback,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a rollout is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Running,
    Paused,
    Succeeded,
    /// Its new replicas failed; Berth went back to the previous revision.
    RolledBack,
    /// Stopped by a person, or replaced by a newer deploy or rollback.
    Aborted,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Succeeded => "succeeded",
            RolloutState::RolledBack => "rolled_back",
            RolloutState::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<RolloutState> {
        [
            RolloutState::Running,
            RolloutState::Paused,
            RolloutState::Succeeded,
            RolloutState::RolledBack,
            RolloutState::Aborted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn active(self) -> bool {
        matches!(self, RolloutState::Running | RolloutState::Paused)
    }

    pub fn tone(self) -> &'static str {
        match self {
            RolloutState::Running => "warn",
            RolloutState::Paused => "warn",
            RolloutState::Succeeded => "ok",
            RolloutState::RolledBack => "bad",
            RolloutState::Aborted => "muted",
        }
    }
}

/// A rollout, and how far it got.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: i64,
    pub service: String,
    pub from_revision: i64,
    pub to_revision: i64,
    pub kind: RolloutKind,
    pub state: RolloutState,
    /// Why it ended or paused ("rolled back: 2 of 2 new replicas failed …").
    pub reason: String,
    pub author: String,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// Replicas wanted, of those on the new revision and healthy, and replicas of
    /// other revisions still there.
    pub wanted: u32,
    pub new_ready: u32,
    pub old_remaining: u32,
    /// What it does now, in words.
    pub phase: String,
    /// Why it runs: the message of the revision it goes to ("secret db-password
    /// changed: version 3 → 4").
    #[serde(default)]
    pub message: String,
}

/// `POST /api/v1/services/{name}/rollback`
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    /// The revision to go back to; the one before the current without it.
    #[serde(default)]
    pub revision: Option<i64>,
}

/// What differs between two revisions, field by field.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    /// `image: demo:v1 → demo:v2`, one line per change; empty when the same.
    pub changes: Vec<String>,
}
