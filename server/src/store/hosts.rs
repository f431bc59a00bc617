//! The `hosts` table: registered Docker hosts and the decisions about them (labels,
//! cordon, drain). TLS material is kept so Berth can connect after a restart.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Run, Store, StoreError};

/// PEM material for a TLS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPem {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub id: i64,
    pub name: String,
    pub endpoint: String,
    pub address: String,
    pub labels: BTreeMap<String, String>,
    pub tls: Option<TlsPem>,
    pub cordoned: bool,
    pub draining: bool,
    pub created_at: i64,
}

/// A host to register.
#[derive(Debug, Clone)]
pub struct NewHost<'a> {
    pub name: &'a str,
    pub endpoint: &'a str,
    pub address: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub tls: Option<&'a TlsPem>,
    pub now: i64,
}

const COLUMNS: &str =
    "id, name, endpoint, address, labels, tls_ca, tls_cert, tls_key, cordoned, draining, created_at";

fn host_from(r: &sqlx::any::AnyRow) -> Result<HostRow, sqlx::Error> {
    let labels: String = r.try_get("labels")?;
    let tls = match (
        r.try_get::<Option<String>, _>("tls_ca")?,
        r.try_get::<Option<String>, _>("tls_cert")?,
        r.try_get::<Option<String>, _>("tls_key")?,
    ) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsPem { ca, cert, key }),
        _ => None,
    };
    Ok(HostRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        endpoint: r.try_get("endpoint")?,
        address: r.try_get("address")?,
        labels: super::json_column("labels", &labels)?,
        tls,
        cordoned: r.try_get::<i64, _>("cordoned")? == 1,
        draining: r.try_get::<i64, _>("draining")? == 1,
        created_at: r.try_get("created_at")?,
    })
}

fn labels_json(labels: &BTreeMap<String, String>) -> Result<String, sqlx::Error> {
    super::to_json_column(labels)
}

impl Store {
    /// Registers a host; a duplicate name is a unique violation.
    pub async fn create_host(&self, h: NewHost<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO hosts (name, endpoint, address, labels, tls_ca, tls_cert, tls_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(h.name)
        .bind(h.endpoint)
        .bind(h.address)
        .bind(labels_json(h.labels)?)
        .bind(h.tls.map(|t| t.ca.as_str()))
        .bind(h.tls.map(|t| t.cert.as_str()))
        .bind(h.tls.map(|t| t.key.as_str()))
        .bind(h.now)
        .bind(h.now)
        .run_one(self)
.await?
.try_get::<i64, _>("id")?)
    }

    /// Every host, by name.
    pub async fn list_hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM hosts ORDER BY lower(name)"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(host_from).collect::<Result<_, _>>()?)
    }

    pub async fn host_by_name(&self, name: &str) -> Result<Option<HostRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM hosts WHERE lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(host_from).transpose()?)
    }

    pub async fn host_by_id(&self, id: i64) -> Result<Option<HostRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM hosts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(host_from).transpose()?)
    }

    pub async fn set_host_labels(
        &self,
        id: i64,
        labels: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE hosts SET labels = $1, updated_at = $2 WHERE id = $3")
            .bind(labels_json(labels)?)
            .bind(now)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    pub async fn set_host_address(
        &self,
        id: i64,
        address: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE hosts SET address = $1, updated_at = $2 WHERE id = $3")
            .bind(address)
            .bind(now)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Sets whether a host takes new replicas (`cordoned`) and whether its replicas
    /// should move away (`draining`, which implies cordoned).
    pub async fn set_host_schedule(
        &self,
        id: i64,
        cordoned: bool,
        draining: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE hosts SET cordoned = $1, draining = $2, updated_at = $3 WHERE id = $4")
            .bind(cordoned as i64)
            .bind(draining as i64)
            .bind(now)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    pub async fn delete_host(&self, id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM hosts WHERE id = $1")
            .bind(id)
            .run(self)
            .await?
            .rows_affected()
            == 1)
    }
}
