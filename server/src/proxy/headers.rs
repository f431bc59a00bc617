//! Request headers between the client and a replica: hop-by-hop headers removed,
//! upgrades recognised, and the `X-Forwarded-*` headers set (believed only from
//! trusted proxies).

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

/// Headers that belong to one connection, not to the request: never passed on.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && *n == header::UPGRADE))
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Says who asked, for the replica: the client's address in `X-Forwarded-For`,
/// `http` or `https` in `X-Forwarded-Proto`, the Host it asked for in `X-Forwarded-Host`. What a
/// client wrote in these (or in `Forwarded`, `X-Real-IP`) is believed only from a
/// trusted proxy, whose `X-Forwarded-For` is extended; anyone else's is replaced,
/// so a client cannot pass itself off as another address.
pub(super) fn forwarded_headers(
    headers: &mut HeaderMap,
    peer: SocketAddr,
    host: &str,
    trusted: bool,
    tls: bool,
) {
    let before = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let forwarded_for = if trusted && !before.is_empty() {
        format!("{before}, {}", peer.ip())
    } else {
        peer.ip().to_string()
    };
    if !trusted {
        headers.remove("forwarded");
        headers.remove("x-real-ip");
        headers.remove("x-forwarded-proto");
        headers.remove("x-forwarded-host");
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    if !headers.contains_key("x-forwarded-proto") {
        let proto = if tls { "https" } else { "http" };
        headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    }
    if !headers.contains_key("x-forwarded-host") {
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert("x-forwarded-host", v);
        }
    }
}
