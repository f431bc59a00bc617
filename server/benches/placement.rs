//! Placement throughput: one `plan()` places 150,000 replicas (1,500 services of
//! 100, mixed sizes, some constrained to a zone, some binpacked) onto 5,000
//! simulated hosts, the size of the largest Kubernetes clusters; then the same
//! cluster, converged, is planned again (it must plan nothing), and asked what
//! losing one host would do (the what-if). Then the history's step at its bound
//! (20,000 replicas and 1,500 services, an hour of 10 s steps kept) and its reads.
//! Prints the median of several runs. `cargo bench -p server --bench placement`.

use std::time::{Duration, Instant};

use domain::wire::{HostState, ServiceSpec};
use server::model::{DesiredService, HostInfo, ObservedReplica, Status};
use server::reconciler::plan::whatif::{what_if, Planned};
use server::reconciler::plan::{plan, Action, Settings};

const HOSTS: i64 = 5_000;
const SERVICES: i64 = 1_500;
const REPLICAS: u32 = 100;
const RUNS: usize = 5;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn hosts() -> Vec<HostInfo> {
    (1..=HOSTS)
        .map(|i| {
            let size = [8u64, 16, 32, 64][(i % 4) as usize];
            HostInfo {
                id: i,
                name: format!("node-{i}"),
                state: HostState::Ready,
                unreachable_since_ms: None,
                labels: [(
                    "zone".to_string(),
                    // Every zone has hosts of every size.
                    ["a", "b", "c", "d"][((i / 4) % 4) as usize].to_string(),
                )]
                .into(),
                cpu_millis: size * 1000,
                memory_bytes: size * 4 * GIB,
                volume_drivers: vec!["local".into()],
            }
        })
        .collect()
}

fn services() -> Vec<DesiredService> {
    (1..=SERVICES)
        .map(|i| {
            let constraints = if i % 10 == 0 { vec!["zone=a"] } else { vec![] };
            let strategy = if i % 3 == 0 { "binpack" } else { "spread" };
            let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
                "image": format!("registry.local/app-{i}:v1"),
                "port": 8080,
                "resources": {"cpu_millis": 100 + (i % 5) * 100, "memory_bytes": (128 + (i % 4) as u64 * 128) * MIB},
                "placement": {"constraints": constraints, "strategy": strategy}
            }))
            .expect("a spec");
            DesiredService {
                rollout: None,
                homes: Default::default(),
            classes: Default::default(),
            drivers: Vec::new(),
                id: i,
                name: format!("app-{i}"),
                team_id: 1,
                replicas: REPLICAS,
                revision: 1,
                spec_hash: spec.hash(),
                spec,
            }
        })
        .collect()
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn main() {
    placement();
    history();
}

/// A step of history at its bound, once the hour is full (so each step also
/// forgets one), and what a service's, a host's and the proxy page's reads take.
fn history() {
    use server::history::{BackendCount, History, ReplicaReading, Step};
    use server::proxy::stats::BackendStats;
    const REPLICAS: usize = 20_000;
    const PER_SERVICE: usize = 13;
    let h = History::new(Duration::from_secs(10));
    let stats = BackendStats::default();
    stats.record(Duration::from_millis(3), false);
    let step = |n: u64| Step {
        at_ms: n as i64 * 10_000,
        proxy_secs: 10.0,
        replicas: (0..REPLICAS)
            .map(|i| ReplicaReading {
                container_id: format!("c{i}"),
                service_id: (i / PER_SERVICE) as i64,
                slot: (i % PER_SERVICE) as u32,
                host_id: (i % 5_000) as i64,
                reading: server::runtime::Reading {
                    cpu_ns: n * 1_000_000 * (i as u64 % 7),
                    system_ns: n * 20_000_000_000,
                    cpus: 2,
                    memory_bytes: 64 << 20,
                },
            })
            .collect(),
        backends: (0..REPLICAS)
            .map(|i| BackendCount {
                service_id: Some((i / PER_SERVICE) as i64),
                container_id: format!("c{i}"),
                sample: stats.sample(),
            })
            .collect(),
        routed: (0..(REPLICAS / PER_SERVICE) as i64).collect(),
    };
    // Fill the hour, then time steps that also forget the oldest.
    for n in 1..=360 {
        h.record(step(n));
    }
    let mut times = Vec::new();
    for n in 361..361 + RUNS as u64 {
        let s = step(n);
        let started = Instant::now();
        h.record(s);
        times.push(started.elapsed());
    }
    let latest = h.latest();
    assert_eq!(latest.replicas.len(), REPLICAS);
    assert_eq!(latest.left_out, 0);
    println!(
        "history: a step of {REPLICAS} replicas and {} services with an hour kept in {:.1} ms (median of {RUNS})",
        REPLICAS / PER_SERVICE,
        median(times).as_secs_f64() * 1000.0
    );
    let read = |f: &dyn Fn()| {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            f();
            times.push(started.elapsed());
        }
        median(times).as_secs_f64() * 1000.0
    };
    let service = read(&|| {
        assert_eq!(h.service(7).replicas.len(), PER_SERVICE);
    });
    let host = read(&|| {
        assert_eq!(h.host(7, |_| true).replicas.len(), 360);
    });
    let ids: Vec<i64> = (0..(REPLICAS / PER_SERVICE) as i64).collect();
    let proxy = read(&|| {
        assert_eq!(h.traffic(&ids).1.len(), ids.len());
    });
    println!(
        "history reads: a service of {PER_SERVICE} replicas {service:.2} ms, a host {host:.2} ms, every service's traffic {proxy:.2} ms (median of {RUNS})"
    );
}

fn placement() {
    let hosts = hosts();
    let desired = services();
    let settings = Settings {
        host_grace_ms: 10_000,
    };
    let total = SERVICES as usize * REPLICAS as usize;

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let p = plan(&desired, &[], &hosts, 1_000, settings);
        times.push(started.elapsed());
        last = Some(p);
    }
    let p = last.expect("a plan");
    assert!(
        p.problems.is_empty(),
        "{} placed; {} services with problems, e.g. {:?}",
        p.actions.len(),
        p.problems.len(),
        p.problems.iter().next()
    );
    assert_eq!(p.actions.len(), total, "every replica placed");
    let t = median(times);
    println!(
        "placement: {total} replicas onto {HOSTS} hosts in {:.3} s (median of {RUNS}): {:.0} placements/s",
        t.as_secs_f64(),
        total as f64 / t.as_secs_f64()
    );

    // The same cluster, converged: observed = what was placed. Nothing to do.
    let by_id: std::collections::HashMap<i64, &DesiredService> =
        desired.iter().map(|d| (d.id, d)).collect();
    let observed: Vec<ObservedReplica> = p
        .actions
        .iter()
        .enumerate()
        .map(|(n, a)| match a {
            Action::Start {
                service_id,
                slot,
                host_id,
                ..
            } => {
                let d = by_id[service_id];
                ObservedReplica {
                    container_id: format!("c{n}"),
                    host_id: *host_id,
                    service_id: *service_id,
                    slot: *slot,
                    revision: 1,
                    spec_hash: d.spec_hash.clone(),
                    status: Status::Running,
                    health: domain::wire::Health::None,
                    created_ms: 1,
                    cpu_millis: u64::from(d.spec.resources.cpu_millis),
                    memory_bytes: d.spec.resources.memory_bytes,
                    host_port: None,
                    endpoint: None,
                    pending: false,
                    stopping: false,
                }
            }
            Action::Remove { .. } => unreachable!("a fresh cluster removes nothing"),
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let again = plan(&desired, &observed, &hosts, 1_000, settings);
        times.push(started.elapsed());
        assert!(again.is_empty(), "a converged cluster plans nothing");
    }
    println!(
        "converged pass: {total} replicas on {HOSTS} hosts planned in {:.3} s (median of {RUNS}), nothing to do",
        median(times).as_secs_f64()
    );

    // What losing the host with the most replicas would do.
    let mut per_host = std::collections::HashMap::<i64, usize>::new();
    for r in &observed {
        *per_host.entry(r.host_id).or_default() += 1;
    }
    let (&busiest, &on_it) = per_host
        .iter()
        .max_by_key(|(id, n)| (**n, -**id))
        .expect("a host with replicas");
    let lose = std::collections::BTreeSet::from([busiest]);
    for (planned, words) in [
        (Planned::All, "every service planned, as one what-if does"),
        (
            Planned::Affected,
            "its services planned, as the N-1 check does per host",
        ),
    ] {
        let mut times = Vec::new();
        let mut answer = None;
        for _ in 0..RUNS {
            let started = Instant::now();
            let c = what_if(&desired, &observed, &hosts, &lose, 1_000, settings, planned);
            times.push(started.elapsed());
            answer = Some(c);
        }
        let c = answer.expect("an answer");
        assert_eq!(c.moves.len(), on_it, "every replica of the lost host moves");
        assert!(c.whole());
        println!(
            "whatif: losing the busiest of {HOSTS} hosts ({on_it} of {total} replicas), {words}: {:.3} s (median of {RUNS})",
            median(times).as_secs_f64()
        );
    }
}
