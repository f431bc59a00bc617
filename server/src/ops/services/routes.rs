//! A service's routes through the proxy: checked against every other team's
//! routes and domains, and changed.

use super::*;

/// A route another service holds already is refused: the proxy could send its
/// requests to one service only.
pub(super) async fn routes_free(
    state: &AppState,
    name: &str,
    proxy: &ProxyConfig,
) -> Result<(), OpsError> {
    let others = state.store.list_services().await?;
    for r in &proxy.routes {
        let key = route_key(r);
        if let Some(other) = others
            .iter()
            .filter(|o| o.name != name)
            .find(|o| o.proxy.routes.iter().any(|x| route_key(x) == key))
        {
            return Err(OpsError::Conflict(format!(
                "service {} takes {}{} already",
                other.name,
                r.host.as_deref().unwrap_or("any host "),
                r.path_prefix
            )));
        }
    }
    Ok(())
}

/// A route's host must be the service's team's: in one of its domains, or (for
/// an admin) in no team's. A route for every host is an admin's to make; names
/// under the proxy's domain belong to the services (`<service>.<domain>`).
pub(super) async fn check_routes(
    state: &AppState,
    p: &Principal,
    team_id: i64,
    team: &str,
    service: &str,
    proxy: &ProxyConfig,
) -> Result<(), OpsError> {
    if proxy.routes.is_empty() {
        return Ok(());
    }
    let domains = state.store.list_domains().await?;
    let default = &state.proxy.settings.domain;
    for r in &proxy.routes {
        if (r.acme || r.redirect_https) && !state.proxy.settings.https {
            return Err(OpsError::Invalid(format!(
                "the route {} asks for HTTPS, but this Berth serves none (started with --proxy-tls-listen off); drop https and redirect from the route",
                validate::format_route(r)
            )));
        }
        if r.acme && state.certs.acme.is_none() {
            return Err(OpsError::Invalid(format!(
                "the route {} asks for a certificate from ACME, but this Berth orders none (started with --acme-directory off); upload a certificate on the Certificates page and drop https from the route",
                validate::format_route(r)
            )));
        }
        let Some(host) = r.host.as_deref() else {
            if p.is_admin() {
                continue;
            }
            return Err(OpsError::Forbidden(
                "a route for every host (one without a host) is an admin's to make; give a host in your team's domains"
                    .into(),
            ));
        };
        if validate::touches_proxy_domain(host, default) {
            return Err(OpsError::Invalid(format!(
                "names under {default} are the services' own ({service}.{default} is this one's); route a host of your team's domains"
            )));
        }
        if let Some(d) = domains
            .iter()
            .find(|d| d.team_id != team_id && validate::domains_overlap(&d.domain, host))
        {
            return Err(OpsError::Conflict(format!(
                "{host} belongs to team {} (its domain {}); route a host of team {team}'s domains",
                d.team, d.domain
            )));
        }
        let ours = domains
            .iter()
            .any(|d| d.team_id == team_id && validate::domain_holds(&d.domain, host));
        if !ours && !p.is_admin() {
            return Err(OpsError::Invalid(format!(
                "team {team} has no domain for {host}; an admin gives teams their domains on the Teams page"
            )));
        }
    }
    acme_hosts_within_limit(state, team_id, team, &[(service, proxy)]).await
}

/// The most hosts one team's routes may ask ACME certificates for: the CA's
/// limits are on Berth's one account, which every team shares.
pub const ACME_HOSTS_PER_TEAM: usize = 100;

/// A team's ACME hosts once `changed` services (by name) have these proxy
/// settings: at most [`ACME_HOSTS_PER_TEAM`].
pub(crate) async fn acme_hosts_within_limit(
    state: &AppState,
    team_id: i64,
    team: &str,
    changed: &[(&str, &ProxyConfig)],
) -> Result<(), OpsError> {
    let acme_hosts = |c: &ProxyConfig| -> Vec<String> {
        c.routes
            .iter()
            .filter(|r| r.acme)
            .filter_map(|r| r.host.clone())
            .collect()
    };
    let mut hosts: HashSet<String> = changed.iter().flat_map(|(_, c)| acme_hosts(c)).collect();
    if hosts.is_empty() {
        return Ok(());
    }
    for s in state.store.list_services().await? {
        if s.team_id == team_id && !changed.iter().any(|(name, _)| *name == s.name) {
            hosts.extend(acme_hosts(&s.proxy));
        }
    }
    if hosts.len() > ACME_HOSTS_PER_TEAM {
        return Err(OpsError::Invalid(format!(
            "team {team}'s routes would ask the CA for {} certificates, and a team may ask for at most {ACME_HOSTS_PER_TEAM} (the CA's limits are shared by every team); upload a wildcard certificate for many names",
            hosts.len()
        )));
    }
    Ok(())
}

/// A name whose deleted service of another team still has volumes on the hosts
/// is not given to this team until an admin deletes them: a name's leftovers never
/// pass to another team, not even by their names. Volumes of a deleted service
/// whose team is not known (deleted before Berth kept the history, or of a deleted
/// team) wait for an admin whoever asks.
pub(super) async fn no_leftovers_of_others(
    state: &AppState,
    name: &str,
    team_id: i64,
) -> Result<(), OpsError> {
    let live: HashSet<i64> = state
        .store
        .list_services()
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    let history: BTreeMap<i64, Option<i64>> = state
        .store
        .deleted_services_named(name)
        .await?
        .into_iter()
        .collect();
    let (hosts, _) = crate::reconciler::driver::host_infos(state);
    let rt = state.reconciler.runtime.clone();
    let mut left = Vec::new();
    let mut owners = Vec::new();
    let mut silent = Vec::new();
    for h in &hosts {
        let volumes = match h.state {
            HostState::Unreachable => Err(()),
            _ => rt.volumes(h.id).await.map_err(|_| ()),
        };
        let Ok(volumes) = volumes else {
            silent.push(h.name.clone());
            continue;
        };
        for v in volumes {
            let named = v.service.eq_ignore_ascii_case(name) || history.contains_key(&v.service_id);
            if !named || live.contains(&v.service_id) {
                continue;
            }
            let owner = history.get(&v.service_id).copied().flatten();
            if owner == Some(team_id) {
                continue;
            }
            owners.push(owner);
            left.push(format!("{} on {}", v.name, h.name));
        }
    }
    // A host that does not answer may hold another team's leftovers of this name:
    // the name waits for it (whatever it holds, a new service never mounts it:
    // volumes are mounted by their service's id).
    let others = history.values().any(|t| *t != Some(team_id));
    if left.is_empty() && others && !silent.is_empty() {
        return Err(OpsError::Conflict(format!(
            "a deleted service of another team had the name {name}, and {} does not answer: it may hold its volumes; try again when it does, or an admin removes the host",
            silent.join(", ")
        )));
    }
    if left.is_empty() {
        return Ok(());
    }
    let teams = state.store.list_teams().await?;
    let owner = owners
        .iter()
        .flatten()
        .find_map(|t| {
            teams
                .iter()
                .find(|x| x.id == *t)
                .map(|x| format!("team {}", x.name))
        })
        .unwrap_or_else(|| "a team Berth no longer knows".into());
    Err(OpsError::Conflict(format!(
        "the name {name} still has volumes of a deleted service of {owner}: {}; an admin deletes them on the Volumes page before the name is given again",
        left.join(", ")
    )))
}

pub(crate) fn route_key(r: &RouteSpec) -> (String, String) {
    (
        r.host.as_deref().unwrap_or("").to_ascii_lowercase(),
        r.path_prefix.trim_end_matches('/').to_string(),
    )
}

/// Sets how the proxy reaches a service (its routes and balancing); no replica
/// moves.
pub async fn set_proxy(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: ProxyConfig,
) -> Result<ServiceView, OpsError> {
    audited(
        state,
        ctx,
        "service.proxy",
        &format!("service:{name}"),
        async {
            let (author, row) = writable(state, ctx, name).await?;
            validate::proxy_config(&input).map_err(OpsError::Invalid)?;
            check_routes(
                state,
                ctx.principal()?,
                row.team_id,
                &row.team,
                &row.name,
                &input,
            )
            .await?;
            routes_free(state, name, &input).await?;
            proxy_to(state, &row, &input, &author).await?;
            fresh_view(state, name).await
        },
    )
    .await
}

/// Sets a service's (checked) proxy configuration, with its event; nothing when
/// equal.
pub(crate) async fn proxy_to(
    state: &AppState,
    row: &ServiceRow,
    input: &ProxyConfig,
    author: &str,
) -> Result<(), OpsError> {
    if *input == row.proxy {
        return Ok(());
    }
    state
        .store
        .set_proxy(row.id, input, clock::now_ms())
        .await?;
    // A route that asks for a certificate gets it ordered now, not at the first
    // handshake.
    if input.routes.iter().any(|r| r.acme) {
        state.certs.wake.notify_one();
    }
    let routes = if !input.expose {
        "off the proxy".to_string()
    } else if input.routes.is_empty() {
        format!("{}.{} only", row.name, state.proxy.settings.domain)
    } else {
        input
            .routes
            .iter()
            .map(validate::format_route)
            .collect::<Vec<_>>()
            .join(", ")
    };
    events::service(
        state,
        &ServiceRef::from(row),
        Level::Info,
        &format!(
            "proxy routes set by {author}: {routes} ({})",
            input.balance.as_str()
        ),
    )
    .await;
    state.reconciler.written(row.id);
    Ok(())
}
