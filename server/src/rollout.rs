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
//!               ├──succeed──> succeeded
//!               └──promote (Berth, a step's pause ended)──> running, next step
//!  running or paused ──promote (a person)──> running, next step (or past all)
//!  any running or paused rollout ──a newer start──> aborted ("superseded")
//! ```
//!
//! A canary rollout's step is part of its state: a promote is guarded on the
//! step it moves from, so a person's promote and Berth's own (the pause ended)
//! never move it twice.

pub mod gates;

use domain::wire::{
    CanaryStep, FailureAction, RolloutKind, RolloutState, ServiceSpec, UpdatePolicy,
};

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
    /// A canary moves from step `from` to `to` (past the last: the old
    /// replicas are replaced): by a person (`by`; a paused rollout resumes), or
    /// by Berth once the step's pause ended.
    Promote {
        by: Option<String>,
        from: u32,
        to: u32,
    },
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
            Transition::Promote { by: None, .. } => &[Running],
            Transition::Promote { by: Some(_), .. } => &[Running, Paused],
            Transition::Resume => &[Paused],
            Transition::Abort { .. } => &[Running, Paused],
        }
    }

    /// The state it leads to.
    pub fn to(&self) -> RolloutState {
        match self {
            Transition::Pause { .. } => RolloutState::Paused,
            Transition::Resume | Transition::Promote { .. } => RolloutState::Running,
            Transition::Abort { .. } => RolloutState::Aborted,
            Transition::Fail { rollback: true, .. } => RolloutState::RolledBack,
            Transition::Fail {
                rollback: false, ..
            } => RolloutState::Paused,
            Transition::Succeed => RolloutState::Succeeded,
        }
    }

    /// The canary step a promote moves to.
    pub fn promotes_to(&self) -> Option<u32> {
        match self {
            Transition::Promote { to, .. } => Some(*to),
            _ => None,
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
            Transition::Resume | Transition::Succeed | Transition::Promote { .. } => String::new(),
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
        (Running, Running | Paused | Aborted | RolledBack | Succeeded)
            | (Paused, Running | Aborted)
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
    // A promote is guarded on the step it leaves; a resume starts the step's
    // pause again (the paused time does not count towards it).
    let (at_step, step) = match t {
        Transition::Promote { from, .. } => (Some(*from), t.promotes_to()),
        Transition::Resume => (None, Some(rollout.step)),
        _ => (None, None),
    };
    let expect = Expect {
        id: rollout.id,
        states: t.from(),
        step: at_step,
    };
    let m = Move {
        to: t.to(),
        reason: &reason,
        now,
        then: t.back(rollout, now),
        step,
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

/// The canary step `r` holds, if one does: a deploy under way with canary
/// steps, not yet promoted past the last.
pub fn canary_step(r: &RolloutRow, policy: &UpdatePolicy) -> Option<CanaryStep> {
    if r.kind != RolloutKind::Deploy || !r.state.active() {
        return None;
    }
    policy.canary.as_ref()?.steps.get(r.step as usize).copied()
}

/// How many canary steps `policy` has (0: not a canary).
pub fn canary_steps(policy: &UpdatePolicy) -> u32 {
    policy.canary.as_ref().map_or(0, |c| c.steps.len() as u32)
}

/// How many slots of a service of `replicas` run a new replica beside their
/// old one while `r`'s canary step holds.
pub fn canary_replicas(r: &RolloutRow, policy: &UpdatePolicy, replicas: u32) -> Option<u32> {
    canary_step(r, policy)?;
    policy
        .canary
        .as_ref()?
        .replicas_at(r.step as usize, replicas)
}

/// "canary of revision 5 promoted to step 2 of 2 (50%): its pause ended", or
/// "... promoted past its last step: the old replicas are replaced: by ann".
pub fn promoted_words(r: &RolloutRow, policy: &UpdatePolicy, to: u32, why: &str) -> String {
    let step = policy
        .canary
        .as_ref()
        .and_then(|c| c.steps.get(to as usize));
    match step {
        Some(s) => format!(
            "canary of revision {} promoted to step {} of {} ({}%): {why}",
            r.to_revision,
            to + 1,
            canary_steps(policy),
            s.weight
        ),
        None => format!(
            "canary of revision {} promoted past its last step, the old replicas are replaced: {why}",
            r.to_revision
        ),
    }
}

/// Records that `rollout`'s canary step has its new replicas all ready at `at`
/// (its pause counts from then); `Lost` when it moved on or was recorded.
pub async fn step_ready(
    store: &Store,
    rollout: &RolloutRow,
    at: i64,
) -> Result<Outcome, StoreError> {
    Ok(
        if store.set_step_ready(rollout.id, rollout.step, at).await? {
            Outcome::Done
        } else {
            Outcome::Lost
        },
    )
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
