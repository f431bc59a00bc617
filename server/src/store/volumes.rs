//! The `replica_homes` table: the host that holds each slot's per-replica volumes.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::{Run, Store, StoreError};

impl Store {
    /// Every service's homes: service id -> slot -> host id.
    pub async fn replica_homes(&self) -> Result<HashMap<i64, BTreeMap<u32, i64>>, StoreError> {
        let rows = sqlx::query("SELECT service_id, slot, host_id FROM replica_homes")
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<i64, BTreeMap<u32, i64>> = HashMap::new();
        for r in rows {
            let slot: i64 = r.try_get("slot")?;
            out.entry(r.try_get("service_id")?)
                .or_default()
                .insert(slot.max(0) as u32, r.try_get("host_id")?);
        }
        Ok(out)
    }

    /// Records that `slot`'s volumes are on `host_id`, unless the slot has a home
    /// already (which stays).
    pub async fn set_replica_home(
        &self,
        service_id: i64,
        slot: u32,
        host_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replica_homes (service_id, slot, host_id, since) VALUES ($1, $2, $3, $4)
             ON CONFLICT (service_id, slot) DO NOTHING",
        )
        .bind(service_id)
        .bind(i64::from(slot))
        .bind(host_id)
        .bind(now)
        .run(self)
        .await?;
        Ok(())
    }

    /// Forgets where `slot` lives (an admin moved it); returns the host it was on.
    pub async fn forget_replica_home(
        &self,
        service_id: i64,
        slot: u32,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM replica_homes WHERE service_id = $1 AND slot = $2 RETURNING host_id",
        )
        .bind(service_id)
        .bind(i64::from(slot))
        .run_optional(self)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("host_id")?),
            None => None,
        })
    }

    /// Forgets every home of a service (its per-replica volumes are gone from the
    /// spec, or deleted).
    pub async fn clear_replica_homes(&self, service_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM replica_homes WHERE service_id = $1")
            .bind(service_id)
            .run(self)
            .await?;
        Ok(())
    }
}
