//! Logging in and out, the first-run setup, the caller's own account: who they are,
//! their password and their sessions.

use std::sync::atomic::Ordering;

use domain::wire::{ChangePasswordInput, LoginInput, Me, SessionView, SetupInput, SetupState};
use tokio::time::Instant;

use super::{audit, audit_as, audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::{Principal, Via};
use crate::auth::{cookie, password, secret};
use crate::clock;
use crate::state::AppState;
use crate::store::UserRow;
use domain::validate;

/// A new session: who logged in and the `Set-Cookie` value that carries it.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub me: Me,
    pub set_cookie: String,
}

/// Whether the first admin has yet to be created.
pub async fn setup_state(state: &AppState) -> Result<SetupState, OpsError> {
    Ok(SetupState {
        needed: !setup_done(state).await?,
    })
}

/// True once any user exists (cached after the first yes).
pub async fn setup_done(state: &AppState) -> Result<bool, OpsError> {
    if state.auth.setup_done.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let done = state.store.has_users().await?;
    if done {
        state.auth.setup_done.store(true, Ordering::Relaxed);
    }
    Ok(done)
}

/// Creates the first admin, only while no user exists, and logs them in. Once a
/// user exists the answer is 409 at once: no password is hashed for nothing.
pub async fn setup(
    state: &AppState,
    ctx: &Ctx,
    input: SetupInput,
) -> Result<LoginOutcome, OpsError> {
    let name_ok = validate::username(&input.username).is_ok();
    let outcome = async {
        if setup_done(state).await? {
            return Err(OpsError::Conflict(
                "the first admin exists already; log in instead".into(),
            ));
        }
        validate::username(&input.username).map_err(OpsError::Invalid)?;
        password::check_rules(&input.password).map_err(OpsError::Invalid)?;
        let hash = password::hash(input.password.clone()).await?;
        let id = state
            .store
            .create_first_admin(&input.username, &hash, clock::now_ms())
            .await?
            .ok_or_else(|| {
                OpsError::Conflict("the first admin exists already; log in instead".into())
            })?;
        state.auth.setup_done.store(true, Ordering::Relaxed);
        let user = state
            .store
            .user_by_id(id)
            .await?
            .ok_or(OpsError::Internal)?;
        start_session(state, ctx, &user).await
    }
    .await;
    let actor_id = outcome.as_ref().ok().map(|o| o.me.id);
    let name = audited_name(&input.username, name_ok);
    audit_as(
        state,
        ctx,
        actor_id,
        &name,
        "auth.setup",
        &format!("user:{name}"),
        &outcome,
    )
    .await;
    outcome
}

/// A user name as the audit log may hold it: a valid one as it is; anything else
/// (too long, strange characters) only as `(invalid user name)`, so that a
/// stranger cannot write what they like into the log.
fn audited_name(name: &str, valid: bool) -> String {
    if valid {
        name.to_string()
    } else {
        "(invalid user name)".into()
    }
}

/// Creates the first admin at start-up (from `BERTH_ADMIN_PASSWORD`) when no user
/// exists; true when it did.
pub async fn bootstrap_admin(state: &AppState, username: &str, pw: &str) -> Result<bool, OpsError> {
    validate::username(username).map_err(OpsError::Invalid)?;
    password::check_rules(pw).map_err(OpsError::Invalid)?;
    if setup_done(state).await? {
        return Ok(false);
    }
    let hash = password::hash(pw.to_string()).await?;
    let created = state
        .store
        .create_first_admin(username, &hash, clock::now_ms())
        .await?
        .is_some();
    if created {
        state.auth.setup_done.store(true, Ordering::Relaxed);
        let outcome: Result<(), OpsError> = Ok(());
        audit(
            state,
            &Ctx::system("local"),
            "user.bootstrap",
            &format!("user:{username}"),
            &outcome,
        )
        .await;
    }
    Ok(created)
}

/// Checks a username and password, with failed attempts limited per account and
/// per client address; on success a new session (any session the request came with
/// ends: the session id changes at every login).
pub async fn login(
    state: &AppState,
    ctx: &Ctx,
    input: LoginInput,
) -> Result<LoginOutcome, OpsError> {
    // A name that cannot be a user's is refused before anything is counted,
    // verified or written under it.
    let name_ok = validate::username(&input.username).is_ok();
    let keys = [
        format!("user:{}", input.username.to_lowercase()),
        format!("addr:{}", ctx.client_addr),
    ];
    let outcome = async {
        if input.username.is_empty() || input.password.is_empty() {
            return Err(OpsError::Invalid("enter a user name and a password".into()));
        }
        if !name_ok || input.password.len() > validate::PASSWORD_MAX * 4 {
            return Err(OpsError::BadCredentials(
                "wrong user name or password".into(),
            ));
        }
        // Counted before the password is checked: guesses sent in parallel
        // cannot all pass while the first ones are being verified.
        let now = count_attempt(state, &keys, "too many failed logins")?;
        let user = state.store.user_by_name(&input.username).await?;
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| password::DUMMY_HASH.to_string());
        let matches = password::verify(input.password.clone(), hash).await?;
        let Some(user) = user.filter(|_| matches) else {
            return Err(OpsError::BadCredentials(
                "wrong user name or password".into(),
            ));
        };
        {
            let mut limiter = state.auth.limiter.lock().map_err(|_| OpsError::Internal)?;
            limiter.forgive(&keys, now);
            limiter.clear(&keys[0]);
        }
        if let Some(old) = ctx.principal.as_ref().and_then(Principal::session_id) {
            let owner = ctx
                .principal
                .as_ref()
                .map(|p| p.user_id)
                .unwrap_or_default();
            state.store.delete_session(owner, old).await?;
        }
        start_session(state, ctx, &user).await
    }
    .await;
    let actor_id = outcome.as_ref().ok().map(|o| o.me.id);
    let name = audited_name(&input.username, name_ok);
    audit_as(
        state,
        ctx,
        actor_id,
        &name,
        "auth.login",
        &format!("user:{name}"),
        &outcome,
    )
    .await;
    outcome
}

async fn start_session(
    state: &AppState,
    ctx: &Ctx,
    user: &UserRow,
) -> Result<LoginOutcome, OpsError> {
    let secret = secret::generate("");
    let now = clock::now_ms();
    let ttl = state.auth.session_ttl;
    let session_id = state
        .store
        .create_session(
            &secret::digest(&secret),
            user.id,
            now,
            now + ttl.as_millis() as i64,
            &ctx.client_addr,
            &ctx.user_agent,
        )
        .await?;
    let principal = Principal {
        user_id: user.id,
        username: user.username.clone(),
        role: user.role,
        teams: state.store.teams_of(user.id).await?,
        via: Via::Session { session_id },
    };
    Ok(LoginOutcome {
        me: principal.me(),
        set_cookie: cookie::set_session(&secret, ttl, ctx.https),
    })
}

/// Ends the caller's session; the answer is the `Set-Cookie` that clears it.
pub async fn logout(state: &AppState, ctx: &Ctx) -> Result<String, OpsError> {
    let outcome = async {
        let p = ctx.principal()?;
        let session = p.session_id().ok_or_else(|| {
            OpsError::Invalid(
                "this request uses an API token, not a session; revoke the token instead".into(),
            )
        })?;
        state.store.delete_session(p.user_id, session).await?;
        state.auth.streams.revoked(Some(p.user_id));
        Ok(cookie::clear_session(ctx.https))
    }
    .await;
    audit(state, ctx, "auth.logout", &target_self(ctx), &outcome).await;
    outcome
}

/// The caller.
pub fn me(ctx: &Ctx) -> Result<Me, OpsError> {
    Ok(ctx.principal()?.me())
}

/// Changes the caller's password; their other sessions end.
pub async fn change_password(
    state: &AppState,
    ctx: &Ctx,
    input: ChangePasswordInput,
) -> Result<(), OpsError> {
    audited(state, ctx, "user.password", &target_self(ctx), async {
        let p = ctx.allowed(Action::ManageOwnAccount)?;
        let user = state
            .store
            .user_by_id(p.user_id)
            .await?
            .ok_or_else(|| OpsError::NotFound("your account no longer exists".into()))?;
        // Guessing the current password here counts as guessing it at login.
        let keys = [
            format!("user:{}", user.username.to_lowercase()),
            format!("addr:{}", ctx.client_addr),
        ];
        let now = count_attempt(state, &keys, "too many wrong passwords")?;
        if !password::verify(input.current_password.clone(), user.password_hash).await? {
            return Err(OpsError::Invalid(
                "the current password is not right".into(),
            ));
        }
        state
            .auth
            .limiter
            .lock()
            .map_err(|_| OpsError::Internal)?
            .forgive(&keys, now);
        password::check_rules(&input.new_password).map_err(OpsError::Invalid)?;
        let hash = password::hash(input.new_password.clone()).await?;
        state
            .store
            .set_user_password(p.user_id, &hash, p.session_id(), clock::now_ms())
            .await?;
        state.auth.streams.revoked(Some(p.user_id));
        Ok(())
    })
    .await
}

/// The caller's live sessions.
pub async fn sessions(state: &AppState, ctx: &Ctx) -> Result<Vec<SessionView>, OpsError> {
    let p = ctx.principal()?;
    let current = p.session_id();
    Ok(state
        .store
        .list_sessions(p.user_id, clock::now_ms())
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            created_at_ms: s.created_at,
            expires_at_ms: s.expires_at,
            last_seen_at_ms: s.last_seen_at,
            client_addr: s.client_addr,
            user_agent: s.user_agent,
            current: Some(s.id) == current,
        })
        .collect())
}

/// Ends one of the caller's sessions.
pub async fn revoke_session(state: &AppState, ctx: &Ctx, id: i64) -> Result<(), OpsError> {
    audited(
        state,
        ctx,
        "session.revoke",
        &format!("session:{id}"),
        async {
            let p = ctx.allowed(Action::ManageOwnAccount)?;
            if !state.store.delete_session(p.user_id, id).await? {
                return Err(OpsError::NotFound(format!("you have no session {id}")));
            }
            state.auth.streams.revoked(Some(p.user_id));
            Ok(())
        },
    )
    .await
}

fn target_self(ctx: &Ctx) -> String {
    match &ctx.principal {
        Some(p) => format!("user:{}", p.username),
        None => "user:?".into(),
    }
}

/// Counts one password attempt against `keys` before it is checked, so that
/// guesses sent in parallel cannot all pass while the first are verified;
/// refuses with `too_many` (and when to come back) once a key is over its limit.
/// Returns the instant it was counted at: `forgive` takes back that very one.
fn count_attempt(state: &AppState, keys: &[String], too_many: &str) -> Result<Instant, OpsError> {
    let now = Instant::now();
    let limited = state
        .auth
        .limiter
        .lock()
        .map_err(|_| OpsError::Internal)?
        .attempt(keys, now);
    limited.map(|()| now).map_err(|wait| {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        OpsError::RateLimited {
            message: format!("{too_many}; try again in {secs} s"),
            retry_after_secs: secs,
        }
    })
}
