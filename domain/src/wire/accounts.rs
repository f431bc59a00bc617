//! Users, teams, their secrets and domains, tokens, sessions, the audit log.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// A cluster-wide role.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRef {
    pub id: i64,
    pub name: String,
    pub role: TeamRole,
}

/// How a request proved who it is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Session,
    Token,
}

/// The caller: `GET /api/v1/me`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// `GET /api/v1/setup`: whether the first admin still has to be created.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupState {
    pub needed: bool,
}

/// `POST /api/v1/setup`: the first admin.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInput {
    pub username: String,
    pub password: String,
}

/// `PUT /api/v1/me/password`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

/// A user, as admins see them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserInput {
    pub username: String,
    pub password: String,
    pub role: UserRole,
}

/// `PATCH /api/v1/users/{id}`: what is given changes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateUserInput {
    #[serde(default)]
    pub role: Option<UserRole>,
    /// A new password; the user's sessions end.
    #[serde(default)]
    pub password: Option<String>,
}

/// A team with its members and domains.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDomainInput {
    /// `shop.example.com` (that name) or `*.shop.example.com` (every name under it).
    pub domain: String,
}

/// A team secret, without its value (values are never shown back).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSet {
    pub secret: SecretView,
    /// Services rolled out to the new version, by name.
    pub rolled_out: Vec<String>,
    /// Services that use it and were not rolled out, each with why.
    #[serde(default)]
    pub not_rolled_out: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: i64,
    pub username: String,
    pub role: TeamRole,
}

/// `POST /api/v1/teams`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTeamInput {
    pub name: String,
}

/// `PUT /api/v1/teams/{id}/members/{user_id}`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMemberInput {
    pub role: TeamRole,
}

/// An API token, without its secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// A login session of the caller.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; none at the end.
    pub next_before: Option<i64>,
}
