//! Certificates as people see and change them: the list (with the routes that
//! use each), an uploaded certificate for a host or a wildcard, a delete, and
//! "order again now" for an ACME one. The ACME orders themselves belong to the
//! certificate task (`certs::task`).

use std::collections::HashMap;

use domain::validate;
use domain::wire::{CertSource, CertState, CertificateUpload, CertificateView, CertificatesView};

use super::{audited, team_names, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::certs::{self, pem, plan};
use crate::clock;
use crate::state::AppState;
use crate::store::{CertRow, Issued, ServiceRow};

/// The largest certificate chain and key taken, in bytes.
const MAX_CHAIN: usize = 64 * 1024;
const MAX_KEY: usize = 16 * 1024;

/// The certificates the caller may see: its teams' and those for every team.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<CertificatesView, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let rows = state.store.list_certs().await?;
    let teams = team_names(state).await?;
    let services = state.store.list_services().await?;
    let now = clock::now_ms();
    Ok(CertificatesView {
        certificates: rows
            .iter()
            .filter(|r| visible(p, r))
            .map(|r| view(r, &teams, &services, p, now))
            .collect(),
        acme_directory: state.certs.acme.as_ref().map(|a| a.directory.clone()),
        tls_listen: state.proxy.tls_listen(),
    })
}

fn visible(p: &Principal, r: &CertRow) -> bool {
    r.team_id
        .is_none_or(|t| p.is_admin() || p.team_role(t).is_some())
}

/// A certificate as the page shows it.
fn view(
    r: &CertRow,
    teams: &HashMap<i64, String>,
    services: &[ServiceRow],
    p: &Principal,
    now: i64,
) -> CertificateView {
    let expired = r.not_after.is_some_and(|t| t <= now);
    let state = match r.state {
        CertState::Valid if expired => CertState::Expired,
        s => s,
    };
    let next_attempt_ms = match (r.source, r.state) {
        (CertSource::Uploaded, _) => None,
        (_, CertState::Valid) => plan::renew_time(r),
        _ => r.next_attempt,
    };
    CertificateView {
        host: r.host.clone(),
        team: r.team_id.and_then(|t| teams.get(&t).cloned()),
        source: r.source,
        state,
        issuer: r.issuer.clone(),
        names: r.names.clone(),
        not_before_ms: r.not_before,
        not_after_ms: r.not_after,
        problem: r.problem.clone().filter(|_| r.state == CertState::Failed),
        last_attempt_ms: r.last_attempt,
        next_attempt_ms,
        services: services
            .iter()
            .filter(|s| p.is_admin() || p.team_role(s.team_id).is_some())
            .filter(|s| {
                s.proxy
                    .routes
                    .iter()
                    .filter_map(|x| x.host.as_deref())
                    .any(|h| pem::covers(&r.host, h))
            })
            .map(|s| s.name.clone())
            .collect(),
    }
}

/// A host as typed, checked to be a host name or `*.` and one.
fn host_of(typed: &str) -> Result<String, OpsError> {
    let host = validate::normalise_domain(typed);
    validate::route_host(&host).map_err(OpsError::Invalid)?;
    Ok(host)
}

/// How an audit entry names a certificate (an invalid host is not repeated).
fn target(typed: &str) -> String {
    match host_of(typed) {
        Ok(h) => format!("certificate:{h}"),
        Err(_) => "certificate:(invalid host)".into(),
    }
}

/// Keeps an uploaded certificate for a host (replacing what it had).
pub async fn upload(
    state: &AppState,
    ctx: &Ctx,
    input: CertificateUpload,
) -> Result<CertificateView, OpsError> {
    audited(
        state,
        ctx,
        "certificate.upload",
        &target(&input.host),
        async {
            let p = ctx.principal()?;
            let host = host_of(&input.host)?;
            let team_id = owner(state, ctx, &host, input.team.as_deref()).await?;
            if input.certificate_pem.len() > MAX_CHAIN || input.private_key_pem.len() > MAX_KEY {
                return Err(OpsError::Invalid(format!(
                    "the certificate may be at most {} KiB and the key {} KiB",
                    MAX_CHAIN / 1024,
                    MAX_KEY / 1024
                )));
            }
            let now = clock::now_ms();
            let parsed = pem::read(
                &input.certificate_pem,
                &input.private_key_pem,
                &host,
                now / 1000,
            )
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
            let generation = state.store.next_cert_generation(&host).await?;
            let issued = Issued {
                chain_pem: parsed.chain_pem,
                key: state.keyring.seal(
                    &certs::key_context(&host, generation),
                    input.private_key_pem.as_bytes(),
                ),
                issuer: parsed.issuer,
                names: parsed.names,
                not_before: parsed.not_before * 1000,
                not_after: parsed.not_after * 1000,
            };
            state
                .store
                .put_uploaded_cert(&host, team_id, &issued, generation, now)
                .await?;
            reload(state).await?;
            find(state, p, &host).await
        },
    )
    .await
}

/// The team an uploaded certificate belongs to, checked for the caller: a team's
/// operator for a host in the team's domains; an admin for any host, or for no
/// team (every team's routes). A host whose certificate is another team's stays
/// theirs.
async fn owner(
    state: &AppState,
    ctx: &Ctx,
    host: &str,
    team: Option<&str>,
) -> Result<Option<i64>, OpsError> {
    let team_id = match team {
        None => {
            ctx.allowed(Action::ManageHosts).map_err(|_| {
                OpsError::Forbidden(
                    "only cluster admins upload a certificate for every team; name your team"
                        .into(),
                )
            })?;
            // A certificate for every team may cover teams' names (one wildcard
            // for all their subdomains): names in certificates are public anyway.
            None
        }
        Some(name) => {
            let teams = state.store.list_teams().await?;
            let t = teams
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| OpsError::Invalid(format!("there is no team {name:?}")))?;
            let p = ctx.principal()?;
            if !p.is_admin() && p.team_role(t.id).is_none() {
                return Err(OpsError::Forbidden(format!(
                    "you are not a member of team {}",
                    t.name
                )));
            }
            let p = ctx.allowed(Action::WriteServices(t.id))?;
            let domains = state.store.list_domains().await?;
            // As for routes: a name in another team's domains is that team's, even
            // for an admin (the owner sees the name and may delete what is served).
            if let Some(d) = domains
                .iter()
                .find(|d| d.team_id != t.id && validate::domains_overlap(&d.domain, host))
            {
                return Err(OpsError::Conflict(format!(
                    "{host} belongs to team {} (its domain {}); upload it for that team",
                    d.team, d.domain
                )));
            }
            let ours = domains
                .iter()
                .any(|d| d.team_id == t.id && validate::domain_holds(&d.domain, host));
            if !ours && !p.is_admin() {
                return Err(OpsError::Invalid(format!(
                    "team {} has no domain for {host}; an admin gives teams their domains on the Teams page",
                    t.name
                )));
            }
            Some(t.id)
        }
    };
    if let Some(row) = state.store.cert(host).await? {
        // A host whose domain passed to this team takes this team's certificate
        // (one an admin uploaded for every team stays the admins').
        let moved = row.team_id.is_some()
            && team_id.is_some()
            && domain_team(state, host).await? == team_id;
        if row.team_id != team_id && !moved && !ctx.principal()?.is_admin() {
            return Err(OpsError::Conflict(format!(
                "the certificate for {host} belongs to another team; an admin may replace it"
            )));
        }
    }
    Ok(team_id)
}

/// The team whose domains hold a host, if one's do.
async fn domain_team(state: &AppState, host: &str) -> Result<Option<i64>, OpsError> {
    Ok(state
        .store
        .list_domains()
        .await?
        .iter()
        .find(|d| validate::domain_holds(&d.domain, host))
        .map(|d| d.team_id))
}

/// The services whose routes ask ACME for a host's certificate, by name when
/// the caller may see them.
async fn acme_routes(state: &AppState, p: &Principal, host: &str) -> Result<Vec<String>, OpsError> {
    Ok(state
        .store
        .list_services()
        .await?
        .into_iter()
        .filter(|s| {
            s.proxy
                .routes
                .iter()
                .any(|r| r.acme && r.host.as_deref() == Some(host))
        })
        .map(|s| match p.is_admin() || p.team_role(s.team_id).is_some() {
            true => s.name,
            false => "another team's service".into(),
        })
        .collect())
}

/// The caller may change a host's certificate: its team's operators, or admins.
async fn changeable(state: &AppState, ctx: &Ctx, host: &str) -> Result<CertRow, OpsError> {
    let p = ctx.principal()?;
    let row = state
        .store
        .cert(host)
        .await?
        .filter(|r| visible(p, r))
        .ok_or_else(|| OpsError::NotFound(format!("there is no certificate for {host}")))?;
    match row.team_id {
        Some(t) => ctx.allowed(Action::WriteServices(t))?,
        None => ctx.allowed(Action::ManageHosts)?,
    };
    // A team whose domain for the host passed to another team no longer changes
    // what that team's routes are served with.
    if let Some(t) = row.team_id.filter(|_| !p.is_admin()) {
        if domain_team(state, host).await?.is_some_and(|now| now != t) {
            return Err(OpsError::Conflict(format!(
                "{host} is in another team's domains now; that team or an admin may change its certificate"
            )));
        }
    }
    Ok(row)
}

/// Forgets a certificate (an ACME one only once no route asks for it).
pub async fn delete(state: &AppState, ctx: &Ctx, typed: &str) -> Result<(), OpsError> {
    audited(state, ctx, "certificate.delete", &target(typed), async {
        let host = host_of(typed)?;
        let row = changeable(state, ctx, &host).await?;
        // Deleted, it would be ordered again at once: past its back-off, and past
        // the CA's limits when done over and over.
        let routes = acme_routes(state, ctx.principal()?, &host).await?;
        if row.source == CertSource::Acme && !routes.is_empty() {
            return Err(OpsError::Conflict(format!(
                "routes of {} still ask for a certificate for {host}; drop https from them first (Order again retries a failed one)",
                routes.join(", ")
            )));
        }
        let now = clock::now_ms();
        if let Some(t) = row.next_attempt.filter(|&t| {
            row.source == CertSource::Acme && row.state == CertState::Failed && t > now
        }) {
            return Err(OpsError::Conflict(format!(
                "the failed order for {host} waits until {} before the CA is asked again; Berth forgets it by itself then",
                domain::format::utc_datetime(t)
            )));
        }
        if !state
            .store
            .delete_cert_at(&host, row.generation, row.team_id)
            .await? {
            return Err(OpsError::Conflict(format!(
                "the certificate for {host} changed meanwhile; look again"
            )));
        }
        reload(state).await?;
        state.certs.wake.notify_one();
        Ok(())
    })
    .await
}

/// Orders an ACME certificate again now (after a failure, or to renew early).
pub async fn renew(state: &AppState, ctx: &Ctx, typed: &str) -> Result<CertificateView, OpsError> {
    audited(state, ctx, "certificate.renew", &target(typed), async {
        let host = host_of(typed)?;
        let row = changeable(state, ctx, &host).await?;
        if row.source != CertSource::Acme {
            return Err(OpsError::Conflict(format!(
                "the certificate for {host} was uploaded: Berth does not renew it; upload a new one"
            )));
        }
        if state.certs.acme.is_none() {
            return Err(OpsError::Conflict(
                "this Berth orders no certificates (started with --acme-directory off)".into(),
            ));
        }
        if acme_routes(state, ctx.principal()?, &host).await?.is_empty() {
            return Err(OpsError::Conflict(format!(
                "no route asks for a certificate for {host} any more; it is served until it ends"
            )));
        }
        // The CA's limits are per account, shared by every team: a person may
        // hurry a failed order, not order valid certificates over and over.
        let now = clock::now_ms();
        // One whose stored key does not open is not served: it may be ordered.
        if matches!(row.state, CertState::Valid | CertState::Renewing)
            && state.certs.serves(&host)
        {
            return Err(OpsError::Conflict(format!(
                "the certificate for {host} is {}: Berth renews it in time by itself",
                row.state
            )));
        }
        if row.last_attempt.is_some_and(|t| now - t < 60_000) {
            return Err(OpsError::Conflict(format!(
                "the certificate for {host} was ordered less than a minute ago; wait for the outcome"
            )));
        }
        state.store.retry_cert(&host, now).await?;
        state.certs.wake.notify_one();
        find(state, ctx.principal()?, &host).await
    })
    .await
}

async fn find(state: &AppState, p: &Principal, host: &str) -> Result<CertificateView, OpsError> {
    let row = state
        .store
        .cert(host)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("there is no certificate for {host}")))?;
    let teams = team_names(state).await?;
    let services = state.store.list_services().await?;
    Ok(view(&row, &teams, &services, p, clock::now_ms()))
}

async fn reload(state: &AppState) -> Result<(), OpsError> {
    Ok(certs::task::reload(state).await?)
}

/// `berth_certificate_expiry_seconds`: seconds until each certificate the caller
/// may see ends (negative once it has).
pub async fn metrics(state: &AppState, p: &Principal, out: &mut String) -> Result<(), OpsError> {
    let now = clock::now_ms();
    out.push_str("# HELP berth_certificate_expiry_seconds Seconds until a certificate the proxy serves ends.\n# TYPE berth_certificate_expiry_seconds gauge\n");
    for r in state
        .store
        .list_certs()
        .await?
        .iter()
        .filter(|r| visible(p, r))
    {
        if let Some(end) = r.not_after {
            out.push_str(&format!(
                "berth_certificate_expiry_seconds{{host=\"{}\",source=\"{}\"}} {}\n",
                r.host,
                r.source.as_str(),
                (end - now) / 1000
            ));
        }
    }
    Ok(())
}
