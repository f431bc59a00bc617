//! The `api_tokens` table: named tokens, found by the SHA-256 of their secret.

use sqlx::Row;

use super::users::{user_from, UserRow};
use super::{Run, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub read_only: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A token and its user.
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub token: TokenRow,
    pub user: UserRow,
}

const TOKEN_COLUMNS: &str = "t.id AS tid, t.user_id, t.name, t.prefix, t.read_only, \
     t.created_at AS t_created_at, t.expires_at, t.last_used_at";

fn token_from(row: &sqlx::any::AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: row.try_get("tid")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        read_only: row.try_get::<i64, _>("read_only")? == 1,
        created_at: row.try_get("t_created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewTokenRow<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub read_only: bool,
    pub now: i64,
    pub expires_at: Option<i64>,
    /// The token it was made with: revoking that one revokes this one.
    pub parent_id: Option<i64>,
}

impl Store {
    /// Stores a token's hash; a duplicate name for the same user is a unique violation.
    pub async fn create_token(&self, t: NewTokenRow<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, read_only, created_at, expires_at, parent_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(t.user_id)
        .bind(t.name)
        .bind(t.token_hash)
        .bind(t.prefix)
        .bind(t.read_only as i64)
        .bind(t.now)
        .bind(t.expires_at)
        .bind(t.parent_id)
        .fetch_one(&self.pool)
.await?
.try_get::<i64, _>("id")?)
    }

    /// Whether a token exists and has not expired.
    pub async fn token_alive(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM api_tokens WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?
            == 1)
    }

    /// When a token expires (`Some(None)`: never), or `None` when there is none.
    pub async fn token_expiry(&self, id: i64) -> Result<Option<Option<i64>>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT expires_at FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Revokes every token of a user; how many.
    pub async fn delete_user_tokens(&self, user_id: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id)
            .run(self)
            .await?
            .rows_affected())
    }

    /// The token with this hash (expired or not: the caller says which) and its user.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<TokenUser>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS}, u.id, u.username, u.password_hash, u.role, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<TokenUser, sqlx::Error> {
                Ok(TokenUser {
                    token: token_from(&r)?,
                    user: user_from(&r)?,
                })
            })
            .transpose()?)
    }

    /// Notes that a token was used (at most once a minute, to spare writes).
    pub async fn touch_token(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .run(self)
        .await?;
        Ok(())
    }

    /// A user's tokens, newest first.
    pub async fn list_tokens(&self, user_id: i64) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token_from).collect::<Result<_, _>>()?)
    }

    pub async fn token(&self, user_id: i64, id: i64) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = $1 AND t.id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_from).transpose()?)
    }

    /// Revokes a user's token; false when there was none.
    pub async fn delete_token(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .run(self)
                .await?
                .rows_affected()
                == 1,
        )
    }
}
