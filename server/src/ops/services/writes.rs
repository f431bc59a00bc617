//! The write halves of creating and scaling a service, and every check a create
//! or a change runs, shared by the single writes and a stack's apply.

use super::*;

/// Writes a checked new service (secrets pinned), records its event and wakes
/// the reconciler. Returns its id.
pub(crate) async fn write_new(
    state: &AppState,
    author: &str,
    (team_id, team): (i64, &str),
    input: &CreateServiceInput,
    message: &str,
) -> Result<i64, OpsError> {
    let now = clock::now_ms();
    let id = state
        .store
        .create_service(NewService {
            name: &input.name,
            team_id,
            replicas: input.replicas,
            spec: &input.spec,
            proxy: &input.proxy,
            author,
            message: if message.is_empty() {
                "created"
            } else {
                message
            },
            now,
        })
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                OpsError::Conflict(format!("a service named {:?} exists already", input.name))
            } else {
                e.into()
            }
        })?;
    events::service(
        state,
        &ServiceRef {
            id,
            team_id: Some(team_id),
            name: input.name.clone(),
        },
        Level::Info,
        &format!(
            "service {} created by {author} in team {team}: {} of {} (revision 1)",
            input.name,
            replicas_words(input.replicas),
            input.spec.image
        ),
    )
    .await;
    state.reconciler.written(id);
    if input.proxy.routes.iter().any(|r| r.acme) {
        state.certs.wake.notify_one();
    }
    Ok(id)
}

/// What a create (no `current`) or a change of `current` checks before writing,
/// for a stack's plan and apply: the same answers the single writes give. Pins
/// the spec's secrets to their versions now.
pub(crate) async fn check_and_pin(
    state: &AppState,
    p: &Principal,
    team: (i64, &str),
    input: &mut CreateServiceInput,
    current: Option<&ServiceRow>,
) -> Result<(), OpsError> {
    let (team_id, team_name) = team;
    validate::service_name(&input.name).map_err(OpsError::Invalid)?;
    validate::replicas(input.replicas).map_err(OpsError::Invalid)?;
    let old = current.map(|c| &c.spec);
    check_spec(p, &input.spec, old)?;
    crate::ops::volume_classes::check_spec(state, team_id, &input.spec, old).await?;
    validate::proxy_config(&input.proxy).map_err(OpsError::Invalid)?;
    if current.is_none() {
        no_leftovers_of_others(state, &input.name, team_id).await?;
    }
    // Routes a service already has were checked when they were set (perhaps by
    // an admin, on a domain its operators may not give): applying them again
    // unchanged must not fail for it, nor take them away.
    if current.is_none_or(|c| c.proxy != input.proxy) {
        check_routes(state, p, team_id, team_name, &input.name, &input.proxy).await?;
        routes_free(state, &input.name, &input.proxy).await?;
    }
    crate::ops::secrets::pin(state, team_id, &mut input.spec).await
}

/// Sets a service's replica count (checked), with its event; nothing when equal.
pub(crate) async fn scale_to(
    state: &AppState,
    row: &ServiceRow,
    replicas: u32,
    author: &str,
) -> Result<(), OpsError> {
    if replicas == row.replicas {
        return Ok(());
    }
    state
        .store
        .set_replicas(row.id, replicas, clock::now_ms())
        .await?;
    events::service(
        state,
        &ServiceRef::from(row),
        Level::Info,
        &format!("scaled {} -> {replicas} by {author}", row.replicas),
    )
    .await;
    state.reconciler.written(row.id);
    Ok(())
}
