//! Users, as cluster admins manage them.

use domain::wire::{CreateUserInput, UpdateUserInput, UserRole, UserView};

use super::{audit, audited, Ctx, OpsError};
use crate::auth::password;
use crate::auth::policy::Action;
use crate::clock;
use crate::state::AppState;
use crate::store::UserRow;
use domain::validate;

async fn view(state: &AppState, u: UserRow) -> Result<UserView, OpsError> {
    Ok(UserView {
        teams: state.store.teams_of(u.id).await?,
        active_sessions: state.store.count_sessions(u.id, clock::now_ms()).await?,
        id: u.id,
        username: u.username,
        role: u.role,
        created_at_ms: u.created_at,
    })
}

async fn find(state: &AppState, id: i64) -> Result<UserRow, OpsError> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("there is no user {id}")))
}

/// Every user.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<UserView>, OpsError> {
    ctx.allowed(Action::ManageUsers)?;
    let mut out = Vec::new();
    for u in state.store.list_users().await? {
        out.push(view(state, u).await?);
    }
    Ok(out)
}

/// One user.
pub async fn get(state: &AppState, ctx: &Ctx, id: i64) -> Result<UserView, OpsError> {
    ctx.allowed(Action::ManageUsers)?;
    let u = find(state, id).await?;
    view(state, u).await
}

pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: CreateUserInput,
) -> Result<UserView, OpsError> {
    if let Err(e) = ctx.allowed(Action::ManageUsers) {
        let outcome: Result<UserView, OpsError> = Err(e);
        audit(
            state,
            ctx,
            "user.create",
            &format!("user:{}", input.username),
            &outcome,
        )
        .await;
        return outcome;
    }
    insert(state, ctx, input).await
}

/// Creates a user without asking the policy: for callers already allowed, and for
/// the command line, which runs with the database's own permissions.
pub async fn insert(
    state: &AppState,
    ctx: &Ctx,
    input: CreateUserInput,
) -> Result<UserView, OpsError> {
    audited(
        state,
        ctx,
        "user.create",
        &format!("user:{}", input.username),
        async {
            validate::username(&input.username).map_err(OpsError::Invalid)?;
            password::check_rules(&input.password).map_err(OpsError::Invalid)?;
            let hash = password::hash(input.password.clone()).await?;
            let id = state
                .store
                .create_user(&input.username, &hash, input.role, clock::now_ms())
                .await
                .map_err(|e| {
                    if e.is_unique_violation() {
                        OpsError::Conflict(format!(
                            "a user named {:?} exists already",
                            input.username
                        ))
                    } else {
                        e.into()
                    }
                })?;
            let u = find(state, id).await?;
            view(state, u).await
        },
    )
    .await
}

/// Changes a user's role and/or password. A password set by an admin ends the
/// user's sessions and revokes their tokens; so does a role lowered (admin to
/// member): what they set up with the old standing does not outlast it.
pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    input: UpdateUserInput,
) -> Result<UserView, OpsError> {
    let mut target = format!("user:{id}");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageUsers)?;
        if input.role.is_none() && input.password.is_none() {
            return Err(OpsError::Invalid(
                "nothing to change: give a role or a password".into(),
            ));
        }
        let u = find(state, id).await?;
        target = format!("user:{}", u.username);
        if let Some(pw) = &input.password {
            password::check_rules(pw).map_err(OpsError::Invalid)?;
        }
        if input.role == Some(UserRole::Member)
            && u.role == UserRole::Admin
            && state.store.count_admins().await? <= 1
        {
            return Err(OpsError::Conflict(format!(
                "{} is the last admin; make another user admin first",
                u.username
            )));
        }
        let now = clock::now_ms();
        let lowered = input.role == Some(UserRole::Member) && u.role == UserRole::Admin;
        if let Some(role) = input.role {
            state.store.set_user_role(id, role, now).await?;
        }
        if let Some(pw) = &input.password {
            let hash = password::hash(pw.clone()).await?;
            state.store.set_user_password(id, &hash, None, now).await?;
        }
        if lowered || input.password.is_some() {
            state.store.delete_user_tokens(id).await?;
            state.store.delete_user_sessions(id).await?;
        }
        // Streams check the standing they were opened with.
        state.auth.streams.revoked(Some(id));
        let u = find(state, id).await?;
        view(state, u).await
    }
    .await;
    audit(state, ctx, "user.update", &target, &outcome).await;
    outcome
}

pub async fn delete(state: &AppState, ctx: &Ctx, id: i64) -> Result<(), OpsError> {
    let mut target = format!("user:{id}");
    // The target is named once the block has found it.
    let outcome = async {
        let p = ctx.allowed(Action::ManageUsers)?;
        let u = find(state, id).await?;
        target = format!("user:{}", u.username);
        if u.id == p.user_id {
            return Err(OpsError::Conflict(
                "you cannot delete your own account".into(),
            ));
        }
        if u.role == UserRole::Admin && state.store.count_admins().await? <= 1 {
            return Err(OpsError::Conflict(format!(
                "{} is the last admin",
                u.username
            )));
        }
        state.store.delete_user(id).await?;
        state.auth.streams.revoked(Some(id));
        Ok(())
    }
    .await;
    audit(state, ctx, "user.delete", &target, &outcome).await;
    outcome
}

/// Ends every session of a user; how many ended.
pub async fn revoke_sessions(state: &AppState, ctx: &Ctx, id: i64) -> Result<u64, OpsError> {
    let mut target = format!("user:{id}");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageUsers)?;
        let u = find(state, id).await?;
        target = format!("user:{}", u.username);
        let n = state.store.delete_user_sessions(id).await?;
        state.auth.streams.revoked(Some(id));
        Ok(n)
    }
    .await;
    audit(state, ctx, "user.sessions.revoke", &target, &outcome).await;
    outcome
}
