//! The `events` table: what Berth did or saw, with the reason, for people to read.

use app::wire::EventView;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{Store, StoreError};

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub subject: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

impl Store {
    pub async fn record_event(
        &self,
        at: i64,
        kind: &str,
        subject: &str,
        level: &str,
        message: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO events (at, kind, subject, level, message) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(at)
        .bind(kind)
        .bind(subject)
        .bind(level)
        .bind(message)
        .execute(&self.pool)
        .await?
        .last_insert_rowid())
    }

    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<EventView>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, at, kind, subject, level, message FROM events WHERE 1 = 1",
        );
        if let Some(kind) = &f.kind {
            q.push(" AND kind = ").push_bind(kind.clone());
        }
        if let Some(subject) = &f.subject {
            q.push(" AND subject = ").push_bind(subject.clone());
        }
        if let Some(before) = f.before {
            q.push(" AND id < ").push_bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
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
