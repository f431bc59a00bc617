//! The followers' side: each new state the leader publishes taken into this
//! instance's proxy (replicas it no longer routes to drained first) and pages;
//! the stored hosts and certificates reloaded; and writes made through this instance's
//! API told to the leader (which hears them in `hear_writes`).

use std::collections::HashSet;
use std::sync::PoisonError;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::publish::{Published, FORMAT};
use super::{every, listen, next, RENEW};
use crate::proxy::table::RouteInput;
use crate::state::AppState;
use crate::store::{STATE_CHANNEL, WRITTEN_CHANNEL};

/// How often a follower looks for a new published state without a notification.
const FOLLOW_POLL: Duration = Duration::from_secs(2);
/// How often a follower reloads the stored certificates (the leader's task
/// orders and renews them; uploads go to the database).
const CERTS_RELOAD: Duration = Duration::from_secs(10);

/// Why a published state was not taken.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("it does not read: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("reading it failed: {0}")]
    Failed(#[from] tokio::task::JoinError),
    #[error("it is in format {0}, this instance reads {FORMAT}: run the same version of Berth on every instance")]
    Format(u32),
}

/// While this instance does not lead, takes each new state the leader
/// publishes into its proxy table and its pages, and notes that it did.
pub async fn follow(state: AppState, token: CancellationToken) {
    let mut listener = None;
    let mut seen = 0;
    let mut certs_loaded = Instant::now();
    let mut poll = every(FOLLOW_POLL);
    loop {
        if listener.is_none() {
            listener = listen(&state, STATE_CHANNEL).await;
        }
        if let Err(e) = crate::ops::hosts::sync(&state).await {
            tracing::warn!(error = %e, "cannot read the hosts");
        }
        if state.leadership.leads() {
            // Read afresh once this instance follows again.
            seen = 0;
        } else {
            if certs_loaded.elapsed() >= CERTS_RELOAD {
                certs_loaded = Instant::now();
                if let Err(e) = crate::certs::task::reload(&state).await {
                    tracing::warn!(error = %e, "cannot reload the stored certificates");
                }
            }
            seen = tokio::select! {
                _ = token.cancelled() => return,
                taken = take_new(&state, seen) => taken,
            };
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = poll.tick() => {}
            _ = next(&mut listener) => {}
        }
    }
}

/// Takes the published state if it is not version `seen`; the version taken.
async fn take_new(state: &AppState, seen: i64) -> i64 {
    let published = match state.store.published_state(seen).await {
        Ok(Some(p)) => p,
        Ok(None) => return seen,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the leader's published state");
            return seen;
        }
    };
    if let Err(e) = apply(state, &published.body).await {
        // Said once: the same version is not read again.
        tracing::error!(error = %e, version = published.version, "the leader's published state was not taken");
        return published.version;
    }
    let me = &state.leadership.instance;
    if let Err(e) = state
        .store
        .note_applied_version(me, published.version)
        .await
    {
        tracing::warn!(error = %e, "cannot note the state this instance took");
    }
    published.version
}

/// Takes a published state into this instance's proxy and pages: replicas it
/// no longer routes to are drained first (their requests here answered), as
/// the leader waits for before it stops them. Nothing is taken once this
/// instance leads (it makes its own).
async fn apply(state: &AppState, body: &str) -> Result<(), ApplyError> {
    let body = body.to_string();
    let published: Published =
        tokio::task::spawn_blocking(move || serde_json::from_str(&body)).await??;
    if published.format != FORMAT {
        return Err(ApplyError::Format(published.format));
    }
    let kept = backends(&published.routes);
    let gone: Vec<String> = backends(&state.proxy.routes())
        .into_iter()
        .filter(|id| !kept.contains(id))
        .collect();
    futures::future::join_all(gone.iter().map(|id| state.proxy.drain(id))).await;
    let _taking = state
        .leadership
        .taking
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if state.leadership.leads() {
        // It leads since it began: its own passes decide what the proxy drains.
        state.proxy.undrain(&gone);
    } else {
        state.proxy.update(published.routes);
        state.reconciler.replace_all(published.services);
    }
    Ok(())
}

fn backends(routes: &[RouteInput]) -> HashSet<String> {
    routes
        .iter()
        .flat_map(|r| r.backends.iter().map(|b| b.container_id.clone()))
        .collect()
}

/// Every instance: a service written through this one's API while another
/// leads is told to the leader, whose reconciler takes it at once (on SQLite,
/// at its next periodic pass).
pub async fn forward_writes(state: AppState, token: CancellationToken) {
    use tokio::sync::broadcast::error::RecvError;
    let mut writes = state.reconciler.subscribe_writes();
    loop {
        let written = tokio::select! {
            _ = token.cancelled() => return,
            w = writes.recv() => w,
        };
        match written {
            Ok(id) if !state.leadership.leads() => {
                if let Err(e) = state.store.notify_written(id).await {
                    tracing::warn!(error = %e, "cannot tell the leader of a write");
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// The leader: hears of writes made through the other instances.
pub(super) async fn hear_writes(state: AppState, token: CancellationToken) {
    let mut listener = None;
    let mut retry_tick = every(RENEW);
    loop {
        if listener.is_none() {
            listener = listen(&state, WRITTEN_CHANNEL).await;
        }
        // Without a listener on PostgreSQL (it broke), made again shortly.
        let retry = listener.is_none() && state.store.notifies();
        tokio::select! {
            _ = token.cancelled() => return,
            _ = retry_tick.tick(), if retry => {}
            payload = next(&mut listener) => {
                if let Some(id) = payload.and_then(|p| p.parse::<i64>().ok()) {
                    state.reconciler.heard(id);
                }
            }
        }
    }
}
