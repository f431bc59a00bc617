//! Deleting a deleted service's volumes, as desired state: the store keeps the
//! request until no host that answers holds any of them, and every pass that finds
//! the service's containers gone (its volumes free) tries again, after a back-off
//! when a host does not answer or Docker refuses. A restart of Berth resumes it.

use std::sync::{Arc, Mutex};

use domain::wire::HostState;

use std::collections::{HashMap, HashSet};

use super::{Backoff, Driver, Job, Shared, MAX_TASKS};
use crate::events::{self, Level, ServiceRef};
use crate::model::{HostInfo, ObservedReplica};
use crate::state::AppState;
use crate::store::VolumeDeletion;

/// How long to wait before looking again while a host does not answer.
const WAIT_FOR_HOSTS_MS: i64 = 30_000;

impl Driver {
    /// Deleted services' volumes that are to be deleted: once none of the
    /// service's containers is left on a host that answers (they hold them), a task
    /// deletes them there; hosts that do not answer wait for their turn.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn collect_volumes(
        &mut self,
        state: &AppState,
        observed: &[ObservedReplica],
        hosts: &[HostInfo],
        busy: &HashSet<i64>,
        backoff: &HashMap<i64, Backoff>,
        now: i64,
        wake: &mut i64,
    ) {
        let deletions = match state.store.volumes_to_delete().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reconciler: cannot read the volumes to delete");
                return;
            }
        };
        let answers = |host_id: i64| {
            hosts
                .iter()
                .any(|h| h.id == host_id && h.state != HostState::Unreachable)
        };
        for d in deletions {
            let id = d.service_id;
            let held = observed
                .iter()
                .any(|o| o.service_id == id && (o.pending || answers(o.host_id)));
            if busy.contains(&id) || held {
                continue;
            }
            if let Some(b) = backoff.get(&id).filter(|b| b.until_ms > now) {
                *wake = (*wake).min(b.until_ms);
                continue;
            }
            if self.tasks.len() >= MAX_TASKS {
                break;
            }
            self.shared.lock().expect("driver lock").busy.insert(id);
            let task = run(state.clone(), self.shared.clone(), d, hosts.to_vec());
            let handle = self.tasks.spawn(async move {
                task.await;
                None
            });
            self.running.insert(handle.id(), Job::Service(id));
        }
    }
}

/// Deletes what is left of `d`'s volumes, then frees the service in `shared`.
pub(super) async fn run(
    state: AppState,
    shared: Arc<Mutex<Shared>>,
    d: VolumeDeletion,
    hosts: Vec<HostInfo>,
) {
    let outcome = delete(&state, &d, &hosts).await;
    let now = state.clock.now_ms();
    let mut shared = shared.lock().expect("driver lock");
    match outcome {
        Ok(Done::Everywhere) => shared.finished(d.service_id, Ok(()), now),
        Ok(Done::WaitingFor(host)) => {
            shared.busy.remove(&d.service_id);
            let b = Backoff {
                failures: 1,
                until_ms: now + WAIT_FOR_HOSTS_MS,
                error: format!("waits for host {host} to answer"),
            };
            shared.backoff.insert(d.service_id, b);
        }
        Err(error) => {
            tracing::warn!(service = %d.service, %error, "reconciler: cannot delete a deleted service's volumes yet");
            shared.finished(d.service_id, Err(error), now);
        }
    }
}

/// How far a deletion got.
#[derive(Debug, PartialEq, Eq)]
enum Done {
    /// No host holds any of the volumes: the request is closed.
    Everywhere,
    /// Every host that answers is clean; this one does not answer.
    WaitingFor(String),
}

async fn delete(state: &AppState, d: &VolumeDeletion, hosts: &[HostInfo]) -> Result<Done, String> {
    let service = ServiceRef {
        id: d.service_id,
        team_id: d.team_id,
        name: d.service.clone(),
    };
    let rt = state.reconciler.runtime.clone();
    let mut silent = None;
    for h in hosts {
        if h.state == HostState::Unreachable {
            silent.get_or_insert_with(|| h.name.clone());
            continue;
        }
        let volumes = rt
            .volumes(h.id)
            .await
            .map_err(|e| format!("cannot list the volumes on {}: {e}", h.name))?;
        for v in volumes.into_iter().filter(|v| v.service_id == d.service_id) {
            if !crate::leader::may_act(state).await {
                return Err("this instance no longer leads".to_string());
            }
            rt.remove_volume(h.id, &v.name)
                .await
                .map_err(|e| format!("cannot delete volume {} on {}: {e}", v.name, h.name))?;
            let words = format!("volume {} deleted with its service", v.name);
            events::service(state, &service, Level::Info, &words).await;
        }
    }
    if let Some(host) = silent {
        return Ok(Done::WaitingFor(host));
    }
    state
        .store
        .volumes_deleted(d.service_id)
        .await
        .map_err(|e| format!("cannot record the volumes deleted: {e}"))?;
    Ok(Done::Everywhere)
}
