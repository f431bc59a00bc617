//! Berth's containers on one engine: listed by label, made and started, stopped
//! and removed, their logs (read or followed) and their CPU and memory.

use super::*;

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

    /// One stats answer of a container: `one_shot` at once, without the
    /// reading before (`precpu_stats` empty); else Docker waits for a second
    /// reading to fill it (about a second).
    async fn stats_once(
        &self,
        id: &str,
        one_shot: bool,
    ) -> Result<bollard::models::ContainerStatsResponse, DockerError> {
        let client = self.client().await?;
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(one_shot)
            .build();
        tokio::time::timeout(self.timeout, async {
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
        })
    }

    /// A running container's counters now, in one reading (Docker's one-shot
    /// stats: no wait for a second reading; the history makes its CPU figure
    /// from two of its own readings a step apart).
    pub async fn reading(&self, id: &str) -> Result<crate::runtime::Reading, DockerError> {
        let sample = self.stats_once(id, true).await?;
        let cpu = sample.cpu_stats.unwrap_or_default();
        Ok(crate::runtime::Reading {
            cpu_ns: cpu
                .cpu_usage
                .as_ref()
                .and_then(|u| u.total_usage)
                .unwrap_or(0),
            system_ns: cpu.system_cpu_usage.unwrap_or(0),
            cpus: cpu.online_cpus.unwrap_or(1).max(1),
            memory_bytes: used_memory(sample.memory_stats.unwrap_or_default()),
        })
    }

    /// One CPU and memory sample of a running container (Docker takes about a
    /// second to measure CPU between two readings).
    pub async fn usage(&self, id: &str) -> Result<Usage, DockerError> {
        let sample = self.stats_once(id, false).await?;
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
        Ok(Usage {
            cpu_percent,
            memory_limit_bytes: memory.limit.unwrap_or(0),
            memory_bytes: used_memory(memory),
        })
    }
}

/// What `docker stats` shows as used: usage less the page cache.
fn used_memory(memory: bollard::models::ContainerMemoryStats) -> u64 {
    let cache = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    memory.usage.unwrap_or(0).saturating_sub(cache)
}
