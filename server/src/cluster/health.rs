//! A host's health from its heartbeats. Pure: the outcome of a probe and `now` in,
//! the new live state and the transition (if any) out.

use std::collections::VecDeque;

use domain::wire::{EngineEventView, EngineFacts, HostState};

use crate::store::HostRow;

/// Heartbeats a host may miss in a row before it counts as unreachable.
pub const MISSED_BEATS: u32 = 2;

/// Engine events kept per host for its page.
pub const RECENT_ENGINE_EVENTS: usize = 100;

/// What Berth has observed of a host; never stored, rebuilt by heartbeats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// `None` until the first heartbeat has an outcome either way.
    pub reachable: Option<bool>,
    pub failures: u32,
    pub first_failure_ms: Option<i64>,
    pub facts: Option<EngineFacts>,
    pub last_ok_ms: Option<i64>,
    pub latency_ms: Option<u64>,
    pub unreachable_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Berth's containers there: how many, CPU millicores and memory bytes reserved.
    pub usage: Usage,
    pub engine_events: VecDeque<EngineEventView>,
    /// Berth's volumes there by name, and their bytes, as last measured in the
    /// background (Docker's disk usage report is too slow for a request).
    pub volume_sizes: Option<VolumeSizes>,
    /// A page listed a volume the last measurement did not know: measure again
    /// at the next look rather than when the sizes are old.
    pub volume_sizes_wanted: bool,
}

/// One measurement of a host's volume sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeSizes {
    pub bytes: std::sync::Arc<std::collections::HashMap<String, i64>>,
    pub at: tokio::time::Instant,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub containers: i64,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

/// The outcome of one heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Answered {
        facts: EngineFacts,
        usage: Usage,
        latency_ms: u64,
    },
    Failed {
        error: String,
    },
}

/// A change worth telling people about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// First heartbeat answered.
    Joined,
    /// Answers again after being unreachable.
    Recovered { down_for_ms: i64 },
    /// Missed [`MISSED_BEATS`] heartbeats in a row.
    Lost { error: String },
}

/// Applies a heartbeat's outcome at `now`.
pub fn apply(live: &mut Live, probe: Probe, now: i64) -> Option<Transition> {
    match probe {
        Probe::Answered {
            facts,
            usage,
            latency_ms,
        } => {
            let before = live.reachable;
            let since = live.unreachable_since_ms;
            live.reachable = Some(true);
            live.failures = 0;
            live.first_failure_ms = None;
            live.facts = Some(facts);
            live.usage = usage;
            live.last_ok_ms = Some(now);
            live.latency_ms = Some(latency_ms);
            live.unreachable_since_ms = None;
            live.last_error = None;
            match before {
                Some(true) => None,
                Some(false) => Some(Transition::Recovered {
                    down_for_ms: now - since.unwrap_or(now),
                }),
                None => Some(Transition::Joined),
            }
        }
        Probe::Failed { error } => {
            live.failures += 1;
            let first = *live.first_failure_ms.get_or_insert(now);
            live.last_error = Some(error.clone());
            live.latency_ms = None;
            if live.failures >= MISSED_BEATS && live.reachable != Some(false) {
                live.reachable = Some(false);
                live.unreachable_since_ms = Some(first);
                Some(Transition::Lost { error })
            } else {
                None
            }
        }
    }
}

/// Keeps an engine event for the host page, newest first.
pub fn remember(live: &mut Live, event: EngineEventView) {
    live.engine_events.push_front(event);
    live.engine_events.truncate(RECENT_ENGINE_EVENTS);
}

/// What a host is, from what admins decided and what was observed. Unreachable
/// wins: a cordoned host that is down is down.
pub fn state(row: &HostRow, live: &Live) -> HostState {
    match live.reachable {
        Some(false) => HostState::Unreachable,
        _ if row.draining => HostState::Draining,
        _ if row.cordoned => HostState::Cordoned,
        Some(true) => HostState::Ready,
        None => HostState::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> EngineFacts {
        EngineFacts {
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            os: "Debian".into(),
            arch: "x86_64".into(),
            cpus: 2,
            memory_bytes: 1 << 30,
            containers_running: 1,
            containers_total: 2,
            images: 3,
            volume_drivers: vec!["local".into()],
        }
    }

    fn ok() -> Probe {
        Probe::Answered {
            facts: facts(),
            usage: Usage::default(),
            latency_ms: 3,
        }
    }

    fn fail(e: &str) -> Probe {
        Probe::Failed { error: e.into() }
    }

    fn row(cordoned: bool, draining: bool) -> HostRow {
        HostRow {
            id: 1,
            name: "h1".into(),
            endpoint: "unix:///x".into(),
            address: "127.0.0.1".into(),
            labels: Default::default(),
            tls: None,
            cordoned,
            draining,
            created_at: 0,
        }
    }

    #[test]
    fn a_host_joins_is_lost_after_missed_beats_and_recovers() {
        let mut live = Live::default();
        assert_eq!(state(&row(false, false), &live), HostState::Pending);
        assert_eq!(apply(&mut live, ok(), 1_000), Some(Transition::Joined));
        assert_eq!(state(&row(false, false), &live), HostState::Ready);
        assert_eq!(apply(&mut live, ok(), 3_000), None);

        // One missed beat is not enough.
        assert_eq!(apply(&mut live, fail("refused"), 5_000), None);
        assert_eq!(state(&row(false, false), &live), HostState::Ready);
        assert_eq!(live.last_error.as_deref(), Some("refused"));
        // The second is; it has been down since the first.
        assert_eq!(
            apply(&mut live, fail("refused again"), 7_000),
            Some(Transition::Lost {
                error: "refused again".into()
            })
        );
        assert_eq!(state(&row(false, false), &live), HostState::Unreachable);
        assert_eq!(live.unreachable_since_ms, Some(5_000));
        // Staying down says nothing new.
        assert_eq!(apply(&mut live, fail("refused"), 9_000), None);
        assert_eq!(live.unreachable_since_ms, Some(5_000));

        assert_eq!(
            apply(&mut live, ok(), 11_000),
            Some(Transition::Recovered { down_for_ms: 6_000 })
        );
        assert_eq!(state(&row(false, false), &live), HostState::Ready);
        assert_eq!(live.unreachable_since_ms, None);
        assert_eq!(live.last_error, None);
    }

    #[test]
    fn a_host_that_never_answered_is_unreachable_after_missed_beats() {
        let mut live = Live::default();
        assert_eq!(apply(&mut live, fail("no socket"), 0), None);
        assert_eq!(state(&row(false, false), &live), HostState::Pending);
        assert!(matches!(
            apply(&mut live, fail("no socket"), 2_000),
            Some(Transition::Lost { .. })
        ));
        assert_eq!(state(&row(false, false), &live), HostState::Unreachable);
    }

    #[test]
    fn decisions_show_unless_the_host_is_down() {
        let mut live = Live::default();
        apply(&mut live, ok(), 0);
        assert_eq!(state(&row(true, false), &live), HostState::Cordoned);
        assert_eq!(state(&row(true, true), &live), HostState::Draining);
        apply(&mut live, fail("x"), 1);
        apply(&mut live, fail("x"), 2);
        assert_eq!(state(&row(true, true), &live), HostState::Unreachable);
    }

    #[test]
    fn engine_events_are_kept_newest_first_and_bounded() {
        let mut live = Live::default();
        for i in 0..(RECENT_ENGINE_EVENTS as i64 + 5) {
            remember(
                &mut live,
                EngineEventView {
                    at_ms: i,
                    kind: "container".into(),
                    action: "start".into(),
                    actor: "x".into(),
                },
            );
        }
        assert_eq!(live.engine_events.len(), RECENT_ENGINE_EVENTS);
        assert_eq!(live.engine_events[0].at_ms, RECENT_ENGINE_EVENTS as i64 + 4);
    }
}
