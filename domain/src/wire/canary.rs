//! A canary rollout's steps: which share of a service's requests the new
//! revision takes, and for how long, before it takes them all.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// A canary rollout: new replicas start beside the old ones and the proxy sends
/// them each step's share of the service's requests; after the last step the
/// rollout replaces the old replicas as its policy says.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// 1 to 10 steps, each with a larger weight than the one before.
    pub steps: Vec<CanaryStep>,
}

/// One step of a canary.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryStep {
    /// The percent of the service's requests the new revision takes, 1 to 99.
    pub weight: u8,
    /// How long the step holds once its new replicas are ready, in
    /// milliseconds, before the next begins by itself; without it, the step
    /// holds until a person promotes the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_ms: Option<u64>,
}

impl Canary {
    /// The most steps a canary may have.
    pub const MAX_STEPS: usize = 10;

    /// How many new replicas step `step` runs beside the `replicas` old ones:
    /// its weight's share of them, at least one.
    pub fn replicas_at(&self, step: usize, replicas: u32) -> Option<u32> {
        let w = u64::from(self.steps.get(step)?.weight);
        let share = (u64::from(replicas) * w).div_ceil(100);
        Some((share as u32).clamp(1, replicas.max(1)))
    }
}

impl std::fmt::Display for CanaryStep {
    /// `10% for 1 min`, `50% until promoted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pause_ms {
            Some(ms) => write!(
                f,
                "{}% for {}",
                self.weight,
                crate::format::duration_words(ms as i64)
            ),
            None => write!(f, "{}% until promoted", self.weight),
        }
    }
}

impl std::fmt::Display for Canary {
    /// `canary: 10% for 1 min, 50% until promoted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(ToString::to_string).collect();
        write!(f, "canary: {}", steps.join(", "))
    }
}
