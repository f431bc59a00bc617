//! The seam between the UI and the server: a server function is a client of the
//! JSON API, called in process. The server crate implements [`Backend`] (one
//! method: hand a request to its API router) and puts it into Leptos context, so
//! `app` never depends on `server` and the pages reach every use case through the
//! same handler, rules, errors and audit entries as `curl` does. Adding a use case
//! touches its `ops` function, its API handler, and the server function here.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::use_context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::errors::AppError;

/// The request a server function serves.
pub type Request = http::request::Parts;

/// A call to the JSON API: a method, a path under `/api/v1` with its query, and a
/// JSON body.
pub struct ApiCall {
    pub method: http::Method,
    pub path: String,
    pub body: Option<Vec<u8>>,
}

/// What the API answered.
pub struct ApiAnswer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// What the pages can ask of the server: anything its JSON API serves, as the
/// caller of `req` (its cookie, token and client address).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn call(&self, req: &Request, call: ApiCall) -> Result<ApiAnswer, AppError>;
}

/// The backend as it sits in Leptos context (cheap to clone).
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend and the request of the current server function.
fn backend() -> Result<(Arc<dyn Backend>, Request), AppError> {
    let misconfigured = |what: &str| {
        AppError::new(
            "internal",
            format!("the server is misconfigured: no {what} in context"),
        )
    };
    let backend = use_context::<BackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| misconfigured("backend"))?;
    let req = use_context::<Request>().ok_or_else(|| misconfigured("request"))?;
    Ok((backend, req))
}

/// One path segment, percent-encoded (names, domains like `*.shop.example`).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=x` of a query struct (fields that are `None` left out).
pub fn query<Q: Serialize>(q: &Q) -> Result<String, AppError> {
    let text = serde_urlencoded::to_string(q)
        .map_err(|e| AppError::new("internal", format!("a query that cannot be written: {e}")))?;
    Ok(if text.is_empty() {
        text
    } else {
        format!("?{text}")
    })
}

/// Calls the API: `GET`s have no body, other calls send `body` as JSON. The
/// answer's cookies go onto the server function's response (a login sets one);
/// an error answer becomes its `AppError` (code, words, retry-after).
pub async fn call<T: DeserializeOwned>(
    method: http::Method,
    path: String,
    body: Option<&(impl Serialize + Sync)>,
) -> Result<T, AppError> {
    let answer = raw(method, path, body).await?;
    // An empty answer (204) reads as `null`: `()` or `None`.
    let bytes: &[u8] = if answer.body.is_empty() {
        b"null"
    } else {
        &answer.body
    };
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::new("internal", format!("the API's answer does not read: {e}")))
}

/// A `GET` of a list that says how many match in all (`X-Total-Count`).
pub async fn call_counted<T: DeserializeOwned>(path: String) -> Result<(Vec<T>, u32), AppError> {
    let answer = raw(http::Method::GET, path, None::<&()>).await?;
    let total = answer
        .headers
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::new("internal", "the API's list did not say how many match"))?;
    let items = serde_json::from_slice(&answer.body)
        .map_err(|e| AppError::new("internal", format!("the API's answer does not read: {e}")))?;
    Ok((items, total))
}

/// [`call`] for answers that are text (`nginx.conf`).
pub async fn call_text(path: String) -> Result<String, AppError> {
    let answer = raw(http::Method::GET, path, None::<&()>).await?;
    String::from_utf8(answer.body)
        .map_err(|_| AppError::new("internal", "the API's answer is not UTF-8"))
}

async fn raw(
    method: http::Method,
    path: String,
    body: Option<&(impl Serialize + Sync)>,
) -> Result<ApiAnswer, AppError> {
    let (backend, req) = backend()?;
    let body = body
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|e| AppError::new("internal", format!("a body that cannot be written: {e}")))?;
    let answer = backend.call(&req, ApiCall { method, path, body }).await?;
    for cookie in answer.headers.get_all(http::header::SET_COOKIE) {
        if let Ok(value) = cookie.to_str() {
            set_cookie(value);
        }
    }
    if answer.status.is_success() {
        return Ok(answer);
    }
    Err(api_error(&answer))
}

/// The `{"error":{"code","message"}}` of an answer, with its `Retry-After`.
fn api_error(answer: &ApiAnswer) -> AppError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: AppError,
    }
    let mut error = serde_json::from_slice::<Body>(&answer.body)
        .map(|b| b.error)
        .unwrap_or_else(|_| {
            AppError::new(
                "internal",
                format!("the API answered {} without saying why", answer.status),
            )
        });
    if error.retry_after_secs.is_none() {
        error.retry_after_secs = answer
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
    }
    error
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
fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
