//! The `teams` and `memberships` tables.

use domain::wire::{MemberView, TeamRef, TeamRole, TeamView};
use sqlx::Row;

use super::{Run, Store, StoreError};

fn role_of(s: &str) -> Result<TeamRole, sqlx::Error> {
    TeamRole::parse(s).ok_or_else(|| super::unreadable("role", s))
}

impl Store {
    /// Creates a team; a duplicate name is a unique violation.
    pub async fn create_team(&self, name: &str, now: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>("id")?,
        )
    }

    /// Every team with its members, by name.
    pub async fn list_teams(&self) -> Result<Vec<TeamView>, StoreError> {
        let teams = sqlx::query("SELECT id, name, created_at FROM teams ORDER BY lower(name)")
            .fetch_all(&self.pool)
            .await?;
        let members = sqlx::query(
            "SELECT m.team_id, m.user_id, u.username, m.role FROM memberships m \
             JOIN users u ON u.id = m.user_id ORDER BY lower(u.username)",
        )
        .fetch_all(&self.pool)
        .await?;
        let domains = self.list_domains().await?;
        let mut out = Vec::with_capacity(teams.len());
        for t in &teams {
            let id: i64 = t.try_get("id")?;
            let mut team_members = Vec::new();
            for m in members.iter().filter(|m| m.get::<i64, _>("team_id") == id) {
                team_members.push(MemberView {
                    user_id: m.try_get("user_id")?,
                    username: m.try_get("username")?,
                    role: role_of(m.try_get::<&str, _>("role")?)?,
                });
            }
            out.push(TeamView {
                id,
                name: t.try_get("name")?,
                created_at_ms: t.try_get("created_at")?,
                members: team_members,
                domains: domains
                    .iter()
                    .filter(|d| d.team_id == id)
                    .map(|d| d.domain.clone())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// One team with its members.
    pub async fn team(&self, id: i64) -> Result<Option<TeamView>, StoreError> {
        Ok(self.list_teams().await?.into_iter().find(|t| t.id == id))
    }

    /// Deletes a team (its memberships, domains and secrets go with it); false
    /// when there was none. Team ids can be given again, so what remembers the
    /// team (its deleted services, its services' events) forgets it: those become
    /// an admin's to read, never a new team's of the same id.
    pub async fn delete_team(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        sqlx::query("UPDATE events SET team_id = NULL WHERE team_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE service_ids SET team_id = NULL WHERE team_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Adds a user to a team, or changes their role there.
    pub async fn set_member(
        &self,
        team_id: i64,
        user_id: i64,
        role: TeamRole,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO memberships (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now)
        .run(self)
        .await?;
        Ok(())
    }

    /// Removes a user from a team; false when they were not in it.
    pub async fn remove_member(&self, team_id: i64, user_id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(user_id)
                .run(self)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// The teams a user belongs to, by name.
    pub async fn teams_of(&self, user_id: i64) -> Result<Vec<TeamRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, m.role FROM memberships m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 ORDER BY lower(t.name)",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamRef {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: role_of(r.try_get::<&str, _>("role")?)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
