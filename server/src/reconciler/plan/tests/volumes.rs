//! `plan()` for services with per-replica volumes: sticky slots and their homes.

use super::*;
use domain::wire::UpdateOrder;

fn with_volume(mut s: DesiredService, scope: &str, homes: &[(u32, i64)]) -> DesiredService {
    s.spec.volumes = vec![serde_json::from_value(serde_json::json!({
        "name": "data", "path": "/data", "scope": scope
    }))
    .unwrap()];
    s.spec_hash = s.spec.hash();
    s.homes = homes.iter().copied().collect();
    s
}

fn lost(mut h: HostInfo) -> HostInfo {
    h.state = HostState::Unreachable;
    h.unreachable_since_ms = Some(NOW - 60_000);
    h
}

#[test]
fn a_slot_with_a_home_starts_there_even_where_spreading_would_not() {
    // Slots 1 and 2 both live on h1: spreading would put slot 2 on h2.
    let s = with_volume(service(1, 2), "per-replica", &[(1, 1), (2, 1)]);
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &[], &hosts(3))),
        [
            "start 1@h1: replica 1 started",
            "start 2@h1: replica 2 started"
        ]
    );
    // Without homes (a first start) they spread, and shared volumes never pin.
    let fresh = with_volume(service(1, 2), "per-replica", &[]);
    assert_eq!(
        show(&run(&[fresh], &[], &hosts(3))),
        [
            "start 1@h1: replica 1 started",
            "start 2@h2: replica 2 started"
        ]
    );
    let shared = with_volume(service(1, 2), "shared", &[(1, 1), (2, 1)]);
    assert_eq!(
        show(&run(&[shared], &[], &hosts(3))),
        [
            "start 1@h1: replica 1 started",
            "start 2@h2: replica 2 started"
        ]
    );
}

#[test]
fn a_slot_whose_home_is_lost_waits_and_says_why_instead_of_moving_to_an_empty_volume() {
    let s = with_volume(service(1, 2), "per-replica", &[(1, 1), (2, 2)]);
    let observed = vec![rep(&s, 1, 1), rep(&s, 2, 2)];
    let hs = vec![host(1), lost(host(2)), host(3)];
    let p = run(std::slice::from_ref(&s), &observed, &hs);
    assert!(show(&p).is_empty(), "{:?}", show(&p));
    assert_eq!(
        p.problems[&1],
        [
            "replica 2 waits for host h2: its volumes are there and it does not answer; \
          an admin may move it elsewhere (its data stays behind)"
        ]
    );
    // Without volumes the same replica moves.
    let plain = service(1, 2);
    let observed = vec![rep(&plain, 1, 1), rep(&plain, 2, 2)];
    assert_eq!(
        show(&run(&[plain], &observed, &hs)),
        ["start 2@h3: replica 2 moved: host h2 unreachable for 60 s"]
    );
    // An admin moved it (its home is forgotten): it starts elsewhere.
    let moved = with_volume(service(1, 2), "per-replica", &[(1, 1)]);
    let observed = vec![rep(&moved, 1, 1), rep(&moved, 2, 2)];
    assert_eq!(
        show(&run(&[moved], &observed, &hs)),
        ["start 2@h3: replica 2 moved: host h2 unreachable for 60 s"]
    );
}

#[test]
fn a_home_that_cannot_take_the_replica_is_named_with_the_reason() {
    let s = with_volume(service(1, 1), "per-replica", &[(1, 2)]);
    let mut hs = hosts(2);
    hs[1].state = HostState::Cordoned;
    let p = run(std::slice::from_ref(&s), &[], &hs);
    assert!(p.actions.is_empty());
    assert_eq!(
        p.problems[&1],
        ["replica 1 not placed: its volumes are on h2: 1 host cordoned"]
    );
    let gone = with_volume(service(1, 1), "per-replica", &[(1, 9)]);
    let p = run(&[gone], &[], &hosts(2));
    assert!(
        p.problems[&1][0]
            .to_string()
            .contains("no longer registered"),
        "{:?}",
        p.problems
    );
}

#[test]
fn rollouts_of_services_with_per_replica_volumes_are_stop_first_unless_told() {
    let v1 = with_volume(service(1, 2), "per-replica", &[(1, 1), (2, 2)]);
    let observed = vec![rep(&v1, 1, 1), rep(&v1, 2, 2)];
    let v2 = revised(v1.clone(), "demo:v2", 2);
    assert_eq!(
        show(&run(std::slice::from_ref(&v2), &observed, &hosts(2))),
        ["remove 1@h1: replica 1: revision 1 stopped for revision 2 (stop-first)"]
    );
    // Then the new one starts on the same host, beside its data.
    let after: Vec<ObservedReplica> = observed[1..].to_vec();
    assert_eq!(
        show(&run(std::slice::from_ref(&v2), &after, &hosts(2))),
        ["start 1@h1: replica 1 started"]
    );
    // Told start-first, it is.
    let mut told = v2;
    told.spec.update.order = Some(UpdateOrder::StartFirst);
    assert_eq!(
        show(&run(&[told], &observed, &hosts(2))),
        ["start 1@h1: replica 1: rolling out revision 2 (was 1)"]
    );
}

#[test]
fn a_slot_whose_home_takes_nothing_new_keeps_its_old_replica_instead_of_stopping_it() {
    let v1 = with_volume(service(1, 2), "per-replica", &[(1, 1), (2, 2)]);
    let observed = vec![rep(&v1, 1, 1), rep(&v1, 2, 2)];
    let v2 = revised(v1, "demo:v2", 2);
    let mut hs = hosts(2);
    hs[0].state = HostState::Cordoned;
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    // Slot 1 stays on revision 1 (said why); slot 2 moves on.
    assert_eq!(
        show(&p),
        ["remove 2@h2: replica 2: revision 1 stopped for revision 2 (stop-first)"]
    );
    assert_eq!(
        p.problems[&1],
        ["replica 1 keeps revision 1: its volumes are on h1, which is cordoned and takes no new replica"]
    );
}
