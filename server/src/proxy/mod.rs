//! The built-in reverse proxy: a listener of its own that sends each request to a
//! healthy replica of the service its Host header and path name.
//!
//! - `table`: the route table (pure), swapped in whole by the reconciler after every
//!   pass that changes it; the hot path reads it without a lock.
//! - `stats`: per-replica counters and latency histograms, atomics only.
//! - `server`: the listener and the forwarding (streaming bodies,
//!   upgrades, forwarded headers, timeouts, a retry elsewhere when a replica cannot
//!   be reached, passive ejection).
//! - `upstream`: each proxy thread's pool of connections to the replicas.
//! - `headers`: hop-by-hop and `X-Forwarded-*` headers.
//! - `export`: the table as JSON for the proxy view, in Prometheus's text format,
//!   and as an nginx configuration.
//!
//! A replica enters the table once healthy and leaves it before it is stopped:
//! [`Proxy::drain`] takes it out, waits until no request still chooses from a
//! table that had it (the newer table is acknowledged), then for its requests in
//! flight. Tables are published by one writer at a time, each from the latest
//! routes and drains, so an older table is never stored after a newer one.

pub mod export;
mod headers;
pub mod server;
pub mod stats;
pub mod table;
mod upstream;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

use stats::{BackendStats, Window};
use table::{RouteInput, RouteTable};

/// How the proxy behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Every exposed service is reachable as `<service>.<domain>`.
    pub domain: String,
    /// Peers whose `X-Forwarded-For` and `Forwarded` headers are believed (other
    /// proxies in front of Berth's); everyone else's are replaced.
    pub trusted: Vec<crate::http::Cidr>,
    /// Slow and idle clients, and how many may be connected at once.
    pub limits: crate::http::Limits,
    /// How long a replica may take to send its answer's head (then 504).
    pub upstream_timeout: Duration,
    /// How long a connection to a replica may take to open (then another replica).
    pub connect_timeout: Duration,
    /// How long a replica taken out of the table may finish its requests before it
    /// is stopped anyway.
    pub drain_timeout: Duration,
    /// How long a replica that refused connections is passed over.
    pub eject_for: Duration,
    /// Whether Berth serves HTTPS (`--proxy-tls-listen` is not `off`): routes may
    /// ask for it only then.
    pub https: bool,
    /// The port clients reach HTTPS at, when not the listener's (redirects).
    pub https_public_port: Option<u16>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            domain: "localhost".into(),
            trusted: Vec::new(),
            limits: crate::http::Limits::default(),
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(10),
            eject_for: Duration::from_secs(5),
            https: false,
            https_public_port: None,
        }
    }
}

/// Requests the proxy answered itself, by why.
#[derive(Debug, Default)]
pub struct Counters {
    pub unknown_host: AtomicU64,
    pub no_backend: AtomicU64,
    pub timeouts: AtomicU64,
    pub bad_gateway: AtomicU64,
}

/// Every replica's counters at one moment, for the history.
#[derive(Debug, Default)]
pub struct Counts {
    /// The services with a route, each once.
    pub routed: Vec<i64>,
    /// (service, when a route names the replica; container id; counters).
    pub backends: Vec<(Option<i64>, String, stats::Sample)>,
}

/// The proxy's shared state; cheap to share through `AppState`.
pub struct Proxy {
    table: ArcSwap<RouteTable>,
    /// The reconciler's last routes, before draining replicas are taken out.
    inputs: Mutex<Vec<RouteInput>>,
    /// Counters by container id; they outlive the tables a replica is in.
    registry: Mutex<HashMap<String, Arc<BackendStats>>>,
    windows: Mutex<HashMap<String, Window>>,
    /// Replicas on their way out: kept out of the table whatever the reconciler says.
    draining: Mutex<HashSet<String>>,
    /// Held while a table is made and published: tables are published one at a
    /// time, each from the inputs and drains as they are then, so an older table
    /// is never stored after a newer one.
    publishing: Mutex<()>,
    /// Tables replaced but maybe still read by requests choosing a replica.
    retired: Mutex<Vec<Weak<RouteTable>>>,
    /// Told when the last request choosing from a table has chosen.
    chosen: Arc<tokio::sync::Notify>,
    pub counters: Counters,
    pub settings: Settings,
    /// Where the listener is, once it listens.
    listen: Mutex<Option<String>>,
    /// Where the HTTPS listener is, once it listens.
    tls_listen: Mutex<Option<String>>,
    /// The certificates and ACME challenges, once the listeners are served.
    certs: std::sync::OnceLock<Arc<crate::certs::Certs>>,
    clock: tokio::time::Instant,
    /// Whether the reconciler has given a table yet (see [`Proxy::loaded`]).
    loaded: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub fn new(settings: Settings) -> Self {
        Proxy {
            table: ArcSwap::from_pointee(RouteTable::default()),
            inputs: Mutex::new(Vec::new()),
            registry: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            draining: Mutex::new(HashSet::new()),
            publishing: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
            chosen: Arc::new(tokio::sync::Notify::new()),
            counters: Counters::default(),
            settings,
            listen: Mutex::new(None),
            tls_listen: Mutex::new(None),
            certs: std::sync::OnceLock::new(),
            clock: tokio::time::Instant::now(),
            loaded: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Returns once the reconciler has given the first table. A Berth that starts
    /// (again) accepts proxy connections only after it, so that no request is
    /// answered from an empty table; until then they wait in the listener's queue.
    pub async fn loaded(&self) {
        let mut seen = self.loaded.subscribe();
        // Fails only if the sender is gone, and it lives as long as `self`.
        let _ = seen.wait_for(|loaded| *loaded).await;
    }

    /// Milliseconds on the proxy's own clock (for ejections).
    pub fn now_ms(&self) -> i64 {
        self.clock.elapsed().as_millis() as i64
    }

    /// The table requests are routed by now.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The current table, for a request to choose a replica from: counted as
    /// choosing from it until the guard drops. The table is current after the
    /// count is taken, so a drain that published a newer table either sees the
    /// count or the request sees the newer table.
    pub fn choosing(&self) -> (Arc<RouteTable>, table::Choosing) {
        loop {
            let t = self.table.load_full();
            let guard = RouteTable::choosing(&t, self.chosen.clone());
            if Arc::ptr_eq(&t, &self.table.load()) {
                return (t, guard);
            }
        }
    }

    pub fn listen(&self) -> Option<String> {
        self.listen.lock().expect("proxy lock").clone()
    }

    pub(crate) fn set_listen(&self, addr: String) {
        *self.listen.lock().expect("proxy lock") = Some(addr);
    }

    pub fn tls_listen(&self) -> Option<String> {
        self.tls_listen.lock().expect("proxy lock").clone()
    }

    /// Where the HTTPS listener is (redirects go to its port).
    pub fn set_tls_listen(&self, addr: String) {
        *self.tls_listen.lock().expect("proxy lock") = Some(addr);
    }

    /// The certificates whose ACME challenges the HTTP listener answers.
    pub fn set_certs(&self, certs: Arc<crate::certs::Certs>) {
        // Set once, by whoever serves the listeners first.
        let _ = self.certs.set(certs);
    }

    pub fn certs(&self) -> Option<&Arc<crate::certs::Certs>> {
        self.certs.get()
    }

    /// Takes the reconciler's routes: a new table is swapped in when they differ
    /// from the current one.
    pub fn update(&self, inputs: Vec<RouteInput>) {
        {
            let present: HashSet<&str> = inputs
                .iter()
                .flat_map(|r| r.backends.iter().map(|b| b.container_id.as_str()))
                .collect();
            // A drained replica that left the reconciler's routes is gone for good.
            self.draining
                .lock()
                .expect("proxy lock")
                .retain(|id| present.contains(id.as_str()));
        }
        *self.inputs.lock().expect("proxy lock") = inputs;
        self.rebuild();
        self.loaded.send_replace(true);
    }

    /// The reconciler's routes less the draining replicas: what the table is made
    /// from (and what a leader publishes for the other instances' proxies).
    pub fn routes(&self) -> Vec<RouteInput> {
        let mut inputs = self.inputs.lock().expect("proxy lock").clone();
        let draining = self.draining.lock().expect("proxy lock");
        for r in inputs.iter_mut() {
            r.backends.retain(|b| !draining.contains(&b.container_id));
        }
        inputs
    }

    /// Puts replicas back that were being drained (a follower that became the
    /// leader while it drained them for the last one).
    pub fn undrain(&self, container_ids: &[String]) {
        {
            let mut draining = self.draining.lock().expect("proxy lock");
            for id in container_ids {
                draining.remove(id);
            }
        }
        self.rebuild();
    }

    /// Takes a replica out of the table at once (its requests in flight go on).
    pub fn start_drain(&self, container_id: &str) {
        self.draining
            .lock()
            .expect("proxy lock")
            .insert(container_id.to_string());
        self.rebuild();
    }

    /// Makes the table from the reconciler's routes less the draining replicas, and
    /// publishes it if it differs from the current one.
    fn rebuild(&self) {
        let _order = self.publishing.lock().expect("proxy lock");
        let inputs = self.routes();
        let current = self.table.load();
        let mut sorted = inputs.clone();
        sorted.sort_by(|a, b| {
            (&a.service, &a.prefix, a.host.to_string()).cmp(&(
                &b.service,
                &b.prefix,
                b.host.to_string(),
            ))
        });
        let mut before = current.inputs().to_vec();
        before.sort_by(|a, b| {
            (&a.service, &a.prefix, a.host.to_string()).cmp(&(
                &b.service,
                &b.prefix,
                b.host.to_string(),
            ))
        });
        if sorted == before {
            return;
        }
        let mut registry = self.registry.lock().expect("proxy lock");
        let table = RouteTable::new(inputs, |b| {
            registry
                .entry(b.container_id.clone())
                .or_insert_with(|| Arc::new(BackendStats::default()))
                .clone()
        });
        table.carry_turns(&current);
        let live: HashSet<String> = table
            .routes
            .iter()
            .flat_map(|r| r.backends.iter().map(|b| b.backend.container_id.clone()))
            .chain(self.draining.lock().expect("proxy lock").iter().cloned())
            .collect();
        registry.retain(|id, _| live.contains(id));
        self.windows
            .lock()
            .expect("proxy lock")
            .retain(|id, _| live.contains(id));
        let old = self.table.swap(Arc::new(table));
        let mut retired = self.retired.lock().expect("proxy lock");
        retired.retain(|t| t.strong_count() > 0);
        retired.push(Arc::downgrade(&old));
    }

    /// Whether no request still chooses a replica from a table older than the
    /// current one: after a drain, every request that could pick the drained
    /// replica has counted itself in flight on it, or picks from a newer table.
    fn acknowledged(&self) -> bool {
        let mut retired = self.retired.lock().expect("proxy lock");
        retired.retain(|t| t.strong_count() > 0);
        retired
            .iter()
            .filter_map(Weak::upgrade)
            .all(|t| t.settled())
    }

    /// Takes a replica out of the table, then waits until its requests in flight
    /// are done (at most the drain timeout). Returns how many were still in flight
    /// when it gave up.
    pub async fn drain(&self, container_id: &str) -> u64 {
        let stats = self
            .registry
            .lock()
            .expect("proxy lock")
            .get(container_id)
            .cloned();
        let Some(stats) = stats else {
            // Never in the table: nothing to wait for.
            return 0;
        };
        self.start_drain(container_id);
        // First every request still choosing from a table with the replica in it
        // has chosen (a matter of microseconds); then those on it are answered.
        let deadline = tokio::time::Instant::now() + self.settings.drain_timeout;
        loop {
            let chosen = self.chosen.notified();
            tokio::pin!(chosen);
            // Listening before looking, so that a request that chooses in
            // between is heard.
            chosen.as_mut().enable();
            if self.acknowledged() {
                break;
            }
            if tokio::time::timeout_at(deadline, chosen).await.is_err() {
                break;
            }
        }
        loop {
            let n = stats.in_flight.load(Ordering::Acquire);
            if n == 0 || tokio::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every replica's counters now (those draining too, until they are gone),
    /// with its service when a route still names it, and the services that have
    /// a route (the history's steps).
    pub fn counts(&self) -> Counts {
        let table = self.table();
        let mut service_of: HashMap<&str, i64> = HashMap::new();
        let mut routed = Vec::new();
        for r in &table.routes {
            routed.push(r.service_id);
            for l in r.backends.iter() {
                service_of.insert(l.backend.container_id.as_str(), r.service_id);
            }
        }
        routed.sort_unstable();
        routed.dedup();
        let registry = self.registry.lock().expect("proxy lock");
        let backends = registry
            .iter()
            .map(|(id, stats)| {
                (
                    service_of.get(id.as_str()).copied(),
                    id.clone(),
                    stats.sample(),
                )
            })
            .collect();
        Counts { routed, backends }
    }

    /// The counters now of the replicas named (those the proxy counts).
    pub fn samples(&self, ids: &[String]) -> std::collections::BTreeMap<String, stats::Sample> {
        let registry = self.registry.lock().expect("proxy lock");
        ids.iter()
            .filter_map(|id| Some((id.clone(), registry.get(id)?.sample())))
            .collect()
    }

    /// Samples every replica's counters for the rates of the last seconds.
    pub fn tick(&self, now_ms: i64) {
        let registry = self.registry.lock().expect("proxy lock").clone();
        let mut windows = self.windows.lock().expect("proxy lock");
        for (id, stats) in registry {
            windows.entry(id).or_default().push(now_ms, stats.sample());
        }
    }
}

/// Samples the counters every second until the token is cancelled.
pub async fn sampler(proxy: Arc<Proxy>, token: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => proxy.tick(proxy.now_ms()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::{Backend, HostMatch};
    use super::*;
    use domain::wire::Balance;

    fn route(backends: &[&str]) -> RouteInput {
        RouteInput {
            service_id: 1,
            team_id: 1,
            service: "shop".into(),
            host: HostMatch::parse(Some("shop.localhost")),
            prefix: "/".into(),
            strip: false,
            redirect: false,
            balance: Balance::LeastInFlight,
            backends: backends
                .iter()
                .enumerate()
                .map(|(i, id)| Backend {
                    container_id: id.to_string(),
                    slot: i as u32 + 1,
                    host: "h1".into(),
                    authority: format!("127.0.0.11:{}", 30000 + i),
                })
                .collect(),
            canary: None,
        }
    }

    fn backends(p: &Proxy) -> Vec<String> {
        p.table().routes[0]
            .backends
            .iter()
            .map(|b| b.backend.container_id.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_drain_waits_for_requests_still_choosing_from_the_older_table() {
        let p = Arc::new(Proxy::new(Settings::default()));
        p.update(vec![route(&["c1", "c2"])]);
        // A request has read the table (with c1 in it) and not yet chosen.
        let (_, choosing) = p.choosing();
        let drain = tokio::spawn({
            let p = p.clone();
            async move { p.drain("c1").await }
        });
        // c1 leaves the table at once, but the drain waits for that request.
        tokio::time::timeout(Duration::from_secs(2), async {
            while backends(&p) != ["c2"] {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("c1 leaves the table");
        // The drain has run as far as it can (this runtime has one thread: it ran
        // while the test yielded); it waits.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !drain.is_finished(),
            "the drain did not wait for the request"
        );
        drop(choosing);
        let left = tokio::time::timeout(Duration::from_secs(2), drain)
            .await
            .expect("the drain ends once the request chose")
            .unwrap();
        assert_eq!(left, 0);
        // A request choosing now reads the newer table: nothing holds a drain up.
        let (t, _choosing) = p.choosing();
        assert!(t.routes[0]
            .backends
            .iter()
            .all(|b| b.backend.container_id != "c1"));
        assert!(p.acknowledged());
    }
}
