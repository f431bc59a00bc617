//! The tasks that keep the host registry true: a heartbeat to every host on an
//! interval, and one follower per host on its Docker event stream (reconnecting
//! with `since` after a break). Transitions become events; engine events go to
//! the bus for whoever listens (the reconciler). And each host's volume sizes,
//! measured in the background for the volumes page.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::health::{self, Probe, Transition, Usage, VolumeSizes};
use super::HostEntry;
use crate::clock;
use crate::events::{self, ClusterEvent, Level};
use crate::state::AppState;

/// Heartbeats every `interval` until the token is cancelled.
pub async fn heartbeats(state: AppState, interval: Duration, token: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let entries = state.hosts.entries();
        futures::future::join_all(entries.iter().map(|e| beat(&state, e, interval))).await;
    }
}

/// How old a host's volume sizes may grow before they are measured again.
pub const VOLUME_SIZES_EVERY: Duration = Duration::from_secs(60);
/// How soon again when a page listed a volume they did not know (and no sooner:
/// a volume whose driver reports no size must not make Docker walk every volume
/// each time a page polls).
const VOLUME_SIZES_SOON: Duration = Duration::from_secs(10);
/// How often hosts are looked at for sizes that are missing or old.
const VOLUME_SIZES_LOOK: Duration = Duration::from_secs(2);
/// The most one measurement may take: it walks every volume.
const VOLUME_SIZES_LIMIT: Duration = Duration::from_secs(60);

/// Measures each answering host's volume sizes in the background, once a
/// minute and as soon as a host answers, so that no page waits for Docker's
/// disk usage report. Each host's measurement runs on its own: a slow engine
/// holds back only its own sizes.
pub async fn volume_sizes(state: AppState, token: CancellationToken) {
    let mut look = tokio::time::interval(VOLUME_SIZES_LOOK);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Dropped at shutdown: the measurements under way stop with it.
    let mut measuring: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    // Which host each measurement is for (one at a time per host).
    let mut under_way: HashMap<tokio::task::Id, i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            Some(done) = measuring.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                under_way.remove(&id);
                continue;
            }
            _ = look.tick() => {}
        }
        let busy: HashSet<i64> = under_way.values().copied().collect();
        for entry in due_for_sizes(&state, VOLUME_SIZES_EVERY) {
            if busy.contains(&entry.id()) {
                continue;
            }
            let (rt, host_id) = (state.reconciler.runtime.clone(), entry.id());
            let handle = measuring.spawn(async move { measure_volume_sizes(rt, &entry).await });
            under_way.insert(handle.id(), host_id);
        }
    }
}

/// The hosts that answer and whose sizes are missing or older than `max_age`.
fn due_for_sizes(state: &AppState, max_age: Duration) -> Vec<Arc<HostEntry>> {
    let mut due = state.hosts.entries();
    due.retain(|e| {
        let live = e.live.lock().expect("host live lock");
        let age = live.volume_sizes.as_ref().map(|s| s.at.elapsed());
        live.reachable == Some(true)
            && age.is_none_or(|age| {
                age >= max_age || (live.volume_sizes_wanted && age >= VOLUME_SIZES_SOON)
            })
    });
    due
}

/// Measures one host's volume sizes and keeps them with the host.
pub async fn measure_volume_sizes(
    rt: Arc<dyn crate::runtime::ContainerRuntime>,
    entry: &Arc<HostEntry>,
) {
    let outcome = tokio::time::timeout(VOLUME_SIZES_LIMIT, rt.volume_sizes(entry.id())).await;
    let mut live = entry.live.lock().expect("host live lock");
    let bytes = match outcome {
        Ok(Ok(bytes)) => Arc::new(bytes),
        // Sizes are a nicety: the page says "unknown" until one answers, and the
        // engine is asked again when they are due, not at once.
        Ok(Err(e)) => {
            tracing::debug!(host = %entry.name(), error = %e, "volume sizes");
            live.volume_sizes
                .take()
                .map(|s| s.bytes)
                .unwrap_or_default()
        }
        Err(_) => {
            tracing::debug!(host = %entry.name(), "volume sizes: no answer in time");
            live.volume_sizes
                .take()
                .map(|s| s.bytes)
                .unwrap_or_default()
        }
    };
    live.volume_sizes = Some(VolumeSizes {
        bytes,
        at: tokio::time::Instant::now(),
    });
    live.volume_sizes_wanted = false;
}

/// One heartbeat to one host, bounded by the interval.
pub async fn beat(state: &AppState, entry: &Arc<HostEntry>, limit: Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit.max(Duration::from_millis(500)), async {
        let facts = entry.engine.facts().await?;
        let (containers, cpu_millis, memory_bytes) = entry.engine.berth_usage().await?;
        Ok::<_, crate::runtime::docker::DockerError>((
            facts,
            Usage {
                containers,
                cpu_millis,
                memory_bytes,
            },
        ))
    })
    .await;
    let probe = match outcome {
        Ok(Ok((facts, usage))) => Probe::Answered {
            facts,
            usage,
            latency_ms: started.elapsed().as_millis() as u64,
        },
        Ok(Err(e)) => Probe::Failed {
            error: e.to_string(),
        },
        Err(_) => {
            entry.engine.reset().await;
            Probe::Failed {
                error: format!("no answer within {} ms", limit.as_millis()),
            }
        }
    };
    let answered = match &probe {
        Probe::Answered { .. } => Some(started.elapsed()),
        Probe::Failed { .. } => None,
    };
    state.metrics.heartbeat(&entry.name(), answered);
    let transition = {
        let mut live = entry.live.lock().expect("host live lock");
        health::apply(&mut live, probe, clock::now_ms())
    };
    if let Some(t) = transition {
        announce(state, entry, t).await;
    }
}

async fn announce(state: &AppState, entry: &HostEntry, t: Transition) {
    let name = entry.name();
    let id = entry.id();
    // Services' views leave out replicas on hosts that do not answer.
    state.reconciler.touch();
    if !state.leadership.leads() {
        // Every instance keeps its own view; the leader alone records it.
        state.bus.publish(match t {
            Transition::Lost { .. } => ClusterEvent::HostDown { host_id: id },
            Transition::Joined | Transition::Recovered { .. } => {
                ClusterEvent::HostUp { host_id: id }
            }
        });
        return;
    }
    match t {
        Transition::Joined => {
            let what = engine_words(entry.live().facts.as_ref());
            events::host(
                state,
                &name,
                Level::Info,
                &format!("host {name} is ready{what}"),
            )
            .await;
            state.bus.publish(ClusterEvent::HostUp { host_id: id });
        }
        Transition::Recovered { down_for_ms } => {
            events::host(
                state,
                &name,
                Level::Info,
                &format!("host {name} answers again after {} s", down_for_ms / 1000),
            )
            .await;
            state.bus.publish(ClusterEvent::HostUp { host_id: id });
        }
        Transition::Lost { error } => {
            events::host(
                state,
                &name,
                Level::Error,
                &format!("host {name} is unreachable: {error}"),
            )
            .await;
            state.bus.publish(ClusterEvent::HostDown { host_id: id });
        }
    }
}

/// Keeps one event follower per registered host, until the token is cancelled.
pub async fn followers(state: AppState, token: CancellationToken) {
    let mut running: HashMap<i64, CancellationToken> = HashMap::new();
    loop {
        let changed = state.hosts.changed();
        let entries = state.hosts.entries();
        let ids: HashSet<i64> = entries.iter().map(|e| e.id()).collect();
        running.retain(|id, t| {
            let keep = ids.contains(id);
            if !keep {
                t.cancel();
            }
            keep
        });
        for entry in entries {
            running.entry(entry.id()).or_insert_with(|| {
                let child = token.child_token();
                tokio::spawn(follow(state.clone(), entry, child.clone()));
                child
            });
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = changed => {}
        }
    }
}

/// Follows one host's event stream; after a break, reconnects with `since` the last
/// event seen, skipping what it had already seen.
async fn follow(state: AppState, entry: Arc<HostEntry>, token: CancellationToken) {
    let mut last_ms: i64 = 0;
    let mut seen_at_last: HashSet<(String, String, String)> = HashSet::new();
    loop {
        let since = (last_ms > 0).then_some(last_ms / 1000);
        if let Ok(stream) = entry.engine.events(since).await {
            let mut stream = std::pin::pin!(stream);
            loop {
                let item = tokio::select! {
                    _ = token.cancelled() => return,
                    item = stream.next() => item,
                };
                let Some(Ok(event)) = item else { break };
                let key = (
                    event.kind.clone(),
                    event.action.clone(),
                    event.actor.clone(),
                );
                if event.at_ms < last_ms || (event.at_ms == last_ms && seen_at_last.contains(&key))
                {
                    continue;
                }
                if event.at_ms > last_ms {
                    last_ms = event.at_ms;
                    seen_at_last.clear();
                }
                seen_at_last.insert(key);
                health::remember(
                    &mut entry.live.lock().expect("host live lock"),
                    event.clone(),
                );
                state.bus.publish(ClusterEvent::Engine {
                    host_id: entry.id(),
                    event,
                });
            }
        }
        // The stream broke (or never opened): the heartbeat notices a dead host;
        // this only waits a moment before trying again.
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// What a host's engine is, for the event that says it joined: ` (Docker 24.0.5,
/// 2 CPUs, 3.8 GiB)`, or nothing when it has not answered yet.
pub fn engine_words(facts: Option<&domain::wire::EngineFacts>) -> String {
    facts
        .map(|f| {
            format!(
                " (Docker {}, {} CPUs, {})",
                f.version,
                f.cpus,
                domain::format::bytes(f.memory_bytes)
            )
        })
        .unwrap_or_default()
}
