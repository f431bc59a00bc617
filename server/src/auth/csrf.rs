//! Cross-site request forgery protection. Cookies are SameSite, and a request that
//! changes state with the session cookie must come from a page of this server: its
//! `Origin` (or, without one, `Referer`) must name the host it was sent to; a
//! cookie-carrying change with neither is refused. Requests with a bearer token
//! carry no ambient credentials and pass, as do requests without the cookie.

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
    // Without the session cookie there is nothing ambient to forge with.
    if super::cookie::session_from(headers).is_none() {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        None => Err(
            "a change sent with the session cookie must say where it comes from (Origin or Referer); send it from Berth's pages, or use an API token"
                .into(),
        ),
        Some(source)
            if !host.is_empty()
                && authority(source).is_some_and(|a| a.eq_ignore_ascii_case(host)) =>
        {
            Ok(())
        }
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
        let cookie = ("cookie", "berth_session=abc");
        type Case<'a> = (Method, Vec<(&'a str, &'a str)>, bool);
        let table: &[Case] = &[
            (
                Method::GET,
                vec![host, cookie, ("origin", "http://evil.example")],
                true,
            ),
            // A change with the cookie and neither Origin nor Referer.
            (Method::POST, vec![host, cookie], false),
            (Method::POST, vec![cookie], false),
            // Without the cookie (a login, a token, nobody) there is nothing to forge.
            (Method::POST, vec![host], true),
            (
                Method::POST,
                vec![cookie, ("origin", "http://127.0.0.1:3000")],
                false,
            ),
            (
                Method::POST,
                vec![host, cookie, ("origin", "http://127.0.0.1:3000")],
                true,
            ),
            (
                Method::POST,
                vec![host, cookie, ("referer", "http://127.0.0.1:3000/users?x=1")],
                true,
            ),
            (
                Method::POST,
                vec![host, cookie, ("origin", "http://evil.example")],
                false,
            ),
            (
                Method::DELETE,
                vec![host, cookie, ("origin", "http://127.0.0.1:3001")],
                false,
            ),
            (Method::POST, vec![host, cookie, ("origin", "null")], false),
            (
                Method::PUT,
                vec![
                    host,
                    cookie,
                    ("referer", "https://evil.example/127.0.0.1:3000"),
                ],
                false,
            ),
            (
                Method::POST,
                vec![
                    host,
                    cookie,
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
