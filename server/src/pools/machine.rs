//! The work on one machine of a pool, each step one guarded move of its state:
//! create (ask the provider, record its answer), boot (wait for the engine and
//! register it with the pool's labels), retire (drain), destroy (unregister, ask
//! the provider, forget). Failures are events with the provider's words.

use std::time::Duration;

use domain::wire::{AddHostInput, PoolHostState, ProviderAnswer};
use PoolHostState::*;

use super::provider::{self, Request};
use crate::events::{self, Level};
use crate::ops::{self, Ctx};
use crate::state::AppState;
use crate::store::{PoolHostMove, PoolHostRow, PoolRow};

/// How long a provider may take to destroy a machine.
const DESTROY_LIMIT: Duration = Duration::from_secs(300);
/// How long a failed destroy waits before it is tried again.
const DESTROY_RETRY: Duration = Duration::from_secs(15);
/// How often a booting machine's engine is asked whether it answers.
const BOOT_POLL: Duration = Duration::from_millis(500);

/// What to do with a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Ask the provider for it, then boot it.
    Create,
    /// Wait for its engine, register it.
    Boot,
    /// Recorded as being made with no one making it (Berth stopped meanwhile).
    Abandon,
    /// Drained: destroy it.
    Drained,
    /// Registered, but silent for longer than a new host may take.
    Lost,
    /// Destroy it (again).
    Destroy,
}

pub async fn work(state: AppState, pool: PoolRow, row: PoolHostRow, work: Work) {
    let now = state.clock.now_ms();
    let result = match work {
        Work::Create => create(&state, &pool, row).await,
        Work::Boot => boot(&state, &pool, row).await,
        Work::Abandon => {
            let why = "Berth stopped while its provider was making it; destroyed so that no machine is left unknown";
            give_up(&state, &pool, row, Creating, why, Level::Warn).await
        }
        Work::Drained => {
            let moved = state
                .store
                .move_pool_host(row.id, Draining, Destroying, PoolHostMove::default(), now)
                .await;
            match moved {
                Ok(true) => destroy(&state, &pool, row).await,
                Ok(false) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
        Work::Lost => {
            let why = format!(
                "it did not answer for {} s: the machine is destroyed and forgotten",
                pool.boot_timeout_ms / 1000
            );
            give_up(&state, &pool, row.clone(), row.state, &why, Level::Error).await
        }
        Work::Destroy => destroy(&state, &pool, row).await,
    };
    if let Err(e) = result {
        tracing::error!(pool = %pool.name, "pools: {e}");
    }
}

fn request<'a>(action: &'static str, pool: &'a PoolRow, name: &'a str) -> Request<'a> {
    Request {
        action,
        pool: &pool.name,
        name,
        labels: &pool.labels,
        cpu_millis: pool.cpu_millis,
        memory_bytes: pool.memory_bytes,
    }
}

async fn create(state: &AppState, pool: &PoolRow, mut row: PoolHostRow) -> Result<(), String> {
    if !crate::leader::may_act(state).await {
        return Err("this instance no longer leads".to_string());
    }
    events::pool(
        state,
        &pool.name,
        Level::Info,
        &format!("asking for host {}", row.name),
    )
    .await;
    let limit = Duration::from_millis(pool.boot_timeout_ms as u64);
    let asked = provider::call(&pool.provider, &request("create", pool, &row.name), limit).await;
    let answer = match asked.and_then(|out| provider::answer(&out)) {
        Ok(a) => a,
        Err(e) => {
            let why = format!("could not make host {}: {e}", row.name);
            state
                .pools
                .fail(pool.id, &e.to_string(), state.clock.now_ms());
            return give_up(state, pool, row, Creating, &why, Level::Error).await;
        }
    };
    let json = serde_json::to_string(&answer).map_err(|e| e.to_string())?;
    let m = PoolHostMove {
        endpoint: Some(&answer.endpoint),
        answer: Some(&json),
        ..PoolHostMove::default()
    };
    let now = state.clock.now_ms();
    if !moved(state, &row, Creating, Booting, m).await? {
        return Ok(());
    }
    let message = format!(
        "host {} made at {}; waiting for its engine",
        row.name, answer.endpoint
    );
    events::pool(state, &pool.name, Level::Info, &message).await;
    row.state = Booting;
    row.state_since = now;
    row.answer = Some(json);
    boot(state, pool, row).await
}

/// Waits for the engine to answer, registers it with the pool's labels and moves
/// the machine to ready; past the pool's boot time, destroys it.
async fn boot(state: &AppState, pool: &PoolRow, row: PoolHostRow) -> Result<(), String> {
    let answer: ProviderAnswer = serde_json::from_str(row.answer.as_deref().unwrap_or("null"))
        .map_err(|e| format!("the stored answer of {} does not read: {e}", row.name))?;
    let input = AddHostInput {
        name: row.name.clone(),
        endpoint: answer.endpoint,
        address: answer.address,
        labels: pool.labels.clone(),
        tls: answer.tls,
    };
    let deadline = row.requested_at + pool.boot_timeout_ms;
    loop {
        // A host registered already (Berth stopped before recording it) is adopted.
        let registered = match state.hosts.by_name(&row.name) {
            Some(e) => Ok(e.id()),
            None => register(state, &input).await,
        };
        match registered {
            Ok(host_id) => return ready(state, pool, &row, host_id).await,
            // What the provider answered cannot work however long Berth waits.
            Err(ops::OpsError::Invalid(e)) => {
                let why = format!("the provider's answer for {} is refused: {e}", row.name);
                state.pools.fail(pool.id, &why, state.clock.now_ms());
                return give_up(state, pool, row, Booting, &why, Level::Error).await;
            }
            Err(e) if state.clock.now_ms() >= deadline => {
                let why = format!(
                    "host {} did not answer within {} s ({e}); it is destroyed",
                    row.name,
                    pool.boot_timeout_ms / 1000
                );
                state.pools.fail(pool.id, &why, state.clock.now_ms());
                return give_up(state, pool, row, Booting, &why, Level::Error).await;
            }
            Err(_) => tokio::time::sleep(BOOT_POLL).await,
        }
    }
}

async fn register(state: &AppState, input: &AddHostInput) -> Result<i64, ops::OpsError> {
    let outcome = ops::hosts::register(state, input).await;
    if outcome.is_ok() {
        let target = format!("host:{}", input.name);
        ops::audit(state, &Ctx::system("pool"), "host.add", &target, &outcome).await;
    }
    outcome.map(|v| v.id)
}

async fn ready(
    state: &AppState,
    pool: &PoolRow,
    row: &PoolHostRow,
    host_id: i64,
) -> Result<(), String> {
    let m = PoolHostMove {
        host_id: Some(host_id),
        ..PoolHostMove::default()
    };
    if !moved(state, row, Booting, Ready, m).await? {
        return Ok(());
    }
    let took = (state.clock.now_ms() - row.requested_at) as f64 / 1000.0;
    let message = format!(
        "host {} ready, {took:.1} s after it was asked for",
        row.name
    );
    events::pool(state, &pool.name, Level::Info, &message).await;
    state.pools.succeeded(pool.id);
    state.reconciler.poke();
    Ok(())
}

/// Drains a ready machine (its replicas move, health-gated), to destroy it once
/// it is empty. The host takes no new replica before the machine is recorded as
/// draining (and the loop drains it again should that ever be undone).
pub async fn retire(
    state: &AppState,
    pool: &PoolRow,
    row: &PoolHostRow,
    why: &str,
) -> Result<(), String> {
    if let Some(host_id) = row.host_id.filter(|h| state.hosts.get(*h).is_some()) {
        drain(state, host_id).await?;
    }
    if !moved(state, row, Ready, Draining, PoolHostMove::default()).await? {
        return Ok(());
    }
    let message = format!(
        "host {} retired ({why}): its replicas move, then it is destroyed",
        row.name
    );
    events::pool(state, &pool.name, Level::Info, &message).await;
    state.reconciler.poke();
    Ok(())
}

async fn drain(state: &AppState, host_id: i64) -> Result<(), String> {
    let now = state.clock.now_ms();
    state
        .store
        .set_host_schedule(host_id, true, true, now)
        .await
        .map_err(|e| e.to_string())?;
    ops::hosts::refresh(state, host_id)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A draining machine's host drains (an admin may have uncordoned it).
pub async fn keep_draining(state: &AppState, row: &PoolHostRow) {
    let Some(entry) = row.host_id.and_then(|h| state.hosts.get(h)) else {
        return;
    };
    if !entry.row().draining {
        if let Err(e) = drain(state, entry.id()).await {
            tracing::error!(host = %row.name, "pools: cannot drain: {e}");
        }
    }
}

/// Gives a machine up: records why, moves it to destroying, destroys it.
async fn give_up(
    state: &AppState,
    pool: &PoolRow,
    row: PoolHostRow,
    from: PoolHostState,
    why: &str,
    level: Level,
) -> Result<(), String> {
    let m = PoolHostMove {
        error: Some(why),
        ..PoolHostMove::default()
    };
    if !moved(state, &row, from, Destroying, m).await? {
        return Ok(());
    }
    events::pool(state, &pool.name, level, &format!("{}: {why}", row.name)).await;
    destroy(state, pool, row).await
}

/// Unregisters the machine's host, asks the provider to destroy it, forgets it.
/// A provider that fails is asked again later; the machine stays known meanwhile.
async fn destroy(state: &AppState, pool: &PoolRow, row: PoolHostRow) -> Result<(), String> {
    if !crate::leader::may_act(state).await {
        return Err("this instance no longer leads".to_string());
    }
    let host = row
        .host_id
        .and_then(|h| state.hosts.get(h))
        .or_else(|| state.hosts.by_name(&row.name));
    if let Some(entry) = host {
        let outcome = ops::hosts::unregister(state, entry.id(), &row.name).await;
        let target = format!("host:{}", row.name);
        ops::audit(
            state,
            &Ctx::system("pool"),
            "host.remove",
            &target,
            &outcome,
        )
        .await;
        outcome.map_err(|e| e.to_string())?;
    }
    let asked = provider::call(
        &pool.provider,
        &request("destroy", pool, &row.name),
        DESTROY_LIMIT,
    )
    .await;
    match asked {
        Ok(_) => {
            state
                .store
                .delete_pool_host(row.id)
                .await
                .map_err(|e| e.to_string())?;
            let message = format!("host {} destroyed", row.name);
            events::pool(state, &pool.name, Level::Info, &message).await;
            Ok(())
        }
        Err(e) => {
            let why = format!("could not destroy host {}: {e}; trying again", row.name);
            if row.last_error.as_deref() != Some(why.as_str()) {
                events::pool(state, &pool.name, Level::Error, &why).await;
            }
            state
                .store
                .note_pool_host_error(row.id, &why)
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(DESTROY_RETRY).await;
            Ok(())
        }
    }
}

async fn moved(
    state: &AppState,
    row: &PoolHostRow,
    from: PoolHostState,
    to: PoolHostState,
    m: PoolHostMove<'_>,
) -> Result<bool, String> {
    let now = state.clock.now_ms();
    state
        .store
        .move_pool_host(row.id, from, to, m, now)
        .await
        .map_err(|e| format!("cannot move host {} to {}: {e}", row.name, to.as_str()))
}
