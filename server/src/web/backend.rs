//! The backend the pages' server functions reach through context: each call is a
//! request to the JSON API's router, in process, as the caller of the server
//! function (its cookie, token, client address). The pages thus go through the
//! same handlers as API clients: one place per use case, one authorization, one
//! audit entry.

use axum::body::Body;
use axum::http::{header, HeaderName};
use http_body_util::{BodyExt, Limited};
use tower::ServiceExt;

use super::*;

/// The headers of a server function's request that say who calls and how (the
/// API reads the caller from them, and `https` for the cookie's `Secure`).
const CALLER_HEADERS: [HeaderName; 5] = [
    header::COOKIE,
    header::AUTHORIZATION,
    header::USER_AGENT,
    header::HOST,
    HeaderName::from_static("x-forwarded-proto"),
];

/// The most an in-process answer may hold; the API's lists are far smaller.
const ANSWER_LIMIT: usize = 16 << 20;

/// Server functions' way into the use cases: the API router over this state.
pub struct ServerBackend {
    api: axum::Router,
}

impl ServerBackend {
    pub fn new(state: &AppState) -> ServerBackend {
        ServerBackend {
            api: crate::api::router().with_state(state.clone()),
        }
    }

    /// The API request for `call`, as the caller of `req`.
    fn request(req: &Request, call: ApiCall) -> Result<axum::http::Request<Body>, AppError> {
        let mut builder = axum::http::Request::builder()
            .method(call.method)
            .uri(call.path);
        for name in CALLER_HEADERS {
            for value in req.headers.get_all(&name) {
                builder = builder.header(&name, value);
            }
        }
        if call.body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        // The client's address: rate limits, sessions and the audit log key on it.
        if let Some(info) = req
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            builder = builder.extension(*info);
        }
        builder
            .body(call.body.map(Body::from).unwrap_or_default())
            .map_err(|e| AppError::new("internal", format!("a request that cannot be made: {e}")))
    }
}

#[async_trait]
impl Backend for ServerBackend {
    async fn call(&self, req: &Request, call: ApiCall) -> Result<ApiAnswer, AppError> {
        let request = ServerBackend::request(req, call)?;
        let response = match self.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| {
                AppError::new("internal", format!("the API's answer did not arrive: {e}"))
            })?
            .to_bytes();
        Ok(ApiAnswer {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        })
    }
}
