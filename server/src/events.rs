//! Events: what Berth did or saw, recorded for people (the `events` table, shown on
//! the Events page) and broadcast in-process for the tasks that react to them.

use domain::wire::EngineEventView;
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

/// A service an event is about: its id (names can come again), team and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub id: i64,
    /// `None` when it is not known (a service deleted before this Berth started,
    /// or of a deleted team): its events are then an admin's to read.
    pub team_id: Option<i64>,
    pub name: String,
}

impl From<&crate::store::ServiceRow> for ServiceRef {
    fn from(r: &crate::store::ServiceRow) -> Self {
        ServiceRef {
            id: r.id,
            team_id: Some(r.team_id),
            name: r.name.clone(),
        }
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Host(&'a str),
    /// A host pool (admins read these).
    Pool(&'a str),
    Service(&'a ServiceRef),
    /// A Berth instance (leadership; admins read these).
    Instance(&'a str),
}

/// Records an event about a host.
pub async fn host(state: &AppState, name: &str, level: Level, message: &str) {
    record(state, Subject::Host(name), level, message).await
}

/// Records an event about a host pool.
pub async fn pool(state: &AppState, name: &str, level: Level, message: &str) {
    record(state, Subject::Pool(name), level, message).await
}

/// Records an event about a service.
pub async fn service(state: &AppState, s: &ServiceRef, level: Level, message: &str) {
    record(state, Subject::Service(s), level, message).await
}

/// Records an event for people (and the log). A failure to record is logged only.
pub async fn record(state: &AppState, subject: Subject<'_>, level: Level, message: &str) {
    let (kind, name, service) = match subject {
        Subject::Host(name) => ("host", name, None),
        Subject::Pool(name) => ("pool", name, None),
        Subject::Service(s) => ("service", s.name.as_str(), Some((s.id, s.team_id))),
        Subject::Instance(id) => ("instance", id, None),
    };
    match level {
        Level::Error => tracing::warn!(kind, subject = name, "{message}"),
        _ => tracing::info!(kind, subject = name, "{message}"),
    }
    let event = crate::store::NewEvent {
        at: clock::now_ms(),
        kind,
        subject: name,
        level: level.as_str(),
        message,
        service,
    };
    if let Err(e) = state.store.record_event(event).await {
        tracing::error!(error = %e, "cannot record an event");
    }
}
