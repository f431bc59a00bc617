//! The caller's API tokens: created with a name (shown once), listed, revoked.

use domain::wire::{CreateTokenInput, NewToken, TokenView};

use super::{audit, audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::Via;
use crate::auth::secret;
use crate::clock;
use crate::state::AppState;
use crate::store::{NewTokenRow, TokenRow};
use domain::validate;

/// The longest a token may be set to live, in days.
pub const MAX_DAYS: u32 = 3650;

fn view(t: TokenRow) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        prefix: t.prefix,
        read_only: t.read_only,
        created_at_ms: t.created_at,
        expires_at_ms: t.expires_at,
        last_used_at_ms: t.last_used_at,
    }
}

pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<TokenView>, OpsError> {
    let p = ctx.principal()?;
    Ok(state
        .store
        .list_tokens(p.user_id)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: CreateTokenInput,
) -> Result<NewToken, OpsError> {
    audited(state, ctx, "token.create", &format!("token:{}", input.name), async {
        let p = ctx.allowed(Action::ManageOwnAccount)?;
        validate::token_name(&input.name).map_err(OpsError::Invalid)?;
        if let Some(days) = input.expires_in_days {
            if days == 0 || days > MAX_DAYS {
                return Err(OpsError::Invalid(format!(
                    "expires_in_days must be from 1 to {MAX_DAYS}, or left out for a token that does not expire"
                )));
            }
        }
        let token = secret::generate(secret::TOKEN_PREFIX);
        let now = clock::now_ms();
        let mut expires = input
            .expires_in_days
            .map(|d| now + i64::from(d) * 86_400_000);
        // A token made with a token cannot outlive it (and is revoked with it):
        // without an expiry of its own it expires with its maker; one later than
        // the maker's is refused.
        let parent = match p.via {
            Via::Token { token_id, .. } => Some(token_id),
            Via::Session { .. } => None,
        };
        if let Some(parent_id) = parent {
            let Some(limit) = state.store.token_expiry(parent_id).await? else {
                return Err(OpsError::Unauthenticated(
                    "the token you call with was revoked just now".into(),
                ));
            };
            match (limit, expires) {
                (Some(limit), None) => expires = Some(limit),
                (Some(limit), Some(e)) if e > limit => {
                    let days = (limit - now) / 86_400_000;
                    return Err(OpsError::Invalid(format!(
                        "the token you call with expires on {}; a token it makes cannot outlive it: give expires_in_days of at most {days}, or none to expire with it",
                        domain::format::utc_datetime(limit)
                    )));
                }
                _ => {}
            }
        }
        let id = state
            .store
            .create_token(NewTokenRow {
                user_id: p.user_id,
                name: &input.name,
                token_hash: &secret::digest(&token),
                prefix: &secret::display_prefix(&token),
                read_only: input.read_only,
                now,
                expires_at: expires,
                parent_id: parent,
            })
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    OpsError::Conflict(format!("you have a token named {:?} already", input.name))
                } else {
                    e.into()
                }
            })?;
        let row = state.store.token(p.user_id, id).await?.ok_or(OpsError::Internal)?;
        Ok(NewToken {
            token,
            info: view(row),
        })
    })
    .await
}

pub async fn revoke(state: &AppState, ctx: &Ctx, id: i64) -> Result<(), OpsError> {
    let mut target = format!("token:{id}");
    // The target is named once the block has found it.
    let outcome = async {
        let p = ctx.allowed(Action::ManageOwnAccount)?;
        let token = state
            .store
            .token(p.user_id, id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("you have no token {id}")))?;
        target = format!("token:{}", token.name);
        state.store.delete_token(p.user_id, id).await?;
        state.auth.streams.revoked(Some(p.user_id));
        Ok(())
    }
    .await;
    audit(state, ctx, "token.revoke", &target, &outcome).await;
    outcome
}
