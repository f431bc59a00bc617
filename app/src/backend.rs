//! The seam between the UI and the server: server functions call this trait, the
//! server crate implements it and puts it into Leptos context, so `app` never
//! depends on `server`. Every method gets the request (its cookie and client
//! address say who is calling) and answers with the wire types of the REST API.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::use_context;

use crate::errors::AppError;
use crate::wire::*;

/// The request a server function serves.
pub type Request = http::request::Parts;

/// A new session: who logged in, and the `Set-Cookie` value that carries it.
#[derive(Clone, Debug)]
pub struct Login {
    pub me: Me,
    pub set_cookie: String,
}

/// What the pages can ask of the server.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn engines(&self, req: &Request) -> Result<EnginesReport, AppError>;
    async fn about(&self, req: &Request) -> Result<About, AppError>;

    /// The caller, or `None` without a session.
    async fn me(&self, req: &Request) -> Result<Option<Me>, AppError>;
    async fn setup_state(&self) -> Result<SetupState, AppError>;
    async fn setup(&self, req: &Request, input: SetupInput) -> Result<Login, AppError>;
    async fn login(&self, req: &Request, input: LoginInput) -> Result<Login, AppError>;
    /// Ends the session; the answer is the `Set-Cookie` that clears it.
    async fn logout(&self, req: &Request) -> Result<String, AppError>;
    async fn change_password(
        &self,
        req: &Request,
        input: ChangePasswordInput,
    ) -> Result<(), AppError>;
    async fn sessions(&self, req: &Request) -> Result<Vec<SessionView>, AppError>;
    async fn revoke_session(&self, req: &Request, id: i64) -> Result<(), AppError>;

    async fn users(&self, req: &Request) -> Result<Vec<UserView>, AppError>;
    async fn create_user(
        &self,
        req: &Request,
        input: CreateUserInput,
    ) -> Result<UserView, AppError>;
    async fn update_user(
        &self,
        req: &Request,
        id: i64,
        input: UpdateUserInput,
    ) -> Result<UserView, AppError>;
    async fn delete_user(&self, req: &Request, id: i64) -> Result<(), AppError>;

    async fn teams(&self, req: &Request) -> Result<Vec<TeamView>, AppError>;
    async fn create_team(
        &self,
        req: &Request,
        input: CreateTeamInput,
    ) -> Result<TeamView, AppError>;
    async fn delete_team(&self, req: &Request, id: i64) -> Result<(), AppError>;
    async fn set_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
        input: SetMemberInput,
    ) -> Result<TeamView, AppError>;
    async fn remove_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
    ) -> Result<TeamView, AppError>;
    async fn add_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError>;
    async fn remove_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError>;
    async fn secrets(&self, req: &Request, team: i64) -> Result<Vec<SecretView>, AppError>;
    async fn set_secret(
        &self,
        req: &Request,
        team: i64,
        name: String,
        input: SetSecretInput,
    ) -> Result<SecretSet, AppError>;
    async fn delete_secret(&self, req: &Request, team: i64, name: String) -> Result<(), AppError>;

    async fn tokens(&self, req: &Request) -> Result<Vec<TokenView>, AppError>;
    async fn create_token(
        &self,
        req: &Request,
        input: CreateTokenInput,
    ) -> Result<NewToken, AppError>;
    async fn revoke_token(&self, req: &Request, id: i64) -> Result<(), AppError>;

    async fn audit(&self, req: &Request, query: AuditQuery) -> Result<AuditPage, AppError>;

    async fn hosts(&self, req: &Request) -> Result<Vec<HostView>, AppError>;
    async fn host(&self, req: &Request, name: String) -> Result<HostDetail, AppError>;
    async fn add_host(&self, req: &Request, input: AddHostInput) -> Result<HostView, AppError>;
    async fn update_host(
        &self,
        req: &Request,
        name: String,
        input: UpdateHostInput,
    ) -> Result<HostView, AppError>;
    /// `cordon`, `uncordon` or `drain`.
    async fn schedule_host(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<HostView, AppError>;
    async fn remove_host(&self, req: &Request, name: String, force: bool) -> Result<(), AppError>;
    async fn events(&self, req: &Request, query: EventQuery) -> Result<EventPage, AppError>;

    async fn services(&self, req: &Request) -> Result<Vec<ServiceView>, AppError>;
    async fn service(&self, req: &Request, name: String) -> Result<ServiceDetail, AppError>;
    async fn create_service(
        &self,
        req: &Request,
        input: CreateServiceInput,
    ) -> Result<ServiceView, AppError>;
    async fn deploy_service(
        &self,
        req: &Request,
        name: String,
        input: DeployInput,
    ) -> Result<ServiceView, AppError>;
    async fn scale_service(
        &self,
        req: &Request,
        name: String,
        input: ScaleInput,
    ) -> Result<ServiceView, AppError>;
    async fn delete_service(
        &self,
        req: &Request,
        name: String,
        delete_volumes: bool,
    ) -> Result<(), AppError>;
    async fn service_logs(
        &self,
        req: &Request,
        name: String,
        slot: u32,
        tail: Option<u32>,
    ) -> Result<ReplicaLogs, AppError>;
    async fn service_stats(
        &self,
        req: &Request,
        name: String,
    ) -> Result<Vec<ReplicaStats>, AppError>;
    async fn set_service_proxy(
        &self,
        req: &Request,
        name: String,
        input: ProxyConfig,
    ) -> Result<ServiceView, AppError>;

    async fn rollback_service(
        &self,
        req: &Request,
        name: String,
        input: RollbackInput,
    ) -> Result<ServiceView, AppError>;
    /// `pause`, `resume` or `abort`.
    async fn control_rollout(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<ServiceView, AppError>;
    async fn revision_diff(
        &self,
        req: &Request,
        name: String,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, AppError>;
    async fn rollouts(&self, req: &Request) -> Result<Vec<RolloutView>, AppError>;

    async fn volumes(
        &self,
        req: &Request,
        service: Option<String>,
        host: Option<String>,
    ) -> Result<Vec<VolumeView>, AppError>;
    async fn delete_volume(
        &self,
        req: &Request,
        host: String,
        name: String,
    ) -> Result<(), AppError>;
    async fn move_replica(
        &self,
        req: &Request,
        service: String,
        slot: u32,
    ) -> Result<String, AppError>;

    async fn proxy(&self, req: &Request) -> Result<ProxyView, AppError>;
    async fn nginx_conf(&self, req: &Request, listen: Option<String>) -> Result<String, AppError>;
}

/// The backend as it sits in Leptos context (cheap to clone).
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend and the request of the current server function.
pub fn backend() -> Result<(Arc<dyn Backend>, Request), AppError> {
    let backend = use_context::<BackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| {
            AppError::new(
                "internal",
                "the server is misconfigured: no backend in context",
            )
        })?;
    let req = use_context::<Request>().ok_or_else(|| {
        AppError::new(
            "internal",
            "the server is misconfigured: no request in context",
        )
    })?;
    Ok((backend, req))
}

/// Gives a failed server function the HTTP status of its error (401, 403, 422…)
/// instead of a blanket 500.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        if let (Some(response), Ok(status)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::StatusCode::from_u16(e.status()),
        ) {
            response.set_status(status);
        }
    }
    result
}

/// Sets a cookie on the answer of the current server function.
pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
