//! The `secrets` and `secret_versions` tables: a team's secrets, each version's
//! value sealed (AES-256-GCM) before it gets here. The store never sees a value.

use sqlx::Row;

use super::{Store, StoreError};

/// A secret without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    /// The newest version.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One version's sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

fn row(r: &sqlx::any::AnyRow) -> Result<SecretRow, sqlx::Error> {
    Ok(SecretRow {
        id: r.try_get("id")?,
        team_id: r.try_get("team_id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

const COLUMNS: &str = "id, team_id, name, version, created_at, updated_at, updated_by";

impl Store {
    /// A team's secrets (not deleted ones), by name.
    pub async fn list_secrets(&self, team_id: i64) -> Result<Vec<SecretRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE team_id = $1 AND deleted_at IS NULL ORDER BY name"
        ))
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }

    /// One secret of a team, unless deleted.
    pub async fn secret(&self, team_id: i64, name: &str) -> Result<Option<SecretRow>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE team_id = $1 AND name = $2 AND deleted_at IS NULL"
        ))
        .bind(team_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// Stores the next version of a secret (its first, for a new one): `seal` is
    /// given the version number (part of what it seals) and answers the sealed
    /// value. One transaction; returns the version.
    pub async fn put_secret(
        &self,
        team_id: i64,
        name: &str,
        author: &str,
        now: i64,
        seal: impl FnOnce(i64) -> Sealed,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        // A deleted secret of this name keeps its count: versions never repeat.
        let before: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, version FROM secrets WHERE team_id = $1 AND name = $2")
                .bind(team_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let (id, version) = match before {
            Some((id, v)) => {
                sqlx::query(
                    "UPDATE secrets SET version = $1, updated_at = $2, updated_by = $3, \
                     created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE $4 END, \
                     deleted_at = NULL WHERE id = $5",
                )
                .bind(v + 1)
                .bind(now)
                .bind(author)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                (id, v + 1)
            }
            None => {
                let id = sqlx::query(
                    "INSERT INTO secrets (team_id, name, version, created_at, updated_at, updated_by) \
                     VALUES ($1, $2, 1, $3, $4, $5) RETURNING id",
                )
                .bind(team_id)
                .bind(name)
                .bind(now)
                .bind(now)
                .bind(author)
                .fetch_one(&mut *tx)
.await?
.try_get::<i64, _>("id")?;
                (id, 1)
            }
        };
        let sealed = seal(version);
        sqlx::query(
            "INSERT INTO secret_versions (secret_id, version, nonce, ciphertext, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(version)
        .bind(sealed.nonce)
        .bind(sealed.ciphertext)
        .bind(now)
        .bind(author)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// One version's sealed value, unless the secret (or that version) is gone.
    pub async fn secret_version(
        &self,
        team_id: i64,
        name: &str,
        version: i64,
    ) -> Result<Option<Sealed>, StoreError> {
        let r = sqlx::query(
            "SELECT v.nonce, v.ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
             WHERE s.team_id = $1 AND s.name = $2 AND s.deleted_at IS NULL AND v.version = $3",
        )
        .bind(team_id)
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(|r| -> Result<Sealed, sqlx::Error> {
            Ok(Sealed {
                nonce: r.try_get("nonce")?,
                ciphertext: r.try_get("ciphertext")?,
            })
        })
        .transpose()?)
    }

    /// Deletes a secret: its values go, its name and count stay (so a new secret of
    /// that name never hands out an old version number). False when there was none.
    pub async fn delete_secret(
        &self,
        team_id: i64,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM secrets WHERE team_id = $1 AND name = $2 AND deleted_at IS NULL",
        )
        .bind(team_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE secrets SET deleted_at = $1, updated_at = $2 WHERE id = $3")
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    fn sealed(v: i64) -> Sealed {
        Sealed {
            nonce: vec![v as u8; 12],
            ciphertext: vec![v as u8; 20],
        }
    }

    #[tokio::test]
    async fn versions_count_up_and_never_repeat() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let team = store.create_team("a", 1).await.unwrap();
        assert_eq!(
            store
                .put_secret(team, "pw", "ann", 2, sealed)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .put_secret(team, "pw", "bob", 3, sealed)
                .await
                .unwrap(),
            2
        );
        let s = store.secret(team, "pw").await.unwrap().unwrap();
        assert_eq!(
            (s.version, s.created_at, s.updated_at, s.updated_by.as_str()),
            (2, 2, 3, "bob")
        );
        assert_eq!(
            store.secret_version(team, "pw", 1).await.unwrap(),
            Some(sealed(1))
        );
        assert_eq!(store.secret_version(team, "pw", 3).await.unwrap(), None);

        assert!(store.delete_secret(team, "pw", 4).await.unwrap());
        assert!(!store.delete_secret(team, "pw", 4).await.unwrap());
        assert!(store.list_secrets(team).await.unwrap().is_empty());
        assert_eq!(store.secret_version(team, "pw", 2).await.unwrap(), None);
        // Made again: version 3, never an old number.
        assert_eq!(
            store
                .put_secret(team, "pw", "ann", 5, sealed)
                .await
                .unwrap(),
            3
        );
        assert_eq!(store.secret_version(team, "pw", 1).await.unwrap(), None);
        assert_eq!(store.list_secrets(team).await.unwrap()[0].created_at, 5);
        // Another team's secret of the same name is its own.
        let other = store.create_team("b", 1).await.unwrap();
        assert_eq!(store.secret(other, "pw").await.unwrap(), None);
        assert_eq!(
            store
                .put_secret(other, "pw", "cy", 6, sealed)
                .await
                .unwrap(),
            1
        );
        // Nothing but the sealed bytes is stored.
        assert!(!store.dump_text().await.unwrap().contains("hunter2"));
    }
}
