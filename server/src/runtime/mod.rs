//! How Berth talks to container engines. [`ContainerRuntime`] is the one seam the
//! reconciler uses: `docker` implements it over bollard on the registered hosts,
//! `fake` in memory for the loop's tests. `labels` names what Berth writes on its
//! containers, so that observed state is read back from Docker itself.

pub mod docker;
pub mod docker_runtime;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod labels;

use async_trait::async_trait;

use domain::wire::ServiceSpec;

use std::collections::HashMap;

use crate::model::{ObservedReplica, ObservedVolume};

/// Everything needed to start one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSpec {
    pub service_id: i64,
    pub service: String,
    pub slot: u32,
    pub revision: i64,
    pub spec_hash: String,
    pub spec: ServiceSpec,
    /// The environment with every value in it (the spec's own, and its secrets'
    /// values, resolved just now).
    pub env: ResolvedEnv,
    /// The address the host's published ports are reached at.
    pub publish_ip: String,
    /// The volume classes its volumes name, by name.
    pub classes: std::collections::BTreeMap<String, crate::model::VolumeClass>,
}

/// A replica's environment, secrets resolved: only ever handed to the engine, and
/// never printed (its `Debug` names the variables, not their values).
#[derive(Clone, PartialEq, Default)]
pub struct ResolvedEnv(pub Vec<(String, crate::secrets::Plain)>);

impl ResolvedEnv {
    /// The spec's environment when it names no secret (tests, and specs without).
    pub fn plain(spec: &ServiceSpec) -> ResolvedEnv {
        ResolvedEnv(
            spec.env
                .iter()
                .filter_map(|(k, v)| match v {
                    domain::wire::EnvValue::Plain(v) => {
                        Some((k.clone(), crate::secrets::Plain(v.clone())))
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    /// As Docker takes it: `KEY=value`.
    pub fn docker(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={}", v.0)).collect()
    }
}

impl std::fmt::Debug for ResolvedEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// A failure of the runtime, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("host {0} is not registered")]
    UnknownHost(i64),
    #[error("{0}")]
    Engine(String),
    #[error("pulling {image} failed: {cause}")]
    Pull { image: String, cause: String },
}

/// A container's counters at one moment: its CPU time and the host's (all CPUs
/// together, as Docker counts them), and the memory it uses now. Two readings
/// make a CPU figure (`history::series::cpu_percent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub cpu_ns: u64,
    pub system_ns: u64,
    pub cpus: u32,
    /// Used less the page cache, as `docker stats` shows it.
    pub memory_bytes: u64,
}

/// What the reconciler needs of a container engine.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Berth's containers on a host (this Berth's: other owners' are not listed).
    async fn list(&self, host_id: i64) -> Result<Vec<ObservedReplica>, RuntimeError>;
    /// Whether the host holds the image.
    async fn has_image(&self, host_id: i64, image: &str) -> Result<bool, RuntimeError>;
    /// Pulls the image onto the host from its registry.
    async fn pull(&self, host_id: i64, image: &str) -> Result<(), RuntimeError>;
    /// Creates and starts a replica; returns its container id.
    async fn start(&self, host_id: i64, replica: &ReplicaSpec) -> Result<String, RuntimeError>;
    /// Stops and removes a container; one already gone counts as removed.
    async fn remove(&self, host_id: i64, container_id: &str) -> Result<(), RuntimeError>;
    /// Berth's volumes on a host.
    async fn volumes(&self, host_id: i64) -> Result<Vec<ObservedVolume>, RuntimeError>;
    /// The space Berth's volumes use on a host, by name (those it can tell).
    async fn volume_sizes(&self, host_id: i64) -> Result<HashMap<String, i64>, RuntimeError>;
    /// Removes a volume; the engine refuses one in use.
    async fn remove_volume(&self, host_id: i64, name: &str) -> Result<(), RuntimeError>;
    /// A running container's counters now (the history's sampler).
    async fn reading(&self, host_id: i64, container_id: &str) -> Result<Reading, RuntimeError>;
}
