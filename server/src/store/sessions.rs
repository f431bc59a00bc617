//! The `sessions` table: login sessions, found by the SHA-256 of their cookie.

use sqlx::Row;

use super::users::{user_from, UserRow};
use super::{Run, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub client_addr: String,
    pub user_agent: String,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub session: SessionRow,
    pub user: UserRow,
}

fn session_from(row: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.try_get("sid")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("s_created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        client_addr: row.try_get("client_addr")?,
        user_agent: row.try_get("user_agent")?,
    })
}

const SESSION_COLUMNS: &str = "s.id AS sid, s.user_id, s.created_at AS s_created_at, \
     s.expires_at, s.last_seen_at, s.client_addr, s.user_agent";

impl Store {
    /// Starts a session; also forgets the sessions that have expired.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
        client_addr: &str,
        user_agent: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .run(self)
            .await?;
        Ok(sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, client_addr, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .bind(client_addr)
        .bind(user_agent)
        .fetch_one(&self.pool)
.await?
.try_get::<i64, _>("id")?)
    }

    /// The live session with this hash, and its user.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<SessionUser>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, u.id, u.username, u.password_hash, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<SessionUser, sqlx::Error> {
                Ok(SessionUser {
                    session: session_from(&r)?,
                    user: user_from(&r)?,
                })
            })
            .transpose()?)
    }

    /// Notes that a session was used (at most once a minute, to spare writes).
    pub async fn touch_session(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $3")
            .bind(now)
            .bind(id)
            .bind(now - 60_000)
            .run(self)
            .await?;
        Ok(())
    }

    /// The live sessions of a user, newest first.
    pub async fn list_sessions(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 AND s.expires_at > $2 \
             ORDER BY s.created_at DESC"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(session_from).collect::<Result<_, _>>()?)
    }

    pub async fn count_sessions(&self, user_id: i64, now: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Ends one session of a user; false when there was none.
    pub async fn delete_session(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .run(self)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Whether a session exists and has not expired.
    pub async fn session_alive(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?
            == 1)
    }

    /// Ends every session of a user; how many ended.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .run(self)
            .await?
            .rows_affected())
    }
}
