//! The leader's side of following: what it publishes (its proxy's routes and the
//! services' states, in a numbered format), when it writes it, and the wait
//! before it stops a replica until every other instance has taken that replica
//! out of its own proxy.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RENEW;
use crate::proxy::table::RouteInput;
use crate::reconciler::ServiceState;
use crate::state::AppState;
use crate::store::InstanceRow;

/// The format of [`Published`]: a follower takes only its own (every instance
/// of a cluster runs the same version of Berth).
pub const FORMAT: u32 = 1;
/// The least time between two published states. Kept short even with no
/// follower: a Berth restarted after a crash follows the state its killed
/// predecessor published last until that one's lease runs out, and a stale
/// one would route to replicas that are gone (or to none).
const PUBLISH_GAP: Duration = Duration::from_millis(50);
/// A state that says the same is written again this often (its time moves).
const REPUBLISH: Duration = Duration::from_secs(5);
/// Instances that noted themselves this lately are waited for (they do every
/// [`RENEW`]).
const LIVE_MS: i64 = 3 * RENEW.as_millis() as i64;

/// What the leader publishes for the others: the proxy's routes and what each
/// service's pages show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Published {
    #[serde(default)]
    pub format: u32,
    pub routes: Vec<RouteInput>,
    pub services: Vec<(i64, ServiceState)>,
}

impl Published {
    /// Whether two states say the same, the time of the pass that made them aside.
    fn same_as(&self, other: &Published) -> bool {
        self.routes == other.routes
            && self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .zip(&other.services)
                .all(|((a, x), (b, y))| a == b && x.same_but_time(y))
    }
}

/// The latest offer written for the followers: its number and its version in
/// the database.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Written {
    pub offer: u64,
    pub version: i64,
}

/// Offers what this instance's proxy and pages hold now, for the followers
/// (nothing for a solo instance, which has none).
pub fn offer(state: &AppState) {
    let l = &state.leadership;
    if l.solo {
        return;
    }
    let published = Published {
        format: FORMAT,
        routes: state.proxy.routes(),
        services: state.reconciler.all(),
    };
    let n = l.last_offer.fetch_add(1, Ordering::SeqCst) + 1;
    l.offered.send_replace(Some((n, Arc::new(published))));
}

/// The leader's publisher: writes the latest offered state (through the fenced
/// store, so a leader that lost its lease publishes nothing) when what it says
/// changed, and at least every [`REPUBLISH`].
pub(super) async fn publisher(state: AppState, term: i64, token: CancellationToken) {
    let mut offered = state.leadership.offered.subscribe();
    let mut last: Option<Arc<Published>> = None;
    let mut written_at = Instant::now();
    let mut gap = super::every(PUBLISH_GAP);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            changed = offered.changed() => if changed.is_err() { return },
        }
        let Some((n, latest)) = offered.borrow_and_update().clone() else {
            continue;
        };
        let same = last.as_ref().is_some_and(|l| l.same_as(&latest));
        if same && written_at.elapsed() < REPUBLISH {
            state.leadership.written.send_modify(|w| w.offer = n);
        } else if let Some(version) = write(&state, term, latest.clone()).await {
            last = Some(latest);
            written_at = Instant::now();
            let written = Written { offer: n, version };
            state.leadership.written.send_replace(written);
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = gap.tick() => {}
        }
    }
}

/// Writes one state; its version, or `None` (said in the log) when it could not.
async fn write(state: &AppState, term: i64, latest: Arc<Published>) -> Option<i64> {
    let body = match tokio::task::spawn_blocking(move || serde_json::to_string(&*latest)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot write the published state");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "writing the published state failed");
            return None;
        }
    };
    let now = crate::clock::now_ms();
    match state.store.publish_state(term, &body, now).await {
        Ok(version) => Some(version),
        Err(e) => {
            tracing::warn!(error = %e, "cannot publish the leader's state");
            None
        }
    }
}

/// Waits (at most the proxy's drain timeout and 2 s) until every other live
/// instance has taken the latest offered state and drained what it took out:
/// a replica the leader stops next is in no proxy's table and answers no
/// request in flight. At once when no other instance runs.
pub async fn followers_drained(state: &AppState) {
    if state.leadership.solo || others(state).await.is_empty() {
        return;
    }
    let deadline = Instant::now() + state.proxy.settings.drain_timeout + Duration::from_secs(2);
    let Some(version) = written_version(state, deadline).await else {
        tracing::warn!("the leader's state was not published in time; stopping a replica anyway");
        return;
    };
    let mut poll = super::every(Duration::from_millis(50));
    loop {
        poll.tick().await;
        let behind: Vec<String> = others(state)
            .await
            .into_iter()
            .filter(|i| i.applied_version < version)
            .map(|i| i.id)
            .collect();
        if behind.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                ?behind,
                "instances did not take the new routes in time; stopping a replica anyway"
            );
            return;
        }
    }
}

/// The version under which the latest offer (made before this call) was
/// written, once it is; `None` past the deadline.
async fn written_version(state: &AppState, deadline: Instant) -> Option<i64> {
    let l = &state.leadership;
    let wanted = l.last_offer.load(Ordering::SeqCst);
    let mut written = l.written.subscribe();
    loop {
        let w = *written.borrow_and_update();
        if w.offer >= wanted {
            return Some(w.version);
        }
        tokio::time::timeout_at(deadline, written.changed())
            .await
            .ok()?
            .ok()?;
    }
}

/// The other instances that noted themselves lately.
async fn others(state: &AppState) -> Vec<InstanceRow> {
    match state.store.instances(LIVE_MS).await {
        Ok(all) => all
            .into_iter()
            .filter(|i| i.id != state.leadership.instance)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the instances");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_that_differs_only_by_the_time_of_its_pass_is_not_written_again() {
        let state = |at, restarts| Published {
            format: FORMAT,
            routes: vec![],
            services: vec![(
                1,
                ServiceState {
                    observed_at_ms: at,
                    slots: [(
                        1,
                        crate::reconciler::SlotHistory {
                            restarts,
                            ..Default::default()
                        },
                    )]
                    .into(),
                    ..Default::default()
                },
            )],
        };
        assert!(state(1, 0).same_as(&state(2, 0)));
        assert!(!state(1, 0).same_as(&state(1, 1)));
        assert!(!state(1, 0).same_as(&Published::default()));
    }
}
