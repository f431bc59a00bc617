//! The `events` table: what Berth did or saw, with the reason, for people to read.
//! A service's events carry its id and team, so that a new service of an old name
//! starts with no history and members read only their teams' events.

use domain::wire::EventView;
use sqlx::Row;

use super::Filtered;

use super::{Run, Store, StoreError};

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// Only this service's (by id, whatever its name).
    pub service_id: Option<i64>,
    /// Only events about no service, or about a service of these teams (a
    /// member's view); `None` for every event (an admin's).
    pub teams: Option<Vec<i64>>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub subject: &'a str,
    pub level: &'a str,
    pub message: &'a str,
    /// The service it is about, with its team (when known).
    pub service: Option<(i64, Option<i64>)>,
}

impl Store {
    pub async fn record_event(&self, e: NewEvent<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO events (at, kind, subject, level, message, service_id, team_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(e.at)
        .bind(e.kind)
        .bind(e.subject)
        .bind(e.level)
        .bind(e.message)
        .bind(e.service.map(|(id, _)| id))
        .bind(e.service.and_then(|(_, team)| team))
        .run_one(self)
        .await?
        .try_get::<i64, _>("id")?)
    }

    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<EventView>, StoreError> {
        let mut q = Filtered::new(
            self.backend,
            "SELECT id, at, kind, subject, level, message FROM events WHERE 1 = 1",
        );
        if let Some(kind) = &f.kind {
            q.push(" AND kind = ").bind(kind.clone());
        }
        if let Some(subject) = &f.subject {
            q.push(" AND subject = ").bind(subject.clone());
        }
        if let Some(id) = f.service_id {
            q.push(" AND service_id = ").bind(id);
        }
        if let Some(teams) = &f.teams {
            // Service events without a team (from before events carried one, or
            // of a team that is gone) are an admin's to read; so are the pools'
            // (their providers' errors are the cluster's business), and the
            // instances' (their addresses).
            if teams.is_empty() {
                q.push(" AND kind NOT IN ('service', 'pool', 'instance')");
            } else {
                q.push(
                    " AND kind NOT IN ('pool', 'instance') AND (kind != 'service' OR team_id IN (",
                );
                for (i, t) in teams.iter().enumerate() {
                    q.push(if i == 0 { "" } else { ", " }).bind(*t);
                }
                q.push("))");
            }
        }
        if let Some(before) = f.before {
            q.push(" AND id < ").bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ").bind(f.limit as i64);
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(EventView {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    level: r.try_get("level")?,
                    message: r.try_get("message")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
