//! The `volume_classes` table: drivers, options and scopes an admin offers to
//! teams for their services' volumes.

use std::collections::BTreeMap;

use domain::wire::ClassScope;
use sqlx::Row;

use super::{Run, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeClassRow {
    pub id: i64,
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub scope: ClassScope,
    pub team_ids: Vec<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A class to store (new or changed).
#[derive(Debug, Clone)]
pub struct VolumeClassFields<'a> {
    pub name: &'a str,
    pub driver: &'a str,
    pub options: &'a BTreeMap<String, String>,
    pub scope: ClassScope,
    pub team_ids: &'a [i64],
    pub now: i64,
}

const COLUMNS: &str = "id, name, driver, options, scope, team_ids, created_at, updated_at";

fn scope_from(s: &str) -> Result<ClassScope, sqlx::Error> {
    match s {
        "host" => Ok(ClassScope::Host),
        "global" => Ok(ClassScope::Global),
        other => Err(super::unreadable("scope", other)),
    }
}

fn class_from(r: &sqlx::any::AnyRow) -> Result<VolumeClassRow, sqlx::Error> {
    let options: String = r.try_get("options")?;
    let teams: String = r.try_get("team_ids")?;
    let scope: String = r.try_get("scope")?;
    Ok(VolumeClassRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        driver: r.try_get("driver")?,
        options: super::json_column("options", &options)?,
        scope: scope_from(&scope)?,
        team_ids: super::json_column("team_ids", &teams)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Stores a new class; a duplicate name is a unique violation.
    pub async fn create_volume_class(&self, c: VolumeClassFields<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO volume_classes (name, driver, options, scope, team_ids, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(c.name)
        .bind(c.driver)
        .bind(super::to_json_column(c.options)?)
        .bind(c.scope.as_str())
        .bind(super::to_json_column(&c.team_ids)?)
        .bind(c.now)
        .bind(c.now)
        .fetch_one(&self.pool)
        .await?
        .try_get::<i64, _>("id")?)
    }

    /// Changes a class (its name stays); false when there is none of that id.
    pub async fn update_volume_class(
        &self,
        id: i64,
        c: VolumeClassFields<'_>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE volume_classes SET driver = $1, options = $2, scope = $3, team_ids = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(c.driver)
        .bind(super::to_json_column(c.options)?)
        .bind(c.scope.as_str())
        .bind(super::to_json_column(&c.team_ids)?)
        .bind(c.now)
        .bind(id)
        .run(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a class; false when there is none of that id.
    pub async fn delete_volume_class(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM volume_classes WHERE id = $1")
            .bind(id)
            .run(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every class, by name.
    pub async fn list_volume_classes(&self) -> Result<Vec<VolumeClassRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM volume_classes ORDER BY lower(name)"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(class_from).collect::<Result<_, _>>()?)
    }

    pub async fn volume_class_by_name(
        &self,
        name: &str,
    ) -> Result<Option<VolumeClassRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM volume_classes WHERE lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(class_from).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_class_is_stored_changed_and_deleted() {
        let dir = crate::testing::TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let options = BTreeMap::from([("remote".to_string(), ":local:/s/{volume}".to_string())]);
        let fields = |scope, teams: &'static [i64]| VolumeClassFields {
            name: "shared-disk",
            driver: "rclone",
            options: &options,
            scope,
            team_ids: teams,
            now: 5,
        };
        let id = store
            .create_volume_class(fields(ClassScope::Global, &[1, 2]))
            .await
            .unwrap();
        let got = store
            .volume_class_by_name("Shared-Disk")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.id, got.scope, got.team_ids.clone()),
            (id, ClassScope::Global, vec![1, 2])
        );
        assert_eq!(got.options, options);
        assert!(store
            .create_volume_class(fields(ClassScope::Host, &[]))
            .await
            .is_err());
        assert!(store
            .update_volume_class(id, fields(ClassScope::Host, &[]))
            .await
            .unwrap());
        let list = store.list_volume_classes().await.unwrap();
        assert_eq!((list.len(), list[0].scope), (1, ClassScope::Host));
        assert!(store.delete_volume_class(id).await.unwrap());
        assert!(!store.delete_volume_class(id).await.unwrap());
    }
}
