//! One replica's logs (read or followed) and the service's resource use.

use super::*;

/// The replica of a slot to read from (the newest running one, else the newest)
/// and its host.
pub(super) fn replica_in(
    state: &AppState,
    service_id: i64,
    slot: u32,
) -> Result<(ObservedReplica, std::sync::Arc<crate::cluster::HostEntry>), OpsError> {
    let seen = state.reconciler.service(service_id);
    let r = seen
        .replicas
        .into_iter()
        .filter(|r| r.slot == slot)
        .max_by_key(|r| (r.status == Status::Running, r.created_ms))
        .ok_or_else(|| OpsError::NotFound(format!("replica {slot} has no container")))?;
    let entry = state
        .hosts
        .get(r.host_id)
        .ok_or_else(|| OpsError::NotFound(format!("replica {slot}'s host is gone")))?;
    Ok((r, entry))
}

/// The last lines of one replica's log.
pub async fn logs(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    slot: u32,
    tail: Option<u32>,
) -> Result<ReplicaLogs, OpsError> {
    let row = readable(state, ctx, name).await?;
    let tail = tail.unwrap_or(LOG_TAIL);
    if !(1..=LOG_TAIL_MAX).contains(&tail) {
        return Err(OpsError::Invalid(format!(
            "tail must be from 1 to {LOG_TAIL_MAX}"
        )));
    }
    let (r, entry) = replica_in(state, row.id, slot)?;
    let lines = entry
        .engine
        .logs_tail(&r.container_id, tail)
        .await
        .map_err(|e| OpsError::Refused {
            code: "host_unreachable",
            message: e.to_string(),
        })?;
    Ok(ReplicaLogs {
        slot,
        host: entry.name(),
        container_id: r.container_id.chars().take(12).collect(),
        lines,
    })
}

/// One replica's log as it comes, for `follow=true`.
pub async fn follow_logs(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    slot: u32,
    tail: Option<u32>,
) -> Result<
    impl futures::Stream<Item = Result<bytes::Bytes, crate::runtime::docker::DockerError>> + use<>,
    OpsError,
> {
    let row = readable(state, ctx, name).await?;
    let tail = tail.unwrap_or(LOG_TAIL).clamp(0, LOG_TAIL_MAX);
    let (r, entry) = replica_in(state, row.id, slot)?;
    entry
        .engine
        .logs_follow(&r.container_id, tail)
        .await
        .map_err(|e| OpsError::Refused {
            code: "host_unreachable",
            message: e.to_string(),
        })
}

/// CPU and memory of every running replica, sampled now.
pub async fn stats(state: &AppState, ctx: &Ctx, name: &str) -> Result<Vec<ReplicaStats>, OpsError> {
    let row = readable(state, ctx, name).await?;
    let seen = state.reconciler.service(row.id);
    let asks = seen
        .replicas
        .iter()
        .filter(|r| r.status == Status::Running)
        .filter_map(|r| state.hosts.get(r.host_id).map(|e| (r.clone(), e)))
        .map(|(r, e)| async move {
            let usage = e.engine.usage(&r.container_id).await.ok()?;
            Some(ReplicaStats {
                slot: r.slot,
                host: e.name(),
                container_id: r.container_id.chars().take(12).collect(),
                cpu_percent: usage.cpu_percent,
                memory_bytes: usage.memory_bytes,
                memory_limit_bytes: usage.memory_limit_bytes,
            })
        });
    let mut out: Vec<ReplicaStats> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    out.sort_by(|a, b| (a.slot, &a.container_id).cmp(&(b.slot, &b.container_id)));
    Ok(out)
}
