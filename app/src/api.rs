//! Server functions: the calls the pages make. Each is a client of the JSON API,
//! called in process through [`crate::backend`], so the pages and `curl` meet the
//! same handler, rules, errors and audit entries; a failure keeps its HTTP status
//! (401, 403, 422…).

use leptos::prelude::*;

use crate::errors::AppError;
use crate::wire::*;

#[cfg(feature = "ssr")]
use crate::backend::{call, call_text, query, seg, with_status};
#[cfg(feature = "ssr")]
use http::Method;

/// `GET` a JSON answer.
#[cfg(feature = "ssr")]
async fn get<T: serde::de::DeserializeOwned>(path: String) -> Result<T, AppError> {
    with_status(call(Method::GET, path, None::<&()>).await)
}

/// A change with a JSON body.
#[cfg(feature = "ssr")]
async fn send<T: serde::de::DeserializeOwned>(
    method: Method,
    path: String,
    body: impl serde::Serialize + Sync,
) -> Result<T, AppError> {
    with_status(call(method, path, Some(&body)).await)
}

/// A change without a body.
#[cfg(feature = "ssr")]
async fn act<T: serde::de::DeserializeOwned>(method: Method, path: String) -> Result<T, AppError> {
    with_status(call(method, path, None::<&()>).await)
}

/// `what` when it is one of `allowed`, else the 422 a page shows.
#[cfg(feature = "ssr")]
fn one_of(kind: &str, what: String, allowed: &[&str]) -> Result<String, AppError> {
    if allowed.contains(&what.as_str()) {
        Ok(what)
    } else {
        with_status(Err(AppError::new(
            "invalid",
            format!("unknown {kind} action {what:?}"),
        )))
    }
}

#[server]
pub async fn get_engines() -> Result<EnginesReport, AppError> {
    get("/api/v1/engines".into()).await
}

#[server]
pub async fn get_about() -> Result<About, AppError> {
    get("/api/v1/about".into()).await
}

/// The caller, or `None` when nobody is logged in.
#[server]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    match call::<Me>(Method::GET, "/api/v1/me".into(), None::<&()>).await {
        // Nobody logged in is an answer here, not an error.
        Err(e) if e.is("unauthenticated") => Ok(None),
        other => with_status(other.map(Some)),
    }
}

#[server]
pub async fn get_setup_state() -> Result<SetupState, AppError> {
    get("/api/v1/setup".into()).await
}

/// Creates the first admin and logs them in.
#[server]
pub async fn setup_admin(input: SetupInput) -> Result<Me, AppError> {
    send(Method::POST, "/api/v1/setup".into(), input).await
}

#[server]
pub async fn login(input: LoginInput) -> Result<Me, AppError> {
    send(Method::POST, "/api/v1/auth/login".into(), input).await
}

#[server]
pub async fn logout() -> Result<(), AppError> {
    act(Method::POST, "/api/v1/auth/logout".into()).await
}

#[server]
pub async fn change_password(input: ChangePasswordInput) -> Result<(), AppError> {
    send(Method::PUT, "/api/v1/me/password".into(), input).await
}

#[server]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    get("/api/v1/me/sessions".into()).await
}

#[server]
pub async fn revoke_session(id: i64) -> Result<(), AppError> {
    act(Method::DELETE, format!("/api/v1/me/sessions/{id}")).await
}

#[server]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    get("/api/v1/users".into()).await
}

#[server]
pub async fn create_user(input: CreateUserInput) -> Result<UserView, AppError> {
    send(Method::POST, "/api/v1/users".into(), input).await
}

#[server]
pub async fn update_user(id: i64, input: UpdateUserInput) -> Result<UserView, AppError> {
    send(Method::PATCH, format!("/api/v1/users/{id}"), input).await
}

#[server]
pub async fn delete_user(id: i64) -> Result<(), AppError> {
    act(Method::DELETE, format!("/api/v1/users/{id}")).await
}

#[server]
pub async fn list_teams() -> Result<Vec<TeamView>, AppError> {
    get("/api/v1/teams".into()).await
}

#[server]
pub async fn create_team(input: CreateTeamInput) -> Result<TeamView, AppError> {
    send(Method::POST, "/api/v1/teams".into(), input).await
}

#[server]
pub async fn delete_team(id: i64) -> Result<(), AppError> {
    act(Method::DELETE, format!("/api/v1/teams/{id}")).await
}

#[server]
pub async fn set_member(team: i64, user: i64, role: TeamRole) -> Result<TeamView, AppError> {
    let path = format!("/api/v1/teams/{team}/members/{user}");
    send(Method::PUT, path, SetMemberInput { role }).await
}

#[server]
pub async fn remove_member(team: i64, user: i64) -> Result<TeamView, AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/teams/{team}/members/{user}"),
    )
    .await
}

/// Gives a team a domain for its routes (admins).
#[server]
pub async fn add_domain(team: i64, domain: String) -> Result<TeamView, AppError> {
    send(
        Method::POST,
        format!("/api/v1/teams/{team}/domains"),
        AddDomainInput { domain },
    )
    .await
}

#[server]
pub async fn remove_domain(team: i64, domain: String) -> Result<TeamView, AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/teams/{team}/domains/{}", seg(&domain)),
    )
    .await
}

/// A team's secrets, without their values.
#[server]
pub async fn list_secrets(team: i64) -> Result<Vec<SecretView>, AppError> {
    get(format!("/api/v1/teams/{team}/secrets")).await
}

/// Sets a secret (a new version); the services using it roll out.
#[server]
pub async fn set_secret(team: i64, name: String, value: String) -> Result<SecretSet, AppError> {
    let path = format!("/api/v1/teams/{team}/secrets/{}", seg(&name));
    send(Method::PUT, path, SetSecretInput { value }).await
}

#[server]
pub async fn delete_secret(team: i64, name: String) -> Result<(), AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/teams/{team}/secrets/{}", seg(&name)),
    )
    .await
}

#[server]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    get("/api/v1/tokens".into()).await
}

#[server]
pub async fn create_token(input: CreateTokenInput) -> Result<NewToken, AppError> {
    send(Method::POST, "/api/v1/tokens".into(), input).await
}

#[server]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    act(Method::DELETE, format!("/api/v1/tokens/{id}")).await
}

#[server]
pub async fn get_audit(query: AuditQuery) -> Result<AuditPage, AppError> {
    get(format!("/api/v1/audit{}", crate::backend::query(&query)?)).await
}

#[server]
pub async fn list_hosts() -> Result<Vec<HostView>, AppError> {
    get("/api/v1/hosts".into()).await
}

#[server]
pub async fn get_host(name: String) -> Result<HostDetail, AppError> {
    get(format!("/api/v1/hosts/{}", seg(&name))).await
}

/// What losing the hosts (`h2` or `h2,h3`) would do.
#[server]
pub async fn what_if(lose: String) -> Result<WhatIfView, AppError> {
    get(format!("/api/v1/whatif{}", query(&[("lose", lose)])?)).await
}

/// Losing each host in turn: the N-1 check.
#[server]
pub async fn each_host_loss() -> Result<EachHostView, AppError> {
    get("/api/v1/whatif/each-host".into()).await
}

#[server]
pub async fn add_host(input: AddHostInput) -> Result<HostView, AppError> {
    send(Method::POST, "/api/v1/hosts".into(), input).await
}

#[server]
pub async fn update_host(name: String, input: UpdateHostInput) -> Result<HostView, AppError> {
    send(
        Method::PATCH,
        format!("/api/v1/hosts/{}", seg(&name)),
        input,
    )
    .await
}

/// `what`: `cordon`, `uncordon` or `drain`.
#[server]
pub async fn schedule_host(name: String, what: String) -> Result<HostView, AppError> {
    let what = one_of("host", what, &["cordon", "uncordon", "drain"])?;
    act(Method::POST, format!("/api/v1/hosts/{}/{what}", seg(&name))).await
}

#[server]
pub async fn list_pools() -> Result<Vec<PoolView>, AppError> {
    get("/api/v1/pools".into()).await
}

#[server]
pub async fn create_pool(input: PoolInput) -> Result<PoolView, AppError> {
    send(Method::POST, "/api/v1/pools".into(), input).await
}

#[server]
pub async fn update_pool(input: PoolInput) -> Result<PoolView, AppError> {
    let path = format!("/api/v1/pools/{}", seg(&input.name));
    send(Method::PUT, path, input).await
}

#[server]
pub async fn delete_pool(name: String) -> Result<(), AppError> {
    act(Method::DELETE, format!("/api/v1/pools/{}", seg(&name))).await
}

#[server]
pub async fn retire_pool_host(pool: String, host: String) -> Result<PoolView, AppError> {
    let path = format!("/api/v1/pools/{}/hosts/{}/retire", seg(&pool), seg(&host));
    act(Method::POST, path).await
}

#[server]
pub async fn remove_host(name: String, force: bool) -> Result<(), AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/hosts/{}?force={force}", seg(&name)),
    )
    .await
}

#[server]
pub async fn list_events(query: EventQuery) -> Result<EventPage, AppError> {
    get(format!("/api/v1/events{}", crate::backend::query(&query)?)).await
}

/// One page of the services list (with filters) and how many match in all.
#[server]
pub async fn list_services_page(query: ServiceQuery) -> Result<ServicePage, AppError> {
    let path = format!("/api/v1/services{}", crate::backend::query(&query)?);
    let (services, total) = with_status(crate::backend::call_counted(path).await)?;
    Ok(ServicePage { services, total })
}

#[server]
pub async fn summarize_services() -> Result<ServiceSummary, AppError> {
    get("/api/v1/summary/services".into()).await
}

#[server]
pub async fn get_service(name: String) -> Result<ServiceDetail, AppError> {
    get(format!("/api/v1/services/{}", seg(&name))).await
}

#[server]
pub async fn create_service(input: CreateServiceInput) -> Result<ServiceView, AppError> {
    send(Method::POST, "/api/v1/services".into(), input).await
}

#[server]
pub async fn deploy_service(name: String, input: DeployInput) -> Result<ServiceView, AppError> {
    send(
        Method::POST,
        format!("/api/v1/services/{}/deploy", seg(&name)),
        input,
    )
    .await
}

#[server]
pub async fn scale_service(name: String, replicas: u32) -> Result<ServiceView, AppError> {
    let path = format!("/api/v1/services/{}/scale", seg(&name));
    send(Method::POST, path, ScaleInput { replicas }).await
}

#[server]
pub async fn delete_service(name: String, delete_volumes: bool) -> Result<(), AppError> {
    let volumes = if delete_volumes { "delete" } else { "keep" };
    act(
        Method::DELETE,
        format!("/api/v1/services/{}?volumes={volumes}", seg(&name)),
    )
    .await
}

#[server]
pub async fn get_service_logs(
    name: String,
    slot: u32,
    tail: Option<u32>,
) -> Result<ReplicaLogs, AppError> {
    // `?format=json`: the replica and its lines, rather than the text `curl` reads.
    let tail = tail.map(|n| format!("&tail={n}")).unwrap_or_default();
    get(format!(
        "/api/v1/services/{}/replicas/{slot}/logs?format=json{tail}",
        seg(&name)
    ))
    .await
}

/// A service's last hour: its replicas' CPU and memory, its traffic.
#[server]
pub async fn get_service_history(name: String) -> Result<ServiceHistoryView, AppError> {
    get(format!("/api/v1/services/{}/history", seg(&name))).await
}

/// A host's last hour: its replicas (those the caller may see) added up.
#[server]
pub async fn get_host_history(name: String) -> Result<HostHistoryView, AppError> {
    get(format!("/api/v1/hosts/{}/history", seg(&name))).await
}

/// Every routed service's traffic over the last hour.
#[server]
pub async fn get_proxy_history() -> Result<ProxyHistoryView, AppError> {
    get("/api/v1/proxy/history".into()).await
}

#[server]
pub async fn get_service_stats(name: String) -> Result<Vec<ReplicaStats>, AppError> {
    get(format!("/api/v1/services/{}/stats", seg(&name))).await
}

#[server]
pub async fn set_service_proxy(name: String, input: ProxyConfig) -> Result<ServiceView, AppError> {
    send(
        Method::PUT,
        format!("/api/v1/services/{}/proxy", seg(&name)),
        input,
    )
    .await
}

#[server]
pub async fn get_proxy() -> Result<ProxyView, AppError> {
    get("/api/v1/proxy".into()).await
}

#[server]
pub async fn get_nginx_conf(listen: Option<String>) -> Result<String, AppError> {
    let listen = query(&[("listen", listen)])?;
    with_status(call_text(format!("/api/v1/proxy/nginx.conf{listen}")).await)
}

#[server]
pub async fn rollback_service(
    name: String,
    revision: Option<i64>,
) -> Result<ServiceView, AppError> {
    let path = format!("/api/v1/services/{}/rollback", seg(&name));
    send(Method::POST, path, RollbackInput { revision }).await
}

/// Promotes a canary rollout: to its next step, or past them all (`full`).
#[server]
pub async fn promote_rollout(name: String, full: bool) -> Result<ServiceView, AppError> {
    let path = format!("/api/v1/services/{}/rollout/promote", seg(&name));
    send(Method::POST, path, PromoteInput { full }).await
}

/// `what`: `pause`, `resume` or `abort`.
#[server]
pub async fn control_rollout(name: String, what: String) -> Result<ServiceView, AppError> {
    let what = one_of("rollout", what, &["pause", "resume", "abort"])?;
    act(
        Method::POST,
        format!("/api/v1/services/{}/rollout/{what}", seg(&name)),
    )
    .await
}

#[server]
pub async fn get_revision_diff(name: String, from: i64, to: i64) -> Result<RevisionDiff, AppError> {
    get(format!(
        "/api/v1/services/{}/revisions/diff?from={from}&to={to}",
        seg(&name)
    ))
    .await
}

#[server]
pub async fn list_rollouts() -> Result<Vec<RolloutView>, AppError> {
    get("/api/v1/rollouts".into()).await
}

#[server]
pub async fn list_volumes(
    service: Option<String>,
    host: Option<String>,
) -> Result<Vec<VolumeView>, AppError> {
    let filter = query(&[("service", service), ("host", host)])?;
    get(format!("/api/v1/volumes{filter}")).await
}

#[server]
pub async fn delete_volume(host: String, name: String) -> Result<(), AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/volumes/{}/{}", seg(&host), seg(&name)),
    )
    .await
}

#[server]
pub async fn move_replica(service: String, slot: u32) -> Result<String, AppError> {
    let path = format!("/api/v1/services/{}/replicas/{slot}/move", seg(&service));
    act::<Message>(Method::POST, path).await.map(|m| m.message)
}

#[server]
pub async fn list_volume_classes() -> Result<Vec<VolumeClassView>, AppError> {
    get("/api/v1/volume-classes".into()).await
}

#[server]
pub async fn save_volume_class(
    input: VolumeClassInput,
    new: bool,
) -> Result<VolumeClassView, AppError> {
    if new {
        send(Method::POST, "/api/v1/volume-classes".into(), input).await
    } else {
        let path = format!("/api/v1/volume-classes/{}", seg(&input.name));
        send(Method::PUT, path, input).await
    }
}

#[server]
pub async fn delete_volume_class(name: String) -> Result<(), AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/volume-classes/{}", seg(&name)),
    )
    .await
}

/// What applying a stack or Compose file would change; nothing is written. JSON
/// in: a form encoding cannot carry the maps (files, a guard of `null`s).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn plan_stack(input: StackPlanInput) -> Result<StackPlan, AppError> {
    send(Method::POST, "/api/v1/stacks/plan".into(), input).await
}

/// Applies a file while its plan's guard holds (409 when the plan is stale).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn apply_stack(input: StackApplyInput) -> Result<StackApplied, AppError> {
    send(Method::POST, "/api/v1/stacks/apply".into(), input).await
}

/// The certificates the proxy serves over HTTPS, with where it listens and the
/// ACME CA it orders from.
#[server]
pub async fn list_certificates() -> Result<CertificatesView, AppError> {
    get("/api/v1/certificates".into()).await
}

/// Uploads a certificate chain and its key (PEM). JSON in: the PEM texts are
/// long and many-lined.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn upload_certificate(input: CertificateUpload) -> Result<CertificateView, AppError> {
    send(Method::POST, "/api/v1/certificates".into(), input).await
}

/// Orders an ACME certificate again now; the order runs in the background.
#[server]
pub async fn renew_certificate(host: String) -> Result<CertificateView, AppError> {
    let path = format!("/api/v1/certificates/{}/renew", seg(&host));
    act(Method::POST, path).await
}

#[server]
pub async fn delete_certificate(host: String) -> Result<(), AppError> {
    act(
        Method::DELETE,
        format!("/api/v1/certificates/{}", seg(&host)),
    )
    .await
}
