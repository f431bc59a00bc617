//! `/certificates`: what the proxy serves over HTTPS, uploaded certificates, and
//! "order again now" for ACME ones. Keys are taken, never shown back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use domain::wire::{CertificateUpload, CertificateView, CertificatesView, ErrorBody};

use super::{ApiError, ApiJson, ApiPath, Caller};
use crate::ops::certs;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upload))
        .routes(routes!(delete))
        .routes(routes!(renew))
}

/// The certificates of the caller's teams and those for every team: host,
/// issuer, expiry, state (a failed order's problem in words), the next attempt.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "proxy",
    responses((status = 200, body = CertificatesView), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> Result<Json<CertificatesView>, ApiError> {
    Ok(Json(certs::list(&state, &ctx).await?))
}

/// Uploads a certificate and its key (PEM) for a host or a wildcard in the
/// team's domains (admins: any, and for every team without `team`). A key that
/// is not the certificate's, names that do not cover the host, or an expired
/// certificate are 422 in words.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "proxy", request_body = CertificateUpload,
    responses((status = 201, body = CertificateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(input): ApiJson<CertificateUpload>,
) -> Result<(StatusCode, Json<CertificateView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(certs::upload(&state, &ctx, input).await?),
    ))
}

/// Forgets a certificate. An ACME one is kept (409) while a route asks for it or
/// while its failed order waits out its back-off.
#[utoipa::path(delete, path = "/api/v1/certificates/{host}", tag = "proxy", params(("host" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(host): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    certs::delete(&state, &ctx, &host).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Orders an ACME certificate again now: a failed or first order, or one whose
/// stored certificate cannot be served (a served one is renewed in time by itself:
/// 409); the order runs in the background (202), its outcome on the list and as
/// events.
#[utoipa::path(post, path = "/api/v1/certificates/{host}/renew", tag = "proxy", params(("host" = String, Path)),
    responses((status = 202, body = CertificateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn renew(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(host): ApiPath<String>,
) -> Result<(StatusCode, Json<CertificateView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(certs::renew(&state, &ctx, &host).await?),
    ))
}
