//! Teams and their members. Admins manage them; members see their own teams.

use domain::wire::{AddDomainInput, CreateTeamInput, SetMemberInput, TeamView};

use super::{audit, audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::clock;
use crate::state::AppState;
use domain::validate;

async fn find(state: &AppState, id: i64) -> Result<TeamView, OpsError> {
    state
        .store
        .team(id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("there is no team {id}")))
}

/// The teams the caller may see: all for admins, their own for members.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<TeamView>, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let teams = state.store.list_teams().await?;
    Ok(teams
        .into_iter()
        .filter(|t| p.is_admin() || p.team_role(t.id).is_some())
        .collect())
}

pub async fn get(state: &AppState, ctx: &Ctx, id: i64) -> Result<TeamView, OpsError> {
    let team = find(state, id).await?;
    ctx.allowed(Action::ReadTeam(id))?;
    Ok(team)
}

pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    input: CreateTeamInput,
) -> Result<TeamView, OpsError> {
    audited(
        state,
        ctx,
        "team.create",
        &format!("team:{}", input.name),
        async {
            ctx.allowed(Action::ManageTeams)?;
            validate::team_name(&input.name).map_err(OpsError::Invalid)?;
            let id = state
                .store
                .create_team(&input.name, clock::now_ms())
                .await
                .map_err(|e| {
                    if e.is_unique_violation() {
                        OpsError::Conflict(format!("a team named {:?} exists already", input.name))
                    } else {
                        e.into()
                    }
                })?;
            find(state, id).await
        },
    )
    .await
}

pub async fn delete(state: &AppState, ctx: &Ctx, id: i64) -> Result<(), OpsError> {
    let mut target = format!("team:{id}");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageTeams)?;
        let team = find(state, id).await?;
        target = format!("team:{}", team.name);
        let owned = state.store.count_team_services(id).await?;
        if owned > 0 {
            return Err(OpsError::Conflict(format!(
                "team {} still owns {owned} service{}; delete or move them first",
                team.name,
                if owned == 1 { "" } else { "s" }
            )));
        }
        state.store.delete_team(id).await?;
        state.auth.streams.revoked(None);
        Ok(())
    }
    .await;
    audit(state, ctx, "team.delete", &target, &outcome).await;
    outcome
}

/// Adds a user to a team or changes their role there.
pub async fn set_member(
    state: &AppState,
    ctx: &Ctx,
    team_id: i64,
    user_id: i64,
    input: SetMemberInput,
) -> Result<TeamView, OpsError> {
    let mut target = format!("team:{team_id}/user:{user_id}");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageTeams)?;
        let team = find(state, team_id).await?;
        let user = state
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("there is no user {user_id}")))?;
        target = format!("team:{}/user:{}", team.name, user.username);
        state
            .store
            .set_member(team_id, user_id, input.role, clock::now_ms())
            .await?;
        state.auth.streams.revoked(Some(user_id));
        find(state, team_id).await
    }
    .await;
    audit(state, ctx, "team.member.set", &target, &outcome).await;
    outcome
}

pub async fn remove_member(
    state: &AppState,
    ctx: &Ctx,
    team_id: i64,
    user_id: i64,
) -> Result<TeamView, OpsError> {
    let mut target = format!("team:{team_id}/user:{user_id}");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageTeams)?;
        let team = find(state, team_id).await?;
        target = format!("team:{}/user:{user_id}", team.name);
        if !state.store.remove_member(team_id, user_id).await? {
            return Err(OpsError::NotFound(format!(
                "user {user_id} is not a member of team {}",
                team.name
            )));
        }
        state.auth.streams.revoked(Some(user_id));
        find(state, team_id).await
    }
    .await;
    audit(state, ctx, "team.member.remove", &target, &outcome).await;
    outcome
}

/// Gives a team a domain for its routes (admins). Refused when it overlaps
/// another team's domain, lies under the proxy's own domain (those names are the
/// services'), or holds a route of another team's service.
pub async fn add_domain(
    state: &AppState,
    ctx: &Ctx,
    team_id: i64,
    input: AddDomainInput,
) -> Result<TeamView, OpsError> {
    let domain = validate::normalise_domain(&input.domain);
    let mut target = format!("team:{team_id}/domain");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageTeams)?;
        let team = find(state, team_id).await?;
        validate::domain(&domain).map_err(OpsError::Invalid)?;
        target = format!("team:{}/domain:{domain}", team.name);
        let default = &state.proxy.settings.domain;
        if validate::touches_proxy_domain(&domain, default) {
            return Err(OpsError::Invalid(format!(
                "{domain} overlaps {default}, whose names are the services' own (<service>.{default}); choose a domain of your own"
            )));
        }
        let domains = state.store.list_domains().await?;
        if let Some(d) = domains
            .iter()
            .find(|d| validate::domains_overlap(&d.domain, &domain))
        {
            return Err(if d.team_id == team_id && d.domain == domain {
                OpsError::Conflict(format!("team {} has {domain} already", team.name))
            } else {
                OpsError::Conflict(format!(
                    "{domain} overlaps {} of team {}; a host belongs to one team",
                    d.domain, d.team
                ))
            });
        }
        for s in state.store.list_services().await? {
            if s.team_id == team_id {
                continue;
            }
            if let Some(h) = s
                .proxy
                .routes
                .iter()
                .filter_map(|r| r.host.as_deref())
                .find(|h| validate::domains_overlap(&domain, h))
            {
                return Err(OpsError::Conflict(format!(
                    "service {} of team {} routes {h}, which lies in {domain}; change its routes first",
                    s.name, s.team
                )));
            }
        }
        state
            .store
            .add_domain(team_id, &domain, clock::now_ms())
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    OpsError::Conflict(format!("{domain} belongs to a team already"))
                } else {
                    e.into()
                }
            })?;
        find(state, team_id).await
    }
    .await;
    audit(state, ctx, "team.domain.add", &target, &outcome).await;
    outcome
}

/// Takes a domain from a team (admins); refused while the team's routes use it.
pub async fn remove_domain(
    state: &AppState,
    ctx: &Ctx,
    team_id: i64,
    domain: &str,
) -> Result<TeamView, OpsError> {
    let domain = validate::normalise_domain(domain);
    let domain = domain.as_str();
    let mut target = format!("team:{team_id}/domain");
    // The target is named once the block has found it.
    let outcome = async {
        ctx.allowed(Action::ManageTeams)?;
        let team = find(state, team_id).await?;
        if !team.domains.iter().any(|d| d == domain) {
            return Err(OpsError::NotFound(format!(
                "team {} has no domain {:?}",
                team.name,
                validate::domain(domain)
                    .map(|_| domain)
                    .unwrap_or("(invalid)")
            )));
        }
        target = format!("team:{}/domain:{domain}", team.name);
        let others: Vec<String> = team
            .domains
            .iter()
            .filter(|d| d.as_str() != domain)
            .cloned()
            .collect();
        for s in state.store.list_services().await? {
            if s.team_id != team_id {
                continue;
            }
            if let Some(h) = s
                .proxy
                .routes
                .iter()
                .filter_map(|r| r.host.as_deref())
                .find(|h| {
                    validate::domain_holds(domain, h)
                        && !others.iter().any(|o| validate::domain_holds(o, h))
                })
            {
                return Err(OpsError::Conflict(format!(
                    "service {} routes {h} in {domain}; change its routes first",
                    s.name
                )));
            }
        }
        state.store.remove_domain(team_id, domain).await?;
        find(state, team_id).await
    }
    .await;
    audit(state, ctx, "team.domain.remove", &target, &outcome).await;
    outcome
}
