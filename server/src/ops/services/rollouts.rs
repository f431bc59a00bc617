//! Rollbacks, and a person's control of a rollout under way (pause, resume,
//! abort), through [`crate::rollout`]; the diff between two revisions.

use super::*;

/// Goes back to an earlier revision (the one before the current without one): a
/// rollout there, health-gated like any other.
pub async fn rollback(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: RollbackInput,
) -> Result<ServiceView, OpsError> {
    audited(
        state,
        ctx,
        "service.rollback",
        &format!("service:{name}"),
        async {
            let (author, row) = writable(state, ctx, name).await?;
            let target = match input.revision {
                Some(n) => n,
                None => previous_revision(state, &row).await?,
            };
            let Some(old) = state
                .store
                .list_revisions(row.id)
                .await?
                .into_iter()
                .find(|r| r.number == target)
            else {
                return Err(OpsError::NotFound(format!(
                    "{} has no revision {target}",
                    row.name
                )));
            };
            if target == row.revision {
                return Err(OpsError::Invalid(format!(
                    "{} is at revision {target} already",
                    row.name
                )));
            }
            // An old revision meets today's rules, as a new one would (it may be from
            // before them: a bind mount, options only an admin sets).
            check_spec(ctx.principal()?, &old.spec, Some(&row.spec)).map_err(|e| {
                OpsError::Invalid(format!("revision {target} cannot come back: {e}"))
            })?;
            crate::ops::volume_classes::check_spec(state, row.team_id, &old.spec, Some(&row.spec))
                .await
                .map_err(|e| match e {
                    OpsError::Invalid(why) => {
                        OpsError::Invalid(format!("revision {target} cannot come back: {why}"))
                    }
                    other => other,
                })?;
            // ... and the secret versions it names still exist.
            crate::ops::secrets::pin(state, row.team_id, &mut old.spec.clone())
                .await
                .map_err(|e| match e {
                    OpsError::Invalid(why) => {
                        OpsError::Invalid(format!("revision {target} cannot come back: {why}"))
                    }
                    other => other,
                })?;
            let now = clock::now_ms();
            rollout::roll_back(
                &state.store,
                NewRollout {
                    service_id: row.id,
                    from_revision: row.revision,
                    to_revision: target,
                    kind: RolloutKind::Rollback,
                    author: &author,
                    now,
                },
            )
            .await?;
            events::service(
                state,
                &ServiceRef::from(&row),
                Level::Warn,
                &format!(
                    "rollback from revision {} to revision {target} by {author}",
                    row.revision
                ),
            )
            .await;
            state.reconciler.written(row.id);
            fresh_view(state, name).await
        },
    )
    .await
}

/// The revision the service was at before its current one.
pub(super) async fn previous_revision(state: &AppState, row: &ServiceRow) -> Result<i64, OpsError> {
    let rollouts = state.store.rollouts_of(row.id, 20).await?;
    if let Some(r) = rollouts.iter().find(|r| r.to_revision == row.revision) {
        return Ok(r.from_revision);
    }
    state
        .store
        .list_revisions(row.id)
        .await?
        .iter()
        .map(|r| r.number)
        .find(|n| *n < row.revision)
        .ok_or_else(|| OpsError::Invalid(format!("{} has no earlier revision", row.name)))
}

/// What a person may do to a rollout under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutControl {
    /// Start no more moves; failed replicas are still replaced.
    Pause,
    Resume,
    /// Stop, and take every replica back to the revision before.
    Abort,
    /// A canary to its next step (`full`: past every step, to replacing the
    /// old replicas); a paused one resumes.
    Promote {
        full: bool,
    },
}

/// Pauses, resumes or aborts the rollout under way.
pub async fn control_rollout(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    what: RolloutControl,
) -> Result<ServiceView, OpsError> {
    let action = match what {
        RolloutControl::Pause => "service.pause",
        RolloutControl::Resume => "service.resume",
        RolloutControl::Abort => "service.abort",
        RolloutControl::Promote { .. } => "service.promote",
    };
    audited(state, ctx, action, &format!("service:{name}"), async {
        let (author, row) = writable(state, ctx, name).await?;
        let active = state
            .store
            .rollouts_of(row.id, 1)
            .await?
            .into_iter()
            .next()
            .filter(|r| r.state.active());
        let Some(r) = active else {
            return Err(OpsError::Conflict(format!(
                "{} has no rollout under way",
                row.name
            )));
        };
        let transition = match what {
            RolloutControl::Pause => Transition::Pause { by: author.clone() },
            RolloutControl::Resume => Transition::Resume,
            RolloutControl::Abort => Transition::Abort { by: author.clone() },
            RolloutControl::Promote { full } => promotion(&row, &r, full, &author)?,
        };
        if !transition.from().contains(&r.state) {
            return Err(OpsError::Conflict(format!(
                "the rollout to revision {} is {} already",
                r.to_revision,
                r.state.as_str()
            )));
        }
        if rollout::apply(&state.store, &r, &transition, clock::now_ms()).await?
            == rollout::Outcome::Lost
        {
            return Err(OpsError::Conflict(format!(
                "the rollout to revision {} changed meanwhile; look again",
                r.to_revision
            )));
        }
        let message = match what {
            RolloutControl::Pause => {
                format!("rollout to revision {} paused by {author}", r.to_revision)
            }
            RolloutControl::Resume => {
                format!("rollout to revision {} resumed by {author}", r.to_revision)
            }
            RolloutControl::Abort => format!(
                "rollout to revision {} aborted by {author}; back to revision {}",
                r.to_revision, r.from_revision
            ),
            RolloutControl::Promote { .. } => {
                let to = transition.promotes_to().unwrap_or(r.step);
                rollout::promoted_words(&r, &row.spec.update, to, &format!("by {author}"))
            }
        };
        events::service(state, &ServiceRef::from(&row), Level::Warn, &message).await;
        state.reconciler.written(row.id);
        fresh_view(state, name).await
    })
    .await
}

/// A person's promote of `r`, the rollout of `row`: to its next canary step,
/// or past them all; a rollout without a canary step to leave is a conflict.
fn promotion(
    row: &ServiceRow,
    r: &RolloutRow,
    full: bool,
    author: &str,
) -> Result<Transition, OpsError> {
    let policy = &row.spec.update;
    let steps = rollout::canary_steps(policy);
    if r.to_revision != row.revision || rollout::canary_step(r, policy).is_none() {
        return Err(OpsError::Conflict(format!(
            "the rollout to revision {} has no canary step to promote",
            r.to_revision
        )));
    }
    Ok(Transition::Promote {
        by: Some(author.to_string()),
        from: r.step,
        to: if full { steps } else { r.step + 1 },
    })
}

/// What differs between two revisions of a service.
pub async fn diff(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    from: i64,
    to: i64,
) -> Result<RevisionDiff, OpsError> {
    let row = readable(state, ctx, name).await?;
    let revisions = state.store.list_revisions(row.id).await?;
    let hide = !may_write(ctx, row.team_id);
    let spec = |n: i64| {
        revisions
            .iter()
            .find(|r| r.number == n)
            .map(|r| {
                if hide {
                    r.spec.with_values_hidden()
                } else {
                    r.spec.clone()
                }
            })
            .ok_or_else(|| OpsError::NotFound(format!("{} has no revision {n}", row.name)))
    };
    Ok(RevisionDiff {
        from,
        to,
        changes: spec_diff(&spec(from)?, &spec(to)?),
    })
}
