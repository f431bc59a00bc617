//! The route table: which service a request goes to, by its Host header and path.
//! Pure: built whole from the services and their healthy replicas, then only read.
//! An exact host beats a wildcard (`*.example.com`), which beats a route for any
//! host; among those, the longest path prefix wins. A host belongs to the team of
//! the most exact route that names it: only that team's routes may take its
//! requests, whatever their path prefixes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use domain::wire::Balance;

use super::stats::BackendStats;

/// Which hosts a route takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HostMatch {
    /// `shop.example.com` (lowercase).
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (stored as the suffix with
    /// its dot).
    Suffix(String),
    /// Every host.
    Any,
}

impl HostMatch {
    pub fn parse(host: Option<&str>) -> HostMatch {
        match host.map(|h| h.trim().to_ascii_lowercase()) {
            None => HostMatch::Any,
            Some(h) if h.is_empty() || h == "*" => HostMatch::Any,
            Some(h) => match h.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.to_string()),
                None => HostMatch::Exact(h),
            },
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
            HostMatch::Any => true,
        }
    }

    /// Exact first, then the longest wildcard, then any.
    fn rank(&self) -> (u8, usize) {
        match self {
            HostMatch::Exact(_) => (0, 0),
            HostMatch::Suffix(s) => (1, usize::MAX - s.len()),
            HostMatch::Any => (2, 0),
        }
    }
}

impl std::fmt::Display for HostMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostMatch::Exact(h) => write!(f, "{h}"),
            HostMatch::Suffix(s) => write!(f, "*{s}"),
            HostMatch::Any => write!(f, "*"),
        }
    }
}

/// A replica that takes traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Backend {
    pub container_id: String,
    pub slot: u32,
    pub host: String,
    /// `address:port`, as the proxy connects to it.
    pub authority: String,
}

/// A canary's share of a route's requests: `weight` percent go to the
/// backends named (a new revision's replicas), the rest to the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// 1 to 99.
    pub weight: u8,
    /// The container ids of the canary's backends.
    pub canaries: Vec<String>,
}

impl Split {
    /// Whether request `turn` of a route goes to the canary: `weight` of every
    /// 100 turns, spread evenly (exact over each 100, whatever the order of
    /// arrival).
    pub fn canary_turn(weight: u8, turn: usize) -> bool {
        let (w, c) = (weight as usize, turn % 100);
        (c + 1) * w / 100 > c * w / 100
    }
}

/// A backend with its counters, which outlive the tables it is in.
#[derive(Debug, Clone)]
pub struct Live {
    pub backend: Backend,
    /// One of the route's canaries (see [`Split`]).
    pub canary: bool,
    pub stats: Arc<BackendStats>,
    /// `backend.authority`, shared: the key of the proxy threads' idle
    /// connections to it, taken per request without an allocation.
    pub addr: Arc<str>,
}

/// One route: hosts and a path prefix to a service's backends.
#[derive(Debug)]
pub struct Route {
    pub service_id: i64,
    /// The team that owns the service.
    pub team_id: i64,
    pub service: String,
    pub host: HostMatch,
    /// Starts with `/`; `/` takes every path.
    pub prefix: String,
    pub strip: bool,
    /// Plain HTTP is redirected to HTTPS.
    pub redirect: bool,
    pub balance: Balance,
    pub backends: Arc<[Live]>,
    /// Where round robin goes next, and where least-in-flight starts looking.
    pub next: AtomicUsize,
    /// The canary's percent of the requests, when the route has a canary and
    /// other backends too; `turn` counts the requests it split.
    pub weight: Option<u8>,
    pub turn: AtomicUsize,
    /// With a split: the backends (by index) of each side, the old first, and
    /// where each side's own rotation goes next.
    pub sides: [Box<[usize]>; 2],
    pub side_next: [AtomicUsize; 2],
}

/// What a route is made from; equal inputs make an equal table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RouteInput {
    pub service_id: i64,
    pub team_id: i64,
    pub service: String,
    pub host: HostMatch,
    pub prefix: String,
    pub strip: bool,
    pub redirect: bool,
    pub balance: Balance,
    pub backends: Vec<Backend>,
    /// A canary rollout's share, while one holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Split>,
}

/// Every route, in the order they are tried.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    inputs: Vec<RouteInput>,
    /// Requests choosing a replica from this table right now (from the moment they
    /// read it until they count themselves in flight on the one they chose).
    choosing: AtomicUsize,
}

/// A request choosing a replica from a table; counted until dropped, and the last
/// one to leave a table tells `chosen` (a drain waiting for it).
pub struct Choosing {
    table: Arc<RouteTable>,
    chosen: Arc<tokio::sync::Notify>,
}

impl Drop for Choosing {
    fn drop(&mut self) {
        if self.table.choosing.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.chosen.notify_waiters();
        }
    }
}

/// A request matched to a route, and the path to send on.
pub struct Matched<'a> {
    pub route: &'a Route,
    pub path: std::borrow::Cow<'a, str>,
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let p = prefix.trim_end_matches('/');
    path == p || (path.starts_with(p) && path[p.len()..].starts_with('/'))
}

impl RouteTable {
    /// The table for `inputs`; `stats` gives each backend its counters.
    pub fn new(
        mut inputs: Vec<RouteInput>,
        mut stats: impl FnMut(&Backend) -> Arc<BackendStats>,
    ) -> RouteTable {
        inputs.sort_by(|a, b| {
            (
                a.host.rank(),
                std::cmp::Reverse(a.prefix.len()),
                &a.service,
                &a.prefix,
            )
                .cmp(&(
                    b.host.rank(),
                    std::cmp::Reverse(b.prefix.len()),
                    &b.service,
                    &b.prefix,
                ))
        });
        let routes = inputs
            .iter()
            .map(|i| {
                let canary = |b: &Backend| {
                    i.canary
                        .as_ref()
                        .is_some_and(|s| s.canaries.contains(&b.container_id))
                };
                let both = i.backends.iter().any(canary) && !i.backends.iter().all(canary);
                let side = |c: bool| -> Box<[usize]> {
                    (0..i.backends.len())
                        .filter(|k| both && canary(&i.backends[*k]) == c)
                        .collect()
                };
                Route {
                    service_id: i.service_id,
                    team_id: i.team_id,
                    service: i.service.clone(),
                    host: i.host.clone(),
                    prefix: i.prefix.clone(),
                    strip: i.strip,
                    redirect: i.redirect,
                    balance: i.balance,
                    backends: i
                        .backends
                        .iter()
                        .map(|b| Live {
                            backend: b.clone(),
                            canary: canary(b),
                            stats: stats(b),
                            addr: Arc::from(b.authority.as_str()),
                        })
                        .collect(),
                    next: AtomicUsize::new(0),
                    weight: i
                        .canary
                        .as_ref()
                        .map(|s| s.weight)
                        .filter(|w| both && (1..=99).contains(w)),
                    turn: AtomicUsize::new(0),
                    sides: [side(false), side(true)],
                    side_next: [AtomicUsize::new(0), AtomicUsize::new(0)],
                }
            })
            .collect();
        RouteTable {
            routes,
            inputs,
            choosing: AtomicUsize::new(0),
        }
    }

    /// Counts a request choosing a replica from `table` until the guard drops.
    pub fn choosing(table: &Arc<RouteTable>, chosen: Arc<tokio::sync::Notify>) -> Choosing {
        table.choosing.fetch_add(1, Ordering::SeqCst);
        Choosing {
            table: table.clone(),
            chosen,
        }
    }

    /// Takes over `before`'s place in each split that is still there (the same
    /// route and weight), and in each side's rotation: a table rebuilt often
    /// must not start every canary's count again (a 1% canary would never get
    /// its turn, the first replica of each side more than its share).
    pub fn carry_turns(&self, before: &RouteTable) {
        for r in self.routes.iter().filter(|r| r.weight.is_some()) {
            let old = before.routes.iter().find(|o| {
                (o.service_id, &o.host, &o.prefix, o.weight)
                    == (r.service_id, &r.host, &r.prefix, r.weight)
            });
            if let Some(o) = old {
                let counters = [(&r.turn, &o.turn), (&r.next, &o.next)];
                let sides = r.side_next.iter().zip(o.side_next.iter());
                for (new, was) in counters.into_iter().chain(sides) {
                    new.store(was.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
        }
    }

    /// Whether no request is choosing a replica from this table.
    pub fn settled(&self) -> bool {
        self.choosing.load(Ordering::SeqCst) == 0
    }

    /// What the table was made from.
    pub fn inputs(&self) -> &[RouteInput] {
        &self.inputs
    }

    /// The route for `host` (without its port, any case) and `path`.
    pub fn lookup<'a>(&'a self, host: &str, path: &'a str) -> Option<Matched<'a>> {
        let host = host.trim_end_matches('.');
        let lower;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = host.to_ascii_lowercase();
            lower.as_str()
        } else {
            host
        };
        // The first route that names the host (routes are in order, most exact
        // host first) says whose host it is; other teams' routes are passed over.
        let mut owner = None;
        let route = self.routes.iter().find(|r| {
            if !r.host.matches(host) {
                return false;
            }
            if owner.is_none() && r.host != HostMatch::Any {
                owner = Some(r.team_id);
            }
            owner.is_none_or(|t| t == r.team_id) && prefix_matches(&r.prefix, path)
        })?;
        let path = if route.strip && route.prefix != "/" {
            let rest = &path[route.prefix.trim_end_matches('/').len()..];
            if rest.is_empty() {
                std::borrow::Cow::Borrowed("/")
            } else {
                std::borrow::Cow::Borrowed(rest)
            }
        } else {
            std::borrow::Cow::Borrowed(path)
        };
        Some(Matched { route, path })
    }
}

/// The host of a Host header, without its port.
pub fn host_of(header: &str) -> &str {
    let h = header.trim();
    if h.starts_with('[') {
        return h.split(']').next().map(|s| &s[1..]).unwrap_or(h);
    }
    h.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(host, _)| host)
        .unwrap_or(h)
}

/// Picks a backend: with a canary, first its side by the canary's weight (each
/// side going round its own backends); then the fewest requests in flight
/// (ties go round the list), or plain round robin. Ejected backends are passed
/// over unless all are; a side with none left to try gives way to the other.
pub fn choose(
    route: &Route,
    in_flight: impl Fn(&Live) -> u64,
    ejected: impl Fn(&Live) -> bool,
    skip: &[usize],
) -> Option<usize> {
    let n = route.backends.len();
    if n == 0 {
        return None;
    }
    let pick = |m: usize, at: &dyn Fn(usize) -> usize, start: usize, healthy_only: bool| {
        let mut it = (0..m)
            .map(|k| at((start + k) % m))
            .filter(|i| !skip.contains(i))
            .filter(|&i| !healthy_only || !ejected(&route.backends[i]));
        match route.balance {
            Balance::RoundRobin => it.next(),
            Balance::LeastInFlight => it.min_by_key(|&i| in_flight(&route.backends[i])),
        }
    };
    if let Some(w) = route.weight {
        let side = usize::from(Split::canary_turn(
            w,
            route.turn.fetch_add(1, Ordering::Relaxed),
        ));
        let list = &route.sides[side];
        let start = route.side_next[side].fetch_add(1, Ordering::Relaxed);
        if let Some(i) = pick(list.len(), &|k| list[k], start, true) {
            return Some(i);
        }
    }
    let start = route.next.fetch_add(1, Ordering::Relaxed);
    pick(n, &|k| k, start, true).or_else(|| pick(n, &|k| k, start, false))
}

#[cfg(test)]
mod tests;
