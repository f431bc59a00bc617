//! The only place with SQL. SQLite (the embedded default: WAL, foreign keys, a
//! busy timeout) or PostgreSQL (several Berth instances on one database), both
//! through sqlx's Any driver with one query text (`$1` placeholders, `RETURNING`,
//! `lower()` where names compare without case); migrated at start-up from
//! `migrations/` or `migrations-postgres/` (both append-only, a change goes to
//! both). Writers take turns: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory
//! lock.
//!
//! One file per table group: `settings`, `users`, `sessions`, `tokens`, `teams`,
//! `audit`, `hosts`, `events`, `services` (with their revisions), `rollouts`,
//! `volumes` (where per-replica volumes live), `domains` (teams' host names),
//! `secrets` (teams' encrypted values), `pools` (host pools and the machines
//! they asked for).

mod audit;
mod certs;
mod domains;
mod events;
mod filtered;
mod hosts;
mod leader;
mod pools;
mod rollouts;
mod secrets;
mod services;
mod sessions;
mod settings;
mod teams;
mod tokens;
mod users;
mod volume_classes;
mod volumes;

pub use audit::{AuditFilter, NewAudit};
pub use certs::{CertRow, Issued};
pub use domains::DomainRow;
pub use events::{EventFilter, NewEvent};
pub(crate) use filtered::Filtered;
pub use hosts::{HostRow, NewHost, TlsPem};
pub(crate) use leader::Run;
pub use leader::{
    Fence, InstanceRow, Lease, PublishedRow, LEADER_CHANNEL, STATE_CHANNEL, WRITTEN_CHANNEL,
};
pub use pools::{Move as PoolHostMove, PoolFields, PoolHostRow, PoolRow};
pub use rollouts::{Expect, Move, NewRollout, RolloutRow};
pub use secrets::{Sealed, SecretRow};
pub use services::{NewService, RevisionRow, ServiceRow, Unreadable, VolumeDeletion};
pub use sessions::{SessionRow, SessionUser};
pub use tokens::{NewTokenRow, TokenRow, TokenUser};
pub use users::UserRow;
pub use volume_classes::{VolumeClassFields, VolumeClassRow};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool};

/// The PostgreSQL advisory lock every write transaction ([`Store::write_tx`])
/// takes: those run one at a time, as SQLite's `BEGIN IMMEDIATE` makes them, so a
/// check inside one and the write it allows cannot interleave with another's.
/// Single statements outside a write transaction, and checks the ops layer makes
/// before a write, are not covered; the leader's loops are the only writers
/// besides the API (a fenced store sends even single statements through here).
const WRITE_LOCK: i64 = 0x6265_7274_6877;

/// Set on every SQLite connection as it opens: WAL (readers beside one writer),
/// foreign keys, and a writer waits 5 s for another before SQLite gives up with
/// "database is locked".
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations-postgres");

/// A failure of the store, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL '{url}': {cause}; expected e.g. sqlite://data/berth.db or postgres://berth@127.0.0.1/berth (set --database-url or BERTH_DATABASE_URL)")]
    InvalidUrl { url: String, cause: String },
    #[error("cannot create the folder {} for the database: {cause}; choose a writable path with --database-url or BERTH_DATABASE_URL", dir.display())]
    CreateDir { dir: PathBuf, cause: String },
    #[error("cannot open the database {}: {cause}; check that its folder is writable, or choose another path with --database-url or BERTH_DATABASE_URL", path.display())]
    Open { path: PathBuf, cause: String },
    #[error("cannot connect to PostgreSQL at {at}: {cause}; check that it runs and that the URL's user, password and database are right (--database-url or BERTH_DATABASE_URL)")]
    Connect { at: String, cause: String },
    #[error("cannot apply the database migrations: {0}")]
    Migrate(String),
    #[error("this instance no longer leads (its term {term} has ended): the write was refused")]
    Fenced { term: i64 },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether a UNIQUE constraint refused the write (a duplicate name).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// A stored value that does not read as what its column holds: the row is
/// unreadable, an error the caller shows rather than a default it guesses.
pub(crate) fn unreadable(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value '{value}'").into(),
    }
}

/// A stored JSON column that does not parse as what it holds.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(e),
    })
}

/// A value as the JSON stored in a column. Berth's own types always serialise;
/// should one not, the write fails rather than storing something else.
pub(crate) fn to_json_column<T: serde::Serialize>(value: &T) -> Result<String, sqlx::Error> {
    serde_json::to_string(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Which database the store speaks to. Queries are one text for both (`$1`
/// placeholders, `RETURNING`, `lower()` for case-free order); the few places
/// where the two differ ask this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One file, one Berth: the embedded default.
    Sqlite,
    /// A shared server: several Berth instances on one database.
    Postgres,
}

/// The database. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, or PostgreSQL's address (never its password).
    location: String,
    /// Where Berth keeps its own files: the SQLite file's folder, or `data/`.
    data_dir: PathBuf,
    /// PostgreSQL's URL, for `LISTEN` connections (never shown).
    url: Option<DbUrl>,
    /// Set on the leader's store: every write checks the lease (see `leader.rs`).
    fence: Option<Arc<Fence>>,
}

/// A database URL with its password: kept, never printed.
#[derive(Clone)]
struct DbUrl(Arc<str>);

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl std::ops::Deref for DbUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Store {
    /// A transaction that writes, one writer at a time. SQLite: the write lock at
    /// once (`BEGIN IMMEDIATE`), waiting under the busy timeout: a transaction that
    /// read first and then wrote would fail at once with "database is locked"
    /// whenever another writer committed in between (SQLite's snapshot rule in WAL
    /// mode). PostgreSQL: [`WRITE_LOCK`], held to the commit. A fenced store
    /// (the leader's) then checks that it still leads: the lease changes hands
    /// only under the same lock, so the check holds until the commit.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Any>, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = &self.fence {
            self.check_fence(&mut tx, fence).await?;
        }
        Ok(tx)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // As long as SQLite's busy timeout, then "database is locked"'s
                // PostgreSQL twin, never a wait without end.
                sqlx::query("SET LOCAL lock_timeout = '5s'")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Opens the database at `url`: a SQLite file (created if missing, with WAL,
    /// foreign keys and a busy timeout on every connection) or a PostgreSQL
    /// database.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            Store::open_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::open_postgres(url).await
        } else {
            Err(StoreError::InvalidUrl {
                url: redact(url),
                cause: "Berth stores its state in SQLite (sqlite:…) or PostgreSQL (postgres://…)"
                    .into(),
            })
        }
    }

    async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
            url: url.to_string(),
            cause: e.to_string(),
        })?;
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                cause: e.to_string(),
            })?;
        }
        // The Any driver takes a URL: the file, created if missing; the rest is
        // set on every connection as it opens.
        let any_url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect(&any_url)
            .await
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                cause: db_cause(&e),
            })?;
        let data_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Store {
            pool,
            backend: Backend::Sqlite,
            location: path.display().to_string(),
            data_dir,
            url: None,
            fence: None,
        })
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let at = redact(url);
        // One connection first: a server that is not there is said at once (the
        // pool would retry until its acquire timeout).
        let first = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .map_err(|e| StoreError::Connect {
                at: at.clone(),
                cause: db_cause(&e),
            })?;
        let _ = sqlx::Connection::close(first).await;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Connect {
                at: at.clone(),
                cause: db_cause(&e),
            })?;
        Ok(Store {
            pool,
            backend: Backend::Postgres,
            location: at,
            data_dir: PathBuf::from("data"),
            url: Some(DbUrl(Arc::from(url))),
            fence: None,
        })
    }

    /// The same store keeping its own files in `dir` (tests on PostgreSQL keep
    /// theirs in their temp folder).
    pub fn with_data_dir(mut self, dir: PathBuf) -> Store {
        self.data_dir = dir;
        self
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies the migrations this build knows that the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The folder where Berth keeps its other files.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The database file, or PostgreSQL's address without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// SQLite's journal mode (`wal` in normal operation); PostgreSQL has none
    /// to choose.
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&self.pool)
                .await?),
            Backend::Postgres => Ok("postgresql".to_string()),
        }
    }

    /// The newest migration applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every text value of every table, joined; tests use it to prove that no raw
    /// secret is stored.
    pub async fn dump_text(&self) -> Result<String, StoreError> {
        let columns: Vec<(String, String)> = match self.backend {
            Backend::Sqlite => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut all = Vec::new();
                for table in tables {
                    let names: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT name FROM pragma_table_info('{table}') WHERE type != 'BLOB'"
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    all.extend(names.into_iter().map(|c| (table.clone(), c)));
                }
                all
            }
            Backend::Postgres => {
                let rows = sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND data_type != 'bytea'",
                )
                .fetch_all(&self.pool)
                .await?;
                use sqlx::Row;
                rows.iter()
                    .map(|r| Ok((r.try_get("t")?, r.try_get("c")?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
        };
        let mut out = String::new();
        for (table, column) in columns {
            let values: Vec<Option<String>> = sqlx::query_scalar(&format!(
                "SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\""
            ))
            .fetch_all(&self.pool)
            .await?;
            for v in values.into_iter().flatten() {
                out.push_str(&v);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Waits for open work and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database URL without its password (in the user part or as a `password`
/// parameter), to show and log; a URL that does not parse is not shown at all.
fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(a database URL that does not parse)".to_string();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| k == "password") {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    u.to_string()
}

/// The database's own words for a failure to open ("unable to open database file").
fn db_cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    async fn open_migrated(dir: &TempDir) -> Store {
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn opens_with_wal_foreign_keys_and_busy_timeout() {
        let dir = TempDir::new();
        // SQLite's settings: a SQLite file whichever database the tests run on.
        let url = format!("sqlite://{}/berth.db", dir.0.display());
        let store = Store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.journal_mode().await.unwrap(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(busy, 5000);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn migrations_apply_once_and_keep_the_instance_id() {
        let dir = TempDir::new();
        let store = open_migrated(&dir).await;
        let newest = store.migrator().iter().map(|m| m.version).max().unwrap();
        assert_eq!(store.schema_version().await.unwrap(), newest);
        let id = store.setting("instance_id").await.unwrap().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        store.close().await;

        // Reopening runs no migration twice and keeps the data.
        let again = open_migrated(&dir).await;
        assert_eq!(again.schema_version().await.unwrap(), newest);
        assert_eq!(again.setting("instance_id").await.unwrap(), Some(id));
    }

    #[tokio::test]
    async fn two_stores_on_one_database_make_one_first_admin() {
        // Two Berth instances starting together on one database.
        let dir = TempDir::new();
        let a = open_migrated(&dir).await;
        let b = Store::open(&dir.db_url()).await.unwrap();
        for round in 0..5 {
            let (na, nb) = (format!("a{round}"), format!("b{round}"));
            let (x, y) = tokio::join!(
                a.create_first_admin(&na, "hash", 1),
                b.create_first_admin(&nb, "hash", 1),
            );
            let made = [x.unwrap(), y.unwrap()].iter().flatten().count();
            assert_eq!(made, usize::from(round == 0), "round {round}");
        }
        assert_eq!(a.list_users().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn creates_missing_folders() {
        let dir = TempDir::new();
        let url = format!("sqlite://{}/a/b/berth.db", dir.0.display());
        let store = Store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert!(dir.0.join("a/b/berth.db").exists());
    }

    #[tokio::test]
    async fn unusable_paths_say_what_to_do() {
        let dir = TempDir::new();
        // A file where a folder should be.
        std::fs::write(dir.0.join("file"), b"x").unwrap();
        let url = format!("sqlite://{}/file/sub/berth.db", dir.0.display());
        let err = Store::open(&url).await.unwrap_err().to_string();
        assert!(err.starts_with("cannot create the folder"), "{err}");
        assert!(err.contains("--database-url"), "{err}");

        // A folder where the file should be.
        std::fs::create_dir_all(dir.0.join("dir.db")).unwrap();
        let url = format!("sqlite://{}/dir.db", dir.0.display());
        let err = Store::open(&url).await.unwrap_err().to_string();
        assert!(err.starts_with("cannot open the database"), "{err}");

        let err = Store::open("mysql://x").await.unwrap_err().to_string();
        assert!(err.starts_with("invalid database URL"), "{err}");

        // Nothing listens on port 1: said with where, never the password.
        let err = Store::open("postgres://berth:hunter2@127.0.0.1:1/berth")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "cannot connect to PostgreSQL at postgres://berth:***@127.0.0.1:1/berth"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            ("postgres://u:p@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?sslmode=require",
                "postgres://h/db?sslmode=require",
            ),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:p/ss@h/db",
                "(a database URL that does not parse)",
            ),
            (
                "postgres://u@h/db?sslmode=verify-full&password=p",
                "postgres://u@h/db?sslmode=verify-full&password=***",
            ),
            ("sqlite://data/berth.db", "sqlite://data/berth.db"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }
}
