//! [`ContainerRuntime`] over the registered Docker hosts: replicas are containers
//! labelled with their service, slot, revision and spec hash, and with this Berth's
//! instance id, so that another Berth's containers (or anybody else's) are never
//! listed, let alone touched.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount, MountType, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};

use domain::wire::{HealthProbe, VolumeClassInput};

use super::docker::DockerError;
use super::{labels, ContainerRuntime, ReplicaSpec, RuntimeError};
use crate::cluster::Hosts;
use crate::model::{ObservedReplica, ObservedVolume};

/// How long a replica has to stop after SIGTERM before it is killed (Docker's
/// default).
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Replicas as Docker containers on the registered hosts.
pub struct DockerRuntime {
    hosts: Hosts,
    /// This Berth's instance id, written on every container it makes.
    owner: String,
}

impl DockerRuntime {
    pub fn new(hosts: Hosts, owner: String) -> Self {
        DockerRuntime { hosts, owner }
    }

    fn engine(
        &self,
        host_id: i64,
    ) -> Result<std::sync::Arc<crate::cluster::HostEntry>, RuntimeError> {
        self.hosts
            .get(host_id)
            .ok_or(RuntimeError::UnknownHost(host_id))
    }

    /// The Docker volume for `v` on the engine: found again by name (when its
    /// labels name this Berth, this service and the spec's class), or made from
    /// the spec's or its class's driver and options.
    async fn volume(
        &self,
        engine: &crate::runtime::docker::DockerEngine,
        replica: &ReplicaSpec,
        v: &domain::wire::VolumeSpec,
    ) -> Result<String, RuntimeError> {
        let (driver, options) = driver_of(replica, v)?;
        let failed = |e: DockerError| RuntimeError::Engine(format!("volume {}: {e}", v.name));
        let name = labels::volume_name(
            &self.owner,
            replica.service_id,
            &replica.service,
            v,
            replica.slot,
        );
        let legacy = labels::legacy_volume_name(&replica.service, v, replica.slot);
        let existing = engine.volume_labels(&name).await.map_err(failed)?;
        // A volume keeps the class it was made with: another one's would be other
        // data under the same name.
        if let Some(was) = existing.as_ref().map(|l| l.get(labels::CLASS)) {
            if was != v.class.as_ref() {
                return Err(RuntimeError::Engine(format!(
                    "volume {}: {name} on this host was made {}, not as the spec says now; give the volume a new name",
                    v.name,
                    was.map_or("without a class".to_string(), |c| format!("from class {c}"))
                )));
            }
        }
        let old = engine.volume_labels(&legacy).await.map_err(failed)?;
        match labels::choose_volume(
            &self.owner,
            replica.service_id,
            name,
            existing.as_ref(),
            (legacy, old.as_ref()),
        ) {
            labels::VolumeChoice::Mount(n) => Ok(n),
            labels::VolumeChoice::Make(n) => {
                let labels = labels::volume_labels(
                    &self.owner,
                    replica.service_id,
                    &replica.service,
                    v,
                    replica.slot,
                );
                let options = VolumeClassInput::options_for(&options, &n);
                engine
                    .ensure_volume(&n, &driver, &options, labels)
                    .await
                    .map_err(failed)?;
                Ok(n)
            }
            labels::VolumeChoice::Refuse(why) => {
                Err(RuntimeError::Engine(format!("volume {}: {why}", v.name)))
            }
        }
    }
}

fn engine_error(e: DockerError) -> RuntimeError {
    RuntimeError::Engine(e.to_string())
}

/// A container name that is new on the host: `<service>.<slot>.<suffix>`, as Swarm
/// names its tasks.
fn container_name(r: &ReplicaSpec) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let suffix = (nanos ^ N.fetch_add(1, Ordering::Relaxed).rotate_left(40)) & 0xff_ffff_ffff;
    format!("{}.{}.{suffix:010x}", r.service, r.slot)
}

/// What every container Berth makes may not do, whatever its spec says: gain
/// privileges through setuid binaries and the like.
pub const SECURITY_OPT: &str = "no-new-privileges";

/// What Docker is asked to make for a replica. `volumes` are the Docker volumes to
/// mount, by the name the spec gives them.
///
/// What a spec may ask of Docker is this list and nothing more: image, command,
/// arguments, environment, one published port, CPU and memory, a health command,
/// named volumes. Never privileges, capabilities, devices, the host's network,
/// PID or IPC namespaces, or a path of the host (a test holds it to that).
pub fn create_body(
    r: &ReplicaSpec,
    owner: &str,
    volumes: &HashMap<String, String>,
) -> ContainerCreateBody {
    let spec = &r.spec;
    let mut labels = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::OWNER.to_string(), owner.to_string()),
        (labels::SERVICE.to_string(), r.service.clone()),
        (labels::SERVICE_ID.to_string(), r.service_id.to_string()),
        (labels::SLOT.to_string(), r.slot.to_string()),
        (labels::REVISION.to_string(), r.revision.to_string()),
        (labels::SPEC_HASH.to_string(), r.spec_hash.clone()),
        (
            labels::RESERVE_CPU_MILLIS.to_string(),
            spec.resources.cpu_millis.to_string(),
        ),
        (
            labels::RESERVE_MEMORY.to_string(),
            spec.resources.memory_bytes.to_string(),
        ),
    ]);
    // Always written (empty without a fixed port): an image's own `berth.*`
    // labels never stand in for Berth's.
    labels.insert(
        labels::HOST_PORT.to_string(),
        spec.host_port.map(|p| p.to_string()).unwrap_or_default(),
    );
    let port_key = spec.port.map(|p| format!("{p}/tcp"));
    let ms_to_ns = |ms: u64| (ms as i64).saturating_mul(1_000_000);
    let healthcheck = spec.health.as_ref().and_then(|h| match &h.probe {
        // Berth probes HTTP checks itself, from outside.
        HealthProbe::Http { .. } => None,
        HealthProbe::Command { command } => Some(HealthConfig {
            test: Some(
                std::iter::once("CMD".to_string())
                    .chain(command.iter().cloned())
                    .collect(),
            ),
            interval: Some(ms_to_ns(h.interval_ms)),
            timeout: Some(ms_to_ns(h.timeout_ms)),
            retries: Some(i64::from(h.retries)),
            start_period: Some(ms_to_ns(h.start_period_ms)),
            start_interval: None,
        }),
    });
    let r_ = &spec.resources;
    let host_config = HostConfig {
        port_bindings: port_key.as_ref().map(|key| {
            HashMap::from([(
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(r.publish_ip.clone()),
                    host_port: Some(spec.host_port.map(|p| p.to_string()).unwrap_or_default()),
                }]),
            )])
        }),
        // Berth replaces replicas itself; Docker restarting them behind its back
        // would hide crashes.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        // An init process forwards SIGTERM, so that images whose program runs as
        // PID 1 without handling signals still stop at once.
        init: Some(true),
        memory: (r_.memory_limit_bytes > 0).then_some(r_.memory_limit_bytes as i64),
        memory_reservation: (r_.memory_bytes > 0).then_some(r_.memory_bytes as i64),
        nano_cpus: (r_.cpu_limit_millis > 0).then_some(i64::from(r_.cpu_limit_millis) * 1_000_000),
        mounts: (!spec.volumes.is_empty()).then(|| {
            spec.volumes
                .iter()
                .filter_map(|v| {
                    Some(Mount {
                        target: Some(v.path.clone()),
                        source: Some(volumes.get(&v.name)?.clone()),
                        typ: Some(MountType::VOLUME),
                        read_only: Some(v.read_only),
                        ..Default::default()
                    })
                })
                .collect()
        }),
        security_opt: Some(vec![SECURITY_OPT.to_string()]),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: (!spec.command.is_empty()).then(|| spec.command.clone()),
        cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
        env: (!r.env.0.is_empty()).then(|| r.env.docker()),
        labels: Some(labels),
        exposed_ports: port_key.map(|key| vec![key]),
        healthcheck,
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The driver and options a volume is made with: its class's (an admin's), or
/// the spec's own, which are `local` and never reach the host, whoever asks.
fn driver_of(
    replica: &ReplicaSpec,
    v: &domain::wire::VolumeSpec,
) -> Result<(String, BTreeMap<String, String>), RuntimeError> {
    if let Some(name) = &v.class {
        let class = replica.classes.get(name).ok_or_else(|| {
            RuntimeError::Engine(format!(
                "volume {}: the class {name} does not exist",
                v.name
            ))
        })?;
        return Ok((class.driver.clone(), class.options.clone()));
    }
    if v.driver != "local" {
        return Err(RuntimeError::Engine(format!(
            "volume {}: only the local driver is allowed",
            v.name
        )));
    }
    domain::validate::volume_options(v).map_err(RuntimeError::Engine)?;
    Ok((v.driver.clone(), v.options.clone()))
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn list(&self, host_id: i64) -> Result<Vec<ObservedReplica>, RuntimeError> {
        let entry = self.engine(host_id)?;
        let listed = entry
            .engine
            .labelled(labels::OWNER, &self.owner)
            .await
            .map_err(engine_error)?;
        Ok(listed
            .iter()
            .filter_map(|c| {
                labels::observe(
                    host_id,
                    &c.id,
                    &c.labels,
                    &c.state,
                    &c.status,
                    c.created_s,
                    &c.ports,
                )
            })
            .collect())
    }

    async fn has_image(&self, host_id: i64, image: &str) -> Result<bool, RuntimeError> {
        let entry = self.engine(host_id)?;
        entry.engine.has_image(image).await.map_err(engine_error)
    }

    async fn pull(&self, host_id: i64, image: &str) -> Result<(), RuntimeError> {
        let entry = self.engine(host_id)?;
        entry
            .engine
            .pull(image)
            .await
            .map_err(|e| RuntimeError::Pull {
                image: image.to_string(),
                cause: match e {
                    DockerError::Api { cause, .. } => cause,
                    other => other.to_string(),
                },
            })
    }

    async fn start(&self, host_id: i64, replica: &ReplicaSpec) -> Result<String, RuntimeError> {
        let entry = self.engine(host_id)?;
        // Its volumes first: made once, then found again by name on every start,
        // and mounted only when their labels name this Berth and this service.
        let mut volumes = HashMap::new();
        for v in &replica.spec.volumes {
            let chosen = self.volume(&entry.engine, replica, v).await?;
            volumes.insert(v.name.clone(), chosen);
        }
        entry
            .engine
            .create_and_start(
                &container_name(replica),
                create_body(replica, &self.owner, &volumes),
            )
            .await
            .map_err(engine_error)
    }

    async fn remove(&self, host_id: i64, container_id: &str) -> Result<(), RuntimeError> {
        let entry = self.engine(host_id)?;
        entry
            .engine
            .stop_and_remove(container_id, STOP_GRACE)
            .await
            .map_err(engine_error)
    }

    async fn volumes(&self, host_id: i64) -> Result<Vec<ObservedVolume>, RuntimeError> {
        let entry = self.engine(host_id)?;
        let listed = entry
            .engine
            .volumes_labelled(labels::OWNER, &self.owner)
            .await
            .map_err(engine_error)?;
        Ok(listed
            .iter()
            .filter_map(|v| {
                labels::observe_volume(host_id, &v.name, &v.driver, &v.created_at, &v.labels)
            })
            .collect())
    }

    async fn volume_sizes(&self, host_id: i64) -> Result<HashMap<String, i64>, RuntimeError> {
        let entry = self.engine(host_id)?;
        entry.engine.volume_sizes().await.map_err(engine_error)
    }

    async fn remove_volume(&self, host_id: i64, name: &str) -> Result<(), RuntimeError> {
        let entry = self.engine(host_id)?;
        entry.engine.remove_volume(name).await.map_err(engine_error)
    }

    async fn reading(
        &self,
        host_id: i64,
        container_id: &str,
    ) -> Result<super::Reading, RuntimeError> {
        let entry = self.engine(host_id)?;
        entry
            .engine
            .reading(container_id)
            .await
            .map_err(engine_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(json: serde_json::Value) -> ReplicaSpec {
        let spec: domain::wire::ServiceSpec = serde_json::from_value(json).unwrap();
        ReplicaSpec {
            service_id: 4,
            service: "web".into(),
            slot: 2,
            revision: 3,
            spec_hash: spec.hash(),
            env: super::super::ResolvedEnv::plain(&spec),
            spec,
            publish_ip: "127.0.0.12".into(),
            classes: Default::default(),
        }
    }

    /// The spec with every field Berth knows set: what reaches Docker of it is
    /// the explicit list below, and nothing that reaches the host.
    #[test]
    fn what_a_spec_may_ask_of_docker_is_an_explicit_list() {
        let mut r = replica(serde_json::json!({
            "image": "x", "command": ["sh"], "args": ["-c", "true"], "env": {"A": "1"},
            "port": 8080, "host_port": 9000,
            "resources": {"cpu_millis": 1, "memory_bytes": 8388608, "cpu_limit_millis": 2, "memory_limit_bytes": 8388608},
            "health": {"kind": "command", "command": ["true"]},
            "restart": "on-failure",
            "placement": {"constraints": ["zone=a"], "strategy": "binpack"},
            "update": {"max_surge": 2},
            "volumes": [{"name": "data", "path": "/data", "read_only": true, "scope": "shared",
                         "options": {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}}]
        }));
        // Every field of the spec is set above: a new one must be looked at here.
        let mut fields: Vec<String> = serde_json::to_value(&r.spec)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "args",
                "command",
                "env",
                "health",
                "host_port",
                "image",
                "placement",
                "port",
                "resources",
                "restart",
                "update",
                "volumes"
            ]
        );
        r.slot = 1;
        let volumes = HashMap::from([("data".to_string(), "berth_4.web.data".to_string())]);
        let body = create_body(&r, "o", &volumes);
        let keys = |v: serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect();
            k.sort();
            k
        };
        let host = serde_json::to_value(body.host_config.clone().unwrap()).unwrap();
        assert_eq!(
            keys(host.clone()),
            [
                "Init",
                "Memory",
                "MemoryReservation",
                "Mounts",
                "NanoCpus",
                "PortBindings",
                "RestartPolicy",
                "SecurityOpt"
            ]
        );
        assert_eq!(
            host["SecurityOpt"],
            serde_json::json!(["no-new-privileges"])
        );
        // Named volumes only, never a path of the host.
        assert_eq!(
            host["Mounts"],
            serde_json::json!([{"Target": "/data", "Source": "berth_4.web.data", "Type": "volume", "ReadOnly": true}])
        );
        let top = serde_json::to_value(&body).unwrap();
        assert_eq!(
            keys(top),
            [
                "Cmd",
                "Entrypoint",
                "Env",
                "ExposedPorts",
                "Healthcheck",
                "HostConfig",
                "Image",
                "Labels"
            ]
        );
    }

    #[test]
    fn a_replica_becomes_a_labelled_container_with_its_limits() {
        let r = replica(serde_json::json!({
            "image": "127.0.0.1:5000/berth-demo:v1", "port": 8080, "args": ["httpd", "-f"],
            "env": {"A": "1"},
            "resources": {"cpu_millis": 250, "memory_bytes": 67108864, "cpu_limit_millis": 500, "memory_limit_bytes": 134217728},
            "health": {"kind": "command", "command": ["true"], "interval_ms": 1000}
        }));
        let body = create_body(&r, "owner-1", &HashMap::new());
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::OWNER], "owner-1");
        assert_eq!(labels[labels::SLOT], "2");
        assert_eq!(labels[labels::REVISION], "3");
        assert_eq!(labels[labels::RESERVE_MEMORY], "67108864");
        assert_eq!(body.cmd.unwrap(), ["httpd", "-f"]);
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.env.unwrap(), ["A=1"]);
        let hc = body.host_config.unwrap();
        assert_eq!(hc.memory, Some(134_217_728));
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        let binding = &hc.port_bindings.unwrap()["8080/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.12"));
        assert_eq!(binding.host_port.as_deref(), Some(""));
        let health = body.healthcheck.unwrap();
        assert_eq!(health.test.unwrap(), ["CMD", "true"]);
        assert_eq!(health.interval, Some(1_000_000_000));
    }

    #[test]
    fn http_checks_are_probed_by_berth_not_docker() {
        let r = replica(serde_json::json!({
            "image": "x", "port": 8080, "host_port": 9000,
            "health": {"kind": "http", "path": "/healthz"}
        }));
        let body = create_body(&r, "o", &HashMap::new());
        assert_eq!(body.healthcheck, None);
        let hc = body.host_config.unwrap();
        assert_eq!(
            hc.port_bindings.unwrap()["8080/tcp"].clone().unwrap()[0]
                .host_port
                .as_deref(),
            Some("9000")
        );
        assert_eq!(body.labels.unwrap()[labels::HOST_PORT], "9000");
        assert!(container_name(&r).starts_with("web.2."));
        assert_ne!(container_name(&r), container_name(&r));
    }
}
