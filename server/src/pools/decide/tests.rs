//! The pools' decision as tables: waiting replicas, pools and machines in; hosts
//! asked for, hosts retired and what each replica waits for, out.

use super::*;
use domain::validate::constraint;
use domain::wire::{PoolHostState::*, Provider};

const GIB: u64 = 1 << 30;
const NOW: i64 = 1_000_000;

fn pool(id: i64, name: &str, labels: &[(&str, &str)], memory_gib: u64, max: u32) -> PoolRow {
    PoolRow {
        id,
        name: name.into(),
        provider: Provider::Command {
            command: "/bin/true".into(),
            args: vec![],
        },
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        cpu_millis: 2000,
        memory_bytes: memory_gib * GIB,
        min_hosts: 0,
        max_hosts: max,
        idle_ms: 60_000,
        boot_timeout_ms: 600_000,
        created_at: 0,
        updated_at: 0,
    }
}

fn waiting(service_id: i64, slot: u32, memory_gib: u64) -> Waiting {
    Waiting {
        service_id,
        slot,
        cpu_millis: 100,
        memory_bytes: memory_gib * GIB,
        host_port: None,
        constraints: vec![],
        since_ms: NOW - 2000,
    }
}

fn machine(id: i64, pool_id: i64, state: PoolHostState) -> Machine {
    Machine {
        id,
        pool_id,
        state,
        requested_at_ms: NOW - 5000,
        since_ms: NOW - 5000,
        replicas: 0,
        empty_since_ms: None,
        home: false,
    }
}

fn decide_with(pools: &[PoolRow], machines: &[Machine], waiting: &[Waiting]) -> Decision {
    decide(&Input {
        pools,
        machines,
        waiting,
        observed_at_ms: NOW - 100,
        failing: &HashMap::new(),
        now: NOW,
    })
}

fn creates(d: &Decision) -> Vec<(i64, u32)> {
    d.create.iter().map(|(k, v)| (*k, *v)).collect()
}

#[test]
fn waiting_replicas_are_packed_into_as_few_new_hosts_as_take_them() {
    // (waiting replicas' memory in GiB, pool host memory, max) -> hosts asked for
    let table: &[(&[u64], u64, u32, u32)] = &[
        (&[], 8, 5, 0),
        (&[2], 8, 5, 1),
        (&[2, 2, 2, 2], 8, 5, 1),
        (&[2, 2, 2, 2, 1], 8, 5, 2),
        (&[5, 5, 3, 3], 8, 5, 2),
        (&[1; 20], 4, 10, 5),
        // More than the max: the rest wait at the max.
        (&[4, 4, 4], 4, 2, 2),
    ];
    for (memories, host_gib, max, want) in table {
        let w: Vec<Waiting> = memories
            .iter()
            .enumerate()
            .map(|(i, m)| waiting(1, i as u32 + 1, *m))
            .collect();
        let d = decide_with(&[pool(7, "web", &[], *host_gib, *max)], &[], &w);
        let got = d.create.get(&7).copied().unwrap_or(0);
        assert_eq!(
            got, *want,
            "{memories:?} on {host_gib} GiB hosts, max {max}"
        );
    }
}

#[test]
fn hosts_being_made_are_counted_so_a_second_decision_asks_for_nothing_more() {
    let pools = [pool(7, "web", &[], 8, 5)];
    let w = [waiting(1, 1, 4), waiting(2, 1, 4)];
    for state in [Creating, Booting] {
        let d = decide_with(&pools, &[machine(1, 7, state)], &w);
        assert_eq!(creates(&d), [], "{state:?}");
        assert_eq!(
            d.waits[&(1, 1)],
            Wait::ForHost {
                pool: "web".into(),
                since_ms: NOW - 5000
            }
        );
    }
    // A host that answered after the reconciler looked is room too.
    let mut fresh = machine(1, 7, Ready);
    fresh.since_ms = NOW - 50;
    assert_eq!(creates(&decide_with(&pools, &[fresh.clone()], &w)), []);
    // One the reconciler saw already is not: the replicas do not fit on it.
    fresh.since_ms = NOW - 500;
    assert_eq!(creates(&decide_with(&pools, &[fresh], &w)), [(7, 1)]);
    // A host being made with room for one replica: one more host for the other.
    let w = [waiting(1, 1, 6), waiting(2, 1, 6)];
    assert_eq!(
        creates(&decide_with(&pools, &[machine(1, 7, Creating)], &w)),
        [(7, 1)]
    );
}

#[test]
fn constraints_and_capacity_choose_the_pool_and_the_smallest_that_fits_wins() {
    let pools = [
        pool(1, "big", &[("zone", "a")], 64, 5),
        pool(2, "small", &[("zone", "a")], 8, 5),
        pool(3, "gpu", &[("gpu", "yes")], 128, 5),
    ];
    let mut needs_gpu = waiting(1, 1, 4);
    needs_gpu.constraints = vec![constraint("gpu=yes").unwrap()];
    let mut zone_b = waiting(2, 1, 4);
    zone_b.constraints = vec![constraint("zone=b").unwrap()];
    let table: &[(Waiting, &[(i64, u32)])] = &[
        (waiting(9, 1, 4), &[(2, 1)]),
        (waiting(9, 1, 12), &[(1, 1)]),
        (waiting(9, 1, 200), &[]),
        (needs_gpu, &[(3, 1)]),
        (zone_b, &[]),
    ];
    for (w, want) in table {
        let d = decide_with(&pools, &[], std::slice::from_ref(w));
        assert_eq!(creates(&d), *want, "{w:?}");
        // A replica no pool takes has no wait: placement's words stand.
        assert_eq!(d.waits.is_empty(), want.is_empty());
    }
}

#[test]
fn replicas_wanting_one_host_port_get_a_host_each() {
    let pools = [pool(7, "web", &[], 64, 5)];
    let w: Vec<Waiting> = (1..=3)
        .map(|slot| Waiting {
            host_port: Some(8080),
            ..waiting(1, slot, 1)
        })
        .collect();
    assert_eq!(creates(&decide_with(&pools, &[], &w)), [(7, 3)]);
}

#[test]
fn a_pool_at_its_max_or_failing_says_so_and_asks_for_nothing() {
    let pools = [pool(7, "web", &[], 8, 1)];
    // A machine being destroyed still counts towards the max.
    let d = decide_with(&pools, &[machine(1, 7, Destroying)], &[waiting(1, 3, 4)]);
    assert_eq!(creates(&d), []);
    let d = decide_with(&pools, &[machine(1, 7, Ready)], &[waiting(1, 3, 4)]);
    assert_eq!(creates(&d), []);
    assert_eq!(
        d.waits[&(1, 3)].sentence(3, NOW),
        "replica 3 waits: pool web is at its max of 1 host"
    );

    let failing = HashMap::from([(
        7,
        Failing {
            failures: 2,
            retry_at_ms: NOW + 4000,
            error: "quota exceeded".into(),
        },
    )]);
    let input = Input {
        pools: &pools,
        machines: &[],
        waiting: &[waiting(1, 3, 4)],
        observed_at_ms: NOW,
        failing: &failing,
        now: NOW,
    };
    let d = decide(&input);
    assert_eq!(creates(&d), []);
    assert_eq!(
        d.waits[&(1, 3)].sentence(3, NOW),
        "replica 3 waits: pool web could not make a host (admins see why on the Pools page); it tries again in 4 s"
    );
    // Once the back-off is over, it asks again.
    let d = decide(&Input {
        now: NOW + 4000,
        ..input
    });
    assert_eq!(creates(&d), [(7, 1)]);
}

#[test]
fn nothing_is_asked_for_before_the_batch_window_so_a_burst_is_one_request() {
    let pools = [pool(7, "web", &[], 8, 5)];
    let mut w = waiting(1, 1, 4);
    w.since_ms = NOW - BATCH_MS + 1;
    let d = decide_with(&pools, &[], std::slice::from_ref(&w));
    assert_eq!(creates(&d), []);
    assert!(d.waits.is_empty());
    // One old enough brings the newer ones along.
    let d = decide_with(&pools, &[], &[w, waiting(2, 1, 4)]);
    assert_eq!(creates(&d), [(7, 1)]);
    assert_eq!(d.waits.len(), 2);
}

#[test]
fn the_min_is_kept_and_idle_hosts_above_it_are_retired_unless_they_hold_a_volume() {
    let mut p = pool(7, "web", &[], 8, 5);
    p.min_hosts = 1;
    let idle = |id: i64, for_ms: i64| Machine {
        empty_since_ms: Some(NOW - for_ms),
        ..machine(id, 7, Ready)
    };
    let busy_idle = |id: i64, for_ms: i64| Machine {
        replicas: 2,
        ..idle(id, for_ms)
    };
    // min 1 with nothing: one host; not while the pool backs off after failures.
    assert_eq!(creates(&decide_with(&[p.clone()], &[], &[])), [(7, 1)]);
    let failing = HashMap::from([(
        7,
        Failing {
            failures: 1,
            retry_at_ms: NOW + 1,
            error: "no".into(),
        },
    )]);
    let backing_off = decide(&Input {
        pools: std::slice::from_ref(&p),
        machines: &[],
        waiting: &[],
        observed_at_ms: NOW,
        failing: &failing,
        now: NOW,
    });
    assert_eq!(creates(&backing_off), []);
    let table: &[(Vec<Machine>, &[i64])] = &[
        // Two idle long enough: the older goes, one stays for the min.
        (vec![idle(1, 70_000), idle(2, 90_000)], &[2]),
        // Not idle long enough.
        (vec![idle(1, 30_000), idle(2, 30_000)], &[]),
        // Busy hosts stay.
        (vec![machine(1, 7, Ready), machine(2, 7, Ready)], &[]),
        // A host holding a per-replica volume stays.
        (
            vec![
                Machine {
                    home: true,
                    ..idle(1, 90_000)
                },
                idle(2, 70_000),
            ],
            &[2],
        ),
        // One draining already counts as gone: the other is kept for the min.
        (
            vec![
                Machine {
                    state: Draining,
                    ..idle(1, 90_000)
                },
                idle(2, 70_000),
            ],
            &[],
        ),
        // One being made counts as staying.
        (vec![machine(1, 7, Booting), idle(2, 70_000)], &[2]),
        // Hosts whose replicas would fit elsewhere: one at a time, empty ones first.
        (
            vec![
                busy_idle(1, 90_000),
                busy_idle(2, 80_000),
                machine(3, 7, Ready),
            ],
            &[1],
        ),
        (
            vec![busy_idle(1, 90_000), idle(2, 70_000), machine(3, 7, Ready)],
            &[2, 1],
        ),
        // None while another host of the pool drains.
        (
            vec![
                busy_idle(1, 90_000),
                Machine {
                    state: Draining,
                    ..idle(2, 90_000)
                },
                machine(3, 7, Ready),
            ],
            &[],
        ),
    ];
    for (machines, want) in table {
        let d = decide_with(&[p.clone()], machines, &[]);
        assert_eq!(d.retire, *want, "{machines:?}");
        assert_eq!(creates(&d), []);
    }
}

#[test]
fn a_converged_pool_decides_nothing() {
    let pools = [pool(7, "web", &[], 8, 5)];
    let mut busy = machine(1, 7, Ready);
    busy.replicas = 3;
    assert_eq!(decide_with(&pools, &[busy], &[]), Decision::default());
}
