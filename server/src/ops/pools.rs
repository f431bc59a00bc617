//! Host pools, as admins manage them: define, change, delete a pool; read its
//! machines; retire one. The machines themselves are the pools loop's to move
//! (`crate::pools`); a retire here is the same guarded move the loop makes.

use domain::validate;
use domain::wire::{PoolHostState, PoolHostView, PoolInput, PoolView, Provider};

use super::{audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::clock;
use crate::state::AppState;
use crate::store::{PoolFields, PoolHostRow, PoolRow};

/// Every pool with its machines.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<PoolView>, OpsError> {
    ctx.allowed(Action::ReadPools)?;
    let pools = state.store.list_pools().await?;
    let machines = state.store.list_pool_hosts().await?;
    Ok(pools.iter().map(|p| view(state, p, &machines)).collect())
}

/// One pool.
pub async fn show(state: &AppState, ctx: &Ctx, name: &str) -> Result<PoolView, OpsError> {
    ctx.allowed(Action::ReadPools)?;
    let pool = find(state, name).await?;
    let machines = state.store.list_pool_hosts().await?;
    Ok(view(state, &pool, &machines))
}

/// Defines a pool.
pub async fn create(state: &AppState, ctx: &Ctx, input: PoolInput) -> Result<PoolView, OpsError> {
    let target = format!("pool:{}", input.name);
    audited(state, ctx, "pool.create", &target, async {
        ctx.allowed(Action::ManageHosts)?;
        check(&input).await?;
        let id = state.store.create_pool(fields(&input)).await.map_err(|e| {
            if e.is_unique_violation() {
                OpsError::Conflict(format!("a pool named {:?} exists already", input.name))
            } else {
                e.into()
            }
        })?;
        tracing::debug!(id, "pool created");
        state.pools.poke();
        show_internal(state, &input.name).await
    })
    .await
}

/// Changes a pool (its name stays): the new bounds and capacity apply to the next
/// decision; hosts made already keep the labels they were registered with.
pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: PoolInput,
) -> Result<PoolView, OpsError> {
    audited(state, ctx, "pool.update", &format!("pool:{name}"), async {
        ctx.allowed(Action::ManageHosts)?;
        let pool = find(state, name).await?;
        if !input.name.eq_ignore_ascii_case(&pool.name) {
            return Err(OpsError::Invalid(format!(
                "a pool keeps its name: the body names {:?}, the path {name:?}",
                input.name
            )));
        }
        check(&input).await?;
        // A machine is destroyed by the provider that made it.
        let hosts = machines_of(state, &pool).await?.len();
        if input.provider != pool.provider && hosts > 0 {
            return Err(OpsError::Conflict(format!(
                "pool {name} has {hosts} host(s) made by its current provider, which must destroy them: change the provider once they are gone (retire them, or set min hosts to 0 and let them idle out)"
            )));
        }
        if !state.store.update_pool(pool.id, fields(&input)).await? {
            return Err(not_found(name));
        }
        state.pools.poke();
        show_internal(state, &pool.name).await
    })
    .await
}

/// Deletes a pool that has no machines left (set its max to 0 and wait, or retire
/// them first).
pub async fn delete(state: &AppState, ctx: &Ctx, name: &str) -> Result<(), OpsError> {
    audited(state, ctx, "pool.delete", &format!("pool:{name}"), async {
        ctx.allowed(Action::ManageHosts)?;
        let pool = find(state, name).await?;
        if !state.store.delete_pool(pool.id).await? {
            let n = machines_of(state, &pool).await?.len();
            return Err(OpsError::Conflict(format!(
                "pool {name} still has {n} host{}: retire them (or set its min to 0 and let them idle out) first",
                if n == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    })
    .await
}

/// Retires a ready machine now: drained (health-gated), then destroyed.
pub async fn retire(
    state: &AppState,
    ctx: &Ctx,
    pool: &str,
    host: &str,
) -> Result<PoolView, OpsError> {
    let target = format!("pool:{pool}/host:{host}");
    audited(state, ctx, "pool.retire", &target, async {
        let p = ctx.allowed(Action::ManageHosts)?.username.clone();
        let row = find(state, pool).await?;
        let machines = machines_of(state, &row).await?;
        let m = machines
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(host))
            .ok_or_else(|| OpsError::NotFound(format!("pool {pool} has no host {host:?}")))?;
        if m.state != PoolHostState::Ready {
            return Err(OpsError::Conflict(format!(
                "{} is {}: only a ready host is retired (one being made is destroyed if it does not answer in time)",
                m.name, m.state
            )));
        }
        crate::pools::retire(state, &row, m, &format!("by {p}"))
            .await
            .map_err(|e| {
                tracing::error!("pools: {e}");
                OpsError::Internal
            })?;
        show_internal(state, &row.name).await
    })
    .await
}

async fn find(state: &AppState, name: &str) -> Result<PoolRow, OpsError> {
    validate::pool_name(name).map_err(|_| not_found(name))?;
    state
        .store
        .pool_by_name(name)
        .await?
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> OpsError {
    OpsError::NotFound(format!("there is no pool {name:?}"))
}

async fn machines_of(state: &AppState, pool: &PoolRow) -> Result<Vec<PoolHostRow>, OpsError> {
    let all = state.store.list_pool_hosts().await?;
    Ok(all.into_iter().filter(|m| m.pool_id == pool.id).collect())
}

async fn show_internal(state: &AppState, name: &str) -> Result<PoolView, OpsError> {
    let pool = find(state, name).await?;
    let machines = state.store.list_pool_hosts().await?;
    Ok(view(state, &pool, &machines))
}

/// The input's rules, and a provider command that exists and may be run.
async fn check(input: &PoolInput) -> Result<(), OpsError> {
    validate::pool(input).map_err(OpsError::Invalid)?;
    let Provider::Command { command, .. } = &input.provider;
    let meta = tokio::fs::metadata(command).await.map_err(|_| {
        OpsError::Invalid(format!(
            "there is no provider command at {command} on Berth's machine"
        ))
    })?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(OpsError::Invalid(format!(
            "{command} is not an executable file"
        )));
    }
    Ok(())
}

fn fields(input: &PoolInput) -> PoolFields<'_> {
    PoolFields {
        name: &input.name,
        provider: &input.provider,
        labels: &input.labels,
        cpu_millis: input.cpu_millis,
        memory_bytes: input.memory_bytes,
        min_hosts: input.min_hosts,
        max_hosts: input.max_hosts,
        idle_ms: input.idle_secs as i64 * 1000,
        boot_timeout_ms: input.boot_timeout_secs as i64 * 1000,
        now: clock::now_ms(),
    }
}

fn view(state: &AppState, p: &PoolRow, machines: &[PoolHostRow]) -> PoolView {
    let failing = state.pools.failing(p.id);
    let waiting = state.pools.waiting_by_pool();
    PoolView {
        name: p.name.clone(),
        provider: p.provider.clone(),
        labels: p.labels.clone(),
        cpu_millis: p.cpu_millis,
        memory_bytes: p.memory_bytes,
        min_hosts: p.min_hosts,
        max_hosts: p.max_hosts,
        idle_secs: (p.idle_ms / 1000) as u64,
        boot_timeout_secs: (p.boot_timeout_ms / 1000) as u64,
        hosts: machines
            .iter()
            .filter(|m| m.pool_id == p.id)
            .map(|m| machine_view(state, m))
            .collect(),
        waiting: waiting.get(&p.name).copied().unwrap_or(0),
        failures: failing.as_ref().map_or(0, |f| f.failures),
        last_error: failing.as_ref().map(|f| f.error.clone()),
        retry_at_ms: failing.map(|f| f.retry_at_ms),
        created_at_ms: p.created_at,
        updated_at_ms: p.updated_at,
    }
}

fn machine_view(state: &AppState, m: &PoolHostRow) -> PoolHostView {
    let entry = m.host_id.and_then(|h| state.hosts.get(h));
    PoolHostView {
        name: m.name.clone(),
        state: m.state,
        since_ms: m.state_since,
        state_for_ms: (clock::now_ms() - m.state_since).max(0),
        requested_at_ms: m.requested_at,
        endpoint: m.endpoint.clone(),
        registered: entry.is_some(),
        replicas: entry
            .as_ref()
            .map_or(0, |e| e.live().usage.containers.max(0) as u32),
        idle_for_ms: m
            .host_id
            .and_then(|h| state.pools.empty_since(h))
            .map(|t| (clock::now_ms() - t).max(0)),
        last_error: m.last_error.clone(),
    }
}
