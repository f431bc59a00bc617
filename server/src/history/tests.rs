//! The history's steps as tables of plain data: what a step keeps, what the
//! reads add up, and what leaves the hour.

use super::*;
use crate::proxy::stats::BackendStats;

fn replica(id: &str, service_id: i64, slot: u32, host_id: i64, n: u64, mib: u64) -> ReplicaReading {
    ReplicaReading {
        container_id: id.into(),
        service_id,
        slot,
        host_id,
        // 10 % of one CPU per step on a two-CPU host: 0.2 s of 2 s a step.
        reading: Reading {
            cpu_ns: n * 100_000_000,
            system_ns: n * 2_000_000_000,
            cpus: 2,
            memory_bytes: mib << 20,
        },
    }
}

fn step(at_ms: i64, replicas: Vec<ReplicaReading>, backends: Vec<BackendCount>) -> Step {
    let mut routed: Vec<i64> = backends.iter().filter_map(|b| b.service_id).collect();
    routed.dedup();
    Step {
        at_ms,
        proxy_secs: 10.0,
        replicas,
        backends,
        routed,
    }
}

fn count(service_id: i64, id: &str, stats: &BackendStats) -> BackendCount {
    BackendCount {
        service_id: Some(service_id),
        container_id: id.into(),
        sample: stats.sample(),
    }
}

const MIB: f64 = 1_048_576.0;

#[test]
fn cpu_needs_two_readings_and_memory_one() {
    let h = History::new(Duration::from_secs(10));
    h.record(step(10_000, vec![replica("a", 1, 1, 7, 1, 64)], vec![]));
    h.record(step(20_000, vec![replica("a", 1, 1, 7, 2, 80)], vec![]));
    let got = h.service(1);
    let (t, list) = (got.times, got.replicas);
    assert_eq!(t.times_ms, [10_000, 20_000]);
    assert_eq!((t.first, t.last), (1, 2));
    let (id, a) = &list[0];
    assert_eq!(id, "a");
    assert_eq!(a.cpu.aligned(t.first, t.last), [None, Some(10.0)]);
    assert_eq!(
        a.memory.aligned(t.first, t.last),
        [Some(64.0 * MIB), Some(80.0 * MIB)]
    );
    assert!(h.service(2).replicas.is_empty());
}

#[test]
fn a_hosts_figures_add_up_the_replicas_the_reader_may_see() {
    let h = History::new(Duration::from_secs(10));
    let on = |n| {
        vec![
            replica("a", 1, 1, 7, n, 10),
            replica("b", 2, 1, 7, n, 20),
            replica("c", 1, 2, 8, n, 40),
        ]
    };
    h.record(step(1, on(1), vec![]));
    h.record(step(2, on(2), vec![]));
    let all = h.host(7, |_| true);
    assert_eq!(all.cpu_percent, [None, Some(20.0)]);
    assert_eq!(all.memory_bytes, [Some(30.0 * MIB), Some(30.0 * MIB)]);
    assert_eq!(all.replicas, [2, 2]);
    // A member of service 1's team only: b is not theirs.
    let mine = h.host(7, |s| s == 1);
    assert_eq!(mine.cpu_percent, [None, Some(10.0)]);
    assert_eq!(mine.memory_bytes, [Some(10.0 * MIB), Some(10.0 * MIB)]);
    assert_eq!(mine.replicas, [1, 1]);
    let none = h.host(7, |_| false);
    assert_eq!(
        (none.cpu_percent, none.replicas),
        (vec![None, None], vec![0, 0])
    );
}

#[test]
fn traffic_is_what_the_replicas_counted_since_the_last_step() {
    let h = History::new(Duration::from_secs(10));
    let (a, b) = (BackendStats::default(), BackendStats::default());
    for _ in 0..50 {
        a.record(Duration::from_millis(2), false);
    }
    // The first step is where counting starts: what came before is not drawn.
    h.record(step(0, vec![], vec![count(1, "a", &a)]));
    for _ in 0..50 {
        a.record(Duration::from_millis(2), false);
    }
    h.record(step(1, vec![], vec![count(1, "a", &a)]));
    // The next step: 100 more on a, b new with 100 of which 10 failed.
    for _ in 0..100 {
        a.record(Duration::from_millis(2), false);
    }
    for i in 0..100 {
        b.record(Duration::from_millis(2), i % 10 == 0);
    }
    h.record(step(2, vec![], vec![count(1, "a", &a), count(1, "b", &b)]));
    // b drains (no route names it) and fails 10 more: still service 1's.
    // Service 2 has a route and no replica: 0 per second, not a gap.
    for _ in 0..10 {
        b.record(Duration::from_millis(2), true);
    }
    let draining = BackendCount {
        service_id: None,
        ..count(1, "b", &b)
    };
    let mut last = step(3, vec![], vec![count(1, "a", &a), draining]);
    last.routed = vec![1, 2];
    h.record(last);
    // A step without a request: 0 per second, no error rate, no p99.
    h.record(step(4, vec![], vec![count(1, "a", &a)]));
    let (t, traffic) = h.traffic(&[1, 2, 3]);
    assert_eq!(traffic.len(), 2, "service 3 has no route: {traffic:?}");
    let (id, one) = &traffic[0];
    assert_eq!(*id, 1);
    assert_eq!(
        one.requests_per_second.aligned(t.first, t.last),
        [None, Some(5.0), Some(20.0), Some(1.0), Some(0.0)]
    );
    let errors = one.error_rate.aligned(t.first, t.last);
    assert_eq!(errors[1], Some(0.0));
    assert!((errors[2].unwrap() - 0.05).abs() < 1e-6, "{errors:?}");
    assert_eq!(errors[3], Some(1.0));
    assert_eq!(errors[4], None);
    let p99 = one.p99_ms.aligned(t.first, t.last);
    assert!(p99[2].is_some_and(|p| (1.0..=3.5).contains(&p)), "{p99:?}");
    assert_eq!(p99[4], None);
    let (id, two) = &traffic[1];
    assert_eq!(*id, 2);
    assert_eq!(two.requests_per_second.at(t.last - 1), Some(0.0));
}

#[test]
fn what_leaves_the_hour_is_forgotten() {
    // Six steps an hour (every 10 minutes).
    let h = History::new(Duration::from_secs(600));
    h.record(step(0, vec![replica("gone", 1, 1, 7, 1, 10)], vec![]));
    for i in 1..=6 {
        h.record(step(
            i,
            vec![replica("stays", 1, 2, 7, i as u64, 10)],
            vec![],
        ));
    }
    let got = h.service(1);
    let (t, list) = (got.times, got.replicas);
    assert_eq!(t.times_ms, [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        list.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["stays"]
    );
    let latest = h.latest();
    assert_eq!(latest.replicas.len(), 1);
    assert_eq!(latest.replicas[0].cpu_percent, Some(10.0));
    assert_eq!(latest.replicas[0].container_id, "stays");
}

#[test]
fn past_the_bound_gone_replicas_make_way_then_new_ones_are_left_out() {
    // Six steps an hour and room for 60 values: 5 replicas' two series.
    let h = History::bounded(Duration::from_secs(600), 60);
    let five = |prefix: &str, n| -> Vec<ReplicaReading> {
        (0..5)
            .map(|i| replica(&format!("{prefix}{i}"), 1, i, 7, n, 1))
            .collect()
    };
    h.record(step(1, five("old", 1), vec![]));
    h.record(step(2, five("old", 2), vec![]));
    // The old ones are gone two steps later; five new ones take their room.
    h.record(step(3, vec![], vec![]));
    h.record(step(4, five("new", 1), vec![]));
    let ids = |h: &History| {
        let mut ids: Vec<String> = h
            .service(1)
            .replicas
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&h), ["new0", "new1", "new2", "new3", "new4"]);
    assert_eq!(h.latest().left_out, 0);
    // Three more while all five still run: left out, and counted.
    let mut eight = five("new", 2);
    eight.extend((5..8).map(|i| replica(&format!("more{i}"), 1, i, 7, 1, 1)));
    h.record(step(5, eight, vec![]));
    assert_eq!(ids(&h).len(), 5);
    assert_eq!(h.latest().left_out, 3);
}
