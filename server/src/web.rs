//! The Leptos side of the server: the backend the server functions reach through
//! context, the guard that sends people without a session to the login page, and
//! the routes that render and hydrate the pages.

use std::sync::Arc;

use app::backend::{Backend, BackendHandle, Login, Request};
use app::wire::*;
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::api::client_addr;
use crate::ops::hosts::Schedule;
use crate::ops::services::RolloutControl;
use crate::ops::{self, accounts::LoginOutcome, Ctx};
use crate::state::AppState;

/// Server functions' way into the use cases.
pub struct ServerBackend {
    state: AppState,
}

impl ServerBackend {
    async fn ctx(&self, req: &Request) -> Result<Ctx, AppError> {
        Ctx::from_request(&self.state, &req.headers, client_addr(req))
            .await
            .map_err(AppError::from)
    }
}

fn login(o: LoginOutcome) -> Login {
    Login {
        me: o.me,
        set_cookie: o.set_cookie,
    }
}

#[async_trait]
impl Backend for ServerBackend {
    async fn engines(&self, req: &Request) -> Result<EnginesReport, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::system::engines(&self.state, &ctx).await?)
        }
    }

    async fn about(&self, req: &Request) -> Result<About, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::system::about(&self.state, &ctx).await?)
        }
    }

    async fn me(&self, req: &Request) -> Result<Option<Me>, AppError> {
        Ok(self.ctx(req).await?.principal.map(|p| p.me()))
    }

    async fn setup_state(&self) -> Result<SetupState, AppError> {
        Ok(ops::accounts::setup_state(&self.state).await?)
    }

    async fn setup(&self, req: &Request, input: SetupInput) -> Result<Login, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::setup(&self.state, &ctx, input).await?)
        }
        .map(login)
    }

    async fn login(&self, req: &Request, input: LoginInput) -> Result<Login, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::login(&self.state, &ctx, input).await?)
        }
        .map(login)
    }

    async fn logout(&self, req: &Request) -> Result<String, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::logout(&self.state, &ctx).await?)
        }
    }

    async fn change_password(
        &self,
        req: &Request,
        input: ChangePasswordInput,
    ) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::change_password(&self.state, &ctx, input).await?)
        }
    }

    async fn sessions(&self, req: &Request) -> Result<Vec<SessionView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::sessions(&self.state, &ctx).await?)
        }
    }

    async fn revoke_session(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::revoke_session(&self.state, &ctx, id).await?)
        }
    }

    async fn users(&self, req: &Request) -> Result<Vec<UserView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::list(&self.state, &ctx).await?)
        }
    }

    async fn create_user(
        &self,
        req: &Request,
        input: CreateUserInput,
    ) -> Result<UserView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::create(&self.state, &ctx, input).await?)
        }
    }

    async fn update_user(
        &self,
        req: &Request,
        id: i64,
        input: UpdateUserInput,
    ) -> Result<UserView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::update(&self.state, &ctx, id, input).await?)
        }
    }

    async fn delete_user(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::delete(&self.state, &ctx, id).await?)
        }
    }

    async fn teams(&self, req: &Request) -> Result<Vec<TeamView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::list(&self.state, &ctx).await?)
        }
    }

    async fn create_team(
        &self,
        req: &Request,
        input: CreateTeamInput,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::create(&self.state, &ctx, input).await?)
        }
    }

    async fn delete_team(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::delete(&self.state, &ctx, id).await?)
        }
    }

    async fn set_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
        input: SetMemberInput,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::set_member(&self.state, &ctx, team, user, input).await?)
        }
    }

    async fn remove_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::remove_member(&self.state, &ctx, team, user).await?)
        }
    }

    async fn add_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::teams::add_domain(&self.state, &ctx, team, AddDomainInput { domain }).await?)
    }

    async fn remove_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::teams::remove_domain(&self.state, &ctx, team, &domain).await?)
    }

    async fn secrets(&self, req: &Request, team: i64) -> Result<Vec<SecretView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::list(&self.state, &ctx, team).await?)
    }

    async fn set_secret(
        &self,
        req: &Request,
        team: i64,
        name: String,
        input: SetSecretInput,
    ) -> Result<SecretSet, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::set(&self.state, &ctx, team, &name, input).await?)
    }

    async fn delete_secret(&self, req: &Request, team: i64, name: String) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::delete(&self.state, &ctx, team, &name).await?)
    }

    async fn tokens(&self, req: &Request) -> Result<Vec<TokenView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::list(&self.state, &ctx).await?)
        }
    }

    async fn create_token(
        &self,
        req: &Request,
        input: CreateTokenInput,
    ) -> Result<NewToken, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::create(&self.state, &ctx, input).await?)
        }
    }

    async fn revoke_token(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::revoke(&self.state, &ctx, id).await?)
        }
    }

    async fn hosts(&self, req: &Request) -> Result<Vec<HostView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::list(&self.state, &ctx).await?)
    }

    async fn host(&self, req: &Request, name: String) -> Result<HostDetail, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::detail(&self.state, &ctx, &name).await?)
    }

    async fn add_host(&self, req: &Request, input: AddHostInput) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::add(&self.state, &ctx, input).await?)
    }

    async fn update_host(
        &self,
        req: &Request,
        name: String,
        input: UpdateHostInput,
    ) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::update(&self.state, &ctx, &name, input).await?)
    }

    async fn schedule_host(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        let what = match what.as_str() {
            "cordon" => Schedule::Cordon,
            "uncordon" => Schedule::Uncordon,
            "drain" => Schedule::Drain,
            other => {
                return Err(AppError::new(
                    "invalid",
                    format!("unknown host action {other:?}"),
                ))
            }
        };
        Ok(ops::hosts::schedule(&self.state, &ctx, &name, what).await?)
    }

    async fn remove_host(&self, req: &Request, name: String, force: bool) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::remove(&self.state, &ctx, &name, force).await?)
    }

    async fn events(&self, req: &Request, query: EventQuery) -> Result<EventPage, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::events::list(&self.state, &ctx, query).await?)
    }

    async fn services(&self, req: &Request) -> Result<Vec<ServiceView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::list(&self.state, &ctx).await?)
    }

    async fn service(&self, req: &Request, name: String) -> Result<ServiceDetail, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::detail(&self.state, &ctx, &name).await?)
    }

    async fn create_service(
        &self,
        req: &Request,
        input: CreateServiceInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::create(&self.state, &ctx, input).await?)
    }

    async fn deploy_service(
        &self,
        req: &Request,
        name: String,
        input: DeployInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::deploy(&self.state, &ctx, &name, input).await?)
    }

    async fn scale_service(
        &self,
        req: &Request,
        name: String,
        input: ScaleInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::scale(&self.state, &ctx, &name, input).await?)
    }

    async fn delete_service(
        &self,
        req: &Request,
        name: String,
        delete_volumes: bool,
    ) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::delete(&self.state, &ctx, &name, delete_volumes).await?)
    }

    async fn service_logs(
        &self,
        req: &Request,
        name: String,
        slot: u32,
        tail: Option<u32>,
    ) -> Result<ReplicaLogs, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::logs(&self.state, &ctx, &name, slot, tail).await?)
    }

    async fn service_stats(
        &self,
        req: &Request,
        name: String,
    ) -> Result<Vec<ReplicaStats>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::stats(&self.state, &ctx, &name).await?)
    }

    async fn set_service_proxy(
        &self,
        req: &Request,
        name: String,
        input: ProxyConfig,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::set_proxy(&self.state, &ctx, &name, input).await?)
    }

    async fn rollback_service(
        &self,
        req: &Request,
        name: String,
        input: RollbackInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::rollback(&self.state, &ctx, &name, input).await?)
    }

    async fn control_rollout(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        let what = match what.as_str() {
            "pause" => RolloutControl::Pause,
            "resume" => RolloutControl::Resume,
            "abort" => RolloutControl::Abort,
            other => {
                return Err(AppError::new(
                    "invalid",
                    format!("unknown rollout action {other:?}"),
                ))
            }
        };
        Ok(ops::services::control_rollout(&self.state, &ctx, &name, what).await?)
    }

    async fn revision_diff(
        &self,
        req: &Request,
        name: String,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::diff(&self.state, &ctx, &name, from, to).await?)
    }

    async fn rollouts(&self, req: &Request) -> Result<Vec<RolloutView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::active_rollouts(&self.state, &ctx).await?)
    }

    async fn volumes(
        &self,
        req: &Request,
        service: Option<String>,
        host: Option<String>,
    ) -> Result<Vec<VolumeView>, AppError> {
        let ctx = self.ctx(req).await?;
        let filter = ops::volumes::VolumeFilter { service, host };
        Ok(ops::volumes::list(&self.state, &ctx, &filter).await?)
    }

    async fn delete_volume(
        &self,
        req: &Request,
        host: String,
        name: String,
    ) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::volumes::delete(&self.state, &ctx, &host, &name).await?)
    }

    async fn move_replica(
        &self,
        req: &Request,
        service: String,
        slot: u32,
    ) -> Result<String, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::volumes::move_replica(&self.state, &ctx, &service, slot).await?)
    }

    async fn proxy(&self, req: &Request) -> Result<ProxyView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::proxy::view(&self.state, &ctx).await?)
    }

    async fn nginx_conf(&self, req: &Request, listen: Option<String>) -> Result<String, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::proxy::nginx_conf(&self.state, &ctx, listen.as_deref()).await?)
    }

    async fn audit(&self, req: &Request, query: AuditQuery) -> Result<AuditPage, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::audit::list(&self.state, &ctx, query).await?)
        }
    }
}

/// Paths that are not pages: the API, server functions, assets, probes, metrics.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics")
}

/// What a page may load and run: its own files, the inline scripts Leptos writes
/// with this response's nonce, and the WASM it compiles; inline `style`
/// attributes (bars' widths); nothing framed, nothing from elsewhere.
fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Everything else (JSON, text, files) runs nothing and is framed nowhere.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every response: a CSP (the page's own, with its nonce, or one that
/// allows nothing), no MIME sniffing, no framing, and no full URL in `Referer`.
pub async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    use axum::http::{header, HeaderValue};
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Sends page loads without a session to the login page (or, before the first
/// admin exists, to the setup page), and logged-in people away from both.
pub async fn page_guard(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if request.method() != Method::GET || !is_page(&path) {
        return next.run(request).await;
    }
    let setup_done = match ops::accounts::setup_done(&state).await {
        Ok(done) => done,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !setup_done {
        return if path == "/setup" {
            next.run(request).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    if path == "/setup" {
        return Redirect::to("/login").into_response();
    }
    let logged_in =
        crate::auth::authenticate(&state.store, request.headers(), crate::clock::now_ms())
            .await
            .ok()
            .flatten()
            .is_some();
    match (path.as_str(), logged_in) {
        ("/login", true) => Redirect::to("/").into_response(),
        ("/login", false) | (_, true) => next.run(request).await,
        (_, false) => {
            let target = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            Redirect::to(&format!("/login?next={}", percent_encode(&target))).into_response()
        }
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Adds the pages, the server functions and the static files (WASM, JS, CSS) to
/// `router`. The same backend goes into the context of page renders and server
/// function calls alike.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let backend = BackendHandle(Arc::new(ServerBackend {
        state: state.clone(),
    }));
    let context = move || {
        provide_context(backend.clone());
        // A page render has a nonce for its inline scripts; its CSP names it.
        if let (Some(response), Some(nonce)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            leptos::nonce::use_nonce(),
        ) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&page_csp(&nonce.to_string())) {
                response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
            }
        }
    };
    let leptos = state.leptos.clone();
    router
        .leptos_routes_with_context(
            state,
            generate_route_list(app::App),
            context.clone(),
            move || app::shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_not_pages() {
        for p in ["/", "/hosts", "/login", "/setup", "/no/such"] {
            assert!(is_page(p), "{p}");
        }
        for p in [
            "/api/v1/me",
            "/api/get_me123",
            "/pkg/berth.js",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(!is_page(p), "{p}");
        }
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(percent_encode("/hosts?x=1&y=2"), "/hosts%3Fx%3D1%26y%3D2");
    }
}
