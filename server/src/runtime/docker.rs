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

use app::wire::{ContainerView, EngineEventView, EngineFacts};

use super::labels;

/// The oldest Docker Engine API Berth works with (Docker 20.10).
pub const MIN_API: (usize, usize) = (1, 41);

/// Files with the PEM material of a TLS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where a Docker engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP; `http://` is accepted as a synonym)
    Tcp { host: String, port: u16 },
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "invalid Docker endpoint '{0}': expected unix:///path/to/docker.sock or tcp://host:port"
    )]
    Scheme(String),
    #[error("invalid Docker endpoint '{0}': the socket path must be absolute, as in unix:///var/run/docker.sock")]
    RelativePath(String),
    #[error("invalid Docker endpoint '{0}': expected tcp://host:port with a port from 1 to 65535")]
    Port(String),
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(EndpointError::RelativePath(s.to_string()));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let rest = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| EndpointError::Scheme(s.to_string()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| EndpointError::Port(s.to_string()))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| EndpointError::Port(s.to_string()))?;
        if host.is_empty() || host.contains('/') {
            return Err(EndpointError::Scheme(s.to_string()));
        }
        Ok(Endpoint::Tcp {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

impl Endpoint {
    /// A name for an engine given without one: `local` for the standard socket, the
    /// socket's folder for other sockets, the host for TCP.
    pub fn default_name(&self) -> String {
        match self {
            Endpoint::Unix(path) if path == &PathBuf::from("/var/run/docker.sock") => {
                "local".into()
            }
            Endpoint::Unix(path) => path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "local".into()),
            Endpoint::Tcp { host, .. } => host.clone(),
        }
    }
}

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

/// One of Berth's containers as `docker ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, …
    pub state: String,
    /// Docker's words: `Up 3 minutes (healthy)`, `Exited (137) 2 seconds ago`.
    pub status: String,
    pub created_s: i64,
    /// Published TCP ports: (host address, host port, container port).
    pub ports: Vec<(String, u16, u16)>,
}

/// CPU and memory of a container, from one stats sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Percent of one CPU.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}

impl DockerEngine {
    /// Every container with `label=value` (all states).
    pub async fn labelled(&self, label: &str, value: &str) -> Result<Vec<Listed>, DockerError> {
        let client = self.client().await?;
        let filter = format!("{label}={value}");
        let filters = HashMap::from([("label", vec![filter.as_str()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self.call(client.list_containers(Some(options))).await?;
        Ok(list
            .into_iter()
            .map(|c| Listed {
                id: c.id.unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                created_s: c.created.unwrap_or_default(),
                ports: c
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        Some((p.ip.unwrap_or_default(), p.public_port?, p.private_port))
                    })
                    .collect(),
            })
            .collect())
    }

    /// Creates and starts a container from a full create body; returns its id. A
    /// container that was created but does not start is removed again.
    pub async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, DockerError> {
        let client = self.client().await?;
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self
            .call(client.create_container(Some(options), body))
            .await?;
        if let Err(e) = self.call(client.start_container(&created.id, None)).await {
            let _ = self.remove(&created.id).await;
            return Err(e);
        }
        Ok(created.id)
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace`) and removes it; one
    /// that is already gone counts as removed.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        let stopped = tokio::time::timeout(
            grace + self.timeout,
            client.stop_container(id, Some(options)),
        )
        .await;
        match stopped {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(e)) => match self.classify(&e) {
                // 304 (already stopped) and 404 (gone) are fine; removal says the rest.
                DockerError::Api { .. } => {}
                other => return Err(other),
            },
        }
        self.remove(id).await
    }

    /// The last `tail` lines of a container's output (stdout and stderr).
    pub async fn logs_tail(&self, id: &str, tail: u32) -> Result<Vec<String>, DockerError> {
        let client = self.client().await?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let collected = tokio::time::timeout(self.timeout, async {
            let mut stream = std::pin::pin!(client.logs(id, Some(options)));
            let mut text = String::new();
            while let Some(item) = stream.next().await {
                text.push_str(&item?.to_string());
            }
            Ok::<_, bollard::errors::Error>(text)
        })
        .await
        .map_err(|_| DockerError::Timeout {
            endpoint: self.endpoint.to_string(),
            secs: self.timeout.as_secs(),
        })?
        .map_err(|e| self.classify(&e))?;
        Ok(collected.lines().map(str::to_string).collect())
    }

    /// A container's output from the last `tail` lines on, as it comes; the stream
    /// ends when the container stops or the connection breaks.
    pub async fn logs_follow(
        &self,
        id: &str,
        tail: u32,
    ) -> Result<impl Stream<Item = Result<bytes::Bytes, DockerError>> + use<>, DockerError> {
        let client = self.client().await?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .tail(&tail.to_string())
            .build();
        let endpoint = self.endpoint.to_string();
        Ok(client.logs(id, Some(options)).map(move |item| match item {
            Ok(out) => Ok(out.into_bytes()),
            Err(e) => Err(DockerError::Unreachable {
                endpoint: endpoint.clone(),
                cause: root_cause(&e),
            }),
        }))
    }

    /// One CPU and memory sample of a running container (Docker takes about a
    /// second to measure CPU between two readings).
    pub async fn usage(&self, id: &str) -> Result<Usage, DockerError> {
        let client = self.client().await?;
        let options = StatsOptionsBuilder::default().stream(false).build();
        let sample = tokio::time::timeout(self.timeout, async {
            let mut stream = std::pin::pin!(client.stats(id, Some(options)));
            stream.next().await.transpose()
        })
        .await
        .map_err(|_| DockerError::Timeout {
            endpoint: self.endpoint.to_string(),
            secs: self.timeout.as_secs(),
        })?
        .map_err(|e| self.classify(&e))?
        .ok_or_else(|| DockerError::Api {
            endpoint: self.endpoint.to_string(),
            cause: "no stats for the container".into(),
            status: 0,
        })?;
        let cpu = sample.cpu_stats.unwrap_or_default();
        let pre = sample.precpu_stats.unwrap_or_default();
        let total = |c: &bollard::models::ContainerCpuStats| {
            c.cpu_usage
                .as_ref()
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        let cpu_delta = total(&cpu).saturating_sub(total(&pre)) as f64;
        let system_delta = cpu
            .system_cpu_usage
            .unwrap_or(0)
            .saturating_sub(pre.system_cpu_usage.unwrap_or(0)) as f64;
        let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
        let cpu_percent = if system_delta > 0.0 {
            cpu_delta / system_delta * cpus * 100.0
        } else {
            0.0
        };
        let memory = sample.memory_stats.unwrap_or_default();
        // What `docker stats` shows: usage less the page cache.
        let cache = memory
            .stats
            .as_ref()
            .and_then(|s| {
                s.get("inactive_file")
                    .or_else(|| s.get("total_inactive_file"))
            })
            .copied()
            .unwrap_or(0);
        Ok(Usage {
            cpu_percent,
            memory_bytes: memory.usage.unwrap_or(0).saturating_sub(cache),
            memory_limit_bytes: memory.limit.unwrap_or(0),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_round_trip() {
        for s in [
            "unix:///var/run/docker.sock",
            "unix:///run/berth-hosts/h1/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://docker.example.com:2376",
        ] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn default_names() {
        for (s, name) in [
            ("unix:///var/run/docker.sock", "local"),
            ("unix:///run/berth-hosts/h2/docker.sock", "h2"),
            ("tcp://10.1.2.3:2375", "10.1.2.3"),
        ] {
            assert_eq!(s.parse::<Endpoint>().unwrap().default_name(), name);
        }
    }

    #[tokio::test]
    async fn a_missing_socket_is_unreachable_in_words() {
        let engine = DockerEngine::new(
            "unix:///nonexistent/docker.sock".parse().unwrap(),
            Duration::from_secs(2),
        );
        let err = engine.facts().await.unwrap_err().to_string();
        assert!(
            err.starts_with("cannot reach Docker at unix:///nonexistent/docker.sock: "),
            "{err}"
        );
        assert!(err.contains("not found"), "{err}");
    }
}

/// A container on a host as the host page shows it, with whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostContainer {
    pub view: ContainerView,
    /// The Berth instance that made it (`berth.owner`), if one did.
    pub owner: Option<String>,
    /// The service it is a replica of (`berth.service_id`).
    pub service_id: Option<i64>,
}

/// A volume as the engine lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedVolume {
    pub name: String,
    pub driver: String,
    pub labels: HashMap<String, String>,
    /// RFC 3339, as the engine says it.
    pub created_at: String,
}

impl DockerEngine {
    /// Creates a volume unless one of that name exists (Docker answers with the
    /// existing one then, whatever the options).
    pub async fn ensure_volume(
        &self,
        name: &str,
        driver: &str,
        options: &std::collections::BTreeMap<String, String>,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        let client = self.client().await?;
        // A volume made now is missing from the sizes known so far.
        *self.sizes.lock().await = None;
        let body = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            driver: Some(driver.to_string()),
            driver_opts: (!options.is_empty()).then(|| {
                options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            labels: Some(labels),
            cluster_volume_spec: None,
        };
        self.call(client.create_volume(body)).await.map(|_| ())
    }

    /// The labels of the volume of that name, or `None` when there is none.
    pub async fn volume_labels(
        &self,
        name: &str,
    ) -> Result<Option<HashMap<String, String>>, DockerError> {
        let client = self.client().await?;
        // Not `call`: "no such volume" is an answer, not a reason to reconnect.
        match self.timed(client.inspect_volume(name)).await {
            Ok(v) => Ok(Some(v.labels)),
            Err(DockerError::Api {
                status: NOT_FOUND, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every volume with `label=value`.
    pub async fn volumes_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ListedVolume>, DockerError> {
        let client = self.client().await?;
        let filter = format!("{label}={value}");
        let filters = HashMap::from([("label".to_string(), vec![filter])]);
        let options = bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters),
        };
        let list = self.call(client.list_volumes(Some(options))).await?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ListedVolume {
                created_at: v.created_at.map(|d| d.to_string()).unwrap_or_default(),
                name: v.name,
                driver: v.driver,
                labels: v.labels,
            })
            .collect())
    }

    /// Removes a volume; one already gone counts as removed. Docker refuses one
    /// that a container uses (its words are passed on).
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        let client = self.client().await?;
        match self
            .call(
                client.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>),
            )
            .await
        {
            Err(DockerError::Api {
                status: NOT_FOUND, ..
            }) => Ok(()),
            other => other,
        }
    }

    /// The space each volume uses, by name, from the engine's disk usage report
    /// (`GET /system/df`). Asked over a plain connection because the report's
    /// shape changed after API 1.41 and the client library knows only the new one;
    /// for TLS endpoints the sizes are not known (empty map). A report is reused for
    /// [`SIZES_FRESH`], or until a volume is made or removed here.
    pub async fn volume_sizes(&self) -> Result<HashMap<String, i64>, DockerError> {
        if self.tls.is_some() {
            return Ok(HashMap::new());
        }
        // Held while asking, so that callers at the same moment share one report.
        let mut cached = self.sizes.lock().await;
        if let Some((at, sizes)) = cached.as_ref() {
            if at.elapsed() < SIZES_FRESH {
                return Ok(sizes.clone());
            }
        }
        let sizes = self.disk_usage_sizes().await?;
        *cached = Some((tokio::time::Instant::now(), sizes.clone()));
        Ok(sizes)
    }

    async fn disk_usage_sizes(&self) -> Result<HashMap<String, i64>, DockerError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = b"GET /v1.41/system/df HTTP/1.0\r\nHost: docker\r\n\r\n";
        let endpoint = self.endpoint.to_string();
        let io_error = |e: std::io::Error| DockerError::Unreachable {
            endpoint: endpoint.clone(),
            cause: e.to_string(),
        };
        let exchange = async {
            let mut raw = Vec::new();
            match &self.endpoint {
                Endpoint::Unix(path) => {
                    let mut s = tokio::net::UnixStream::connect(path).await?;
                    s.write_all(request).await?;
                    s.read_to_end(&mut raw).await?;
                }
                Endpoint::Tcp { host, port } => {
                    let mut s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    s.write_all(request).await?;
                    s.read_to_end(&mut raw).await?;
                }
            }
            Ok::<_, std::io::Error>(raw)
        };
        // Sizing walks every volume's files: give it more time than a call.
        let raw = match tokio::time::timeout(self.timeout * 6, exchange).await {
            Err(_) => {
                return Err(DockerError::Timeout {
                    endpoint,
                    secs: self.timeout.as_secs() * 6,
                })
            }
            Ok(r) => r.map_err(io_error)?,
        };
        let body = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| &raw[i + 4..])
            .unwrap_or_default();
        Ok(parse_volume_sizes(body))
    }
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
