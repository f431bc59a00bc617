//! Why the plan starts or removes a replica. The variant is what the loop acts on
//! (a failure's removal counts towards the slot's restart delay, a first start is
//! announced as such); Display is the sentence of the event a person reads.

use std::fmt;

/// Why a replica of `slot` is started or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Start: the slot has no replica and none was seen to fail.
    Started { slot: u32 },
    /// Start: the slot's replica failed (`why`: "exited with code 1", "unhealthy").
    Replaced { slot: u32, why: String },
    /// Start: the slot's host has not answered for longer than the grace.
    HostLost { slot: u32, host: String, secs: i64 },
    /// Start: the new replica of a slot on a draining host (start-first).
    MovingOffDraining { slot: u32, host: String },
    /// Start: the new revision beside the old (start-first).
    RollingOut { slot: u32, revision: i64, was: i64 },
    /// Start: a canary of the new revision beside the slot's old replica, which
    /// stays.
    Canary { slot: u32, revision: i64 },
    /// Remove: the container stopped and is not restarted in place (`why`).
    Failed { slot: u32, why: String },
    /// Remove: its health check failed.
    Unhealthy { slot: u32 },
    /// Remove: the slot is above the replica count.
    ScaledDown { slot: u32, from: u32, to: u32 },
    /// Remove: the service was deleted.
    ServiceDeleted { slot: u32 },
    /// Remove: its replacement off a draining host is ready.
    MovedOffDraining { slot: u32, host: String },
    /// Remove: a ready replica of the current revision took its place.
    Superseded { slot: u32, revision: i64, by: i64 },
    /// Remove: a second copy in the slot.
    ExtraCopy { slot: u32, host: String },
    /// Remove: stopped first, to move off a draining host (stop-first).
    StoppedToMove { slot: u32, host: String },
    /// Remove: stopped first, for the new revision (stop-first).
    StoppedForRevision { slot: u32, revision: i64, by: i64 },
}

impl Reason {
    /// What failed, when the replica is removed because it failed: its slot's
    /// restart delay counts it.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Reason::Failed { why, .. } => Some(why),
            Reason::Unhealthy { .. } => Some("unhealthy"),
            _ => None,
        }
    }

    /// A removal after which the slot is still served (a ready replica took its
    /// place) or no longer wanted: nothing needs to wait for its stop once it is
    /// out of the proxy.
    pub fn leaves_slot_served(&self) -> bool {
        matches!(
            self,
            Reason::Superseded { .. }
                | Reason::ExtraCopy { .. }
                | Reason::MovedOffDraining { .. }
                | Reason::ScaledDown { .. }
        )
    }

    /// A first start of an empty slot (announced as started, not as a
    /// replacement).
    pub fn fills_empty_slot(&self) -> bool {
        matches!(self, Reason::Started { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Started { slot } => write!(f, "replica {slot} started"),
            Reason::Replaced { slot, why } => write!(f, "replica {slot} replaced: {why}"),
            Reason::HostLost { slot, host, secs } => {
                write!(
                    f,
                    "replica {slot} moved: host {host} unreachable for {secs} s"
                )
            }
            Reason::MovingOffDraining { slot, host } => {
                write!(f, "replica {slot} moving off draining host {host}")
            }
            Reason::RollingOut {
                slot,
                revision,
                was,
            } => {
                write!(
                    f,
                    "replica {slot}: rolling out revision {revision} (was {was})"
                )
            }
            Reason::Canary { slot, revision } => {
                write!(
                    f,
                    "replica {slot}: a canary of revision {revision} beside the old one"
                )
            }
            Reason::Failed { slot, why } => {
                write!(f, "replica {slot}: removing its container, which {why}")
            }
            Reason::Unhealthy { slot } => {
                write!(f, "replica {slot}: removing its unhealthy container")
            }
            Reason::ScaledDown { slot, from, to } => {
                write!(f, "replica {slot} removed: scaled {from} -> {to}")
            }
            Reason::ServiceDeleted { slot } => {
                write!(f, "replica {slot} removed: its service was deleted")
            }
            Reason::MovedOffDraining { slot, host } => {
                write!(f, "replica {slot} moved off draining host {host}")
            }
            Reason::Superseded { slot, revision, by } => {
                write!(
                    f,
                    "replica {slot}: revision {revision} replaced by revision {by}"
                )
            }
            Reason::ExtraCopy { slot, host } => {
                write!(f, "replica {slot}: extra copy on {host} removed")
            }
            Reason::StoppedToMove { slot, host } => {
                write!(
                    f,
                    "replica {slot} stopped to move off draining host {host} (stop-first)"
                )
            }
            Reason::StoppedForRevision { slot, revision, by } => write!(
                f,
                "replica {slot}: revision {revision} stopped for revision {by} (stop-first)"
            ),
        }
    }
}
