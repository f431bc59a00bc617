//! Rollout state, owned here: which move leads where, and the one door through
//! which the API and the reconciler change a rollout. Every transition is one
//! transaction guarded on the state it expects; one that lost a race (the rollout
//! moved on meanwhile, say a newer deploy superseded it) changes nothing and is
//! logged, so a pass holding a stale rollout can never undo a newer deploy.
//!
//! ```text
//!  start ──> running ──pause──> paused ──resume──> running
//!               │  │               │
//!               │  └──abort────────┴──> aborted      (+ a rollback, by a person)
//!               ├──fail, rollback──> rolled_back     (+ an automatic rollback)
//!               ├──fail, pause──> paused
//!               └──succeed──> succeeded
//!  any running or paused rollout ──a newer start──> aborted ("superseded")
//! ```

pub mod gates;

use domain::wire::{FailureAction, RolloutKind, RolloutState, ServiceSpec};

use crate::store::{Expect, Move, NewRollout, RolloutRow, Store, StoreError};

/// Who the reconciler's own moves are by.
pub const BERTH: &str = "berth";

/// A move of a rollout under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A person pauses it: no more moves begin.
    Pause { by: String },
    /// A person resumes a paused rollout.
    Resume,
    /// A person stops it and takes the service back to the revision before.
    Abort { by: String },
    /// New replicas failed: back to the revision before (`rollback`), or paused.
    Fail { rollback: bool, reason: String },
    /// Every replica runs the new revision, healthy, past the monitor window.
    Succeed,
}

impl Transition {
    /// What a failure of `rollout` leads to under the service's failure action: a
    /// rollback that fails too waits for a person instead of going round.
    pub fn fail(rollout: &RolloutRow, action: FailureAction, reason: String) -> Transition {
        let rollback =
            action == FailureAction::Rollback && rollout.kind != RolloutKind::AutoRollback;
        Transition::Fail { rollback, reason }
    }

    /// The states a rollout must be in for this move.
    pub fn from(&self) -> &'static [RolloutState] {
        use RolloutState::*;
        match self {
            Transition::Pause { .. } | Transition::Fail { .. } | Transition::Succeed => &[Running],
            Transition::Resume => &[Paused],
            Transition::Abort { .. } => &[Running, Paused],
        }
    }

    /// The state it leads to.
    pub fn to(&self) -> RolloutState {
        match self {
            Transition::Pause { .. } => RolloutState::Paused,
            Transition::Resume => RolloutState::Running,
            Transition::Abort { .. } => RolloutState::Aborted,
            Transition::Fail { rollback: true, .. } => RolloutState::RolledBack,
            Transition::Fail {
                rollback: false, ..
            } => RolloutState::Paused,
            Transition::Succeed => RolloutState::Succeeded,
        }
    }

    /// Why, as the rollout's reason reads.
    fn reason(&self) -> String {
        match self {
            Transition::Pause { by } => format!("paused by {by}"),
            Transition::Abort { by } => format!("aborted by {by}"),
            Transition::Fail {
                rollback: true,
                reason,
            } => format!("rolled back: {reason}"),
            Transition::Fail {
                rollback: false,
                reason,
            } => format!("paused: {reason}"),
            Transition::Resume | Transition::Succeed => String::new(),
        }
    }

    /// The rollout back to the revision before, for the moves that take one.
    fn back<'a>(&'a self, r: &RolloutRow, now: i64) -> Option<NewRollout<'a>> {
        let (kind, author) = match self {
            Transition::Abort { by } => (RolloutKind::Rollback, by.as_str()),
            Transition::Fail { rollback: true, .. } => (RolloutKind::AutoRollback, BERTH),
            _ => return None,
        };
        Some(NewRollout {
            service_id: r.service_id,
            from_revision: r.to_revision,
            to_revision: r.from_revision,
            kind,
            author,
            now,
        })
    }
}

/// Whether a rollout may move from `from` to `to` at all: the state machine above.
pub fn allowed(from: RolloutState, to: RolloutState) -> bool {
    use RolloutState::*;
    matches!(
        (from, to),
        (Running, Paused | Aborted | RolledBack | Succeeded) | (Paused, Running | Aborted)
    )
}

/// How a transition went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written, with the rollout back when the move takes one.
    Done,
    /// The rollout had moved on meanwhile: nothing was written.
    Lost,
}

/// Moves `rollout` (as the caller last read it) by `t`, guarded on the states `t`
/// expects; a lost race is logged and changes nothing.
pub async fn apply(
    store: &Store,
    rollout: &RolloutRow,
    t: &Transition,
    now: i64,
) -> Result<Outcome, StoreError> {
    let reason = t.reason();
    let expect = Expect {
        id: rollout.id,
        states: t.from(),
    };
    let m = Move {
        to: t.to(),
        reason: &reason,
        now,
        then: t.back(rollout, now),
    };
    if store.move_rollout(expect, m).await? {
        Ok(Outcome::Done)
    } else {
        tracing::info!(
            rollout = rollout.id,
            service = rollout.service_id,
            transition = ?t,
            "rollout: moved on meanwhile; nothing written"
        );
        Ok(Outcome::Lost)
    }
}

/// Records that a batch of `rollout` turned healthy at `at` with `ready` new
/// replicas ready; `Lost` when it moved on or that batch was recorded already.
pub async fn batch_done(
    store: &Store,
    rollout: &RolloutRow,
    at: i64,
    ready: u32,
) -> Result<Outcome, StoreError> {
    Ok(if store.set_batch_done(rollout.id, at, ready).await? {
        Outcome::Done
    } else {
        Outcome::Lost
    })
}

/// The service a deploy starts from: its id, its current revision and that
/// revision's spec and hash.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub service_id: i64,
    pub revision: i64,
    pub spec: &'a ServiceSpec,
    pub spec_hash: &'a str,
}

/// A person's deploy: the service's next revision, and the rollout to it; a
/// rollout under way is superseded. Returns the revision. A spec that differs from
/// the current one only in how replicas change keeps its hash, so its replicas stay
/// (whatever hash rule the current revision was written under).
pub async fn deploy(
    store: &Store,
    current: Current<'_>,
    spec: &ServiceSpec,
    author: &str,
    message: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let hash = if spec.same_replicas(current.spec) {
        current.spec_hash.to_string()
    } else {
        spec.hash()
    };
    let (service_id, from_revision) = (current.service_id, current.revision);
    let from = NewRollout {
        service_id,
        from_revision,
        to_revision: 0,
        kind: RolloutKind::Deploy,
        author,
        now,
    };
    store
        .deploy_revision(service_id, spec, &hash, message, from)
        .await
}

/// A person's rollback to an existing revision; a rollout under way is superseded.
pub async fn roll_back(store: &Store, r: NewRollout<'_>) -> Result<i64, StoreError> {
    store.start_rollout(r).await
}

#[cfg(test)]
mod tests;
