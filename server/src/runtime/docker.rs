//! One Docker engine through bollard: endpoint parsing, a lazily negotiated client
//! (Debian's Docker 20.10 speaks API 1.41 only), facts, images and containers.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::Mutex;

use app::wire::EngineFacts;

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

/// A failure talking to an engine, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach Docker at {endpoint}: {cause}")]
    Unreachable { endpoint: String, cause: String },
    #[error("Docker at {endpoint} did not answer within {secs} s")]
    Timeout { endpoint: String, secs: u64 },
    #[error("Docker at {endpoint} refused: {cause}")]
    Api { endpoint: String, cause: String },
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

/// One Docker engine. Cheap to share; the bollard client is made and its API version
/// negotiated on first use, and made again after a failure.
pub struct DockerEngine {
    endpoint: Endpoint,
    timeout: Duration,
    client: Mutex<Option<Docker>>,
}

impl DockerEngine {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        DockerEngine {
            endpoint,
            timeout,
            client: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn client(&self) -> Result<Docker, DockerError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let secs = self.timeout.as_secs().max(1);
        let raw = match &self.endpoint {
            Endpoint::Unix(path) => Docker::connect_with_unix(
                &path.to_string_lossy(),
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
            Endpoint::Tcp { host, port } => Docker::connect_with_http(
                &format!("tcp://{host}:{port}"),
                secs,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| self.unreachable(&e))?;
        let negotiated = self.timed(raw.negotiate_version()).await?;
        *slot = Some(negotiated.clone());
        Ok(negotiated)
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
        match e {
            B::DockerResponseServerError { message, .. } => DockerError::Api {
                endpoint: self.endpoint.to_string(),
                cause: message.clone(),
            },
            _ => self.unreachable(e),
        }
    }

    fn unreachable(&self, e: &bollard::errors::Error) -> DockerError {
        DockerError::Unreachable {
            endpoint: self.endpoint.to_string(),
            cause: root_cause(e),
        }
    }

    /// Version, capacity and container counts, straight from the engine.
    pub async fn facts(&self) -> Result<EngineFacts, DockerError> {
        let client = self.client().await?;
        let version = self.call(client.version()).await?;
        let info = self.call(client.info()).await?;
        Ok(EngineFacts {
            version: version.version.unwrap_or_default(),
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
        let client = self.client().await?;
        if client.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut progress = std::pin::pin!(client.create_image(Some(options), None, None));
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
                            cause: format!("pulling {image}: {detail}"),
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
        match self.timed(client.remove_container(id, Some(options))).await {
            Ok(()) => Ok(()),
            Err(DockerError::Api { cause, .. }) if cause.contains("No such container") => Ok(()),
            Err(e) => Err(e),
        }
    }
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
