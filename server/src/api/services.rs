//! `/services`: create, deploy, scale and delete services; read them with their
//! replicas, events, revisions, logs and usage; and `/watch/services`, a stream of
//! server-sent events naming each service as it changes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use serde::Deserialize;

use domain::wire::{
    CreateServiceInput, DeployInput, ErrorBody, Message, PromoteInput, ProxyConfig, ReplicaLogs,
    ReplicaStats, RevisionDiff, RevisionView, RollbackInput, RolloutView, ScaleInput,
    ServiceDetail, ServiceQuery, ServiceSummary, ServiceView,
};

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Caller};
use crate::auth::policy::Action;
use crate::auth::streams::{guarded, StreamGuard};
use crate::ops::services::{self, RolloutControl};
use crate::ops::Ctx;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(summary))
        .routes(routes!(show, remove))
        .routes(routes!(put_spec))
        .routes(routes!(deploy))
        .routes(routes!(scale))
        .routes(routes!(set_proxy))
        .routes(routes!(rollback))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(abort))
        .routes(routes!(promote))
        .routes(routes!(diff))
        .routes(routes!(rollouts))
        .routes(routes!(revisions))
        .routes(routes!(stats))
        .routes(routes!(logs))
        .routes(routes!(move_replica))
        .routes(routes!(watch))
}

/// Every service the caller may see, with its replicas and how it stands, in name
/// order. Filters: `team`, `phase` (`degraded,progressing`), `q` (part of the
/// name); paging: `limit` (1 to 1000), `offset`. `X-Total-Count` says how many
/// match in all and `Link` (`rel="next"`) where the next page is. The answer has
/// an ETag: asked again with `If-None-Match`, an unchanged list is a 304.
#[utoipa::path(get, path = "/api/v1/services", tag = "services", params(ServiceQuery),
    responses(
        (status = 200, body = Vec<ServiceView>, headers(
            ("ETag" = String, description = "What this answer says; send it back in If-None-Match"),
            ("X-Total-Count" = u32, description = "Services that match, on every page"),
            ("Link" = String, description = "The next page, as rel=\"next\", when there is one"))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(query): ApiQuery<ServiceQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let answer = state.listing.answer(&state, &ctx, &query).await?;
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == answer.etag.trim_start_matches("W/"));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            answer.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    let mut put = |name: header::HeaderName, value: String| {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put(header::ETAG, answer.etag.clone());
    // Kept by the browser but asked about each time: the list moves.
    put(header::CACHE_CONTROL, "private, no-cache".into());
    put(
        header::HeaderName::from_static("x-total-count"),
        answer.total.to_string(),
    );
    if let Some(next) = answer.next_offset {
        let next = ServiceQuery {
            offset: Some(next),
            ..query
        };
        if let Ok(q) = serde_urlencoded::to_string(&next) {
            put(
                header::LINK,
                format!("</api/v1/services?{q}>; rel=\"next\""),
            );
        }
    }
    Ok(response)
}

/// The services the caller may see, counted by how they stand, with their
/// replicas wanted and ready: a dashboard's summary at any number of services.
#[utoipa::path(get, path = "/api/v1/summary/services", tag = "services",
    responses((status = 200, body = ServiceSummary), (status = 401, body = ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<ServiceSummary>, ApiError> {
    Ok(Json(state.listing.summary(&state, &ctx).await?))
}

/// Creates a service in a team the caller operates (or as an admin); its replicas
/// are placed and started at once. Bad names, specs or replica counts are 422, a
/// taken name 409.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = CreateServiceInput,
    responses((status = 201, body = ServiceView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<CreateServiceInput>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(services::create(&state, &ctx, input).await?),
    ))
}

/// A service with its replicas, recent events and revision history.
#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceDetail), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceDetail>, ApiError> {
    Ok(Json(services::detail(&state, &ctx, &name).await?))
}

/// A new revision of the spec (`PUT …/spec` and `POST …/deploy` alike); the
/// replicas are replaced start-first within the update policy. The same spec again
/// changes nothing.
#[utoipa::path(post, path = "/api/v1/services/{name}/deploy", tag = "services", params(("name" = String, Path)), request_body = DeployInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn deploy(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<DeployInput>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(services::deploy(&state, &ctx, &name, input).await?))
}

/// The same as `POST …/deploy`, for clients that prefer to put the spec.
#[utoipa::path(put, path = "/api/v1/services/{name}/spec", tag = "services", params(("name" = String, Path)), request_body = DeployInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_spec(
    state: State<AppState>,
    caller: Caller,
    name: ApiPath<String>,
    input: ApiJson<DeployInput>,
) -> Result<Json<ServiceView>, ApiError> {
    deploy(state, caller, name, input).await
}

/// Sets how many replicas run: `{"replicas": n}`.
#[utoipa::path(post, path = "/api/v1/services/{name}/scale", tag = "services", params(("name" = String, Path)), request_body = ScaleInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scale(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ScaleInput>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(services::scale(&state, &ctx, &name, input).await?))
}

/// Sets how the proxy reaches the service: `{"routes":[{"host","path_prefix",
/// "strip_prefix"}],"balance":"least_in_flight"|"round_robin"}`. No replica moves.
/// A route another service holds is 409.
#[utoipa::path(put, path = "/api/v1/services/{name}/proxy", tag = "services", params(("name" = String, Path)), request_body = ProxyConfig,
    responses((status = 200, body = ServiceView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_proxy(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ProxyConfig>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(services::set_proxy(&state, &ctx, &name, input).await?))
}

/// Goes back to an earlier revision, `{"revision": n}` (`{}`: the one before the
/// current): a health-gated rollout there.
#[utoipa::path(post, path = "/api/v1/services/{name}/rollback", tag = "services", params(("name" = String, Path)), request_body = RollbackInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<RollbackInput>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(services::rollback(&state, &ctx, &name, input).await?))
}

/// Pauses the rollout under way: no more replicas move (failed ones are replaced).
#[utoipa::path(post, path = "/api/v1/services/{name}/rollout/pause", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = 409, body = ErrorBody)))]
pub async fn pause(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        services::control_rollout(&state, &ctx, &name, RolloutControl::Pause).await?,
    ))
}

/// Resumes a paused rollout.
#[utoipa::path(post, path = "/api/v1/services/{name}/rollout/resume", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = 409, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        services::control_rollout(&state, &ctx, &name, RolloutControl::Resume).await?,
    ))
}

/// Aborts the rollout under way: every replica goes back to the revision before.
#[utoipa::path(post, path = "/api/v1/services/{name}/rollout/abort", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = 409, body = ErrorBody)))]
pub async fn abort(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        services::control_rollout(&state, &ctx, &name, RolloutControl::Abort).await?,
    ))
}

/// Promotes a canary rollout: `{}` to its next step, `{"full": true}` past
/// every step (the old replicas are replaced); a paused one resumes.
#[utoipa::path(post, path = "/api/v1/services/{name}/rollout/promote", tag = "services", params(("name" = String, Path)), request_body = PromoteInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn promote(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<PromoteInput>,
) -> Result<Json<ServiceView>, ApiError> {
    let what = RolloutControl::Promote { full: input.full };
    Ok(Json(
        services::control_rollout(&state, &ctx, &name, what).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    from: i64,
    to: i64,
}

/// What differs between two revisions, field by field.
#[utoipa::path(get, path = "/api/v1/services/{name}/revisions/diff", tag = "services", params(("name" = String, Path), DiffQuery),
    responses((status = 200, body = RevisionDiff), (status = 404, body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<RevisionDiff>, ApiError> {
    Ok(Json(
        services::diff(&state, &ctx, &name, q.from, q.to).await?,
    ))
}

/// The rollouts under way, across the services the caller may see.
#[utoipa::path(get, path = "/api/v1/rollouts", tag = "services",
    responses((status = 200, body = Vec<RolloutView>), (status = 401, body = ErrorBody)))]
pub async fn rollouts(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<Vec<RolloutView>>, ApiError> {
    Ok(Json(services::active_rollouts(&state, &ctx).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// `keep` (the default) leaves the service's volumes, listed under
    /// /api/v1/volumes; `delete` deletes them once its replicas are gone.
    #[serde(default)]
    volumes: Option<String>,
}

/// Deletes a service; its replicas are removed, its volumes kept unless asked.
#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path), RemoveQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    let delete_volumes = match q.volumes.as_deref() {
        None | Some("keep") => false,
        Some("delete") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("volumes={other:?}: use keep (the default) or delete"),
            ))
        }
    };
    services::delete(&state, &ctx, &name, delete_volumes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a replica whose host holds its volumes but is not ready to another host,
/// with empty volumes; the data stays behind (admins).
#[utoipa::path(post, path = "/api/v1/services/{name}/replicas/{slot}/move", tag = "volumes",
    params(("name" = String, Path), ("slot" = u32, Path)),
    responses((status = 200, body = Message), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn move_replica(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((name, slot)): ApiPath<(String, u32)>,
) -> Result<Json<Message>, ApiError> {
    let message = crate::ops::volumes::move_replica(&state, &ctx, &name, slot).await?;
    Ok(Json(Message { message }))
}

/// Every revision of the service, newest first.
#[utoipa::path(get, path = "/api/v1/services/{name}/revisions", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = Vec<RevisionView>), (status = 404, body = ErrorBody)))]
pub async fn revisions(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<RevisionView>>, ApiError> {
    Ok(Json(services::detail(&state, &ctx, &name).await?.revisions))
}

/// CPU (percent of one CPU) and memory of every running replica, sampled now.
#[utoipa::path(get, path = "/api/v1/services/{name}/stats", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = Vec<ReplicaStats>), (status = 404, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<ReplicaStats>>, ApiError> {
    Ok(Json(services::stats(&state, &ctx, &name).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Lines from the end (default 200, at most 5000).
    tail: Option<u32>,
    /// Keep the answer open and send new lines as they come.
    #[serde(default)]
    follow: bool,
    /// `text` (the default: the lines) or `json` (the replica, its host and
    /// container, and the lines; not with `follow`).
    #[serde(default)]
    format: LogFormat,
}

/// How a replica's log is answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A replica's log (stdout and stderr) as plain text: the last `tail` lines, and
/// with `follow=true` what it writes next, until it stops or the client leaves.
#[utoipa::path(get, path = "/api/v1/services/{name}/replicas/{slot}/logs", tag = "services",
    params(("name" = String, Path), ("slot" = u32, Path), LogsQuery),
    responses((status = 200, content((String = "text/plain"), (ReplicaLogs = "application/json"))), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((name, slot)): ApiPath<(String, u32)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if q.follow && q.format == LogFormat::Json {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "a followed log is text: leave out format=json",
        ));
    }
    if q.follow {
        let (p, guard) = open_stream(&state, &ctx)?;
        let stream = services::follow_logs(&state, &ctx, &name, slot, q.tail).await?;
        let stream = guarded(
            state.store.clone(),
            &state.auth.streams,
            p,
            guard,
            state.shutdown.clone(),
            Box::pin(stream),
        );
        return Ok((text, Body::from_stream(stream)).into_response());
    }
    let logs = services::logs(&state, &ctx, &name, slot, q.tail).await?;
    if q.format == LogFormat::Json {
        return Ok(Json(logs).into_response());
    }
    let mut body = logs.lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    Ok((text, body).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Only this service.
    name: Option<String>,
}

/// A live stream's place for the caller (429 when they have as many open as
/// allowed), and who they are.
fn open_stream(
    state: &AppState,
    ctx: &Ctx,
) -> Result<(crate::auth::principal::Principal, StreamGuard), ApiError> {
    let p = ctx.principal().map_err(ApiError::from)?.clone();
    let guard = state.auth.streams.open(p.user_id).map_err(|max| {
        ApiError::from(crate::ops::OpsError::RateLimited {
            message: format!(
                "you have {max} live streams open (event streams, followed logs); close one first"
            ),
            retry_after_secs: 5,
        })
    })?;
    Ok((p, guard))
}

/// One server-sent event of `/watch/services`: `event` is `ready` (first) or
/// `service`; `data` is the service's name (`*`: any may have changed).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceEvent {
    pub event: String,
    pub data: String,
}

/// Server-sent events: `event: service` with the service's name as data, each time
/// a service the caller may read changes (replicas started, stopped, healthy,
/// scaled…). Pages listen to it to stay true without polling. A user keeps a
/// limited number of streams open (429 beyond); a stream ends at logout or when
/// its session or token is revoked.
#[utoipa::path(get, path = "/api/v1/watch/services", tag = "services", params(WatchQuery),
    responses((status = 200, content_type = "text/event-stream", body = ServiceEvent), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<WatchQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (p, guard) = open_stream(&state, &ctx)?;
    let rx = state.reconciler.subscribe();
    let names = readable_names(&state, &ctx).await;
    struct Watch {
        state: AppState,
        ctx: Ctx,
        rx: tokio::sync::broadcast::Receiver<i64>,
        names: HashMap<i64, String>,
        only: Option<String>,
        hello: bool,
    }
    let (store, streams, stop) = (
        state.store.clone(),
        state.auth.streams.clone(),
        state.shutdown.clone(),
    );
    let start = Watch {
        state,
        ctx,
        rx,
        names,
        only: q.name,
        hello: true,
    };
    let stream = futures::stream::unfold(start, |mut w| async move {
        if w.hello {
            w.hello = false;
            return Some((Ok(Event::default().event("ready").data("ok")), w));
        }
        loop {
            let id = match w.rx.recv().await {
                Ok(id) => id,
                // Fell behind: say that everything may have changed.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("service").data("*")), w));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            };
            if !w.names.contains_key(&id) {
                w.names = readable_names(&w.state, &w.ctx).await;
            }
            let Some(name) = w.names.get(&id).cloned() else {
                continue;
            };
            if w.only.as_ref().is_some_and(|only| *only != name) {
                continue;
            }
            return Some((Ok(Event::default().event("service").data(name)), w));
        }
    });
    let stream = guarded(store, &streams, p, guard, stop, Box::pin(stream));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Names of the services the caller may read, by id.
async fn readable_names(state: &AppState, ctx: &Ctx) -> HashMap<i64, String> {
    state
        .store
        .list_services()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| ctx.allowed(Action::ReadServices(s.team_id)).is_ok())
        .map(|s| (s.id, s.name))
        .collect()
}
