//! Berth's own metrics, kept in memory and written in Prometheus's text format: how
//! long reconcile passes take, what the reconciler did and how that went, its
//! errors, host heartbeats, and the API's requests by route, method and status.
//!
//! A handful of counters and histograms under short locks, not a metrics crate:
//! nothing here is on a path where a lock's few nanoseconds show, and every label
//! comes from a bounded set (route templates, status codes, action kinds, hosts).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Upper bounds (seconds) of a reconcile pass's buckets: a pass over a quiet
/// cluster takes a millisecond or two, one over thousands of services longer.
const PASS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds (seconds) for requests and heartbeats: most are under 10 ms.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counts of observations at or under each bound, their sum and their count.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    /// `name_bucket{labels,le="…"}` cumulatively, then `_sum` and `_count`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

/// What the reconciler did to a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActionKind {
    Start,
    Remove,
}

impl ActionKind {
    fn label(self) -> &'static str {
        match self {
            ActionKind::Start => "start",
            ActionKind::Remove => "remove",
        }
    }
}

/// How a request, by route template, method and status.
type RequestKey = (String, String, u16);

/// Berth's own series; one per process, shared by every clone of the state.
#[derive(Debug)]
pub struct Metrics {
    pass: Mutex<Histogram>,
    reconcile_errors: Mutex<u64>,
    actions: Mutex<BTreeMap<(ActionKind, bool), u64>>,
    heartbeats: Mutex<BTreeMap<String, Histogram>>,
    heartbeat_failures: Mutex<BTreeMap<String, u64>>,
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            pass: Mutex::new(Histogram::new(PASS_BUCKETS)),
            reconcile_errors: Mutex::new(0),
            actions: Mutex::default(),
            heartbeats: Mutex::default(),
            heartbeat_failures: Mutex::default(),
            requests: Mutex::default(),
        }
    }
}

/// A poisoned lock still holds good counts: a panic elsewhere loses no series.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    pub fn reconcile_pass(&self, took: Duration) {
        lock(&self.pass).observe(took);
    }

    pub fn reconcile_error(&self) {
        *lock(&self.reconcile_errors) += 1;
    }

    pub fn action(&self, kind: ActionKind, ok: bool) {
        *lock(&self.actions).entry((kind, ok)).or_default() += 1;
    }

    pub fn heartbeat(&self, host: &str, answered: Option<Duration>) {
        match answered {
            Some(took) => lock(&self.heartbeats)
                .entry(host.to_string())
                .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
                .observe(took),
            None => {
                *lock(&self.heartbeat_failures)
                    .entry(host.to_string())
                    .or_default() += 1
            }
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        lock(&self.requests)
            .entry((route.to_string(), method.to_string(), status))
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(took);
    }

    /// The reconciler's and the API's series: the whole instance's, for admins.
    pub fn write_instance(&self, out: &mut String) {
        out.push_str("# HELP berth_reconcile_pass_seconds How long one reconcile pass took (observe, decide, hand out actions).\n# TYPE berth_reconcile_pass_seconds histogram\n");
        lock(&self.pass).write(out, "berth_reconcile_pass_seconds", "");
        out.push_str("# HELP berth_reconcile_errors_total Passes that could not read the cluster, and service tasks that failed inside.\n# TYPE berth_reconcile_errors_total counter\n");
        let _ = writeln!(
            out,
            "berth_reconcile_errors_total {}",
            *lock(&self.reconcile_errors)
        );
        out.push_str("# HELP berth_reconcile_actions_total Replicas started and removed by the reconciler, by outcome.\n# TYPE berth_reconcile_actions_total counter\n");
        for ((kind, ok), n) in lock(&self.actions).iter() {
            let outcome = if *ok { "ok" } else { "failed" };
            let _ = writeln!(
                out,
                "berth_reconcile_actions_total{{kind=\"{}\",outcome=\"{outcome}\"}} {n}",
                kind.label()
            );
        }
        out.push_str("# HELP berth_api_request_duration_seconds Requests to this instance until the answer's head, by route template, method and status.\n# TYPE berth_api_request_duration_seconds histogram\n");
        for ((route, method, status), h) in lock(&self.requests).iter() {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                escape(route),
                escape(method)
            );
            h.write(out, "berth_api_request_duration_seconds", &labels);
        }
    }

    /// Each of `hosts` (name, up: `None` before its first heartbeat's outcome):
    /// up or not, heartbeat latency, failed heartbeats. `hosts` are every host
    /// registered: the series of one that is not (a pool's host destroyed) are
    /// forgotten, so that they do not pile up.
    pub fn write_hosts(&self, out: &mut String, hosts: &[(String, Option<bool>)]) {
        let registered: std::collections::HashSet<&str> =
            hosts.iter().map(|(name, _)| name.as_str()).collect();
        lock(&self.heartbeats).retain(|name, _| registered.contains(name.as_str()));
        lock(&self.heartbeat_failures).retain(|name, _| registered.contains(name.as_str()));
        out.push_str("# HELP berth_host_up Whether a host's engine answers its heartbeats (1) or missed them (0).\n# TYPE berth_host_up gauge\n");
        for (name, up) in hosts {
            if let Some(up) = up {
                let _ = writeln!(
                    out,
                    "berth_host_up{{host=\"{}\"}} {}",
                    escape(name),
                    u8::from(*up)
                );
            }
        }
        out.push_str("# HELP berth_host_heartbeat_seconds How long a host's engine took to answer a heartbeat.\n# TYPE berth_host_heartbeat_seconds histogram\n");
        let beats = lock(&self.heartbeats);
        for (name, _) in hosts {
            if let Some(h) = beats.get(name) {
                h.write(
                    out,
                    "berth_host_heartbeat_seconds",
                    &format!("host=\"{}\"", escape(name)),
                );
            }
        }
        drop(beats);
        out.push_str("# HELP berth_host_heartbeat_failures_total Heartbeats a host's engine did not answer.\n# TYPE berth_host_heartbeat_failures_total counter\n");
        let failures = lock(&self.heartbeat_failures);
        for (name, _) in hosts {
            let n = failures.get(name).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "berth_host_heartbeat_failures_total{{host=\"{}\"}} {n}",
                escape(name)
            );
        }
    }
}

/// A label value as the text format wants it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Times every request routed by the router (its template, not its path: one
/// series per route however many services there are).
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Any token is a method to hyper: the others are one series, not one each.
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => request.method().as_str(),
        _ => "OTHER",
    }
    .to_string();
    let started = tokio::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_histogram_counts_cumulatively() {
        let m = Metrics::default();
        for took in [ms(1), ms(3), ms(3), ms(20_000)] {
            m.reconcile_pass(took);
        }
        let mut out = String::new();
        m.write_instance(&mut out);
        for line in [
            "berth_reconcile_pass_seconds_bucket{le=\"0.001\"} 1",
            "berth_reconcile_pass_seconds_bucket{le=\"0.0025\"} 1",
            "berth_reconcile_pass_seconds_bucket{le=\"0.005\"} 3",
            "berth_reconcile_pass_seconds_bucket{le=\"10\"} 3",
            "berth_reconcile_pass_seconds_bucket{le=\"+Inf\"} 4",
            "berth_reconcile_pass_seconds_count 4",
            "berth_reconcile_errors_total 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
        let sum: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("berth_reconcile_pass_seconds_sum "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 20.007).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn actions_requests_and_hosts_by_their_labels() {
        let m = Metrics::default();
        m.action(ActionKind::Start, true);
        m.action(ActionKind::Start, true);
        m.action(ActionKind::Remove, false);
        m.reconcile_error();
        m.request("/api/v1/services/{name}", "GET", 200, ms(2));
        m.request("/api/v1/services/{name}", "GET", 404, ms(1));
        m.heartbeat("h1", Some(ms(4)));
        m.heartbeat("h2", None);
        m.heartbeat("gone", Some(ms(4)));
        let mut out = String::new();
        m.write_instance(&mut out);
        m.write_hosts(
            &mut out,
            &[
                ("h1".into(), Some(true)),
                ("h2".into(), Some(false)),
                ("h\"3".into(), None),
            ],
        );
        for line in [
            "berth_reconcile_errors_total 1",
            "berth_reconcile_actions_total{kind=\"start\",outcome=\"ok\"} 2",
            "berth_reconcile_actions_total{kind=\"remove\",outcome=\"failed\"} 1",
            "berth_api_request_duration_seconds_count{route=\"/api/v1/services/{name}\",method=\"GET\",status=\"200\"} 1",
            "berth_api_request_duration_seconds_bucket{route=\"/api/v1/services/{name}\",method=\"GET\",status=\"404\",le=\"0.001\"} 1",
            "berth_host_up{host=\"h1\"} 1",
            "berth_host_up{host=\"h2\"} 0",
            "berth_host_heartbeat_seconds_count{host=\"h1\"} 1",
            "berth_host_heartbeat_failures_total{host=\"h2\"} 1",
            "berth_host_heartbeat_failures_total{host=\"h\\\"3\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
        // A host no longer registered, and one not yet heard from, have no up line.
        assert!(!out.contains("host=\"gone\""), "{out}");
        // The one gone is forgotten.
        assert!(!lock(&m.heartbeats).contains_key("gone"));
        assert!(!out.contains("berth_host_up{host=\"h\\\"3\"}"), "{out}");
    }
}
