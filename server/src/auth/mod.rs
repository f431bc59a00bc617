//! Who is calling and what they may do: passwords (argon2id), random secrets for
//! sessions and tokens (stored as SHA-256), the principal behind a request, the
//! permission policy, login limiting, and CSRF protection for cookie-authenticated
//! changes.

pub mod cookie;
pub mod csrf;
pub mod limiter;
pub mod password;
pub mod policy;
pub mod principal;
pub mod secret;
pub mod streams;

/// A failure to establish who is calling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the API token is not valid")]
    BadToken,
    #[error("the API token expired")]
    TokenExpired,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

use axum::http::{header, HeaderMap};

use crate::store::Store;
use principal::{Principal, Via};

/// The bearer token of a request, if it sends one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Who sent the request: a bearer token wins over the session cookie. No
/// credentials is `None`; a bad or expired token is an error.
pub async fn authenticate(
    store: &Store,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<Principal>, AuthError> {
    if let Some(token) = bearer(headers) {
        let found = store
            .token_user(&secret::digest(token))
            .await?
            .ok_or(AuthError::BadToken)?;
        if found.token.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::TokenExpired);
        }
        store.touch_token(found.token.id, now).await?;
        return Ok(Some(Principal {
            user_id: found.user.id,
            username: found.user.username,
            role: found.user.role,
            teams: store.teams_of(found.user.id).await?,
            via: Via::Token {
                token_id: found.token.id,
                read_only: found.token.read_only,
            },
        }));
    }
    let Some(cookie) = cookie::session_from(headers) else {
        return Ok(None);
    };
    let Some(found) = store.session_user(&secret::digest(&cookie), now).await? else {
        return Ok(None);
    };
    store.touch_session(found.session.id, now).await?;
    Ok(Some(Principal {
        user_id: found.user.id,
        username: found.user.username,
        role: found.user.role,
        teams: store.teams_of(found.user.id).await?,
        via: Via::Session {
            session_id: found.session.id,
        },
    }))
}
