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
pub async fn about(state: &AppState, ctx: &Ctx) -> Result<About, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let store = &state.store;
    let internal = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "reading facts about the database");
        OpsError::Internal
    };
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
    })
}
