//! Live streams (the event stream, followed logs): at most so many open per user
//! (429 beyond), and each ends as soon as the session or token it was opened with
//! ends (logout, revocation, a password reset, expiry) or the user's standing
//! changes (a role, a team joined or left).
//!
//! Whatever revokes credentials or changes a user's standing calls
//! [`Streams::revoked`] with the user (or none: everyone); that user's open
//! streams then ask the store whether their credentials still stand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

use super::principal::{Principal, Via};
use crate::store::Store;

/// How often an open stream checks anyway (expiry needs no revocation to pass).
const RECHECK: Duration = Duration::from_secs(30);

/// The open streams, per user.
#[derive(Debug)]
pub struct Streams {
    max: usize,
    open: Mutex<HashMap<i64, usize>>,
    /// Whose credentials or standing changed (`None`: anyone's).
    revoked: broadcast::Sender<Option<i64>>,
}

/// A stream's place, given back when it ends.
#[derive(Debug)]
pub struct StreamGuard {
    streams: Arc<Streams>,
    user_id: i64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().expect("streams lock");
        if let Some(n) = open.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

impl Streams {
    pub fn new(max: usize) -> Arc<Streams> {
        Arc::new(Streams {
            max,
            open: Mutex::new(HashMap::new()),
            revoked: broadcast::channel(1024).0,
        })
    }

    /// A place for one more stream of `user_id`, or `Err(max)` when they have
    /// that many open.
    pub fn open(self: &Arc<Self>, user_id: i64) -> Result<StreamGuard, usize> {
        let mut open = self.open.lock().expect("streams lock");
        let n = open.entry(user_id).or_default();
        if *n >= self.max {
            return Err(self.max);
        }
        *n += 1;
        Ok(StreamGuard {
            streams: self.clone(),
            user_id,
        })
    }

    /// Streams open for `user_id` now.
    pub fn count(&self, user_id: i64) -> usize {
        self.open
            .lock()
            .expect("streams lock")
            .get(&user_id)
            .copied()
            .unwrap_or(0)
    }

    /// The credentials or the standing of `user` changed (of anyone, for `None`):
    /// their streams check theirs.
    pub fn revoked(&self, user: Option<i64>) {
        // No stream open is fine: nobody needs to hear it.
        let _ = self.revoked.send(user);
    }
}

/// Whether the session or token of `p` still stands, with the standing it was
/// opened with: a changed role or team membership ends the stream too (its
/// client opens it again with what the user may read now). A store that cannot
/// answer ends it as well.
pub async fn still_valid(store: &Store, p: &Principal, now_ms: i64) -> bool {
    let alive = match p.via {
        Via::Session { session_id } => store.session_alive(session_id, now_ms).await,
        Via::Token { token_id, .. } => store.token_alive(token_id, now_ms).await,
    };
    match alive {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(error = %e, user = p.user_id, "a live stream ends: its credentials cannot be read");
            return false;
        }
    }
    match (
        store.user_by_id(p.user_id).await,
        store.teams_of(p.user_id).await,
    ) {
        (Ok(Some(user)), Ok(teams)) => user.role == p.role && teams == p.teams,
        (Ok(None), _) => false,
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, user = p.user_id, "a live stream ends: its standing cannot be read");
            false
        }
    }
}

/// `inner`, until the credentials of `p` no longer stand (or the server stops).
/// The guard holds the stream's place until then.
pub fn guarded<S>(
    store: Store,
    streams: &Streams,
    p: Principal,
    guard: StreamGuard,
    stop: tokio_util::sync::CancellationToken,
    inner: S,
) -> impl Stream<Item = S::Item> + Send + 'static
where
    S: Stream + Send + Unpin + 'static,
    S::Item: Send,
{
    let revoked = streams.revoked.subscribe();
    struct St<S> {
        inner: S,
        revoked: broadcast::Receiver<Option<i64>>,
        store: Store,
        p: Principal,
        stop: tokio_util::sync::CancellationToken,
        next_check: tokio::time::Instant,
        _guard: StreamGuard,
    }
    let start = St {
        inner,
        revoked,
        store,
        p,
        stop,
        next_check: tokio::time::Instant::now() + RECHECK,
        _guard: guard,
    };
    futures::stream::unfold(start, |mut st| async move {
        loop {
            tokio::select! {
                item = st.inner.next() => return item.map(|i| (i, st)),
                _ = st.stop.cancelled() => return None,
                who = st.revoked.recv() => {
                    let mine = match who {
                        Ok(Some(user)) => user == st.p.user_id,
                        // Anyone's, or too many to tell whose.
                        Ok(None) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    };
                    if mine && !still_valid(&st.store, &st.p, crate::clock::now_ms()).await {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(st.next_check) => {
                    st.next_check += RECHECK;
                    if !still_valid(&st.store, &st.p, crate::clock::now_ms()).await {
                        return None;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_per_user() {
        let s = Streams::new(2);
        let a1 = s.open(1).unwrap();
        let _a2 = s.open(1).unwrap();
        assert_eq!(s.open(1).unwrap_err(), 2);
        // Another user has places of their own.
        let _b = s.open(2).unwrap();
        drop(a1);
        assert_eq!(s.count(1), 1);
        assert!(s.open(1).is_ok());
    }
}
