//! The `services` and `revisions` tables: what should run, and every revision of
//! its spec.

use domain::wire::{ProxyConfig, ServiceSpec};
use sqlx::Row;

use super::{Run, Store, StoreError};

/// A service with its current revision's spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub id: i64,
    pub name: String,
    pub team_id: i64,
    pub team: String,
    pub replicas: u32,
    pub revision: i64,
    pub spec: ServiceSpec,
    pub spec_hash: String,
    pub proxy: ProxyConfig,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A service whose stored row does not read (a spec or proxy configuration that
/// does not parse): named, so the loop can leave it as it runs and say why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub id: i64,
    pub name: String,
    pub team_id: i64,
    /// The store's error, naming the column.
    pub why: String,
}

/// One revision of a service's spec.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionRow {
    pub number: i64,
    pub spec: ServiceSpec,
    pub spec_hash: String,
    pub author: String,
    pub message: String,
    pub created_at: i64,
}

/// A service to create, with its first revision.
#[derive(Debug, Clone)]
pub struct NewService<'a> {
    pub name: &'a str,
    pub team_id: i64,
    pub replicas: u32,
    pub spec: &'a ServiceSpec,
    pub proxy: &'a ProxyConfig,
    pub author: &'a str,
    pub message: &'a str,
    pub now: i64,
}

const SELECT: &str = "SELECT s.id, s.name, s.team_id, t.name AS team, s.replicas, s.revision, \
     r.spec, r.spec_hash, s.proxy, s.created_at, s.updated_at \
     FROM services s JOIN teams t ON t.id = s.team_id \
     JOIN revisions r ON r.service_id = s.id AND r.number = s.revision";

fn spec_from(json: &str) -> Result<ServiceSpec, sqlx::Error> {
    super::json_column("spec", json)
}

fn service_from(r: &sqlx::any::AnyRow) -> Result<ServiceRow, sqlx::Error> {
    Ok(ServiceRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        team_id: r.try_get("team_id")?,
        team: r.try_get("team")?,
        replicas: r.try_get::<i64, _>("replicas")?.max(0) as u32,
        revision: r.try_get("revision")?,
        spec: spec_from(r.try_get("spec")?)?,
        spec_hash: r.try_get("spec_hash")?,
        proxy: super::json_column("proxy", r.try_get("proxy")?)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn spec_json(spec: &ServiceSpec) -> Result<String, sqlx::Error> {
    super::to_json_column(spec)
}

/// Writes the service's next revision inside `tx`; returns its number.
pub(super) async fn insert_revision(
    tx: &mut sqlx::AnyConnection,
    service_id: i64,
    spec: &ServiceSpec,
    spec_hash: &str,
    author: &str,
    message: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE service_id = $1",
    )
    .bind(service_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO revisions (service_id, number, spec, spec_hash, author, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(service_id)
    .bind(number)
    .bind(spec_json(spec)?)
    .bind(spec_hash)
    .bind(author)
    .bind(message)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(number)
}

/// A deleted service whose volumes are to be deleted, since `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeDeletion {
    pub service_id: i64,
    pub service: String,
    pub team_id: Option<i64>,
    pub since: i64,
}

impl Store {
    /// Creates a service and its revision 1; a duplicate name is a unique violation.
    /// Its id is new: ids are never given twice, even after a deletion.
    pub async fn create_service(&self, s: NewService<'_>) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = sqlx::query(
            "INSERT INTO service_ids (name, team_id, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(s.name)
        .bind(s.team_id)
        .bind(s.now)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("id")?;
        sqlx::query(
            "INSERT INTO services (id, name, team_id, replicas, revision, proxy, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7)",
        )
        .bind(id)
        .bind(s.name)
        .bind(s.team_id)
        .bind(i64::from(s.replicas))
        .bind(super::to_json_column(s.proxy)?)
        .bind(s.now)
        .bind(s.now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO revisions (service_id, number, spec, spec_hash, author, message, created_at) \
             VALUES ($1, 1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(spec_json(s.spec)?)
        .bind(s.spec.hash())
        .bind(s.author)
        .bind(s.message)
        .bind(s.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every service with its current spec, by name.
    pub async fn list_services(&self) -> Result<Vec<ServiceRow>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY lower(s.name)"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(service_from).collect::<Result<_, _>>()?)
    }

    /// Every service, each read on its own: one whose row does not read is listed
    /// apart with why, instead of failing the read of all the others.
    pub async fn read_services(&self) -> Result<(Vec<ServiceRow>, Vec<Unreadable>), StoreError> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY lower(s.name)"))
            .fetch_all(&self.pool)
            .await?;
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in &rows {
            match service_from(r) {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(Unreadable {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    team_id: r.try_get("team_id")?,
                    why: e.to_string(),
                }),
            }
        }
        Ok((ok, bad))
    }

    /// Spoils a service's stored spec (valid JSON that is no spec), as a bad
    /// migration or a hand edit would: for tests of what cannot be read.
    #[cfg(any(test, feature = "testing"))]
    pub async fn spoil_spec(&self, service_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE revisions SET spec = '{\"image\": 7}' WHERE service_id = $1")
            .bind(service_id)
            .run(self)
            .await?;
        Ok(())
    }

    pub async fn service_by_name(&self, name: &str) -> Result<Option<ServiceRow>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE lower(s.name) = lower($1)"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(service_from).transpose()?)
    }

    /// How many services a team owns.
    pub async fn count_team_services(&self, team_id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE team_id = $1")
                .bind(team_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Adds a revision and makes it current, without a rollout; returns its number.
    pub async fn add_revision(
        &self,
        service_id: i64,
        spec: &ServiceSpec,
        author: &str,
        message: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let number = insert_revision(
            &mut tx,
            service_id,
            spec,
            &spec.hash(),
            author,
            message,
            now,
        )
        .await?;
        sqlx::query("UPDATE services SET revision = $1, updated_at = $2 WHERE id = $3")
            .bind(number)
            .bind(now)
            .bind(service_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(number)
    }

    /// Every revision of a service, newest first.
    pub async fn list_revisions(&self, service_id: i64) -> Result<Vec<RevisionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, spec, spec_hash, author, message, created_at FROM revisions \
             WHERE service_id = $1 ORDER BY number DESC",
        )
        .bind(service_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevisionRow {
                    number: r.try_get("number")?,
                    spec: spec_from(r.try_get("spec")?)?,
                    spec_hash: r.try_get("spec_hash")?,
                    author: r.try_get("author")?,
                    message: r.try_get("message")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn set_replicas(
        &self,
        service_id: i64,
        replicas: u32,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE services SET replicas = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(replicas))
            .bind(now)
            .bind(service_id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Sets how the proxy reaches a service.
    pub async fn set_proxy(
        &self,
        service_id: i64,
        proxy: &ProxyConfig,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE services SET proxy = $1, updated_at = $2 WHERE id = $3")
            .bind(super::to_json_column(proxy)?)
            .bind(now)
            .bind(service_id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Deletes a service and its revisions; false when there was none. Its id
    /// stays taken.
    /// With `delete_volumes`, its volumes are to be deleted (see
    /// [`Store::volumes_to_delete`]), recorded in the same transaction.
    pub async fn delete_service(
        &self,
        service_id: i64,
        now: i64,
        delete_volumes: bool,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(service_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        sqlx::query(
            "UPDATE service_ids SET deleted_at = $1, \
             delete_volumes_since = CASE WHEN $2 THEN $3 ELSE NULL END \
             WHERE id = $4 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(delete_volumes)
        .bind(now)
        .bind(service_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Deleted services whose volumes are still to be deleted, oldest first.
    pub async fn volumes_to_delete(&self) -> Result<Vec<VolumeDeletion>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, team_id, delete_volumes_since FROM service_ids \
             WHERE delete_volumes_since IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VolumeDeletion {
                    service_id: r.try_get("id")?,
                    service: r.try_get("name")?,
                    team_id: r.try_get("team_id")?,
                    since: r.try_get("delete_volumes_since")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// A deleted service's volumes are all gone: nothing more to delete.
    pub async fn volumes_deleted(&self, service_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE service_ids SET delete_volumes_since = NULL WHERE id = $1")
            .bind(service_id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Deleted services that had this name, with their teams (`None` when the team
    /// is gone too): (id, team id).
    pub async fn deleted_services_named(
        &self,
        name: &str,
    ) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, team_id FROM service_ids WHERE lower(name) = lower($1) AND deleted_at IS NOT NULL ORDER BY id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("team_id")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The team a service (deleted or not) belonged to, when it is known.
    pub async fn team_of_service(&self, service_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT team_id FROM service_ids WHERE id = $1")
                .bind(service_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    fn spec(image: &str) -> ServiceSpec {
        serde_json::from_value(serde_json::json!({"image": image, "port": 8080})).unwrap()
    }

    /// A service `name` of `team` at `demo:v1`; its id.
    async fn add(store: &Store, team: i64, name: &str) -> i64 {
        let v1 = spec("demo:v1");
        store
            .create_service(NewService {
                name,
                team_id: team,
                replicas: 1,
                spec: &v1,
                proxy: &ProxyConfig::default(),
                author: "ann",
                message: "",
                now: 1,
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn stored_data_that_does_not_read_is_an_error_not_a_default() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let team = store.create_team("web", 1).await.unwrap();
        add(&store, team, "shop").await;
        // A proxy config that reads as the default would route the service as if
        // nobody had said otherwise; a spec that does not read must not run at all.
        for (sql, column) in [
            ("UPDATE services SET proxy = '{\"routes\": 7}'", "proxy"),
            ("UPDATE revisions SET spec = '{}'", "spec"),
        ] {
            sqlx::query(sql).execute(&store.pool).await.unwrap();
            let e = store.service_by_name("shop").await.unwrap_err().to_string();
            assert!(e.contains(column), "{e}");
        }
    }

    #[tokio::test]
    async fn one_unreadable_service_is_listed_apart_and_the_others_still_read() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let team = store.create_team("web", 1).await.unwrap();
        let mut ids = Vec::new();
        for name in ["api", "shop", "web"] {
            ids.push(add(&store, team, name).await);
        }
        store.spoil_spec(ids[1]).await.unwrap();
        let (ok, bad) = store.read_services().await.unwrap();
        let names: Vec<&str> = ok.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].id, bad[0].name.as_str()), (ids[1], "shop"));
        assert!(bad[0].why.contains("spec"), "{}", bad[0].why);
        // The read of all services at once still fails as a whole: its callers
        // (pages, the API) show the error rather than a list without the service.
        assert!(store.list_services().await.is_err());
    }

    #[tokio::test]
    async fn services_keep_every_revision_and_point_at_the_current_one() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let team = store.create_team("web", 1).await.unwrap();
        let v1 = spec("demo:v1");
        let id = store
            .create_service(NewService {
                name: "shop",
                team_id: team,
                replicas: 3,
                spec: &v1,
                proxy: &ProxyConfig::default(),
                author: "ann",
                message: "first",
                now: 10,
            })
            .await
            .unwrap();
        let dup = store
            .create_service(NewService {
                name: "SHOP",
                team_id: team,
                replicas: 1,
                spec: &v1,
                proxy: &ProxyConfig::default(),
                author: "ann",
                message: "",
                now: 11,
            })
            .await
            .unwrap_err();
        assert!(dup.is_unique_violation(), "{dup}");

        let v2 = spec("demo:v2");
        assert_eq!(
            store.add_revision(id, &v2, "bob", "v2", 20).await.unwrap(),
            2
        );
        store.set_replicas(id, 5, 30).await.unwrap();
        let s = store.service_by_name("shop").await.unwrap().unwrap();
        assert_eq!((s.revision, s.replicas, s.team.as_str()), (2, 5, "web"));
        assert_eq!(s.spec, v2);
        assert_eq!(s.spec_hash, v2.hash());
        let revs = store.list_revisions(id).await.unwrap();
        assert_eq!(
            revs.iter()
                .map(|r| (r.number, r.author.as_str()))
                .collect::<Vec<_>>(),
            [(2, "bob"), (1, "ann")]
        );
        assert_eq!(store.count_team_services(team).await.unwrap(), 1);
        let proxy: ProxyConfig =
            serde_json::from_value(serde_json::json!({"routes": [{"host": "shop.test"}]})).unwrap();
        store.set_proxy(id, &proxy, 40).await.unwrap();
        assert_eq!(
            store.service_by_name("shop").await.unwrap().unwrap().proxy,
            proxy
        );

        // A team that owns services cannot go.
        assert!(store.delete_team(team).await.is_err());
        assert!(store.delete_service(id, 50, true).await.unwrap());
        // Its volumes are to be deleted until said done, whatever happens between.
        let to_delete = store.volumes_to_delete().await.unwrap();
        assert_eq!(
            to_delete,
            [VolumeDeletion {
                service_id: id,
                service: "shop".into(),
                team_id: Some(team),
                since: 50
            }]
        );
        store.volumes_deleted(id).await.unwrap();
        assert!(store.volumes_to_delete().await.unwrap().is_empty());
        assert!(store.list_revisions(id).await.unwrap().is_empty());
        assert_eq!(
            store.deleted_services_named("SHOP").await.unwrap(),
            [(id, Some(team))]
        );
        assert_eq!(store.team_of_service(id).await.unwrap(), Some(team));
        // Once its team is gone too, nobody's (team ids can come again).
        assert!(store.delete_team(team).await.unwrap());
        assert_eq!(store.team_of_service(id).await.unwrap(), None);

        // Ids are never given twice, even once the newest service is gone.
        let team = store.create_team("web2", 60).await.unwrap();
        let again = store
            .create_service(NewService {
                name: "shop",
                team_id: team,
                replicas: 1,
                spec: &v1,
                proxy: &ProxyConfig::default(),
                author: "ann",
                message: "",
                now: 61,
            })
            .await
            .unwrap();
        assert!(again > id, "{again} after {id}");
    }
}
