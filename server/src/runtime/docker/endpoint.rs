//! Where an engine is: `unix:///path` or `tcp://host:port`, with TLS files.

use super::*;

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
