//! Server functions: the calls the pages make. Each is a thin hop to the
//! [`crate::backend::Backend`] in context, so the REST API and the UI share every
//! rule, error and audit entry; a failure keeps its HTTP status (401, 403, 422…).

use leptos::prelude::*;

use crate::errors::AppError;
use crate::wire::*;

/// `hop!(b, req => call)`: the backend and request of this server function, the
/// call, and the error's status on the response.
#[cfg(feature = "ssr")]
macro_rules! hop {
    ($b:ident, $req:ident => $call:expr) => {
        crate::backend::with_status(
            async move {
                #[allow(unused_variables)]
                let ($b, $req) = crate::backend::backend()?;
                $call.await
            }
            .await,
        )
    };
}

#[server]
pub async fn get_engines() -> Result<EnginesReport, AppError> {
    hop!(b, req => b.engines(&req))
}

#[server]
pub async fn get_about() -> Result<About, AppError> {
    hop!(b, req => b.about(&req))
}

/// The caller, or `None` when nobody is logged in.
#[server]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    hop!(b, req => b.me(&req))
}

#[server]
pub async fn get_setup_state() -> Result<SetupState, AppError> {
    hop!(b, req => b.setup_state())
}

/// Creates the first admin and logs them in.
#[server]
pub async fn setup_admin(input: SetupInput) -> Result<Me, AppError> {
    hop!(b, req => async {
        let login = b.setup(&req, input).await?;
        crate::backend::set_cookie(&login.set_cookie);
        Ok(login.me)
    })
}

#[server]
pub async fn login(input: LoginInput) -> Result<Me, AppError> {
    hop!(b, req => async {
        let login = b.login(&req, input).await?;
        crate::backend::set_cookie(&login.set_cookie);
        Ok(login.me)
    })
}

#[server]
pub async fn logout() -> Result<(), AppError> {
    hop!(b, req => async {
        let clear = b.logout(&req).await?;
        crate::backend::set_cookie(&clear);
        Ok(())
    })
}

#[server]
pub async fn change_password(input: ChangePasswordInput) -> Result<(), AppError> {
    hop!(b, req => b.change_password(&req, input))
}

#[server]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    hop!(b, req => b.sessions(&req))
}

#[server]
pub async fn revoke_session(id: i64) -> Result<(), AppError> {
    hop!(b, req => b.revoke_session(&req, id))
}

#[server]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    hop!(b, req => b.users(&req))
}

#[server]
pub async fn create_user(input: CreateUserInput) -> Result<UserView, AppError> {
    hop!(b, req => b.create_user(&req, input))
}

#[server]
pub async fn update_user(id: i64, input: UpdateUserInput) -> Result<UserView, AppError> {
    hop!(b, req => b.update_user(&req, id, input))
}

#[server]
pub async fn delete_user(id: i64) -> Result<(), AppError> {
    hop!(b, req => b.delete_user(&req, id))
}

#[server]
pub async fn list_teams() -> Result<Vec<TeamView>, AppError> {
    hop!(b, req => b.teams(&req))
}

#[server]
pub async fn create_team(input: CreateTeamInput) -> Result<TeamView, AppError> {
    hop!(b, req => b.create_team(&req, input))
}

#[server]
pub async fn delete_team(id: i64) -> Result<(), AppError> {
    hop!(b, req => b.delete_team(&req, id))
}

#[server]
pub async fn set_member(team: i64, user: i64, role: TeamRole) -> Result<TeamView, AppError> {
    hop!(b, req => b.set_member(&req, team, user, SetMemberInput { role }))
}

#[server]
pub async fn remove_member(team: i64, user: i64) -> Result<TeamView, AppError> {
    hop!(b, req => b.remove_member(&req, team, user))
}

/// Gives a team a domain for its routes (admins).
#[server]
pub async fn add_domain(team: i64, domain: String) -> Result<TeamView, AppError> {
    hop!(b, req => b.add_domain(&req, team, domain))
}

#[server]
pub async fn remove_domain(team: i64, domain: String) -> Result<TeamView, AppError> {
    hop!(b, req => b.remove_domain(&req, team, domain))
}

/// A team's secrets, without their values.
#[server]
pub async fn list_secrets(team: i64) -> Result<Vec<SecretView>, AppError> {
    hop!(b, req => b.secrets(&req, team))
}

/// Sets a secret (a new version); the services using it roll out.
#[server]
pub async fn set_secret(team: i64, name: String, value: String) -> Result<SecretSet, AppError> {
    hop!(b, req => b.set_secret(&req, team, name, SetSecretInput { value }))
}

#[server]
pub async fn delete_secret(team: i64, name: String) -> Result<(), AppError> {
    hop!(b, req => b.delete_secret(&req, team, name))
}

#[server]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    hop!(b, req => b.tokens(&req))
}

#[server]
pub async fn create_token(input: CreateTokenInput) -> Result<NewToken, AppError> {
    hop!(b, req => b.create_token(&req, input))
}

#[server]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    hop!(b, req => b.revoke_token(&req, id))
}

#[server]
pub async fn get_audit(query: AuditQuery) -> Result<AuditPage, AppError> {
    hop!(b, req => b.audit(&req, query))
}

#[server]
pub async fn list_hosts() -> Result<Vec<HostView>, AppError> {
    hop!(b, req => b.hosts(&req))
}

#[server]
pub async fn get_host(name: String) -> Result<HostDetail, AppError> {
    hop!(b, req => b.host(&req, name))
}

#[server]
pub async fn add_host(input: AddHostInput) -> Result<HostView, AppError> {
    hop!(b, req => b.add_host(&req, input))
}

#[server]
pub async fn update_host(name: String, input: UpdateHostInput) -> Result<HostView, AppError> {
    hop!(b, req => b.update_host(&req, name, input))
}

/// `what`: `cordon`, `uncordon` or `drain`.
#[server]
pub async fn schedule_host(name: String, what: String) -> Result<HostView, AppError> {
    hop!(b, req => b.schedule_host(&req, name, what))
}

#[server]
pub async fn remove_host(name: String, force: bool) -> Result<(), AppError> {
    hop!(b, req => b.remove_host(&req, name, force))
}

#[server]
pub async fn list_events(query: EventQuery) -> Result<EventPage, AppError> {
    hop!(b, req => b.events(&req, query))
}

#[server]
pub async fn list_services() -> Result<Vec<ServiceView>, AppError> {
    hop!(b, req => b.services(&req))
}

#[server]
pub async fn get_service(name: String) -> Result<ServiceDetail, AppError> {
    hop!(b, req => b.service(&req, name))
}

#[server]
pub async fn create_service(input: CreateServiceInput) -> Result<ServiceView, AppError> {
    hop!(b, req => b.create_service(&req, input))
}

#[server]
pub async fn deploy_service(name: String, input: DeployInput) -> Result<ServiceView, AppError> {
    hop!(b, req => b.deploy_service(&req, name, input))
}

#[server]
pub async fn scale_service(name: String, replicas: u32) -> Result<ServiceView, AppError> {
    hop!(b, req => b.scale_service(&req, name, ScaleInput { replicas }))
}

#[server]
pub async fn delete_service(name: String, delete_volumes: bool) -> Result<(), AppError> {
    hop!(b, req => b.delete_service(&req, name, delete_volumes))
}

#[server]
pub async fn get_service_logs(
    name: String,
    slot: u32,
    tail: Option<u32>,
) -> Result<ReplicaLogs, AppError> {
    hop!(b, req => b.service_logs(&req, name, slot, tail))
}

#[server]
pub async fn get_service_stats(name: String) -> Result<Vec<ReplicaStats>, AppError> {
    hop!(b, req => b.service_stats(&req, name))
}

#[server]
pub async fn set_service_proxy(name: String, input: ProxyConfig) -> Result<ServiceView, AppError> {
    hop!(b, req => b.set_service_proxy(&req, name, input))
}

#[server]
pub async fn get_proxy() -> Result<ProxyView, AppError> {
    hop!(b, req => b.proxy(&req))
}

#[server]
pub async fn get_nginx_conf(listen: Option<String>) -> Result<String, AppError> {
    hop!(b, req => b.nginx_conf(&req, listen))
}

#[server]
pub async fn rollback_service(
    name: String,
    revision: Option<i64>,
) -> Result<ServiceView, AppError> {
    hop!(b, req => b.rollback_service(&req, name, RollbackInput { revision }))
}

/// `what`: `pause`, `resume` or `abort`.
#[server]
pub async fn control_rollout(name: String, what: String) -> Result<ServiceView, AppError> {
    hop!(b, req => b.control_rollout(&req, name, what))
}

#[server]
pub async fn get_revision_diff(name: String, from: i64, to: i64) -> Result<RevisionDiff, AppError> {
    hop!(b, req => b.revision_diff(&req, name, from, to))
}

#[server]
pub async fn list_rollouts() -> Result<Vec<RolloutView>, AppError> {
    hop!(b, req => b.rollouts(&req))
}

#[server]
pub async fn list_volumes(
    service: Option<String>,
    host: Option<String>,
) -> Result<Vec<VolumeView>, AppError> {
    hop!(b, req => b.volumes(&req, service, host))
}

#[server]
pub async fn delete_volume(host: String, name: String) -> Result<(), AppError> {
    hop!(b, req => b.delete_volume(&req, host, name))
}

#[server]
pub async fn move_replica(service: String, slot: u32) -> Result<String, AppError> {
    hop!(b, req => b.move_replica(&req, service, slot))
}
