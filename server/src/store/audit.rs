//! The `audit` table: who did what to what, when, from where, and how it ended.

use domain::wire::{AuditEntry, AuditResult};
use sqlx::Row;

use super::Filtered;

use super::{Run, Store, StoreError};

/// One entry to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub client_addr: &'a str,
    pub result: AuditResult,
    pub detail: &'a str,
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.`.
    pub action: Option<String>,
    /// A substring of the target.
    pub target: Option<String>,
    pub result: Option<AuditResult>,
    pub before: Option<i64>,
    pub limit: u32,
}

impl Store {
    pub async fn record_audit(&self, e: NewAudit<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, actor_id, actor, action, target, client_addr, result, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(e.actor_id)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target)
        .bind(e.client_addr)
        .bind(e.result.as_str())
        .bind(e.detail)
        .run(self)
        .await?;
        Ok(())
    }

    /// Entries matching `f`, newest first, at most `f.limit`.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut q = Filtered::new(self.backend, "SELECT id, at, actor, action, target, client_addr, result, detail FROM audit WHERE 1 = 1");
        if let Some(actor) = &f.actor {
            q.push(" AND actor = ").bind(actor.clone());
        }
        if let Some(action) = &f.action {
            if let Some(prefix) = action.strip_suffix('.') {
                // The length is Berth's own number, written into the text:
                // PostgreSQL's substr takes an INTEGER, not a bound BIGINT.
                q.push(&format!(" AND substr(action, 1, {}) = ", prefix.len() + 1))
                    .bind(format!("{prefix}."));
            } else {
                q.push(" AND action = ").bind(action.clone());
            }
        }
        if let Some(target) = &f.target {
            q.contains("target", target.clone());
        }
        if let Some(result) = f.result {
            q.push(" AND result = ").bind(result.as_str().to_string());
        }
        if let Some(before) = f.before {
            q.push(" AND id < ").bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ").bind(f.limit as i64);
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let result: String = r.try_get("result")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    client_addr: r.try_get("client_addr")?,
                    result: AuditResult::parse(&result)
                        .ok_or_else(|| super::unreadable("result", &result))?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[tokio::test]
    async fn filters_and_pages_newest_first() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let rows = [
            ("alice", "user.create", "user:bob", AuditResult::Ok),
            ("alice", "team.create", "team:web", AuditResult::Ok),
            ("bob", "user.create", "user:eve", AuditResult::Denied),
            ("bob", "auth.login", "user:bob", AuditResult::Ok),
        ];
        for (i, (actor, action, target, result)) in rows.iter().enumerate() {
            store
                .record_audit(NewAudit {
                    at: i as i64,
                    actor_id: None,
                    actor,
                    action,
                    target,
                    client_addr: "127.0.0.1",
                    result: *result,
                    detail: "",
                })
                .await
                .unwrap();
        }
        let list = |f: AuditFilter| {
            let store = store.clone();
            async move {
                store
                    .list_audit(&AuditFilter { limit: 50, ..f })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.actor, e.action))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(list(AuditFilter::default()).await.len(), 4);
        assert_eq!(list(AuditFilter::default()).await[0].1, "auth.login");
        let by_bob = list(AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_bob.len(), 2);
        let user_actions = list(AuditFilter {
            action: Some("user.".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(user_actions.len(), 2);
        let denied = list(AuditFilter {
            result: Some(AuditResult::Denied),
            ..Default::default()
        })
        .await;
        assert_eq!(denied, vec![("bob".to_string(), "user.create".to_string())]);
        let page = store
            .list_audit(&AuditFilter {
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        let older = store
            .list_audit(&AuditFilter {
                limit: 2,
                before: Some(page[1].id),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(older.len(), 2);
        assert!(older[0].id < page[1].id);
    }
}
