//! The task that takes a step of history every `--history-every`: the proxy's
//! counters first (so a step's requests per second are over the time between
//! two of them), then every running replica's reading, a few at a time per host
//! and the hosts side by side, until half a step has passed.

use std::collections::BTreeMap;

use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{BackendCount, ReplicaReading, Step};
use crate::model::ObservedReplica;
use crate::state::AppState;

/// Readings asked of one engine at once.
const PER_HOST: usize = 4;

/// Samples until `token` is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut tick = tokio::time::interval(state.history.every());
    // A step that took longer than the interval is followed by a whole one,
    // not by a burst.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = step(&state, &mut last) => {}
        }
    }
}

/// Takes one step (tests call it directly); `last` is when the proxy's counters
/// were read the step before.
pub async fn step(state: &AppState, last: &mut Option<Instant>) {
    let now = Instant::now();
    let at_ms = state.clock.now_ms();
    let counts = state.proxy.counts();
    let proxy_secs = last
        .map_or(state.history.every(), |l| now - l)
        .as_secs_f64();
    *last = Some(now);
    // An engine that hangs costs its replicas this step's values, not the
    // other hosts' nor the next step.
    let deadline = now + state.history.every() / 2;
    let replicas = read(state, deadline).await;
    state.history.record(Step {
        at_ms,
        proxy_secs,
        replicas,
        backends: counts
            .backends
            .into_iter()
            .map(|(service_id, container_id, sample)| BackendCount {
                service_id,
                container_id,
                sample,
            })
            .collect(),
        routed: counts.routed,
    });
}

/// Every running replica's reading on the hosts that answer heartbeats; one
/// whose engine does not answer by `deadline` has no value in this step (a gap
/// in its charts; the host's page says why).
async fn read(state: &AppState, deadline: Instant) -> Vec<ReplicaReading> {
    let mut by_host: BTreeMap<i64, Vec<ObservedReplica>> = BTreeMap::new();
    for r in state.reconciler.running() {
        by_host.entry(r.host_id).or_default().push(r);
    }
    by_host.retain(|host_id, _| {
        state
            .hosts
            .get(*host_id)
            .is_none_or(|e| e.reachable() != Some(false))
    });
    let runtime = &state.reconciler.runtime;
    let hosts = by_host.into_values().map(|list| async move {
        futures::stream::iter(list)
            .map(|r| async move {
                let asked = runtime.reading(r.host_id, &r.container_id);
                match tokio::time::timeout_at(deadline, asked).await {
                    Ok(Ok(reading)) => Some(ReplicaReading {
                        container_id: r.container_id,
                        service_id: r.service_id,
                        slot: r.slot,
                        host_id: r.host_id,
                        reading,
                    }),
                    Ok(Err(e)) => {
                        tracing::debug!(container = %r.container_id, error = %e, "no reading");
                        None
                    }
                    Err(_) => None,
                }
            })
            .buffer_unordered(PER_HOST)
            .filter_map(|r| async move { r })
            .collect::<Vec<_>>()
            .await
    });
    futures::future::join_all(hosts)
        .await
        .into_iter()
        .flatten()
        .collect()
}
