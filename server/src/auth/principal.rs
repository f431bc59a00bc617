//! The principal behind a request: the user, their teams, and how they proved it
//! (a session cookie or an API token, which may be read-only).

use domain::wire::{AuthMethod, Me, TeamRef, TeamRole, UserRole};

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session { session_id: i64 },
    Token { token_id: i64, read_only: bool },
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: UserRole,
    pub teams: Vec<TeamRef>,
    pub via: Via,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    pub fn read_only(&self) -> bool {
        matches!(
            self.via,
            Via::Token {
                read_only: true,
                ..
            }
        )
    }

    pub fn session_id(&self) -> Option<i64> {
        match self.via {
            Via::Session { session_id } => Some(session_id),
            Via::Token { .. } => None,
        }
    }

    /// The caller's role in `team_id`, if they belong to it.
    pub fn team_role(&self, team_id: i64) -> Option<TeamRole> {
        self.teams.iter().find(|t| t.id == team_id).map(|t| t.role)
    }

    pub fn me(&self) -> Me {
        Me {
            id: self.user_id,
            username: self.username.clone(),
            role: self.role,
            teams: self.teams.clone(),
            auth: match self.via {
                Via::Session { .. } => AuthMethod::Session,
                Via::Token { .. } => AuthMethod::Token,
            },
            read_only: self.read_only(),
        }
    }
}
