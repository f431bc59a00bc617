//! What a principal may do. Pure: a principal and an action in, a permission or a
//! refusal with its reason out. Every endpoint and server function asks here.

use domain::wire::TeamRole;

use super::principal::Principal;

/// Something a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See engines, hosts, the proxy and this server's facts.
    ReadCluster,
    /// Create, change and delete users.
    ManageUsers,
    /// Create and delete teams, and set their members.
    ManageTeams,
    /// Add, change and remove hosts.
    ManageHosts,
    /// Read the audit log.
    ReadAudit,
    /// See host pools and their machines (their providers are the cluster's
    /// business). Changing them is [`Action::ManageHosts`].
    ReadPools,
    /// See a team and its members.
    ReadTeam(i64),
    /// See a team's services.
    ReadServices(i64),
    /// Create, deploy, scale, roll back and delete a team's services.
    WriteServices(i64),
    /// See a team's secrets: names, versions, where used (never values).
    ReadSecrets(i64),
    /// Set, replace and delete a team's secrets.
    WriteSecrets(i64),
    /// Change one's own password, tokens and sessions.
    ManageOwnAccount,
}

impl Action {
    /// Whether the action changes anything (read-only tokens may not).
    pub fn changes(self) -> bool {
        !matches!(
            self,
            Action::ReadCluster
                | Action::ReadAudit
                | Action::ReadPools
                | Action::ReadTeam(_)
                | Action::ReadServices(_)
                | Action::ReadSecrets(_)
        )
    }
}

/// A refusal, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// May `p` do `action`?
pub fn authorize(p: &Principal, action: Action) -> Result<(), Denied> {
    if action.changes() && p.read_only() {
        return Err(Denied(
            "this API token is read-only; changes need a token without the read-only flag".into(),
        ));
    }
    if p.is_admin() {
        return Ok(());
    }
    let team_name = |id: i64| {
        p.teams
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    match action {
        Action::ReadCluster | Action::ManageOwnAccount => Ok(()),
        Action::ManageUsers => Err(Denied("only cluster admins manage users".into())),
        Action::ManageTeams => Err(Denied("only cluster admins manage teams".into())),
        Action::ManageHosts => Err(Denied("only cluster admins manage hosts".into())),
        Action::ReadAudit => Err(Denied("only cluster admins read the audit log".into())),
        Action::ReadPools => Err(Denied("only cluster admins see host pools".into())),
        Action::ReadTeam(id) | Action::ReadServices(id) | Action::ReadSecrets(id) => {
            match p.team_role(id) {
                Some(_) => Ok(()),
                None => Err(Denied(format!(
                    "you are not a member of team {}",
                    team_name(id)
                ))),
            }
        }
        Action::WriteServices(id) | Action::WriteSecrets(id) => match p.team_role(id) {
            Some(TeamRole::Operator) => Ok(()),
            Some(TeamRole::Viewer) => Err(Denied(format!(
                "you are a viewer in team {}; changing its {} needs the operator role",
                team_name(id),
                if matches!(action, Action::WriteSecrets(_)) {
                    "secrets"
                } else {
                    "services"
                }
            ))),
            None => Err(Denied(format!(
                "you are not a member of team {}",
                team_name(id)
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::Via;
    use domain::wire::{TeamRef, UserRole};

    fn principal(role: UserRole, teams: &[(i64, TeamRole)], read_only: bool) -> Principal {
        Principal {
            user_id: 1,
            username: "u".into(),
            role,
            teams: teams
                .iter()
                .map(|(id, role)| TeamRef {
                    id: *id,
                    name: format!("t{id}"),
                    role: *role,
                })
                .collect(),
            via: if read_only {
                Via::Token {
                    token_id: 1,
                    read_only: true,
                }
            } else {
                Via::Session { session_id: 1 }
            },
        }
    }

    #[test]
    fn the_matrix() {
        use Action::*;
        let admin = principal(UserRole::Admin, &[], false);
        let admin_ro = principal(UserRole::Admin, &[], true);
        let operator = principal(UserRole::Member, &[(1, TeamRole::Operator)], false);
        let viewer = principal(UserRole::Member, &[(1, TeamRole::Viewer)], false);
        let outsider = principal(UserRole::Member, &[(2, TeamRole::Operator)], false);
        let operator_ro = principal(UserRole::Member, &[(1, TeamRole::Operator)], true);

        // (action, admin, admin_ro, operator, viewer, outsider, operator_ro)
        let table: &[(Action, [bool; 6])] = &[
            (ReadCluster, [true, true, true, true, true, true]),
            (ManageUsers, [true, false, false, false, false, false]),
            (ManageTeams, [true, false, false, false, false, false]),
            (ManageHosts, [true, false, false, false, false, false]),
            (ReadAudit, [true, true, false, false, false, false]),
            (ReadPools, [true, true, false, false, false, false]),
            (ReadTeam(1), [true, true, true, true, false, true]),
            (ReadServices(1), [true, true, true, true, false, true]),
            (WriteServices(1), [true, false, true, false, false, false]),
            (ReadSecrets(1), [true, true, true, true, false, true]),
            (WriteSecrets(1), [true, false, true, false, false, false]),
            (ManageOwnAccount, [true, false, true, true, true, false]),
        ];
        let who = [
            &admin,
            &admin_ro,
            &operator,
            &viewer,
            &outsider,
            &operator_ro,
        ];
        for (action, expected) in table {
            for (p, want) in who.iter().zip(expected) {
                assert_eq!(
                    authorize(p, *action).is_ok(),
                    *want,
                    "{action:?} for {:?} {:?} read_only={}",
                    p.role,
                    p.teams,
                    p.read_only()
                );
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        let viewer = principal(UserRole::Member, &[(1, TeamRole::Viewer)], false);
        assert_eq!(
            authorize(&viewer, Action::WriteServices(1)).unwrap_err().0,
            "you are a viewer in team t1; changing its services needs the operator role"
        );
        assert_eq!(
            authorize(&viewer, Action::ReadServices(7)).unwrap_err().0,
            "you are not a member of team #7"
        );
        let ro = principal(UserRole::Admin, &[], true);
        assert!(authorize(&ro, Action::ManageUsers)
            .unwrap_err()
            .0
            .contains("read-only"));
    }
}
