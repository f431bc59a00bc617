//! The only place with SQL. SQLite through sqlx: opened with WAL, foreign keys and a
//! busy timeout, migrated at start-up from `migrations/` (append-only).
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
mod hosts;
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
pub use hosts::{HostRow, NewHost, TlsPem};
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
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// How long a writer waits for another before SQLite gives up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A failure of the store, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL '{url}': {cause}; expected e.g. sqlite://data/berth.db (set --database-url or BERTH_DATABASE_URL)")]
    InvalidUrl { url: String, cause: String },
    #[error("cannot create the folder {} for the database: {cause}; choose a writable path with --database-url or BERTH_DATABASE_URL", dir.display())]
    CreateDir { dir: PathBuf, cause: String },
    #[error("cannot open the database {}: {cause}; check that its folder is writable, or choose another path with --database-url or BERTH_DATABASE_URL", path.display())]
    Open { path: PathBuf, cause: String },
    #[error("cannot apply the database migrations: {0}")]
    Migrate(String),
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

/// The database. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// A transaction that writes. It takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting under the busy timeout: a transaction that read first
    /// and then wrote would fail at once with "database is locked" whenever another
    /// writer committed in between (SQLite's snapshot rule in WAL mode).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Opens (creating if missing) the database at `url`, with WAL, foreign keys and
    /// a busy timeout on every connection.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::InvalidUrl {
                url: url.to_string(),
                cause: "Berth stores its state in SQLite, so the URL starts with sqlite:".into(),
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl {
                url: url.to_string(),
                cause: e.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                cause: e.to_string(),
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                cause: sqlite_cause(&e),
            })?;
        Ok(Store { pool, path })
    }

    /// Applies the migrations this build knows that the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The folder of the database file, where Berth keeps its other files.
    pub fn data_dir(&self) -> PathBuf {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's journal mode (`wal` in normal operation).
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The newest migration applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every text value of every table, joined; tests use it to prove that no raw
    /// secret is stored.
    pub async fn dump_text(&self) -> Result<String, StoreError> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = String::new();
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&self.pool)
                    .await?;
            for column in columns {
                let values: Vec<Option<String>> = sqlx::query_scalar(&format!(
                    "SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\" WHERE typeof(\"{column}\") != 'blob'"
                ))
                .fetch_all(&self.pool)
                .await?;
                for v in values.into_iter().flatten() {
                    out.push_str(&v);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    /// Waits for open work and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite's own words for a failure to open ("unable to open database file").
fn sqlite_cause(e: &sqlx::Error) -> String {
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
        let store = open_migrated(&dir).await;
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
        let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
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

        let err = Store::open("postgres://x").await.unwrap_err().to_string();
        assert!(err.starts_with("invalid database URL"), "{err}");
    }
}
