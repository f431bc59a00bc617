//! The `settings` table: small key/value facts about this instance.

use super::{Run, Store, StoreError};

impl Store {
    /// The value of `key`, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// This Berth's instance id, made with the database; written on every container
    /// it makes.
    pub async fn instance_id(&self) -> Result<String, StoreError> {
        Ok(self.setting("instance_id").await?.unwrap_or_default())
    }

    /// Sets `key` to `value` at `now_ms`.
    pub async fn set_setting(&self, key: &str, value: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now_ms)
        .run(self)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::testing::TempDir;

    #[tokio::test]
    async fn set_and_get() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.setting("greeting").await.unwrap(), None);
        store.set_setting("greeting", "hello", 1).await.unwrap();
        store.set_setting("greeting", "hej", 2).await.unwrap();
        assert_eq!(
            store.setting("greeting").await.unwrap().as_deref(),
            Some("hej")
        );
    }
}
