//! Cross-site request forgery protection. Cookies are SameSite, and a request that
//! changes state with the session cookie must come from a page of this server: its
//! `Origin` (or, without one, `Referer`) must name the host it was sent to.
//! Requests with a bearer token carry no ambient credentials and pass.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// The middleware: refuses a cross-site state change with 403.
pub async fn guard(request: Request, next: Next) -> Response {
    if let Err(why) = check(request.method(), request.headers()) {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", why).into_response();
    }
    next.run(request).await
}

/// Pure check behind [`guard`].
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    if bearer {
        return Ok(());
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        // Browsers always send Origin on cross-site POSTs; a request without either
        // header did not come from another site's page.
        None => Ok(()),
        Some(source) if authority(source).is_some_and(|a| a.eq_ignore_ascii_case(host)) => Ok(()),
        Some(source) => Err(format!(
            "cross-site request refused: it came from {source}, not from this server ({host})"
        )),
    }
}

/// `http://host:port/path` -> `host:port`.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn cases() {
        let host = ("host", "127.0.0.1:3000");
        type Case<'a> = (Method, Vec<(&'a str, &'a str)>, bool);
        let table: &[Case] = &[
            (
                Method::GET,
                vec![host, ("origin", "http://evil.example")],
                true,
            ),
            (Method::POST, vec![host], true),
            (
                Method::POST,
                vec![host, ("origin", "http://127.0.0.1:3000")],
                true,
            ),
            (
                Method::POST,
                vec![host, ("referer", "http://127.0.0.1:3000/users?x=1")],
                true,
            ),
            (
                Method::POST,
                vec![host, ("origin", "http://evil.example")],
                false,
            ),
            (
                Method::DELETE,
                vec![host, ("origin", "http://127.0.0.1:3001")],
                false,
            ),
            (Method::POST, vec![host, ("origin", "null")], false),
            (
                Method::PUT,
                vec![host, ("referer", "https://evil.example/127.0.0.1:3000")],
                false,
            ),
            (
                Method::POST,
                vec![
                    host,
                    ("origin", "http://evil.example"),
                    ("authorization", "Bearer berth_x"),
                ],
                true,
            ),
        ];
        for (method, pairs, ok) in table {
            assert_eq!(
                check(method, &headers(pairs)).is_ok(),
                *ok,
                "{method} {pairs:?}"
            );
        }
    }
}
