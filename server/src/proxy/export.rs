//! The proxy's table for people and other programs: the proxy view (JSON), the
//! Prometheus text format, and an nginx configuration with the same routes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use domain::wire::{BackendView, Balance, ProxyRouteView, ProxyView};

use super::stats::{bucket_bounds, Sample};
use super::table::{HostMatch, Route, RouteTable};
use super::Proxy;

impl Proxy {
    /// Every route of the teams `visible` lets through, with its replicas and what
    /// went through them lately.
    pub fn view(&self, visible: impl Fn(i64) -> bool) -> ProxyView {
        let table = self.table();
        let now = self.now_ms();
        let windows = self.windows.lock().expect("proxy lock");
        let routes = table
            .routes
            .iter()
            .filter(|r| visible(r.team_id))
            .map(|r| ProxyRouteView {
                service: r.service.clone(),
                host: r.host.to_string(),
                path_prefix: r.prefix.clone(),
                strip_prefix: r.strip,
                redirect_https: r.redirect,
                balance: r.balance,
                backends: r
                    .backends
                    .iter()
                    .map(|l| {
                        let s = &l.stats;
                        let sample = s.sample();
                        let (rps, error_rate, recent) = windows
                            .get(&l.backend.container_id)
                            .map(|w| w.rates(now, &sample))
                            .unwrap_or((0.0, 0.0, Sample::default()));
                        let ejected = s.ejected_until_ms.load(Ordering::Relaxed) > now;
                        BackendView {
                            slot: l.backend.slot,
                            host: l.backend.host.clone(),
                            address: l.backend.authority.clone(),
                            container_id: l.backend.container_id.chars().take(12).collect(),
                            state: if ejected { "ejected" } else { "serving" }.into(),
                            in_flight: s.in_flight.load(Ordering::Relaxed),
                            requests: sample.requests,
                            errors: sample.errors,
                            requests_per_second: rps,
                            error_rate,
                            p50_ms: recent.quantile_ms(0.5),
                            p99_ms: recent.quantile_ms(0.99),
                            canary: r.weight.filter(|_| l.canary),
                        }
                    })
                    .collect(),
            })
            .collect();
        ProxyView {
            listen: self.listen(),
            tls_listen: self.tls_listen(),
            domain: self.settings.domain.clone(),
            routes,
            unknown_host: self.counters.unknown_host.load(Ordering::Relaxed),
            no_backend: self.counters.no_backend.load(Ordering::Relaxed),
            timeouts: self.counters.timeouts.load(Ordering::Relaxed),
            bad_gateway: self.counters.bad_gateway.load(Ordering::Relaxed),
        }
    }

    /// The proxy's counters in Prometheus's text format: the replicas of the teams
    /// `visible` lets through, and the requests the proxy answered itself.
    pub fn metrics(&self, out: &mut String, visible: impl Fn(i64) -> bool) {
        let table = self.table();
        // A replica serves every route of its service; count it once.
        let mut backends = BTreeMap::new();
        for r in table.routes.iter().filter(|r| visible(r.team_id)) {
            for l in r.backends.iter() {
                backends.insert(
                    l.backend.container_id.clone(),
                    (r.service.clone(), l.clone()),
                );
            }
        }
        let label = |service: &str, l: &super::table::Live| {
            format!(
                "service=\"{}\",replica=\"{}\",slot=\"{}\",host=\"{}\"",
                esc(service),
                &l.backend.container_id[..l.backend.container_id.len().min(12)],
                l.backend.slot,
                esc(&l.backend.host)
            )
        };
        let counter = |out: &mut String,
                       name: &str,
                       help: &str,
                       kind: &str,
                       get: &dyn Fn(&super::table::Live) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (service, l) in backends.values() {
                let _ = writeln!(out, "{name}{{{}}} {}", label(service, l), get(l));
            }
        };
        counter(
            out,
            "berth_proxy_requests_total",
            "Requests the proxy passed to a replica.",
            "counter",
            &|l| l.stats.requests.load(Ordering::Relaxed),
        );
        counter(
            out,
            "berth_proxy_errors_total",
            "Requests to a replica that failed or answered 5xx.",
            "counter",
            &|l| l.stats.errors.load(Ordering::Relaxed),
        );
        counter(
            out,
            "berth_proxy_in_flight",
            "Requests to a replica not answered yet.",
            "gauge",
            &|l| l.stats.in_flight.load(Ordering::Relaxed),
        );
        let name = "berth_proxy_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to a replica's answer.\n# TYPE {name} histogram"
        );
        let bounds = bucket_bounds();
        for (service, l) in backends.values() {
            let s = l.stats.sample();
            let lab = label(service, l);
            let mut cumulative = 0;
            for (i, bound) in bounds.iter().enumerate() {
                cumulative += s.latency[i];
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{lab},le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += s.latency[bounds.len()];
            let _ = writeln!(out, "{name}_bucket{{{lab},le=\"+Inf\"}} {cumulative}");
            let _ = writeln!(
                out,
                "{name}_sum{{{lab}}} {}",
                l.stats.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count{{{lab}}} {cumulative}");
        }
        for (name, help, value) in [
            (
                "berth_proxy_unknown_host_total",
                "Requests for a host no route takes (404).",
                &self.counters.unknown_host,
            ),
            (
                "berth_proxy_no_backend_total",
                "Requests for a service without a healthy replica (503).",
                &self.counters.no_backend,
            ),
            (
                "berth_proxy_timeouts_total",
                "Replicas that did not answer in time (504).",
                &self.counters.timeouts,
            ),
            (
                "berth_proxy_bad_gateway_total",
                "Requests no replica could be reached for (502).",
                &self.counters.bad_gateway,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
    }
}

/// A backend's nginx weight while its route splits for a canary: each side's
/// servers weighted so that the sides take the canary's share and the rest
/// (each canary `weight x old servers`, each old one `(100 - weight) x canaries`).
fn weight(r: &Route, l: &super::table::Live) -> String {
    let Some(w) = r.weight else {
        return String::new();
    };
    let [old, canaries] = [r.sides[0].len(), r.sides[1].len()];
    let n = if l.canary {
        usize::from(w) * old
    } else {
        usize::from(100 - w) * canaries
    };
    format!(" weight={n}")
}

/// A label value with `\`, `"` and new lines escaped.
pub(crate) fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The table as nginx configuration: one `upstream` per service and one `server`
/// per host, to include in nginx's `http` block. `listen` is what the servers
/// listen on (`80`, `127.0.0.1:8081`); only the routes of the teams `visible` lets
/// through are written. Host names and service names are checked to their grammars
/// when routes are saved; path prefixes are written as quoted strings.
pub fn nginx_conf(table: &RouteTable, listen: &str, visible: impl Fn(i64) -> bool) -> String {
    let routes: Vec<&Route> = table.routes.iter().filter(|r| visible(r.team_id)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Berth's proxy routes as nginx configuration; include it in the http block."
    );
    let _ = writeln!(
        out,
        "# Regenerate it when replicas change (GET /api/v1/proxy/nginx.conf).\n"
    );
    let mut upstreams: BTreeMap<&str, &Route> = BTreeMap::new();
    for r in &routes {
        upstreams.entry(r.service.as_str()).or_insert(r);
    }
    for (service, r) in &upstreams {
        if r.backends.is_empty() {
            continue;
        }
        let _ = writeln!(out, "upstream berth_{service} {{");
        if r.balance == Balance::LeastInFlight {
            let _ = writeln!(out, "    least_conn;");
        }
        for l in r.backends.iter() {
            let _ = writeln!(
                out,
                "    server {}{};  # replica {} on {}{}",
                l.backend.authority,
                weight(r, l),
                l.backend.slot,
                l.backend.host,
                if l.canary { ", canary" } else { "" }
            );
        }
        let _ = writeln!(out, "    keepalive 32;\n}}\n");
    }
    // Routes by host; routes for any host go where a host has no route for `/`,
    // and to the default server.
    let mut by_host: BTreeMap<String, Vec<&Route>> = BTreeMap::new();
    let mut any: Vec<&Route> = Vec::new();
    for r in routes {
        match &r.host {
            HostMatch::Any => any.push(r),
            h => by_host.entry(h.to_string()).or_default().push(r),
        }
    }
    for (host, routes) in &by_host {
        let _ = writeln!(
            out,
            "server {{\n    listen {listen};\n    server_name {host};"
        );
        // As in Berth's proxy: a host's team's routes only, its routes for any host
        // included where it has no route for `/`.
        let has_root = routes.iter().any(|r| r.prefix == "/");
        let team = routes.first().map(|r| r.team_id);
        let others = any.iter().filter(|r| !has_root && Some(r.team_id) == team);
        for r in routes.iter().chain(others) {
            location(&mut out, r);
        }
        let _ = writeln!(out, "}}\n");
    }
    let _ = writeln!(
        out,
        "server {{\n    listen {listen} default_server;\n    server_name _;"
    );
    for r in &any {
        location(&mut out, r);
    }
    if !any.iter().any(|r| r.prefix == "/") {
        let _ = writeln!(out, "    location / {{\n        return 404;\n    }}");
    }
    let _ = writeln!(out, "}}");
    out
}

fn location(out: &mut String, r: &Route) {
    let prefix = r.prefix.trim_end_matches('/');
    let pass = |out: &mut String, loc: &str, strip: bool| {
        let _ = writeln!(out, "    location {loc} {{");
        if r.backends.is_empty() {
            let _ = writeln!(out, "        return 503;\n    }}");
            return;
        }
        let target = if strip {
            format!("http://berth_{}/", r.service)
        } else {
            format!("http://berth_{}", r.service)
        };
        let _ = writeln!(
            out,
            "        proxy_pass {target};\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n        proxy_set_header X-Forwarded-Host $host;\n    }}"
        );
    };
    if prefix.is_empty() {
        pass(out, "/", false);
    } else {
        let quoted = |p: String| nginx_quote(&p);
        pass(out, &format!("= {}", quoted(prefix.to_string())), r.strip);
        pass(out, &quoted(format!("{prefix}/")), r.strip);
    }
}

/// A path prefix as an nginx string: in double quotes (so `;`, `{`, `}`, `#`, `$`
/// and spaces are only characters), with `"` and `\` escaped. nginx compares
/// locations with the decoded path, so `%XX` of a printable character is decoded;
/// others (and `"` and `\`) stay encoded.
fn nginx_quote(path: &str) -> String {
    let b = path.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| (b[j] as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_graphic() && c != b'"' && c != b'\\' {
                    decoded.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    let mut out = String::with_capacity(decoded.len() + 2);
    out.push('"');
    for c in String::from_utf8_lossy(&decoded).chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        if c.is_control() {
            continue;
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::table::{Backend, RouteInput};
    use std::sync::Arc;

    fn input(service: &str, host: Option<&str>, prefix: &str, strip: bool, n: u32) -> RouteInput {
        RouteInput {
            service_id: 1,
            team_id: 1,
            service: service.into(),
            host: HostMatch::parse(host),
            prefix: prefix.into(),
            strip,
            redirect: false,
            balance: Balance::LeastInFlight,
            backends: (1..=n)
                .map(|i| Backend {
                    container_id: format!("{service}{i}"),
                    slot: i,
                    host: "h1".into(),
                    authority: format!("127.0.0.11:{}", 30000 + i),
                })
                .collect(),
            canary: None,
        }
    }

    #[test]
    fn nginx_has_an_upstream_per_service_and_a_server_per_host() {
        let table = RouteTable::new(
            vec![
                input("shop", Some("shop.localhost"), "/", false, 2),
                input("api", Some("shop.localhost"), "/api", true, 1),
                input("files", None, "/static", false, 1),
                input("empty", Some("empty.localhost"), "/", false, 0),
            ],
            |_| Arc::new(Default::default()),
        );
        let conf = nginx_conf(&table, "127.0.0.1:18080", |_| true);
        assert!(
            conf.contains("upstream berth_shop {\n    least_conn;\n    server 127.0.0.11:30001;"),
            "{conf}"
        );
        assert!(!conf.contains("upstream berth_empty"), "{conf}");
        assert!(conf.contains("server_name shop.localhost;"), "{conf}");
        assert!(
            conf.contains("    location \"/api/\" {\n        proxy_pass http://berth_api/;"),
            "{conf}"
        );
        assert!(
            conf.contains("    location = \"/api\" {\n        proxy_pass http://berth_api/;"),
            "{conf}"
        );
        assert!(
            conf.contains("server_name empty.localhost;\n    location / {\n        return 503;"),
            "{conf}"
        );
        assert!(conf.contains("listen 127.0.0.1:18080 default_server;\n    server_name _;\n    location = \"/static\" {\n        proxy_pass http://berth_files;"), "{conf}");
        // Braces balance.
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn a_canary_split_is_written_as_weights_that_give_each_side_its_share() {
        // 10% to one canary beside three old replicas: 10 x 3 against 90 x 1
        // for each, so the canary side takes 30 of 300.
        let mut shop = input("shop", Some("shop.localhost"), "/", false, 4);
        shop.canary = Some(crate::proxy::table::Split {
            weight: 10,
            canaries: vec!["shop4".into()],
        });
        let table = RouteTable::new(vec![shop], |_| Arc::new(Default::default()));
        let conf = nginx_conf(&table, "80", |_| true);
        for (server, weight) in [(1, 90), (2, 90), (3, 90), (4, 30)] {
            assert!(
                conf.contains(&format!("server 127.0.0.11:3000{server} weight={weight};")),
                "{conf}"
            );
        }
        assert!(conf.contains("# replica 4 on h1, canary"), "{conf}");
        // The proxy's view says which replica is the canary, and its share.
        let proxy = Proxy::new(Default::default());
        let mut shop = input("shop", Some("shop.localhost"), "/", false, 2);
        shop.canary = Some(crate::proxy::table::Split {
            weight: 10,
            canaries: vec!["shop2".into()],
        });
        proxy.update(vec![shop]);
        let view = proxy.view(|_| true);
        let marks: Vec<Option<u8>> = view.routes[0].backends.iter().map(|b| b.canary).collect();
        assert_eq!(marks, [None, Some(10)]);
    }

    #[test]
    fn metrics_are_in_the_text_format() {
        let proxy = Proxy::new(Default::default());
        proxy.update(vec![input("shop", Some("shop.localhost"), "/", false, 1)]);
        let table = proxy.table();
        table.routes[0].backends[0]
            .stats
            .record(std::time::Duration::from_millis(3), false);
        let mut out = String::new();
        proxy.metrics(&mut out, |_| true);
        assert!(out.contains("# TYPE berth_proxy_requests_total counter\nberth_proxy_requests_total{service=\"shop\",replica=\"shop1\",slot=\"1\",host=\"h1\"} 1\n"), "{out}");
        assert!(out.contains("berth_proxy_request_duration_seconds_bucket{service=\"shop\",replica=\"shop1\",slot=\"1\",host=\"h1\",le=\"+Inf\"} 1\n"), "{out}");
        assert!(out.contains("berth_proxy_request_duration_seconds_sum{service=\"shop\",replica=\"shop1\",slot=\"1\",host=\"h1\"} 0.003\n"), "{out}");
        assert!(out.contains("berth_proxy_unknown_host_total 0\n"), "{out}");
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
