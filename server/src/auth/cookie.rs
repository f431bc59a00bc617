//! The session cookie: its name, reading it from a request, and the `Set-Cookie`
//! values that set and clear it.

use std::time::Duration;

use axum::http::HeaderMap;

pub const SESSION_COOKIE: &str = "berth_session";

/// The session secret the request carries, if any.
pub fn session_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the request reached us over https (directly or through a TLS proxy), so
/// the cookie must be `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure over https.
pub fn set_session(secret: &str, ttl: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_the_session_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("a=1; berth_session=abc; b=2"),
        );
        assert_eq!(session_from(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("berth_session=; x=y"));
        assert_eq!(session_from(&h), None);
        assert_eq!(session_from(&HeaderMap::new()), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_session("s", Duration::from_secs(60), false);
        assert_eq!(
            c,
            "berth_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        assert!(set_session("s", Duration::from_secs(60), true).ends_with("; Secure"));
        assert!(clear_session(false).contains("Max-Age=0"));
    }
}
