//! The last hour, sampled: each replica's CPU and memory and each service's
//! traffic through the proxy, as the pages draw them.
//!
//! Every series of one answer is aligned to its `times_ms`: the n-th value was
//! sampled at the n-th time; `null` where nothing was sampled then (the replica
//! did not run yet, its engine did not answer, no request went through).

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// A replica's CPU and memory over the last hour.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaHistory {
    pub slot: u32,
    pub host: String,
    /// The container's id, shortened to 12 characters.
    pub container_id: String,
    /// Whether it was sampled at the last time (it still runs).
    pub current: bool,
    /// Percent of one CPU, averaged over each step.
    pub cpu_percent: Vec<Option<f64>>,
    pub memory_bytes: Vec<Option<f64>>,
}

/// What went through the proxy to a service, step by step.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficHistory {
    pub requests_per_second: Vec<Option<f64>>,
    /// Failed or 5xx answers over all answers (0 to 1); null without requests.
    pub error_rate: Vec<Option<f64>>,
    /// The 99th percentile of the time to the answer's head; null without requests.
    pub p99_ms: Vec<Option<f64>>,
}

/// A service's last hour: its replicas (those that ran in it) and its traffic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceHistoryView {
    pub service: String,
    /// How often a sample is taken.
    pub step_ms: i64,
    pub times_ms: Vec<i64>,
    pub replicas: Vec<ReplicaHistory>,
    pub traffic: TrafficHistory,
}

/// The replicas on a host that the caller may see, added up, over the last hour.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostHistoryView {
    pub host: String,
    pub step_ms: i64,
    pub times_ms: Vec<i64>,
    /// Percent of one CPU, all the replicas together.
    pub cpu_percent: Vec<Option<f64>>,
    pub memory_bytes: Vec<Option<f64>>,
    /// How many replicas were sampled at each time.
    pub replicas: Vec<u32>,
}

/// One service's traffic in the proxy's history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceTraffic {
    pub service: String,
    pub traffic: TrafficHistory,
}

/// Every route's service the caller may see, with its traffic over the last hour.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyHistoryView {
    pub step_ms: i64,
    pub times_ms: Vec<i64>,
    pub services: Vec<ServiceTraffic>,
}
