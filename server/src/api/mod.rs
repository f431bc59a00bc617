//! The JSON API under `/api/v1`, plus `/healthz` and `/readyz`. One `router()` per
//! resource; every error renders as `{"error":{"code","message"}}` through
//! [`ApiError`], and request bodies, paths and queries that do not parse get the
//! same shape.

mod accounts;
mod audit;
mod certs;
mod events;
pub mod health;
mod history;
mod hosts;
mod openapi;
mod pools;
pub mod proxy;
mod services;
mod stacks;
mod system;
mod teams;
mod tokens;
mod users;
mod volume_classes;
mod volumes;
mod whatif;

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use app::errors::AppError;
use domain::wire::{ErrorBody, ErrorDetail};

use crate::ops::{Ctx, OpsError};
use crate::state::AppState;

pub use openapi::ApiDoc;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route of the API, and `/healthz`, `/readyz` and `/metrics`, each with its
/// OpenAPI description: both come from the same handlers, so the document lists
/// exactly what is served (the authorization matrix is built from it).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::router())
        .merge(accounts::router())
        .merge(users::router())
        .merge(teams::router())
        .merge(tokens::router())
        .merge(audit::router())
        .merge(hosts::router())
        .merge(pools::router())
        .merge(certs::router())
        .merge(events::router())
        .merge(services::router())
        .merge(stacks::router())
        .merge(proxy::router())
        .merge(volumes::router())
        .merge(volume_classes::router())
        .merge(whatif::router())
        .merge(history::router())
        .merge(health::router())
}

/// The OpenAPI document, as `GET /api/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::complete(routes().split_for_parts().1)
}

/// Every operation of the API as `(METHOD, path)`, from its routes.
pub fn operations() -> Vec<(&'static str, String)> {
    openapi::operations(&openapi())
}

/// The routes of [`routes`], the OpenAPI document, and JSON answers for paths and
/// methods the API does not have.
pub fn router() -> Router<AppState> {
    let (router, doc) = routes().split_for_parts();
    let doc = std::sync::Arc::new(openapi::complete(doc));
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route(
            "/api/v1/{*rest}",
            any(|| async {
                ApiError::not_found("no such API endpoint; /api/v1/openapi.json lists them")
            }),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; /api/v1/openapi.json lists them",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
}

/// An error as the API shows it: a status, a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code,
            message: e.message,
            retry_after_secs: e.retry_after_secs,
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON body; what does not parse is a 400, 413, 415 or 422 in the API's shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "the JSON body does not fit: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            ),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is not valid JSON",
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {} KiB", BODY_LIMIT / 1024),
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", other.body_text()),
    }
}

/// Path parameters; ones that do not parse are a 400 in the API's shape.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("bad path: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.body_text(),
            )),
        }
    }
}

/// Query parameters; ones that do not parse are a 400 in the API's shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("bad query: {}", e.body_text()),
                )
            })
    }
}

/// The client's address: the TCP peer (no proxy header is trusted).
pub fn client_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

/// Who is calling, for handlers: the [`Ctx`] of the use cases.
pub struct Caller(pub Ctx);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = client_addr(parts);
        Ctx::from_request(state, &parts.headers, addr)
            .await
            .map(Caller)
            .map_err(ApiError::from)
    }
}

/// A response with a `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
