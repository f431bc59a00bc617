//! A rollout's gates: limits on what users feel, and the share they are
//! written in.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// A rollout's gates: the new revision's replicas, as the proxy counted them
/// over the last `window_ms`, must stay within each limit set. A breach fails
/// the rollout (its failure action), even when health checks pass; a gated
/// rollout succeeds once its last new replicas were watched a whole window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Failed or 5xx answers over all answers, above 0 and below 1 (`0.01`: 1%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub max_error_rate: Option<Ratio>,
    /// The 99th percentile of the time to the answer's head, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<u64>,
    /// How far back the counters are judged, in milliseconds (1 s to 10 min).
    #[serde(default = "defaults::gate_window")]
    pub window_ms: u64,
}

impl std::fmt::Display for Gates {
    /// `gates: at most 1% 5xx, p99 at most 300 ms, over 30 s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut limits = Vec::new();
        if let Some(r) = self.max_error_rate {
            limits.push(format!("at most {r} 5xx"));
        }
        if let Some(ms) = self.max_p99_ms {
            limits.push(format!("p99 at most {ms} ms"));
        }
        write!(
            f,
            "gates: {}, over {} s",
            limits.join(", "),
            self.window_ms as f64 / 1000.0
        )
    }
}

/// A share from 0 to 1, kept as parts per million (so that specs compare and
/// hash exactly); written and read as a number (`0.01`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ratio(pub u32);

impl Ratio {
    pub const MILLION: u32 = 1_000_000;

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Ratio::MILLION)
    }
}

impl Serialize for Ratio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(serde::de::Error::custom(format!(
                "{v} is not a share from 0 to 1"
            )));
        }
        Ok(Ratio((v * f64::from(Ratio::MILLION)).round() as u32))
    }
}

impl std::fmt::Display for Ratio {
    /// As percent, exactly (a part per million is 0.0001%): `1%`, `0.5%`,
    /// `1.2345%`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::format::percent(self.as_f64(), 4))
    }
}
