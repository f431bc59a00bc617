//! The Docker engines Berth is configured with, checked together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::wire::{EngineState, EngineStatus, EnginesReport};

use super::docker::{DockerEngine, DockerError, Endpoint};
use crate::clock;

/// How long one check of one engine may take before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A named engine.
pub struct NamedEngine {
    pub name: String,
    pub engine: DockerEngine,
}

/// Every configured engine; cheap to clone.
#[derive(Clone, Default)]
pub struct Engines {
    list: Arc<Vec<NamedEngine>>,
}

impl Engines {
    pub fn new(engines: impl IntoIterator<Item = (String, Endpoint)>) -> Self {
        Engines {
            list: Arc::new(
                engines
                    .into_iter()
                    .map(|(name, endpoint)| NamedEngine {
                        name,
                        engine: DockerEngine::new(endpoint, CHECK_TIMEOUT),
                    })
                    .collect(),
            ),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &NamedEngine> {
        self.list.iter()
    }

    /// Asks every engine at once; one that does not answer is reported down with the
    /// reason, never as an error of the whole report.
    pub async fn report(&self) -> EnginesReport {
        let checked_at_ms = clock::now_ms();
        let checks = self.list.iter().map(|named| async move {
            let started = Instant::now();
            let result = named.engine.facts().await;
            status(named, result, started.elapsed())
        });
        EnginesReport {
            checked_at_ms,
            engines: futures::future::join_all(checks).await,
        }
    }

    /// The first engine that does not answer, with the reason; used at start-up.
    pub async fn first_down(&self) -> Option<(String, DockerError)> {
        for named in self.list.iter() {
            if let Err(e) = named.engine.facts().await {
                return Some((named.name.clone(), e));
            }
        }
        None
    }
}

fn status(
    named: &NamedEngine,
    result: Result<app::wire::EngineFacts, DockerError>,
    took: Duration,
) -> EngineStatus {
    let endpoint = named.engine.endpoint().to_string();
    match result {
        Ok(facts) => EngineStatus {
            name: named.name.clone(),
            endpoint,
            state: EngineState::Up,
            latency_ms: Some(took.as_millis() as u64),
            facts: Some(facts),
            error: None,
        },
        Err(e) => EngineStatus {
            name: named.name.clone(),
            endpoint,
            state: EngineState::Down,
            latency_ms: None,
            facts: None,
            error: Some(e.to_string()),
        },
    }
}
