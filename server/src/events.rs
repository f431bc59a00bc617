//! Events: what Berth did or saw, recorded for people (the `events` table, shown on
//! the Events page) and broadcast in-process for the tasks that react to them.

use app::wire::EngineEventView;
use tokio::sync::broadcast;

use crate::clock;
use crate::state::AppState;

/// How urgent an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Something that happened in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A Docker engine reported an event.
    Engine {
        host_id: i64,
        event: EngineEventView,
    },
    /// A host answers (first time, or again).
    HostUp { host_id: i64 },
    /// A host stopped answering.
    HostDown { host_id: i64 },
    /// A host was added, changed (labels, cordon, drain) or removed.
    HostChanged { host_id: i64 },
}

/// The in-process bus; slow listeners lose the oldest events, never block senders.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<ClusterEvent>,
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus {
            tx: broadcast::channel(4096).0,
        }
    }

    pub fn publish(&self, event: ClusterEvent) {
        // No listener is fine: nobody needs to hear it.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

/// Records an event for people (and the log). A failure to record is logged only.
pub async fn record(state: &AppState, kind: &str, subject: &str, level: Level, message: &str) {
    match level {
        Level::Error => tracing::warn!(kind, subject, "{message}"),
        _ => tracing::info!(kind, subject, "{message}"),
    }
    if let Err(e) = state
        .store
        .record_event(clock::now_ms(), kind, subject, level.as_str(), message)
        .await
    {
        tracing::error!(error = %e, "cannot record an event");
    }
}
