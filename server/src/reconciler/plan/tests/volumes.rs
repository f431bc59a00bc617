//! `plan()` for services with per-replica volumes: sticky slots and their homes.

use super::*;
use domain::wire::{ClassScope, UpdateOrder};

pub(super) fn with_volume(
    mut s: DesiredService,
    scope: &str,
    homes: &[(u32, i64)],
) -> DesiredService {
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

/// A service whose per-replica volume is of a class that keeps its data on one
/// host (`host`) or lets the driver attach it anywhere (`global`).
fn classed(mut s: DesiredService, scope: ClassScope, homes: &[(u32, i64)]) -> DesiredService {
    s.spec.volumes = vec![serde_json::from_value(serde_json::json!({
        "name": "data", "path": "/data", "class": "disk"
    }))
    .unwrap()];
    s.spec_hash = s.spec.hash();
    s.homes = homes.iter().copied().collect();
    let class = crate::model::VolumeClass {
        name: "disk".into(),
        driver: "rclone".into(),
        options: Default::default(),
        scope,
    };
    s.classes = [("disk".to_string(), class)].into();
    s.drivers = vec!["rclone".into()];
    s
}

fn with_rclone(mut hs: Vec<HostInfo>, which: &[i64]) -> Vec<HostInfo> {
    for h in hs.iter_mut().filter(|h| which.contains(&h.id)) {
        h.volume_drivers.push("rclone".into());
    }
    hs
}

#[test]
fn hosts_without_the_class_driver_take_no_replica_and_are_counted_in_words() {
    let s = classed(service(1, 2), ClassScope::Global, &[]);
    let hs = with_rclone(hosts(3), &[3]);
    let p = run(std::slice::from_ref(&s), &[], &hs);
    assert_eq!(
        show(&p),
        [
            "start 1@h3: replica 1 started",
            "start 2@h3: replica 2 started"
        ]
    );
    let p = run(std::slice::from_ref(&s), &[], &hosts(2));
    assert_eq!(
        p.problems[&1],
        [
            "replica 1 not placed: 2 hosts lack volume driver rclone",
            "replica 2 not placed: 2 hosts lack volume driver rclone"
        ]
    );
}

#[test]
fn a_global_volume_does_not_pin_its_slot_but_moves_only_once_the_host_is_fenced() {
    // Homes recorded before (say, by an older Berth) do not pin a global slot.
    let s = classed(service(1, 2), ClassScope::Global, &[(1, 1), (2, 2)]);
    let hs = with_rclone(hosts(3), &[1, 2, 3]);
    let observed = vec![rep(&s, 1, 1), rep(&s, 2, 2)];
    // Within the grace: it waits for the fence, and says how long.
    let mut silent = hs.clone();
    silent[1].state = HostState::Unreachable;
    silent[1].unreachable_since_ms = Some(NOW - 4_000);
    let p = run(std::slice::from_ref(&s), &observed, &silent);
    assert!(show(&p).is_empty(), "{:?}", show(&p));
    assert_eq!(
        p.problems[&1],
        [
            "replica 2 waits for host h2 to be fenced: it does not answer, and the replica's \
          volume follows it to another host once its old copy cannot write (in 6 s)"
        ]
    );
    assert_eq!(p.wake_at_ms, Some(NOW + 6_000));
    // Past the grace: it starts elsewhere, with its data.
    let fenced = vec![hs[0].clone(), lost(hs[1].clone()), hs[2].clone()];
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &observed, &fenced)),
        ["start 2@h3: replica 2 moved: host h2 unreachable for 60 s"]
    );
    // A host-scoped class pins the slot as today's local volumes do.
    let pinned = classed(service(1, 2), ClassScope::Host, &[(1, 1), (2, 2)]);
    let p = run(std::slice::from_ref(&pinned), &observed, &fenced);
    assert!(show(&p).is_empty(), "{:?}", show(&p));
    assert!(p.problems[&1][0]
        .to_string()
        .starts_with("replica 2 waits for host h2: its volumes are there"));
}

#[test]
fn a_global_volume_has_one_writer_so_moves_and_rollouts_stop_first_even_when_told_otherwise() {
    let mut s = classed(service(1, 1), ClassScope::Global, &[]);
    s.spec.update.order = Some(UpdateOrder::StartFirst);
    let mut hs = with_rclone(hosts(2), &[1, 2]);
    hs[0].state = HostState::Draining;
    let observed = vec![rep(&s, 1, 1)];
    // Off a draining host: the old replica goes first...
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &observed, &hs)),
        ["remove 1@h1: replica 1 stopped to move off draining host h1 (stop-first)"]
    );
    // ... and the new one starts once it is gone.
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &[], &hs)),
        ["start 1@h2: replica 1 started"]
    );
    // A new revision too.
    hs[0].state = HostState::Ready;
    let v2 = revised(s, "demo:v2", 2);
    assert_eq!(
        show(&run(&[v2], &observed, &hs)),
        ["remove 1@h1: replica 1: revision 1 stopped for revision 2 (stop-first)"]
    );
}

#[test]
fn a_class_that_no_longer_exists_is_named_instead_of_placing() {
    let mut s = classed(service(1, 1), ClassScope::Global, &[]);
    s.classes.clear();
    let p = run(std::slice::from_ref(&s), &[], &with_rclone(hosts(1), &[1]));
    assert!(show(&p).is_empty());
    assert_eq!(
        p.problems[&1],
        ["replica 1 not placed: its volumes name the class disk, which does not exist or is not open to its team"]
    );
}

#[test]
fn a_global_slot_starts_again_only_once_its_old_replica_is_gone() {
    let s = classed(service(1, 1), ClassScope::Global, &[]);
    let hs = with_rclone(hosts(2), &[1, 2]);
    // Unhealthy, still running: removed this pass, replaced the next.
    let mut sick = rep(&s, 1, 1);
    sick.health = Health::Unhealthy;
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &[sick.clone()], &hs)),
        ["remove 1@h1: replica 1: removing its unhealthy container"]
    );
    // Without a global volume the new one starts beside it at once.
    let plain = service(1, 1);
    let mut plain_sick = rep(&plain, 1, 1);
    plain_sick.health = Health::Unhealthy;
    assert_eq!(show(&run(&[plain], &[plain_sick], &hs)).len(), 2);
    // A copy on a silent host within its grace holds the slot even beside a dead one.
    let mut silent = hs.clone();
    silent[1].state = HostState::Unreachable;
    silent[1].unreachable_since_ms = Some(NOW - 1_000);
    let mut dead = rep(&s, 1, 1);
    dead.status = Status::Exited { code: 1 };
    dead.container_id = "dead".into();
    let p = run(std::slice::from_ref(&s), &[dead, rep(&s, 1, 2)], &silent);
    assert_eq!(
        show(&p),
        ["remove 1@h1: replica 1: removing its container, which exited with code 1"]
    );
    assert!(p.problems[&1][0].to_string().contains("to be fenced"));
}

#[test]
fn a_global_slot_waits_for_its_replica_being_stopped() {
    let s = classed(service(1, 1), ClassScope::Global, &[]);
    let hs = with_rclone(hosts(2), &[1, 2]);
    let mut leaving = rep(&s, 1, 1);
    leaving.stopping = true;
    let p = run(std::slice::from_ref(&s), &[leaving.clone()], &hs);
    assert_eq!(show(&p), Vec::<String>::new());
    // Gone: the slot starts again.
    let p = run(std::slice::from_ref(&s), &[], &hs);
    assert_eq!(show(&p).len(), 1);
}
