//! The engine as a whole: every container on it (Berth's or not), what Berth's
//! use, its event stream, and dropping a client that went bad.

use super::*;

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
    /// Listed, not inspected: a plugin's volume may carry a status that is not the
    /// engine's shape (rclone's `{"Mounts": []}`), which inspecting would fail to
    /// read. The name filter matches parts of names: the exact one is picked.
    pub async fn volume_labels(
        &self,
        name: &str,
    ) -> Result<Option<HashMap<String, String>>, DockerError> {
        let list = self.list_volumes("name", name.to_string()).await?;
        Ok(list.into_iter().find(|v| v.name == name).map(|v| v.labels))
    }

    /// Every volume with `label=value`.
    pub async fn volumes_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ListedVolume>, DockerError> {
        Ok(self
            .list_volumes("label", format!("{label}={value}"))
            .await?
            .into_iter()
            .map(|v| ListedVolume {
                // A plugin's volume may have no time of its own: the zero time.
                created_at: v
                    .created_at
                    .map(|d| d.to_string())
                    .filter(|d| !d.starts_with("0001-"))
                    .unwrap_or_default(),
                name: v.name,
                driver: v.driver,
                labels: v.labels,
            })
            .collect())
    }

    /// The engine's volumes passing one filter.
    async fn list_volumes(
        &self,
        filter: &str,
        value: String,
    ) -> Result<Vec<bollard::models::Volume>, DockerError> {
        let client = self.client().await?;
        let options = bollard::query_parameters::ListVolumesOptions {
            filters: Some(HashMap::from([(filter.to_string(), vec![value])])),
        };
        let list = self.call(client.list_volumes(Some(options))).await?;
        Ok(list.volumes.unwrap_or_default())
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
