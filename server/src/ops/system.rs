//! Facts about this server and the engines it can see.

use domain::wire::{About, EnginesReport};

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::state::AppState;

/// Every host's engine, as its last heartbeat found it.
pub async fn engines(state: &AppState, ctx: &Ctx) -> Result<EnginesReport, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    Ok(state.hosts.engines_report(crate::clock::now_ms()))
}

/// The server's version, database and start time.
/// An instance not seen this long has stopped (each notes itself every 2 s).
const STOPPED_MS: i64 = 10_000;

pub async fn about(state: &AppState, ctx: &Ctx) -> Result<About, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let store = &state.store;
    let internal = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "reading facts about the database");
        OpsError::Internal
    };
    let admin = ctx.principal.as_ref().is_some_and(|p| p.is_admin());
    let lease = store.lease().await.map_err(internal)?;
    let leader = lease.current_holder();
    Ok(About {
        version: state.info.version.to_string(),
        instance_id: store
            .setting("instance_id")
            .await
            .map_err(internal)?
            .unwrap_or_default(),
        database: store.location().to_string(),
        engine: match store.backend() {
            crate::store::Backend::Sqlite => domain::wire::DatabaseEngine::Sqlite,
            crate::store::Backend::Postgres => domain::wire::DatabaseEngine::Postgresql,
        },
        journal_mode: store.journal_mode().await.map_err(internal)?,
        schema_version: store.schema_version().await.map_err(internal)?,
        started_at_ms: state.info.started_at_ms,
        listen: state.info.listen.clone(),
        this_instance: state.leadership.instance.clone(),
        leads: state.leadership.leads(),
        term: lease.term,
        instances: store
            .instances(i64::MAX)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|i| domain::wire::InstanceInfo {
                leader: leader == Some(i.id.as_str()),
                stopped: i.seen_ms_ago > STOPPED_MS,
                id: i.id,
                // Where the others serve is an admin's to know.
                address: if admin { i.address } else { String::new() },
                version: i.version,
                started_at_ms: i.started_at_ms,
                last_seen_ms: i.last_seen_ms,
                seen_ms_ago: i.seen_ms_ago,
            })
            .collect(),
    })
}
