//! The one error of the server functions, as the pages and the API carry it, and
//! the HTTP status of each code (the edge where codes meet HTTP).

use serde::{Deserialize, Serialize};

/// The one error type of the server functions: a stable code and a sentence. The
/// REST API renders the same pair as `{"error":{"code","message"}}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppError {
    /// `unauthenticated`, `forbidden`, `not_found`, `conflict`, `invalid`,
    /// `rate_limited`, `internal`, or `transport` (the call did not reach the server).
    pub code: String,
    pub message: String,
    /// Seconds to wait, with `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl AppError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        AppError {
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// The HTTP status that goes with the code, for the API and server functions alike.
    pub fn status(&self) -> u16 {
        status_of(&self.code)
    }
}

/// The HTTP status of an error code.
pub fn status_of(code: &str) -> u16 {
    match code {
        "bad_request" => 400,
        "unauthenticated" => 401,
        "forbidden" => 403,
        "not_found" => 404,
        "method_not_allowed" => 405,
        "conflict" => 409,
        "too_large" => 413,
        "unsupported_media_type" => 415,
        "invalid" | "host_unreachable" | "tls_failed" | "engine_too_old" => 422,
        "rate_limited" => 429,
        "not_ready" | "transport" => 503,
        _ => 500,
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        AppError::new("transport", value.to_string())
    }
}
