//! Host names, domains and routes through the proxy.

#[allow(unused_imports)]
use super::*;

/// A host name as RFC 1123 allows it, lowercase: labels of letters, digits and
/// `-` (not at either end), 1-63 characters each, 253 in all.
pub fn hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A route's host: a host name, or `*.` and a host name.
pub fn route_host(h: &str) -> Result<(), String> {
    if hostname(h.strip_prefix("*.").unwrap_or(h)) {
        Ok(())
    } else {
        Err(format!(
            "invalid route host {h:?}: use a lowercase host name such as shop.example.com, or *.example.com"
        ))
    }
}

/// A domain an admin gives a team: a host name, or `*.` and a host name of at
/// least two labels (`*.com` would be every shop on the internet).
pub fn domain(d: &str) -> Result<(), String> {
    let ok = match d.strip_prefix("*.") {
        Some(rest) => hostname(rest) && rest.contains('.'),
        None => hostname(d),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid domain {d:?}: use a lowercase host name such as shop.example.com, or *.shop.example.com"
        ))
    }
}

/// Whether `host` (a route host: a name or `*.` and a name) lies in `domain` (a
/// name, or `*.` and a name): `shop.example.com` holds only itself;
/// `*.example.com` holds itself and every name under `example.com`, wildcards
/// included.
pub fn domain_holds(domain: &str, host: &str) -> bool {
    if host == domain {
        return true;
    }
    match domain.strip_prefix("*.") {
        None => false,
        Some(base) => {
            let name = host.strip_prefix("*.").unwrap_or(host);
            name.len() > base.len()
                && name.ends_with(base)
                && name.as_bytes()[name.len() - base.len() - 1] == b'.'
        }
    }
}

/// Whether two domains (or route hosts) share any name.
pub fn domains_overlap(a: &str, b: &str) -> bool {
    a == b || domain_holds(a, b) || domain_holds(b, a)
}

/// Whether a route host or a domain takes a name of the proxy's own domain:
/// `<service>.<proxy domain>` names belong to the services.
pub fn touches_proxy_domain(name: &str, proxy_domain: &str) -> bool {
    domains_overlap(name, proxy_domain) || domains_overlap(name, &format!("*.{proxy_domain}"))
}

/// A domain or host as typed, the way Berth keeps it: trimmed, lowercase, without
/// a final dot.
pub fn normalise_domain(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a character may stand in a path segment (RFC 3986 `pchar`, without
/// `%`, which [`path_prefix`] checks with what follows it).
pub(super) fn pchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

/// A route's path prefix: an absolute path as RFC 3986 writes it (segments of
/// unreserved characters, sub-delimiters, `:`, `@` and `%XX`), no empty, `.` or
/// `..` segment, no query or fragment.
pub fn path_prefix(p: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "invalid path prefix {p:?}: use an absolute path such as /api (letters, digits and -._~!$&'()*+,;=:@ or %XX)"
        ))
    };
    let Some(rest) = p.strip_prefix('/') else {
        return bad();
    };
    if p.len() > 256 {
        return bad();
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return if p == "/" { Ok(()) } else { bad() };
    }
    for seg in rest.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad();
        }
        let b = seg.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return bad();
                }
                i += 3;
            } else if pchar(b[i] as char) {
                i += 1;
            } else {
                return bad();
            }
        }
    }
    Ok(())
}

/// Where a login may send the browser next: a path of this site, never another
/// site (`//evil.example`, `/\evil.example`, or one a browser turns into those by
/// dropping tabs and new lines).
pub fn local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && next.chars().all(|c| c.is_ascii_graphic() && c != '\\')
}

/// A service's proxy settings.
pub fn proxy_config(c: &crate::wire::ProxyConfig) -> Result<(), String> {
    if c.routes.len() > 32 {
        return Err("at most 32 routes per service".into());
    }
    if !c.expose && !c.routes.is_empty() {
        return Err(
            "a service kept off the proxy (expose: false) has no routes; remove them or expose it"
                .into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for r in &c.routes {
        if let Some(h) = &r.host {
            route_host(h)?;
        }
        route_tls(r)?;
        path_prefix(&r.path_prefix)?;
        let key = (
            r.host.clone(),
            r.path_prefix.trim_end_matches('/').to_string(),
        );
        if !seen.insert(key) {
            return Err(format!("the route {} is given twice", format_route(r)));
        }
    }
    Ok(())
}

/// A route as a line: `shop.example.com/api strip`, `/static`, `*.example.com`.
pub fn format_route(r: &crate::wire::RouteSpec) -> String {
    let host = r.host.clone().unwrap_or_default();
    let prefix = if r.path_prefix == "/" && !host.is_empty() {
        String::new()
    } else {
        r.path_prefix.clone()
    };
    let strip = if r.strip_prefix { " strip" } else { "" };
    let acme = if r.acme { " https" } else { "" };
    let redirect = if r.redirect_https { " redirect" } else { "" };
    format!("{host}{prefix}{strip}{acme}{redirect}")
}

/// What a route's HTTPS settings need: a certificate from ACME only for an exact
/// host (HTTP-01 cannot prove a wildcard or "any host").
pub fn route_tls(r: &crate::wire::RouteSpec) -> Result<(), String> {
    if !r.acme {
        return Ok(());
    }
    match r.host.as_deref() {
        Some(h) if !h.starts_with("*.") => Ok(()),
        Some(h) => Err(format!(
            "the route {} asks for a certificate from ACME, which cannot prove a wildcard such as {h}; upload a certificate for it on the Certificates page instead",
            format_route(r)
        )),
        None => Err(format!(
            "the route {} asks for a certificate from ACME but names no host; give it one such as shop.example.com",
            format_route(r)
        )),
    }
}

/// Routes from lines written as [`format_route`] writes them.
pub fn parse_routes(text: &str) -> Result<Vec<crate::wire::RouteSpec>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let target = words.next().unwrap_or_default();
        let (mut strip, mut acme, mut redirect) = (false, false, false);
        for w in words {
            let flag = match w {
                "strip" => &mut strip,
                "https" => &mut acme,
                "redirect" => &mut redirect,
                _ => {
                    return Err(format!(
                        "invalid route {line:?}: write HOST[/PREFIX] or /PREFIX, then strip to remove the prefix, https for a certificate from ACME, redirect to send plain HTTP to HTTPS"
                    ))
                }
            };
            *flag = true;
        }
        let (host, prefix) = match target.find('/') {
            Some(0) => (None, target.to_string()),
            Some(i) => (Some(target[..i].to_string()), target[i..].to_string()),
            None => (Some(target.to_string()), "/".to_string()),
        };
        let route = crate::wire::RouteSpec {
            host,
            path_prefix: prefix,
            strip_prefix: strip,
            acme,
            redirect_https: redirect,
        };
        if let Some(h) = &route.host {
            route_host(h)?;
        }
        route_tls(&route)?;
        path_prefix(&route.path_prefix)?;
        out.push(route);
    }
    Ok(out)
}
