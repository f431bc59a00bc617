//! One Docker engine through bollard: endpoint parsing, a lazily negotiated client
//! (Debian's Docker 20.10 speaks API 1.41 only; older engines are refused), TLS with
//! client certificates, facts, images, containers (made, listed, stopped, their
//! logs and usage) and the event stream.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::{Stream, StreamExt};
use tokio::sync::Mutex;

use domain::wire::{ContainerView, EngineEventView, EngineFacts};

use super::labels;

/// How long the heartbeat waits for the engine's volume plugins to answer a list.
const PLUGIN_PROBE: Duration = Duration::from_secs(2);

/// The oldest Docker Engine API Berth works with (Docker 20.10).
pub const MIN_API: (usize, usize) = (1, 41);

/// The engine's answer for what is not there (a container, a volume): "already
/// gone" is success for a removal.
const NOT_FOUND: u16 = 404;

/// A failure talking to an engine, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach Docker at {endpoint}: {cause}")]
    Unreachable { endpoint: String, cause: String },
    #[error("Docker at {endpoint} did not answer within {secs} s")]
    Timeout { endpoint: String, secs: u64 },
    #[error("Docker at {endpoint} refused: {cause}")]
    Api {
        endpoint: String,
        cause: String,
        /// The engine's HTTP status (0 when the refusal came in a stream).
        status: u16,
    },
    #[error("TLS with Docker at {endpoint} failed: {cause}")]
    Tls { endpoint: String, cause: String },
    #[error("Docker at {endpoint} speaks API {version}; Berth needs {}.{} or newer (Docker 20.10+)", MIN_API.0, MIN_API.1)]
    TooOld { endpoint: String, version: String },
}

/// A container to run, in the few terms Berth needs so far.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub name: String,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// The container port to publish (TCP), if any.
    pub publish: Option<u16>,
    /// The host address the port is published on (the host's own address).
    pub publish_ip: Option<String>,
}

/// A started container and where its published port landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: String,
    pub published: Option<(String, u16)>,
}

/// A connected client and the engine version it found.
#[derive(Clone)]
struct Connected {
    docker: Docker,
    version: String,
}

/// One Docker engine. Cheap to share; the bollard client is made and its API version
/// negotiated on first use, and made again after a failure.
pub struct DockerEngine {
    endpoint: Endpoint,
    tls: Option<TlsFiles>,
    timeout: Duration,
    client: Mutex<Option<Connected>>,
    /// The last disk usage report's volume sizes and when it was made: making one
    /// walks every volume's files, so pages that refresh share it for a while.
    sizes: Mutex<Option<(tokio::time::Instant, HashMap<String, i64>)>>,
}

/// How long volume sizes are reused before the engine is asked again.
const SIZES_FRESH: Duration = Duration::from_secs(30);

impl DockerEngine {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        DockerEngine::with_tls(endpoint, None, timeout)
    }

    /// An engine reached over TLS with a client certificate (`tcp://` endpoints).
    pub fn with_tls(endpoint: Endpoint, tls: Option<TlsFiles>, timeout: Duration) -> Self {
        DockerEngine {
            endpoint,
            tls,
            timeout,
            client: Mutex::new(None),
            sizes: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn client(&self) -> Result<Docker, DockerError> {
        Ok(self.connected().await?.docker)
    }

    async fn connected(&self) -> Result<Connected, DockerError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let secs = self.timeout.as_secs().max(1);
        let raw = match (&self.endpoint, &self.tls) {
            (Endpoint::Unix(path), _) => Docker::connect_with_unix(
                &path.to_string_lossy(),
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
            (Endpoint::Tcp { host, port }, None) => Docker::connect_with_http(
                &format!("tcp://{host}:{port}"),
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
            (Endpoint::Tcp { host, port }, Some(tls)) => Docker::connect_with_ssl(
                &format!("tcp://{host}:{port}"),
                &tls.key,
                &tls.cert,
                &tls.ca,
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| self.classify(&e))?;
        let docker = self.timed(raw.negotiate_version()).await?;
        let api = docker.client_version();
        if (api.major_version, api.minor_version) < MIN_API {
            return Err(DockerError::TooOld {
                endpoint: self.endpoint.to_string(),
                version: api.to_string(),
            });
        }
        let version = self
            .timed(docker.version())
            .await?
            .version
            .unwrap_or_default();
        let c = Connected { docker, version };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs `fut` under the engine's timeout, mapping bollard's errors to ours; any
    /// failure drops the client so that the next call connects and negotiates anew.
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        let out = self.timed(fut).await;
        if out.is_err() {
            *self.client.lock().await = None;
        }
        out
    }

    async fn timed<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(DockerError::Timeout {
                endpoint: self.endpoint.to_string(),
                secs: self.timeout.as_secs(),
            }),
            Ok(Err(e)) => Err(self.classify(&e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    fn classify(&self, e: &bollard::errors::Error) -> DockerError {
        use bollard::errors::Error as B;
        let endpoint = self.endpoint.to_string();
        match e {
            B::DockerResponseServerError {
                message,
                status_code,
            } => DockerError::Api {
                endpoint,
                cause: message.clone(),
                status: *status_code,
            },
            _ => {
                let cause = root_cause(e);
                if self.tls.is_some() && looks_like_tls(&cause) {
                    DockerError::Tls { endpoint, cause }
                } else {
                    DockerError::Unreachable { endpoint, cause }
                }
            }
        }
    }

    /// Version, capacity and container counts, straight from the engine.
    pub async fn facts(&self) -> Result<EngineFacts, DockerError> {
        let c = self.connected().await?;
        let client = c.docker;
        // A plugin found by its socket is loaded only once something asks for
        // volumes; until then the engine's own list leaves it out. Listing asks
        // every plugin: one that hangs must not make the host look dead, so the
        // probe is bounded and its failure left out (that plugin is then missing
        // from the list, and nothing is placed on its account).
        let probe = bollard::query_parameters::ListVolumesOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec!["berth.driver-probe".to_string()],
            )])),
        };
        let _ = tokio::time::timeout(PLUGIN_PROBE, client.list_volumes(Some(probe))).await;
        let info = self.call(client.info()).await?;
        Ok(EngineFacts {
            version: c.version,
            api_version: client.client_version().to_string(),
            os: info.operating_system.unwrap_or_default(),
            arch: info.architecture.unwrap_or_default(),
            cpus: info.ncpu.unwrap_or_default(),
            memory_bytes: info.mem_total.unwrap_or_default(),
            containers_running: info.containers_running.unwrap_or_default(),
            containers_total: info.containers.unwrap_or_default(),
            images: info.images.unwrap_or_default(),
            volume_drivers: info.plugins.and_then(|p| p.volume).unwrap_or_default(),
        })
    }

    /// Pulls `image` unless the engine already has it.
    pub async fn ensure_image(&self, image: &str) -> Result<(), DockerError> {
        if self.has_image(image).await? {
            return Ok(());
        }
        self.pull(image).await
    }

    /// Whether the engine holds `image`.
    pub async fn has_image(&self, image: &str) -> Result<bool, DockerError> {
        let client = self.client().await?;
        *self.sizes.lock().await = None;
        match self.timed(client.inspect_image(image)).await {
            Ok(_) => Ok(true),
            Err(DockerError::Api { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pulls `image` from its registry.
    pub async fn pull(&self, image: &str) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut progress = std::pin::pin!(client.create_image(Some(options), None, None));
        // Each step of a pull may take up to the engine's timeout; the whole pull longer.
        loop {
            let step = tokio::time::timeout(self.timeout, progress.next())
                .await
                .map_err(|_| DockerError::Timeout {
                    endpoint: self.endpoint.to_string(),
                    secs: self.timeout.as_secs(),
                })?;
            match step {
                None => break,
                Some(Err(e)) => return Err(self.classify(&e)),
                Some(Ok(info)) => {
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::Api {
                            endpoint: self.endpoint.to_string(),
                            cause: detail,
                            status: 0,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates and starts a container; returns its id and where its port landed.
    pub async fn run(&self, spec: &RunSpec) -> Result<Started, DockerError> {
        let client = self.client().await?;
        let port_key = spec.publish.map(|p| format!("{p}/tcp"));
        let host_config = HostConfig {
            port_bindings: port_key.as_ref().map(|key| {
                HashMap::from([(
                    key.clone(),
                    Some(vec![PortBinding {
                        host_ip: spec.publish_ip.clone(),
                        host_port: Some(String::new()),
                    }]),
                )])
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            labels: Some(spec.labels.clone()),
            exposed_ports: port_key.as_ref().map(|key| vec![key.clone()]),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = self
            .call(client.create_container(Some(options), body))
            .await?;
        self.call(client.start_container(&created.id, None)).await?;
        let inspect = self
            .call(client.inspect_container(&created.id, None))
            .await?;
        let published = port_key.and_then(|key| {
            let ports = inspect.network_settings?.ports?;
            let binding = ports.get(&key)?.as_ref()?.first()?.clone();
            let port = binding.host_port?.parse().ok()?;
            Some((binding.host_ip.unwrap_or_default(), port))
        });
        Ok(Started {
            id: created.id,
            published,
        })
    }

    /// Stops and removes a container; one that is already gone counts as removed.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        // Force-removal stops the container first; "already gone" is success.
        match self.timed(client.remove_container(id, Some(options))).await {
            Ok(()) => Ok(()),
            Err(DockerError::Api {
                status: NOT_FOUND, ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl DockerEngine {
    /// The containers on the engine (all of them with `all`, else the running ones),
    /// each with the Berth instance and service that made it, if one did.
    pub async fn containers(&self, all: bool) -> Result<Vec<HostContainer>, DockerError> {
        let client = self.client().await?;
        let options = ListContainersOptionsBuilder::default().all(all).build();
        let list = self.call(client.list_containers(Some(options))).await?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let owner = labels.get(labels::OWNER).cloned();
                let service_id = labels.get(labels::SERVICE_ID).and_then(|v| v.parse().ok());
                let view = ContainerView {
                    id: c.id.unwrap_or_default().chars().take(12).collect(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    status: c.status.unwrap_or_default(),
                    berth: labels.contains_key(labels::MANAGED),
                    service: labels.get(labels::SERVICE).cloned(),
                    created_ms: c.created.unwrap_or_default() * 1000,
                    hidden: false,
                };
                HostContainer {
                    view,
                    owner,
                    service_id,
                }
            })
            .collect())
    }

    /// What Berth's own containers on the engine reserve: how many there are, their
    /// CPU (millicores) and memory (bytes), read from the labels Berth puts on them.
    pub async fn berth_usage(&self) -> Result<(i64, i64, i64), DockerError> {
        let client = self.client().await?;
        let filters = HashMap::from([("label", vec![labels::MANAGED])]);
        let options = ListContainersOptionsBuilder::default()
            .all(false)
            .filters(&filters)
            .build();
        let list = self.call(client.list_containers(Some(options))).await?;
        let (mut cpu, mut memory) = (0i64, 0i64);
        for c in &list {
            let labels = c.labels.as_ref();
            let num = |key: &str| {
                labels
                    .and_then(|l| l.get(key))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            cpu += num(labels::RESERVE_CPU_MILLIS);
            memory += num(labels::RESERVE_MEMORY);
        }
        Ok((list.len() as i64, cpu, memory))
    }

    /// The engine's event stream from `since` (Unix seconds) on; it ends when the
    /// connection breaks. No timeout: the stream is quiet while nothing happens.
    pub async fn events(
        &self,
        since: Option<i64>,
    ) -> Result<impl Stream<Item = Result<EngineEventView, DockerError>> + use<'_>, DockerError>
    {
        let client = self.client().await?;
        let mut builder = EventsOptionsBuilder::default();
        let since_text = since.map(|s| s.to_string());
        if let Some(s) = &since_text {
            builder = builder.since(s);
        }
        let endpoint = self.endpoint.to_string();
        Ok(client
            .events(Some(builder.build()))
            .map(move |item| match item {
                Ok(m) => {
                    let actor = m.actor.unwrap_or_default();
                    let attributes = actor.attributes.unwrap_or_default();
                    Ok(EngineEventView {
                        at_ms: m
                            .time_nano
                            .map(|n| n / 1_000_000)
                            .or(m.time.map(|t| t * 1000))
                            .unwrap_or_default(),
                        kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                        action: m.action.unwrap_or_default(),
                        actor: attributes
                            .get("name")
                            .cloned()
                            .or(actor.id.map(|id| id.chars().take(12).collect()))
                            .unwrap_or_default(),
                    })
                }
                Err(e) => Err(DockerError::Unreachable {
                    endpoint: endpoint.clone(),
                    cause: root_cause(&e),
                }),
            }))
    }

    /// Forgets the connection, so the next call connects and negotiates anew.
    pub async fn reset(&self) {
        *self.client.lock().await = None;
    }
}

/// Whether an error's words are those of a failed TLS handshake.
fn looks_like_tls(cause: &str) -> bool {
    let c = cause.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "alert",
        "unknownissuer",
        "pem",
        "private key",
    ]
    .iter()
    .any(|w| c.contains(w))
}

/// The innermost cause of an error: "Connection refused (os error 111)" reads
/// better than the chain of wrappers around it.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Sizes from a `/system/df` body, old shape (`Volumes`) or new (`VolumeUsage.Items`).
pub fn parse_volume_sizes(body: &[u8]) -> HashMap<String, i64> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let items = v
        .get("Volumes")
        .or_else(|| v.get("VolumeUsage").and_then(|u| u.get("Items")))
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            Some((
                i.get("Name")?.as_str()?.to_string(),
                i.get("UsageData")?.get("Size")?.as_i64()?,
            ))
        })
        .filter(|(_, size)| *size >= 0)
        .collect()
}

mod containers;
mod endpoint;
mod engine;

pub use containers::{Listed, Usage};
pub use endpoint::{Endpoint, EndpointError, TlsFiles};
pub use engine::HostContainer;

#[cfg(test)]
mod tests;
