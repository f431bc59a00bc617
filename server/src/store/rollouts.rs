//! The `rollouts` table: each move of a service from one revision to another, its
//! state and why it ended.

use domain::wire::{RolloutKind, RolloutState};
use sqlx::Row;

use super::{Run, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    pub id: i64,
    pub service_id: i64,
    pub from_revision: i64,
    pub to_revision: i64,
    pub kind: RolloutKind,
    pub state: RolloutState,
    pub reason: String,
    pub author: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub batch_done_at: Option<i64>,
    pub batch_ready: u32,
    /// A canary rollout's step under way (from 0), and when its new replicas
    /// were all ready.
    pub step: u32,
    pub step_ready_at: Option<i64>,
}

const COLUMNS: &str = "id, service_id, from_revision, to_revision, kind, state, reason, author, \
     started_at, updated_at, finished_at, batch_done_at, batch_ready, step, step_ready_at";

fn rollout_from(r: &sqlx::any::AnyRow) -> Result<RolloutRow, sqlx::Error> {
    Ok(RolloutRow {
        id: r.try_get("id")?,
        service_id: r.try_get("service_id")?,
        from_revision: r.try_get("from_revision")?,
        to_revision: r.try_get("to_revision")?,
        kind: {
            let kind: &str = r.try_get("kind")?;
            RolloutKind::parse(kind).ok_or_else(|| super::unreadable("kind", kind))?
        },
        state: {
            let state: &str = r.try_get("state")?;
            RolloutState::parse(state).ok_or_else(|| super::unreadable("state", state))?
        },
        reason: r.try_get("reason")?,
        author: r.try_get("author")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
        batch_done_at: r.try_get("batch_done_at")?,
        batch_ready: r.try_get::<i64, _>("batch_ready")?.max(0) as u32,
        step: r.try_get::<i64, _>("step")?.clamp(0, i64::from(u32::MAX)) as u32,
        step_ready_at: r.try_get("step_ready_at")?,
    })
}

/// A rollout to start.
#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    pub service_id: i64,
    pub from_revision: i64,
    pub to_revision: i64,
    pub kind: RolloutKind,
    pub author: &'a str,
    pub now: i64,
}

/// What a guarded move expects: the rollout, and the states it may still be in.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub id: i64,
    pub states: &'a [RolloutState],
    /// The canary step it must still be at, for a move that changes it.
    pub step: Option<u32>,
}

/// A rollout's move to `to`; with `then`, the rollout back that starts in the same
/// transaction (its service must still be at `then.from_revision`).
#[derive(Debug, Clone)]
pub struct Move<'a> {
    pub to: RolloutState,
    pub reason: &'a str,
    pub now: i64,
    pub then: Option<NewRollout<'a>>,
    /// The canary step it moves to (its pause counted afresh).
    pub step: Option<u32>,
}

/// Starts `r` inside `tx`: a rollout under way for the service is aborted as
/// superseded, and the service points at `r.to_revision`. With `expect_revision`,
/// only while the service is still at that revision (else `None`, nothing written).
async fn start_in(
    tx: &mut sqlx::AnyConnection,
    r: &NewRollout<'_>,
    expect_revision: Option<i64>,
) -> Result<Option<i64>, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE services SET revision = $1, updated_at = $2 WHERE id = $3 AND ($4 IS NULL OR revision = $5)",
    )
    .bind(r.to_revision)
    .bind(r.now)
    .bind(r.service_id)
    .bind(expect_revision)
    .bind(expect_revision)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE rollouts SET state = 'aborted', reason = $1, updated_at = $2, finished_at = $3 \
         WHERE service_id = $4 AND state IN ('running', 'paused')",
    )
    .bind(format!(
        "superseded by the move to revision {}",
        r.to_revision
    ))
    .bind(r.now)
    .bind(r.now)
    .bind(r.service_id)
    .execute(&mut *tx)
    .await?;
    let id = sqlx::query(
        "INSERT INTO rollouts (service_id, from_revision, to_revision, kind, state, author, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) RETURNING id",
    )
    .bind(r.service_id)
    .bind(r.from_revision)
    .bind(r.to_revision)
    .bind(r.kind.as_str())
    .bind(r.author)
    .bind(r.now)
    .bind(r.now)
    .fetch_one(&mut *tx)
.await?
.try_get::<i64, _>("id")?;
    Ok(Some(id))
}

impl Store {
    /// Points a service at `to_revision` and starts a rollout there; a rollout still
    /// under way for the service is aborted as superseded, in the same transaction.
    /// Only `crate::rollout` calls this: it owns rollout state.
    pub async fn start_rollout(&self, r: NewRollout<'_>) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(id) = start_in(&mut tx, &r, None).await? else {
            return Err(StoreError::Query(sqlx::Error::RowNotFound));
        };
        tx.commit().await?;
        Ok(id)
    }

    /// Writes the service's next revision (its replicas known by `spec_hash`) and
    /// starts the rollout to it, in one transaction; returns the revision's number.
    pub async fn deploy_revision(
        &self,
        service_id: i64,
        spec: &domain::wire::ServiceSpec,
        spec_hash: &str,
        message: &str,
        from: NewRollout<'_>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let number = super::services::insert_revision(
            &mut tx,
            service_id,
            spec,
            spec_hash,
            from.author,
            message,
            from.now,
        )
        .await?;
        let rollout = NewRollout {
            to_revision: number,
            ..from
        };
        if start_in(&mut tx, &rollout, None).await?.is_none() {
            return Err(StoreError::Query(sqlx::Error::RowNotFound));
        }
        tx.commit().await?;
        Ok(number)
    }

    /// Moves a rollout, in one transaction, only if it is still in one of the
    /// expected states (and, for a move back, its service still at the revision the
    /// move starts from). `false`: it moved on meanwhile, nothing was written.
    pub async fn move_rollout(&self, expect: Expect<'_>, m: Move<'_>) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let states = expect
            .states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let step = i64::from(m.step.unwrap_or(0));
        let at_step = expect.step.map(i64::from);
        let moved = sqlx::query(&format!(
            "UPDATE rollouts SET state = $1, reason = $2, updated_at = $3, \
             finished_at = CASE WHEN $4 THEN NULL ELSE $5 END, \
             step = CASE WHEN $6 THEN $7 ELSE step END, \
             step_ready_at = CASE WHEN $8 THEN NULL ELSE step_ready_at END \
             WHERE id = $9 AND state IN ({states}) AND ($10 IS NULL OR step = $11)"
        ))
        .bind(m.to.as_str())
        .bind(m.reason)
        .bind(m.now)
        .bind(m.to.active())
        .bind(m.now)
        .bind(m.step.is_some())
        .bind(step)
        .bind(m.step.is_some())
        .bind(expect.id)
        .bind(at_step)
        .bind(at_step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        if let Some(back) = &m.then {
            if start_in(&mut tx, back, Some(back.from_revision))
                .await?
                .is_none()
            {
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Every rollout under way (running or paused), oldest first.
    pub async fn active_rollouts(&self) -> Result<Vec<RolloutRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rollouts WHERE state IN ('running', 'paused') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rollout_from).collect::<Result<_, _>>()?)
    }

    /// A service's rollouts, newest first.
    pub async fn rollouts_of(
        &self,
        service_id: i64,
        limit: u32,
    ) -> Result<Vec<RolloutRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rollouts WHERE service_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(service_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rollout_from).collect::<Result<_, _>>()?)
    }

    /// Each service's newest rollout, by service id.
    pub async fn latest_rollouts(
        &self,
    ) -> Result<std::collections::HashMap<i64, RolloutRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rollouts WHERE id IN (SELECT MAX(id) FROM rollouts GROUP BY service_id)"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| rollout_from(r).map(|r| (r.service_id, r)))
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Records that a batch turned healthy at `at`, with `ready` replicas of the
    /// new revision ready: only while the rollout runs and fewer were ready at its
    /// last batch. `false`: it moved on meanwhile, nothing was written.
    pub async fn set_batch_done(&self, id: i64, at: i64, ready: u32) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE rollouts SET batch_done_at = $1, batch_ready = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'running' AND batch_ready < $5",
        )
        .bind(at)
        .bind(i64::from(ready))
        .bind(at)
        .bind(id)
        .bind(i64::from(ready))
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records that canary step `step` has its new replicas all ready at `at`
    /// (its pause counts from then): only while the rollout runs at that step
    /// and none was recorded. `false`: it moved on meanwhile, nothing written.
    pub async fn set_step_ready(&self, id: i64, step: u32, at: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE rollouts SET step_ready_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND step = $4 AND step_ready_at IS NULL",
        )
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(i64::from(step))
        .run(self)
        .await?
        .rows_affected()
            == 1)
    }

    /// Whether a service has revision `number`.
    pub async fn has_revision(&self, service_id: i64, number: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM revisions WHERE service_id = $1 AND number = $2",
        )
        .bind(service_id)
        .bind(number)
        .fetch_one(&self.pool)
        .await?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewService;
    use crate::testing::TempDir;

    #[tokio::test]
    async fn a_new_rollout_supersedes_the_one_under_way_and_moves_the_service() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let team = store.create_team("web", 1).await.unwrap();
        let spec: domain::wire::ServiceSpec =
            serde_json::from_value(serde_json::json!({"image": "demo:v1"})).unwrap();
        let id = store
            .create_service(NewService {
                name: "shop",
                team_id: team,
                replicas: 1,
                spec: &spec,
                proxy: &Default::default(),
                author: "ann",
                message: "",
                now: 1,
            })
            .await
            .unwrap();
        let two = store.add_revision(id, &spec, "ann", "", 2).await.unwrap();
        let first = store
            .start_rollout(NewRollout {
                service_id: id,
                from_revision: 1,
                to_revision: two,
                kind: RolloutKind::Deploy,
                author: "ann",
                now: 3,
            })
            .await
            .unwrap();
        let back = store
            .start_rollout(NewRollout {
                service_id: id,
                from_revision: two,
                to_revision: 1,
                kind: RolloutKind::Rollback,
                author: "bob",
                now: 4,
            })
            .await
            .unwrap();
        let all = store.rollouts_of(id, 10).await.unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [back, first]);
        assert_eq!(all[1].state, RolloutState::Aborted);
        assert_eq!(all[1].reason, "superseded by the move to revision 1");
        assert_eq!(all[1].finished_at, Some(4));
        assert_eq!(store.active_rollouts().await.unwrap().len(), 1);
        assert_eq!(
            store
                .service_by_name("shop")
                .await
                .unwrap()
                .unwrap()
                .revision,
            1
        );

        assert!(store.set_batch_done(back, 5, 2).await.unwrap());
        // The same batch again, or an older count, writes nothing.
        assert!(!store.set_batch_done(back, 6, 2).await.unwrap());
        let running = [RolloutState::Running];
        let pause = |now| Move {
            to: RolloutState::Paused,
            reason: "new replicas failed",
            now,
            then: None,
            step: None,
        };
        assert!(store
            .move_rollout(
                Expect {
                    id: back,
                    states: &running,
                    step: None
                },
                pause(6)
            )
            .await
            .unwrap());
        // A move guarded on a state the rollout left is refused, and writes nothing.
        assert!(!store
            .move_rollout(
                Expect {
                    id: back,
                    states: &running,
                    step: None
                },
                pause(7)
            )
            .await
            .unwrap());
        let r = &store.rollouts_of(id, 1).await.unwrap()[0];
        assert_eq!(
            (r.state, r.batch_done_at, r.finished_at, r.updated_at),
            (RolloutState::Paused, Some(5), None, 6)
        );
        let done = Move {
            to: RolloutState::Succeeded,
            reason: "",
            now: 7,
            then: None,
            step: None,
        };
        assert!(store
            .move_rollout(
                Expect {
                    id: back,
                    states: &[RolloutState::Paused],
                    step: None
                },
                done
            )
            .await
            .unwrap());
        assert_eq!(
            store.rollouts_of(id, 1).await.unwrap()[0].finished_at,
            Some(7)
        );
        assert!(store.active_rollouts().await.unwrap().is_empty());
        assert!(store.has_revision(id, 2).await.unwrap());
        assert!(!store.has_revision(id, 3).await.unwrap());
    }
}
