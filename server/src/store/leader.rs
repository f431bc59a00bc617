//! Leadership's tables: the lease (holder, term, expiry on the database's clock),
//! the instances, and the state the leader publishes for the others; the fence
//! that a leader's store checks in every write it makes; and `Run`, which sends
//! a single-statement write through that check when the store is fenced.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{Backend, Store, StoreError};

/// PostgreSQL channels: the lease was let go (followers try at once), and a new
/// published state (followers read it).
pub const LEADER_CHANNEL: &str = "berth_leader";
pub const STATE_CHANNEL: &str = "berth_state";
/// A service was written through an instance that does not lead (the leader
/// reconciles it at once).
pub const WRITTEN_CHANNEL: &str = "berth_written";

/// What a leader's store checks before each write: that this instance still
/// holds the lease, with this term, and that it has not expired. Term 0: not
/// leading (every write refused without asking the database).
#[derive(Debug)]
pub struct Fence {
    holder: String,
    term: AtomicI64,
}

impl Fence {
    pub fn new(holder: &str) -> Fence {
        Fence {
            holder: holder.to_string(),
            term: AtomicI64::new(0),
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn term(&self) -> i64 {
        self.term.load(Ordering::SeqCst)
    }

    pub fn set(&self, term: i64) {
        self.term.store(term, Ordering::SeqCst);
    }
}

/// The lease as stored, with the database's time when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: Option<String>,
    pub term: i64,
    pub expires_at_ms: i64,
    pub now_ms: i64,
}

impl Lease {
    /// Who holds the lease now: its holder while it has not run out.
    pub fn current_holder(&self) -> Option<&str> {
        self.holder
            .as_deref()
            .filter(|_| self.expires_at_ms > self.now_ms)
    }
}

/// One instance of Berth on this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: String,
    pub address: String,
    pub version: String,
    pub started_at_ms: i64,
    /// When it last noted itself (the database's clock).
    pub last_seen_ms: i64,
    /// How long ago that was, by the same clock.
    pub seen_ms_ago: i64,
    /// The last published state it took and drained (a follower).
    pub applied_version: i64,
}

/// The state the leader published last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRow {
    pub version: i64,
    /// The term of the leader that published it.
    pub term: i64,
    /// JSON (`leader::Published`).
    pub body: String,
}

/// A single-statement write that, on a fenced store, runs in a write transaction
/// behind the fence's check; on any other store, straight on the pool.
pub(crate) trait Run<'q> {
    fn run(self, store: &Store) -> impl Future<Output = Result<AnyQueryResult, StoreError>> + Send;
    /// The same for a write that returns one row (`RETURNING`).
    fn run_one(self, store: &Store) -> impl Future<Output = Result<AnyRow, StoreError>> + Send;
    /// The same for a write that may return a row.
    fn run_optional(
        self,
        store: &Store,
    ) -> impl Future<Output = Result<Option<AnyRow>, StoreError>> + Send;
}

impl<'q> Run<'q> for Query<'q, Any, AnyArguments<'q>> {
    async fn run(self, store: &Store) -> Result<AnyQueryResult, StoreError> {
        if store.fence.is_none() {
            return Ok(self.execute(&store.pool).await?);
        }
        let mut tx = store.write_tx().await?;
        let done = self.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn run_one(self, store: &Store) -> Result<AnyRow, StoreError> {
        if store.fence.is_none() {
            return Ok(self.fetch_one(&store.pool).await?);
        }
        let mut tx = store.write_tx().await?;
        let row = self.fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn run_optional(self, store: &Store) -> Result<Option<AnyRow>, StoreError> {
        if store.fence.is_none() {
            return Ok(self.fetch_optional(&store.pool).await?);
        }
        let mut tx = store.write_tx().await?;
        let row = self.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    }
}

impl Store {
    /// The same database, every write checked against `fence` (the leader's
    /// loops write through this one).
    pub fn fenced(&self, fence: Arc<Fence>) -> Store {
        Store {
            fence: Some(fence),
            ..self.clone()
        }
    }

    /// The database's time in ms since the epoch, as SQL: leases are compared on
    /// one clock, whatever the instances' clocks say.
    fn db_now(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// Inside a write transaction: refuses it unless the fence's term still
    /// holds the lease, unexpired.
    pub(super) async fn check_fence(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let term = fence.term();
        let holds: i64 = if term == 0 {
            0
        } else {
            sqlx::query_scalar(&self.fence_query())
                .bind(fence.holder())
                .bind(term)
                .fetch_one(&mut **tx)
                .await?
        };
        if holds == 0 {
            return Err(StoreError::Fenced { term });
        }
        Ok(())
    }

    fn lease_query(&self) -> String {
        format!(
            "SELECT holder, term, expires_at_ms, {} AS now_ms FROM leader_lease WHERE id = 1",
            self.db_now()
        )
    }

    /// Whether a fenced store's term still holds the lease now (a store that is
    /// not fenced: always).
    pub async fn holds_lease(&self) -> Result<bool, StoreError> {
        let Some(fence) = &self.fence else {
            return Ok(true);
        };
        let mut conn = self.pool.acquire().await?;
        let holds: i64 = sqlx::query_scalar(&self.fence_query())
            .bind(fence.holder())
            .bind(fence.term())
            .fetch_one(&mut *conn)
            .await?;
        Ok(fence.term() != 0 && holds > 0)
    }

    fn fence_query(&self) -> String {
        format!(
            "SELECT COUNT(*) FROM leader_lease WHERE id = 1 AND holder = $1 AND term = $2 \
             AND expires_at_ms > {}",
            self.db_now()
        )
    }

    /// The lease as it stands, with the database's time.
    pub async fn lease(&self) -> Result<Lease, StoreError> {
        let row = sqlx::query(&self.lease_query())
            .fetch_one(&self.pool)
            .await?;
        lease_from(&row)
    }

    /// Takes or keeps the lease for `me` for `lease_ms` when `decide` (given the
    /// lease as it stands) says so, in one write transaction; returns the lease
    /// after, and whether `me` holds it.
    pub async fn claim_lease(
        &self,
        decide: impl FnOnce(&Lease) -> Option<i64>,
        me: &str,
        lease_ms: i64,
    ) -> Result<(Lease, bool), StoreError> {
        // Not fenced: the lease is what the fence checks.
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&self.lease_query()).fetch_one(&mut *tx).await?;
        let lease = lease_from(&row)?;
        let Some(term) = decide(&lease) else {
            tx.rollback().await?;
            return Ok((lease, false));
        };
        let expires_at_ms = lease.now_ms + lease_ms;
        sqlx::query(
            "UPDATE leader_lease SET holder = $1, term = $2, expires_at_ms = $3 WHERE id = 1",
        )
        .bind(me)
        .bind(term)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let after = Lease {
            holder: Some(me.to_string()),
            term,
            expires_at_ms,
            now_ms: lease.now_ms,
        };
        Ok((after, true))
    }

    /// Lets the lease go when `me` holds it with `term`, and tells the others
    /// (PostgreSQL) so that one takes it at once.
    pub async fn release_lease(&self, me: &str, term: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE leader_lease SET holder = NULL, expires_at_ms = 0 \
             WHERE id = 1 AND holder = $1 AND term = $2",
        )
        .bind(me)
        .bind(term)
        .execute(&mut *tx)
        .await?;
        self.notify(&mut tx, LEADER_CHANNEL, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the database tells the other instances of changes at once
    /// (PostgreSQL's `NOTIFY`); on SQLite they poll.
    pub fn notifies(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// A notification sent when `tx` commits (PostgreSQL; SQLite's followers poll).
    async fn notify(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        channel: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        if self.notifies() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Tells the leader that a service was written (PostgreSQL; on SQLite the
    /// leader finds it on its next periodic pass).
    pub async fn notify_written(&self, service_id: i64) -> Result<(), StoreError> {
        if self.notifies() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WRITTEN_CHANNEL)
                .bind(service_id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Notes that an instance runs (its row made or refreshed), seen now by
    /// the database's clock.
    pub async fn note_instance(
        &self,
        id: &str,
        address: &str,
        version: &str,
        started_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO instances (id, address, version, started_at_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, {now}) ON CONFLICT (id) DO UPDATE SET \
             address = excluded.address, version = excluded.version, \
             last_seen_ms = excluded.last_seen_ms",
            now = self.db_now()
        ))
        .bind(id)
        .bind(address)
        .bind(version)
        .bind(started_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets an instance (one that stopped).
    pub async fn forget_instance(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notes the published state's version an instance has taken (and drained).
    pub async fn note_applied_version(&self, id: &str, version: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE instances SET applied_version = $1 WHERE id = $2")
            .bind(version)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets instances not seen for `ms` (the database's clock).
    pub async fn forget_instances(&self, ms: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "DELETE FROM instances WHERE last_seen_ms < {} - $1",
            self.db_now()
        ))
        .bind(ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The instances seen in the last `ms` (all with `i64::MAX`), the most
    /// recently seen first.
    pub async fn instances(&self, ms: i64) -> Result<Vec<InstanceRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, address, version, started_at_ms, last_seen_ms, applied_version, \
             {now} - last_seen_ms AS seen_ms_ago FROM instances \
             WHERE {now} - last_seen_ms < $1 ORDER BY last_seen_ms DESC, id",
            now = self.db_now()
        ))
        .bind(ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRow {
                    id: r.try_get("id")?,
                    address: r.try_get("address")?,
                    version: r.try_get("version")?,
                    started_at_ms: r.try_get("started_at_ms")?,
                    last_seen_ms: r.try_get("last_seen_ms")?,
                    seen_ms_ago: r.try_get("seen_ms_ago")?,
                    applied_version: r.try_get("applied_version")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Publishes the leader's state (a fenced store refuses it once the lease is
    /// lost) and tells the followers; returns its version.
    pub async fn publish_state(
        &self,
        term: i64,
        body: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO published_state (id, term, version, body, at_ms) VALUES (1, $1, 1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET term = excluded.term, \
             version = published_state.version + 1, body = excluded.body, at_ms = excluded.at_ms \
             RETURNING version",
        )
        .bind(term)
        .bind(body)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        self.notify(&mut tx, STATE_CHANNEL, &version.to_string())
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The published state when its version is not `seen`.
    pub async fn published_state(&self, seen: i64) -> Result<Option<PublishedRow>, StoreError> {
        let row = sqlx::query(
            "SELECT version, term, body FROM published_state WHERE id = 1 AND version <> $1",
        )
        .bind(seen)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PublishedRow {
            version: row.try_get("version")?,
            term: row.try_get("term")?,
            body: row.try_get("body")?,
        }))
    }

    /// A listener on PostgreSQL's `channels` (none on SQLite).
    pub async fn listen(
        &self,
        channels: &[&str],
    ) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Some(listener))
    }
}

fn lease_from(row: &AnyRow) -> Result<Lease, StoreError> {
    Ok(Lease {
        holder: row.try_get("holder")?,
        term: row.try_get("term")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        now_ms: row.try_get("now_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    async fn store(dir: &TempDir) -> Store {
        let s = Store::open(&dir.db_url()).await.unwrap();
        s.migrate().await.unwrap();
        s
    }

    /// Takes the lease when free or expired, keeps it when held by `me`.
    fn take(me: &'static str) -> impl FnOnce(&Lease) -> Option<i64> {
        move |l: &Lease| match &l.holder {
            Some(h) if h == me && l.expires_at_ms > l.now_ms => Some(l.term),
            Some(_) if l.expires_at_ms > l.now_ms => None,
            _ => Some(l.term + 1),
        }
    }

    #[tokio::test]
    async fn one_instance_holds_the_lease_and_a_fenced_store_writes_only_while_it_does() {
        let dir = TempDir::new();
        let s = store(&dir).await;
        let (lease, mine) = s.claim_lease(take("a"), "a", 10_000).await.unwrap();
        assert!(mine);
        assert_eq!(lease.term, 1);
        // Another instance is refused while the lease runs.
        let (_, theirs) = s.claim_lease(take("b"), "b", 10_000).await.unwrap();
        assert!(!theirs);

        let fence = Arc::new(Fence::new("a"));
        fence.set(1);
        let fenced = s.fenced(fence.clone());
        fenced.set_setting("k", "1", 1).await.unwrap();

        // A's lease runs out (as if it slept) and B takes it: term 2. A's store
        // still believes term 1: its writes are refused, B's state stands.
        s.claim_lease(|l| Some(l.term), "a", -1).await.unwrap();
        let (lease, theirs) = s.claim_lease(take("b"), "b", 10_000).await.unwrap();
        assert!(theirs);
        assert_eq!(lease.term, 2);
        let refused = fenced.set_setting("k", "2", 2).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::Fenced { term: 1 }),
            "{refused}"
        );
        assert_eq!(s.setting("k").await.unwrap().as_deref(), Some("1"));
        // An unfenced store (the API's) writes as before.
        s.set_setting("k", "3", 3).await.unwrap();

        // B lets go; the next one takes a new term.
        s.release_lease("b", 2).await.unwrap();
        let (lease, mine) = s.claim_lease(take("a"), "a", 10_000).await.unwrap();
        assert!(mine);
        assert_eq!(lease.term, 3);
    }

    #[tokio::test]
    async fn the_published_state_is_read_once_per_version() {
        let dir = TempDir::new();
        let s = store(&dir).await;
        assert_eq!(s.published_state(0).await.unwrap(), None);
        let v1 = s.publish_state(1, "{\"a\":1}", 5).await.unwrap();
        let v2 = s.publish_state(1, "{\"a\":2}", 6).await.unwrap();
        assert_eq!(v2, v1 + 1);
        let latest = s.published_state(v1).await.unwrap().unwrap();
        assert_eq!((latest.version, latest.term), (v2, 1));
        assert_eq!(latest.body, "{\"a\":2}");
        assert_eq!(s.published_state(v2).await.unwrap(), None);
    }

    #[tokio::test]
    async fn instances_are_listed_by_when_they_were_seen_and_forgotten() {
        let dir = TempDir::new();
        let s = store(&dir).await;
        s.note_instance("a", "127.0.0.1:3000", "0.1.0", 1)
            .await
            .unwrap();
        s.note_instance("b", "127.0.0.1:3001", "0.1.0", 1)
            .await
            .unwrap();
        s.note_instance("a", "127.0.0.1:3000", "0.1.1", 1)
            .await
            .unwrap();
        let all = s.instances(i64::MAX).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            all.iter().all(|i| (0..60_000).contains(&i.seen_ms_ago)),
            "{all:?}"
        );
        assert_eq!(all.iter().find(|i| i.id == "a").unwrap().version, "0.1.1");
        s.note_applied_version("b", 7).await.unwrap();
        let b = s.instances(i64::MAX).await.unwrap();
        assert_eq!(b.iter().find(|i| i.id == "b").unwrap().applied_version, 7);
        // Seen within the last minute: both; within no time at all: neither.
        assert_eq!(s.instances(60_000).await.unwrap().len(), 2);
        assert!(s.instances(-1).await.unwrap().is_empty());
        s.forget_instance("a").await.unwrap();
        s.forget_instances(60_000).await.unwrap();
        let left: Vec<String> = s
            .instances(i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(left, ["b"]);
        s.forget_instances(-1).await.unwrap();
        assert!(s.instances(i64::MAX).await.unwrap().is_empty());
    }
}
