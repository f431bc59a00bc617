//! `GET /api/v1/openapi.json`: the OpenAPI document of the whole API, generated
//! from the handlers' annotations and the wire types.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth API", description = "Run services across Docker hosts. Every error is {\"error\":{\"code\",\"message\"}}. Authenticate with the session cookie from POST /api/v1/auth/login or with `Authorization: Bearer <token>`."),
    paths(
        super::system::engines,
        super::system::about,
        super::accounts::setup_state,
        super::accounts::setup,
        super::accounts::login,
        super::accounts::logout,
        super::accounts::me,
        super::accounts::change_password,
        super::accounts::sessions,
        super::accounts::revoke_session,
        super::users::list,
        super::users::create,
        super::users::show,
        super::users::update,
        super::users::remove,
        super::users::revoke_sessions,
        super::teams::list,
        super::teams::create,
        super::teams::show,
        super::teams::remove,
        super::teams::set_member,
        super::teams::remove_member,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::audit::list,
        super::hosts::list,
        super::hosts::add,
        super::hosts::show,
        super::hosts::update,
        super::hosts::cordon,
        super::hosts::uncordon,
        super::hosts::drain,
        super::hosts::remove,
        super::events::list,
        super::services::list,
        super::services::create,
        super::services::show,
        super::services::deploy,
        super::services::put_spec,
        super::services::scale,
        super::services::remove,
        super::services::revisions,
        super::services::stats,
        super::services::logs,
        super::services::watch,
        super::services::set_proxy,
        super::services::rollback,
        super::services::pause,
        super::services::resume,
        super::services::abort,
        super::services::diff,
        super::services::rollouts,
        super::services::move_replica,
        super::volumes::list,
        super::volumes::remove,
        super::proxy::view,
        super::proxy::nginx_conf,
    ),
    tags(
        (name = "cluster", description = "Docker engines, events and this server"),
        (name = "services", description = "Services: desired state kept by the reconciler"),
        (name = "volumes", description = "Volumes of services on the hosts"),
        (name = "proxy", description = "The proxy: routes, replicas, counters, nginx export"),
        (name = "hosts", description = "Docker hosts: register, cordon, drain, remove (admins)"),
        (name = "accounts", description = "Setup, login, the caller's own account"),
        (name = "users", description = "Users (admins)"),
        (name = "teams", description = "Teams and memberships"),
        (name = "tokens", description = "The caller's API tokens"),
        (name = "audit", description = "Who did what (admins)"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
