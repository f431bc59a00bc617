//! An in-memory runtime for the reconciler's tests: hosts that can be made to fail,
//! containers that can be killed, and a log of every call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::wire::{Health, VolumeScope};

use super::{ContainerRuntime, ReplicaSpec, RuntimeError};
use crate::clock::{Clock, SystemClock};
use crate::model::{ObservedReplica, ObservedVolume, Status};

#[derive(Default)]
struct Inner {
    containers: BTreeMap<String, ObservedReplica>,
    failing_hosts: HashSet<i64>,
    failing_starts: u32,
    /// Images no host has, and whether pulling them fails.
    missing_images: BTreeMap<String, bool>,
    /// Images whose containers fail their health check.
    sick_images: HashSet<String>,
    /// Volumes by (host, name).
    volumes: BTreeMap<(i64, String), ObservedVolume>,
    /// The environment each container was made with.
    envs: HashMap<String, super::ResolvedEnv>,
    next: u64,
    /// How often each container was read (its CPU counters grow by as much).
    readings: HashMap<String, u64>,
    calls: Vec<String>,
    clock: i64,
}

/// The instance id the fake's volumes are named with.
pub const FAKE_OWNER: &str = "fa4e0000";

/// Containers in memory, by id.
pub struct FakeRuntime {
    inner: Mutex<Inner>,
    /// Containers are made at this clock's time (the loop's, in loop tests).
    time: Arc<dyn Clock>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime::with_clock(Arc::new(SystemClock))
    }
}

impl FakeRuntime {
    pub fn new() -> Self {
        FakeRuntime::default()
    }

    /// A runtime whose containers are made at `time`'s time.
    pub fn with_clock(time: Arc<dyn Clock>) -> Self {
        FakeRuntime {
            inner: Mutex::default(),
            time,
        }
    }

    /// Every container, as the reconciler would observe it.
    pub fn containers(&self) -> Vec<ObservedReplica> {
        self.inner
            .lock()
            .unwrap()
            .containers
            .values()
            .cloned()
            .collect()
    }

    /// The environment a container was made with, as Docker would get it.
    pub fn env_of(&self, container_id: &str) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .envs
            .get(container_id)
            .map(|e| e.docker())
            .unwrap_or_default()
    }

    /// Makes every call to a host fail (or succeed again).
    pub fn fail_host(&self, host_id: i64, failing: bool) {
        let mut i = self.inner.lock().unwrap();
        if failing {
            i.failing_hosts.insert(host_id);
        } else {
            i.failing_hosts.remove(&host_id);
        }
    }

    /// Makes the next `n` starts fail.
    pub fn fail_starts(&self, n: u32) {
        self.inner.lock().unwrap().failing_starts = n;
    }

    /// Hosts lack `image`; pulling it fails when `pull_fails`.
    pub fn missing_image(&self, image: &str, pull_fails: bool) {
        self.inner
            .lock()
            .unwrap()
            .missing_images
            .insert(image.to_string(), pull_fails);
    }

    /// Containers of `image` started from now on fail their health check (or pass
    /// it again).
    pub fn sick_image(&self, image: &str, sick: bool) {
        let mut i = self.inner.lock().unwrap();
        if sick {
            i.sick_images.insert(image.to_string());
        } else {
            i.sick_images.remove(image);
        }
    }

    /// Sets a container's health, as Docker's HEALTHCHECK would.
    pub fn set_health(&self, container_id: &str, health: Health) {
        if let Some(c) = self.inner.lock().unwrap().containers.get_mut(container_id) {
            c.health = health;
        }
    }

    /// A container exits with `code`, as after `docker kill`.
    pub fn kill(&self, container_id: &str, code: i64) {
        if let Some(c) = self.inner.lock().unwrap().containers.get_mut(container_id) {
            c.status = Status::Exited { code };
        }
    }

    /// Adds a container as if another Berth (or a person) had made it.
    pub fn put(&self, replica: ObservedReplica) {
        self.inner
            .lock()
            .unwrap()
            .containers
            .insert(replica.container_id.clone(), replica);
    }

    /// The calls made so far, e.g. `start s1/2@h1`.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }

    fn check(i: &Inner, host_id: i64) -> Result<(), RuntimeError> {
        if i.failing_hosts.contains(&host_id) {
            Err(RuntimeError::Engine(format!(
                "host {host_id} does not answer"
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn list(&self, host_id: i64) -> Result<Vec<ObservedReplica>, RuntimeError> {
        let i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        Ok(i.containers
            .values()
            .filter(|c| c.host_id == host_id)
            .cloned()
            .collect())
    }

    async fn has_image(&self, host_id: i64, image: &str) -> Result<bool, RuntimeError> {
        let i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        Ok(!i.missing_images.contains_key(image))
    }

    async fn pull(&self, host_id: i64, image: &str) -> Result<(), RuntimeError> {
        let mut i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        i.calls.push(format!("pull {image}@h{host_id}"));
        match i.missing_images.get(image) {
            Some(true) => Err(RuntimeError::Pull {
                image: image.into(),
                cause: "manifest unknown".into(),
            }),
            _ => {
                i.missing_images.remove(image);
                Ok(())
            }
        }
    }

    async fn start(&self, host_id: i64, r: &ReplicaSpec) -> Result<String, RuntimeError> {
        let mut i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        i.calls
            .push(format!("start s{}/{}@h{host_id}", r.service_id, r.slot));
        if i.failing_starts > 0 {
            i.failing_starts -= 1;
            return Err(RuntimeError::Engine(
                "the engine refused to start it".into(),
            ));
        }
        for v in &r.spec.volumes {
            let name = super::labels::volume_name(FAKE_OWNER, r.service_id, &r.service, v, r.slot);
            // The fake's volumes are all this Berth's; one of that name must be
            // this service's, as the Docker runtime checks by its labels.
            if let Some(other) = i.volumes.get(&(host_id, name.clone())) {
                if other.service_id != r.service_id {
                    return Err(RuntimeError::Engine(format!(
                        "volume {}: a volume named {name} exists on the host and is not this service's; Berth will not mount it",
                        v.name
                    )));
                }
            }
            i.volumes
                .entry((host_id, name.clone()))
                .or_insert_with(|| ObservedVolume {
                    host_id,
                    name,
                    service_id: r.service_id,
                    service: r.service.clone(),
                    volume: v.name.clone(),
                    slot: (v.scope == VolumeScope::PerReplica).then_some(r.slot),
                    scope: v.scope,
                    driver: v
                        .class
                        .as_ref()
                        .and_then(|c| r.classes.get(c))
                        .map_or_else(|| v.driver.clone(), |c| c.driver.clone()),
                    created_at: String::new(),
                    class: v.class.clone(),
                });
        }
        i.next += 1;
        let id = format!("fake-{}", i.next);
        i.envs.insert(id.clone(), r.env.clone());
        // Each new container is newer than the last, and as new as now.
        i.clock = (i.clock + 1).max(self.time.now_ms());
        let created_ms = i.clock;
        let sick = i.sick_images.contains(&r.spec.image);
        i.containers.insert(
            id.clone(),
            ObservedReplica {
                container_id: id.clone(),
                host_id,
                service_id: r.service_id,
                slot: r.slot,
                revision: r.revision,
                spec_hash: r.spec_hash.clone(),
                status: Status::Running,
                health: match (&r.spec.health, sick) {
                    (None, _) => Health::None,
                    (Some(_), true) => Health::Unhealthy,
                    (Some(_), false) => Health::Healthy,
                },
                created_ms,
                cpu_millis: u64::from(r.spec.resources.cpu_millis),
                memory_bytes: r.spec.resources.memory_bytes,
                host_port: r.spec.host_port,
                endpoint: None,
                pending: false,
                stopping: false,
            },
        );
        Ok(id)
    }

    async fn remove(&self, host_id: i64, container_id: &str) -> Result<(), RuntimeError> {
        let mut i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        i.calls.push(format!("remove {container_id}@h{host_id}"));
        i.containers.remove(container_id);
        Ok(())
    }

    async fn volumes(&self, host_id: i64) -> Result<Vec<ObservedVolume>, RuntimeError> {
        let i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        Ok(i.volumes
            .values()
            .filter(|v| v.host_id == host_id)
            .cloned()
            .collect())
    }

    async fn volume_sizes(&self, host_id: i64) -> Result<HashMap<String, i64>, RuntimeError> {
        let i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        Ok(i.volumes
            .keys()
            .filter(|(h, _)| *h == host_id)
            .map(|(_, name)| (name.clone(), 0))
            .collect())
    }

    async fn remove_volume(&self, host_id: i64, name: &str) -> Result<(), RuntimeError> {
        let mut i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        i.calls.push(format!("remove volume {name}@h{host_id}"));
        i.volumes.remove(&(host_id, name.to_string()));
        Ok(())
    }

    /// A container that uses 5 % of one CPU between any two readings, and 32 MiB
    /// and a MiB a slot.
    async fn reading(
        &self,
        host_id: i64,
        container_id: &str,
    ) -> Result<super::Reading, RuntimeError> {
        let mut i = self.inner.lock().unwrap();
        Self::check(&i, host_id)?;
        let slot = match i.containers.get(container_id) {
            Some(c) if c.host_id == host_id => c.slot,
            _ => {
                return Err(RuntimeError::Engine(format!(
                    "no such container: {container_id}"
                )))
            }
        };
        let n = i.readings.entry(container_id.to_string()).or_default();
        *n += 1;
        Ok(super::Reading {
            cpu_ns: *n * 50_000_000,
            system_ns: *n * 1_000_000_000,
            cpus: 1,
            memory_bytes: (32 + u64::from(slot)) << 20,
        })
    }
}
