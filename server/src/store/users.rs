//! The `users` table.

use domain::wire::UserRole;
use sqlx::Row;

use super::{Run, Store, StoreError};

/// A user as stored (with the password hash: never send it anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: UserRole,
    pub created_at: i64,
}

pub(super) fn user_from(row: &sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: UserRole::parse(&role).ok_or_else(|| super::unreadable("role", &role))?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "id, username, password_hash, role, created_at";

impl Store {
    /// Whether any user exists (the first-run setup is done).
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        // A count, not EXISTS: SQLite answers EXISTS as an integer, PostgreSQL
        // as a boolean.
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS u")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Creates a user; a duplicate name fails with a unique violation.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: UserRole,
        now: i64,
    ) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await?
        .try_get::<i64, _>("id")?;
        Ok(id)
    }

    /// Creates the first admin, atomically only while no user exists; `None` when
    /// someone was first.
    pub async fn create_first_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        // In one write transaction: two instances starting together on one
        // database make one admin, not two.
        let mut tx = self.write_tx().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) \
             SELECT $1, $2, 'admin', $3, $4 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM users ORDER BY lower(username)"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    pub async fn count_admins(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn set_user_role(&self, id: i64, role: UserRole, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(now)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Sets a new password hash and ends every session of the user, in one
    /// transaction: whoever knew the old password is logged out.
    pub async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        keep_session: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
            .bind(id)
            .bind(keep_session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a user (their sessions, tokens and memberships go with them).
    pub async fn delete_user(&self, id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .run(self)
            .await?
            .rows_affected()
            == 1)
    }
}
