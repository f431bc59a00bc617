//! The `pools` and `pool_hosts` tables: host pools and the machines they asked
//! for. A pool host's state moves only through [`Store::move_pool_host`], guarded
//! on the state its owner (the pool controller) expects.

use std::collections::BTreeMap;

use domain::wire::{PoolHostState, Provider};
use sqlx::Row;

use super::{Run, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRow {
    pub id: i64,
    pub name: String,
    pub provider: Provider,
    pub labels: BTreeMap<String, String>,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub min_hosts: u32,
    pub max_hosts: u32,
    pub idle_ms: i64,
    pub boot_timeout_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolHostRow {
    pub id: i64,
    pub pool_id: i64,
    pub name: String,
    pub state: PoolHostState,
    pub endpoint: Option<String>,
    /// The provider's answer to `create`, as JSON, until the host is registered (it
    /// may hold a TLS key: never shown back, and cleared once the host is ready).
    pub answer: Option<String>,
    pub host_id: Option<i64>,
    pub requested_at: i64,
    pub state_since: i64,
    pub last_error: Option<String>,
}

/// What a pool host's move writes besides its state.
#[derive(Debug, Clone, Default)]
pub struct Move<'a> {
    pub endpoint: Option<&'a str>,
    pub answer: Option<&'a str>,
    pub host_id: Option<i64>,
    pub error: Option<&'a str>,
}

const POOL_COLUMNS: &str = "id, name, provider, labels, cpu_millis, memory_bytes, min_hosts, \
     max_hosts, idle_ms, boot_timeout_ms, created_at, updated_at";
const HOST_COLUMNS: &str = "id, pool_id, name, state, endpoint, answer, host_id, requested_at, \
     state_since, last_error";

fn pool_from(r: &sqlx::any::AnyRow) -> Result<PoolRow, sqlx::Error> {
    let provider: String = r.try_get("provider")?;
    let labels: String = r.try_get("labels")?;
    let count = |c: &str| -> Result<u32, sqlx::Error> {
        let v: i64 = r.try_get(c)?;
        u32::try_from(v).map_err(|_| super::unreadable(c, &v.to_string()))
    };
    Ok(PoolRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        provider: super::json_column("provider", &provider)?,
        labels: super::json_column("labels", &labels)?,
        cpu_millis: r.try_get::<i64, _>("cpu_millis")?.max(0) as u64,
        memory_bytes: r.try_get::<i64, _>("memory_bytes")?.max(0) as u64,
        min_hosts: count("min_hosts")?,
        max_hosts: count("max_hosts")?,
        idle_ms: r.try_get("idle_ms")?,
        boot_timeout_ms: r.try_get("boot_timeout_ms")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn host_from(r: &sqlx::any::AnyRow) -> Result<PoolHostRow, sqlx::Error> {
    let state: String = r.try_get("state")?;
    Ok(PoolHostRow {
        id: r.try_get("id")?,
        pool_id: r.try_get("pool_id")?,
        name: r.try_get("name")?,
        state: state
            .parse()
            .map_err(|_| super::unreadable("state", &state))?,
        endpoint: r.try_get("endpoint")?,
        answer: r.try_get("answer")?,
        host_id: r.try_get("host_id")?,
        requested_at: r.try_get("requested_at")?,
        state_since: r.try_get("state_since")?,
        last_error: r.try_get("last_error")?,
    })
}

/// A pool to store (new or changed).
#[derive(Debug, Clone)]
pub struct PoolFields<'a> {
    pub name: &'a str,
    pub provider: &'a Provider,
    pub labels: &'a BTreeMap<String, String>,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub min_hosts: u32,
    pub max_hosts: u32,
    pub idle_ms: i64,
    pub boot_timeout_ms: i64,
    pub now: i64,
}

impl Store {
    /// Stores a new pool; a duplicate name is a unique violation.
    pub async fn create_pool(&self, p: PoolFields<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO pools (name, provider, labels, cpu_millis, memory_bytes, min_hosts, \
             max_hosts, idle_ms, boot_timeout_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(p.name)
        .bind(super::to_json_column(p.provider)?)
        .bind(super::to_json_column(p.labels)?)
        .bind(p.cpu_millis as i64)
        .bind(p.memory_bytes as i64)
        .bind(i64::from(p.min_hosts))
        .bind(i64::from(p.max_hosts))
        .bind(p.idle_ms)
        .bind(p.boot_timeout_ms)
        .bind(p.now)
        .bind(p.now)
        .run_one(self)
        .await?
        .try_get::<i64, _>("id")?)
    }

    /// Changes a pool (its name stays); false when there is none of that id.
    pub async fn update_pool(&self, id: i64, p: PoolFields<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pools SET provider = $1, labels = $2, cpu_millis = $3, memory_bytes = $4, \
             min_hosts = $5, max_hosts = $6, idle_ms = $7, boot_timeout_ms = $8, updated_at = $9 \
             WHERE id = $10",
        )
        .bind(super::to_json_column(p.provider)?)
        .bind(super::to_json_column(p.labels)?)
        .bind(p.cpu_millis as i64)
        .bind(p.memory_bytes as i64)
        .bind(i64::from(p.min_hosts))
        .bind(i64::from(p.max_hosts))
        .bind(p.idle_ms)
        .bind(p.boot_timeout_ms)
        .bind(p.now)
        .bind(id)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a pool that has no hosts left; false when it has some (or is gone).
    pub async fn delete_pool(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM pools WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM pool_hosts WHERE pool_id = $2)",
        )
        .bind(id)
        .bind(id)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every pool, by name.
    pub async fn list_pools(&self) -> Result<Vec<PoolRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {POOL_COLUMNS} FROM pools ORDER BY lower(name)"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pool_from).collect::<Result<_, _>>()?)
    }

    pub async fn pool_by_name(&self, name: &str) -> Result<Option<PoolRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {POOL_COLUMNS} FROM pools WHERE lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pool_from).transpose()?)
    }

    /// Every pool host, oldest request first.
    pub async fn list_pool_hosts(&self) -> Result<Vec<PoolHostRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOST_COLUMNS} FROM pool_hosts ORDER BY requested_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(host_from).collect::<Result<_, _>>()?)
    }

    /// Records a machine about to be asked for, before its provider is called.
    pub async fn create_pool_host(
        &self,
        pool_id: i64,
        name: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO pool_hosts (pool_id, name, state, requested_at, state_since) \
             VALUES ($1, $2, 'creating', $3, $4) RETURNING id",
        )
        .bind(pool_id)
        .bind(name)
        .bind(now)
        .bind(now)
        .run_one(self)
        .await?
        .try_get::<i64, _>("id")?)
    }

    /// Moves a pool host from `from` to `to`, with what the move learnt; false (and
    /// nothing written) when it is not in `from` any more.
    pub async fn move_pool_host(
        &self,
        id: i64,
        from: PoolHostState,
        to: PoolHostState,
        m: Move<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pool_hosts SET state = $1, state_since = $2, \
             endpoint = COALESCE($3, endpoint), \
             answer = CASE WHEN $4 = 'ready' THEN NULL ELSE COALESCE($5, answer) END, \
             host_id = COALESCE($6, host_id), last_error = $7 \
             WHERE id = $8 AND state = $9",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(m.endpoint)
        .bind(to.as_str())
        .bind(m.answer)
        .bind(m.host_id)
        .bind(m.error)
        .bind(id)
        .bind(from.as_str())
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes the last error of a pool host without moving it.
    pub async fn note_pool_host_error(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE pool_hosts SET last_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Forgets a destroyed machine: false when it was not being destroyed.
    pub async fn delete_pool_host(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pool_hosts WHERE id = $1 AND state = 'destroying'")
            .bind(id)
            .run(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use PoolHostState::*;

    #[tokio::test]
    async fn a_pool_host_moves_only_from_the_state_its_owner_expects() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let provider = Provider::Command {
            command: "/bin/true".into(),
            args: vec![],
        };
        let labels = BTreeMap::new();
        let pool = store
            .create_pool(PoolFields {
                name: "web",
                provider: &provider,
                labels: &labels,
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                min_hosts: 0,
                max_hosts: 2,
                idle_ms: 60_000,
                boot_timeout_ms: 60_000,
                now: 1,
            })
            .await
            .unwrap();
        let id = store.create_pool_host(pool, "web-abc123", 2).await.unwrap();
        let answer = Move {
            endpoint: Some("unix:///x.sock"),
            ..Move::default()
        };
        assert!(store
            .move_pool_host(id, Creating, Booting, answer.clone(), 3)
            .await
            .unwrap());
        // A second writer expecting the old state changes nothing.
        assert!(!store
            .move_pool_host(id, Creating, Destroying, Move::default(), 4)
            .await
            .unwrap());
        // A pool with hosts is not deleted; a host not being destroyed is not forgotten.
        assert!(!store.delete_pool(pool).await.unwrap());
        assert!(!store.delete_pool_host(id).await.unwrap());
        let row = &store.list_pool_hosts().await.unwrap()[0];
        assert_eq!(
            (row.state, row.endpoint.as_deref(), row.state_since),
            (Booting, Some("unix:///x.sock"), 3)
        );
        assert!(store
            .move_pool_host(id, Booting, Destroying, Move::default(), 5)
            .await
            .unwrap());
        assert!(store.delete_pool_host(id).await.unwrap());
        assert!(store.delete_pool(pool).await.unwrap());
    }
}
