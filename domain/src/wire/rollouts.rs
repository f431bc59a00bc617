//! Rollouts, rollbacks and the diff between revisions.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// Why a rollout runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutKind {
    /// A new revision was deployed.
    Deploy,
    /// Someone rolled back to an earlier revision (or aborted a rollout).
    Rollback,
    /// A rollout failed and Berth went back by itself.
    AutoRollback,
}

impl RolloutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutKind::Deploy => "deploy",
            RolloutKind::Rollback => "rollback",
            RolloutKind::AutoRollback => "auto_rollback",
        }
    }

    pub fn parse(s: &str) -> Option<RolloutKind> {
        [
            RolloutKind::Deploy,
            RolloutKind::Rollback,
            RolloutKind::AutoRollback,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a rollout is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Running,
    Paused,
    Succeeded,
    /// Its new replicas failed; Berth went back to the previous revision.
    RolledBack,
    /// Stopped by a person, or replaced by a newer deploy or rollback.
    Aborted,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Succeeded => "succeeded",
            RolloutState::RolledBack => "rolled_back",
            RolloutState::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<RolloutState> {
        [
            RolloutState::Running,
            RolloutState::Paused,
            RolloutState::Succeeded,
            RolloutState::RolledBack,
            RolloutState::Aborted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn active(self) -> bool {
        matches!(self, RolloutState::Running | RolloutState::Paused)
    }
}

/// A rollout, and how far it got.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: i64,
    pub service: String,
    pub from_revision: i64,
    pub to_revision: i64,
    pub kind: RolloutKind,
    pub state: RolloutState,
    /// Why it ended or paused ("rolled back: 2 of 2 new replicas failed …").
    pub reason: String,
    pub author: String,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// Replicas wanted, of those on the new revision and healthy, and replicas of
    /// other revisions still there.
    pub wanted: u32,
    pub new_ready: u32,
    pub old_remaining: u32,
    /// What it does now, in words.
    pub phase: String,
    /// Why it runs: the message of the revision it goes to ("secret db-password
    /// changed: version 3 → 4").
    #[serde(default)]
    pub message: String,
    /// Where its canary is, while a step of it holds (not before a canary
    /// rollout's first step, nor once it was promoted past its last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryView>,
}

/// A canary rollout's step under way.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryView {
    /// The step, from 1.
    pub step: u32,
    pub steps: u32,
    /// The percent of the service's requests its new replicas take.
    pub weight: u8,
    /// New replicas the step runs beside the old ones, and of those ready.
    pub replicas: u32,
    pub ready: u32,
    /// When the step ends by itself (its pause counted from when its new
    /// replicas were all ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at_ms: Option<i64>,
    /// The step holds until a person promotes the rollout.
    pub until_promoted: bool,
}

/// `POST /api/v1/services/{name}/rollout/promote`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteInput {
    /// Past every canary step at once (to replacing the old replicas); without
    /// it, to the next step.
    #[serde(default)]
    pub full: bool,
}

/// `POST /api/v1/services/{name}/rollback`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    /// The revision to go back to; the one before the current without it.
    #[serde(default)]
    pub revision: Option<i64>,
}

/// What differs between two revisions, field by field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    /// `image: demo:v1 → demo:v2`, one line per change; empty when the same.
    pub changes: Vec<String>,
}
