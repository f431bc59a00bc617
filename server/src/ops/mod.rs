//! Use cases shared by the REST API and the server functions, so both give the same
//! answers, the same errors and the same audit entries. Each takes the state and a
//! [`Ctx`] (who is calling, from where) and checks the policy itself.

pub mod accounts;
pub mod audit;
pub mod certs;
pub mod events;
pub mod history;
pub mod hosts;
pub mod pools;
pub mod proxy;
pub mod secrets;
pub mod services;
pub mod stacks;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod volume_classes;
pub mod volumes;
pub mod whatif;

use app::errors::AppError;
use axum::http::HeaderMap;
use domain::wire::AuditResult;

use crate::auth::policy::{self, Action};
use crate::auth::principal::Principal;
use crate::auth::{self, AuthError};
use crate::clock;
use crate::state::AppState;
use crate::store::{NewAudit, StoreError};

/// A use case's failure, already in words for a person; each kind has a stable
/// code and an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Unauthenticated(String),
    /// A login with a wrong user name or password: 401, audited as failed.
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// The request was fine, but what it names refused (a host that does not
    /// answer, a TLS handshake that fails): 422 with a code of its own.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// Something inside Berth failed; the details go to the log, not the client.
    #[error("internal error; the server log has the details")]
    Internal,
}

impl OpsError {
    pub fn code(&self) -> &'static str {
        match self {
            OpsError::Unauthenticated(_) | OpsError::BadCredentials(_) => "unauthenticated",
            OpsError::Forbidden(_) => "forbidden",
            OpsError::NotFound(_) => "not_found",
            OpsError::Conflict(_) => "conflict",
            OpsError::Invalid(_) => "invalid",
            OpsError::RateLimited { .. } => "rate_limited",
            OpsError::Refused { code, .. } => code,
            OpsError::Internal => "internal",
        }
    }

    fn audit_result(&self) -> AuditResult {
        match self {
            OpsError::Unauthenticated(_)
            | OpsError::Forbidden(_)
            | OpsError::RateLimited { .. } => AuditResult::Denied,
            _ => AuditResult::Failed,
        }
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store");
        OpsError::Internal
    }
}

impl From<crate::auth::password::PasswordError> for OpsError {
    fn from(e: crate::auth::password::PasswordError) -> Self {
        tracing::error!(error = %e, "password hashing");
        OpsError::Internal
    }
}

impl From<OpsError> for AppError {
    fn from(e: OpsError) -> Self {
        let retry_after_secs = match &e {
            OpsError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        AppError {
            code: e.code().to_string(),
            message: e.to_string(),
            retry_after_secs,
        }
    }
}

/// Who is calling and from where.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Option<Principal>,
    pub client_addr: String,
    pub user_agent: String,
    /// The request came over https: cookies must be `Secure`.
    pub https: bool,
    /// Berth itself (start-up, the command line) rather than a request.
    pub system: bool,
}

impl Ctx {
    /// Reads the caller from request headers: a bearer token or the session cookie.
    /// A token that is not valid is an error even where no login is needed.
    pub async fn from_request(
        state: &AppState,
        headers: &HeaderMap,
        client_addr: String,
    ) -> Result<Ctx, OpsError> {
        let principal = auth::authenticate(&state.store, headers, clock::now_ms())
            .await
            .map_err(|e| match e {
                AuthError::Store(e) => OpsError::from(e),
                other => OpsError::Unauthenticated(other.to_string()),
            })?;
        let user_agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        Ok(Ctx {
            principal,
            client_addr,
            user_agent,
            https: auth::cookie::is_https(headers),
            system: false,
        })
    }

    /// A caller with no credentials.
    pub fn anonymous(client_addr: &str) -> Ctx {
        Ctx {
            principal: None,
            client_addr: client_addr.to_string(),
            user_agent: String::new(),
            https: false,
            system: false,
        }
    }

    /// Berth acting on its own (start-up, the command line); audited as `system`.
    pub fn system(client_addr: &str) -> Ctx {
        Ctx {
            system: true,
            ..Ctx::anonymous(client_addr)
        }
    }

    /// The principal, or 401.
    pub fn principal(&self) -> Result<&Principal, OpsError> {
        self.principal.as_ref().ok_or_else(|| {
            OpsError::Unauthenticated(
                "log in first, or send an API token as `Authorization: Bearer …`".into(),
            )
        })
    }

    /// The principal, if it may do `action`; 401 or 403 otherwise.
    pub fn allowed(&self, action: Action) -> Result<&Principal, OpsError> {
        let p = self.principal()?;
        policy::authorize(p, action).map_err(|d| OpsError::Forbidden(d.0))?;
        Ok(p)
    }

    fn actor(&self) -> (Option<i64>, String) {
        match &self.principal {
            Some(p) => (Some(p.user_id), p.username.clone()),
            None if self.system => (None, "system".into()),
            None => (None, "anonymous".into()),
        }
    }
}

/// Records how an action ended in the audit log. A failure to record is logged,
/// never shown to the caller: the action itself already happened (or not).
pub(crate) async fn audit<T>(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    target: &str,
    outcome: &Result<T, OpsError>,
) {
    let (actor_id, actor) = ctx.actor();
    audit_as(state, ctx, actor_id, &actor, action, target, outcome).await;
}

/// Runs a write and records it in the audit log whatever its outcome: the one way
/// a use case audits what it does.
pub(crate) async fn audited<T>(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    target: &str,
    work: impl std::future::Future<Output = Result<T, OpsError>>,
) -> Result<T, OpsError> {
    let outcome = work.await;
    audit(state, ctx, action, target, &outcome).await;
    outcome
}

/// [`audit`] with the actor named explicitly (a login names who tried).
pub(crate) async fn audit_as<T>(
    state: &AppState,
    ctx: &Ctx,
    actor_id: Option<i64>,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &Result<T, OpsError>,
) {
    let (result, detail) = result_of(outcome, "");
    record(state, ctx, actor_id, actor, action, target, result, &detail).await;
}

/// [`audited`] for a write whose success is worth a line too (a stack's apply
/// lists its changes): the work answers its value and that line.
pub(crate) async fn audited_detail<T>(
    state: &AppState,
    ctx: &Ctx,
    action: &str,
    target: &str,
    work: impl std::future::Future<Output = Result<(T, String), OpsError>>,
) -> Result<T, OpsError> {
    let outcome = work.await;
    let (actor_id, actor) = ctx.actor();
    let line = outcome.as_ref().map_or("", |(_, line)| line.as_str());
    let (result, detail) = result_of(&outcome, line);
    record(
        state, ctx, actor_id, &actor, action, target, result, &detail,
    )
    .await;
    outcome.map(|(value, _)| value)
}

/// How a write ended, for its audit entry: `ok` with `line`, or the refusal in
/// words.
fn result_of<T>(outcome: &Result<T, OpsError>, line: &str) -> (AuditResult, String) {
    match outcome {
        Ok(_) => (AuditResult::Ok, line.to_string()),
        Err(e) => (e.audit_result(), e.to_string()),
    }
}

/// Every team's name, by id (views name the teams of what they list).
pub(crate) async fn team_names(
    state: &AppState,
) -> Result<std::collections::HashMap<i64, String>, OpsError> {
    Ok(state
        .store
        .list_teams()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    ctx: &Ctx,
    actor_id: Option<i64>,
    actor: &str,
    action: &str,
    target: &str,
    result: AuditResult,
    detail: &str,
) {
    // What a caller typed (a name in the target, an echo in a refusal) is cut
    // short: nobody writes megabytes into the log by being refused.
    let (target, detail, actor) = (clip(target, 200), clip(detail, 1000), clip(actor, 64));
    let entry = NewAudit {
        at: clock::now_ms(),
        actor_id,
        actor: &actor,
        action,
        target: &target,
        client_addr: &ctx.client_addr,
        result,
        detail: &detail,
    };
    if let Err(e) = state.store.record_audit(entry).await {
        tracing::error!(error = %e, action, target, "cannot record an audit entry");
    }
}

/// At most `max` bytes of `s` (on a character boundary), with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn clipping() {
        assert_eq!(super::clip("short", 10), "short");
        assert_eq!(super::clip("abcdef", 3), "abc…");
        assert_eq!(super::clip("ééé", 3), "é…");
    }
}
