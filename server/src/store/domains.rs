//! The `team_domains` table: host names an admin gave a team for its routes.

use sqlx::Row;

use super::{Run, Store, StoreError};

/// A domain and the team that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRow {
    pub team_id: i64,
    pub team: String,
    pub domain: String,
    pub created_at: i64,
}

impl Store {
    /// Every team's domains, by domain.
    pub async fn list_domains(&self) -> Result<Vec<DomainRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.team_id, t.name AS team, d.domain, d.created_at FROM team_domains d \
             JOIN teams t ON t.id = d.team_id ORDER BY d.domain",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DomainRow {
                    team_id: r.try_get("team_id")?,
                    team: r.try_get("team")?,
                    domain: r.try_get("domain")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Gives a team a domain; a domain another team has is a unique violation.
    pub async fn add_domain(&self, team_id: i64, domain: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO team_domains (team_id, domain, created_at) VALUES ($1, $2, $3)")
            .bind(team_id)
            .bind(domain)
            .bind(now)
            .run(self)
            .await?;
        Ok(())
    }

    /// Takes a domain from a team; false when it did not have it.
    pub async fn remove_domain(&self, team_id: i64, domain: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM team_domains WHERE team_id = $1 AND domain = $2")
                .bind(team_id)
                .bind(domain)
                .run(self)
                .await?
                .rows_affected()
                == 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TempDir;

    #[tokio::test]
    async fn domains_belong_to_one_team() {
        let dir = TempDir::new();
        let store = crate::store::Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let a = store.create_team("a", 1).await.unwrap();
        let b = store.create_team("b", 1).await.unwrap();
        store.add_domain(a, "shop.example.com", 2).await.unwrap();
        store.add_domain(a, "*.shop.example.com", 2).await.unwrap();
        let taken = store
            .add_domain(b, "shop.example.com", 3)
            .await
            .unwrap_err();
        assert!(taken.is_unique_violation(), "{taken}");
        let teams = store.list_teams().await.unwrap();
        assert_eq!(
            teams.iter().find(|t| t.id == a).unwrap().domains,
            ["*.shop.example.com", "shop.example.com"]
        );
        assert!(store.remove_domain(a, "shop.example.com").await.unwrap());
        assert!(!store.remove_domain(b, "*.shop.example.com").await.unwrap());
        // A team's domains go with it.
        store.delete_team(a).await.unwrap();
        assert!(store.list_domains().await.unwrap().is_empty());
    }
}
