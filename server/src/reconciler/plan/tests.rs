//! Table tests for `plan()`, over small fixtures: hosts, services and replicas built
//! with a few helpers, then the plan's actions compared as short strings.

use super::*;
use domain::validate;
use domain::wire::{HealthCheck, HealthProbe, ServiceSpec, Strategy};

mod rollouts;
mod volumes;
mod whatif;

const GIB: u64 = 1 << 30;
const NOW: i64 = 1_000_000;
const SETTINGS: Settings = Settings {
    host_grace_ms: 10_000,
};

fn host(id: i64) -> HostInfo {
    HostInfo {
        id,
        name: format!("h{id}"),
        state: HostState::Ready,
        unreachable_since_ms: None,
        labels: Default::default(),
        cpu_millis: 2000,
        memory_bytes: 4 * GIB,
        volume_drivers: vec!["local".into()],
    }
}

fn hosts(n: i64) -> Vec<HostInfo> {
    (1..=n).map(host).collect()
}

fn spec() -> ServiceSpec {
    serde_json::from_value(serde_json::json!({"image": "demo:v1", "port": 8080})).unwrap()
}

fn service(id: i64, replicas: u32) -> DesiredService {
    let spec = spec();
    DesiredService {
        rollout: None,
        homes: Default::default(),
        classes: Default::default(),
        drivers: Vec::new(),
        id,
        name: format!("s{id}"),
        team_id: 1,
        replicas,
        revision: 1,
        spec_hash: spec.hash(),
        spec,
    }
}

fn with_health(mut s: DesiredService) -> DesiredService {
    s.spec.health = Some(HealthCheck {
        probe: HealthProbe::Http {
            path: "/healthz".into(),
        },
        interval_ms: 1000,
        timeout_ms: 500,
        retries: 2,
        start_period_ms: 0,
    });
    s.spec_hash = s.spec.hash();
    s
}

fn revised(mut s: DesiredService, image: &str, revision: i64) -> DesiredService {
    s.spec.image = image.into();
    s.spec_hash = s.spec.hash();
    s.revision = revision;
    s
}

/// A running, healthy replica of `s` in `slot` on host `host`.
fn rep(s: &DesiredService, slot: u32, host: i64) -> ObservedReplica {
    ObservedReplica {
        container_id: format!("c{}-{slot}-{host}", s.id),
        host_id: host,
        service_id: s.id,
        slot,
        revision: s.revision,
        spec_hash: s.spec_hash.clone(),
        status: Status::Running,
        health: if s.spec.health.is_some() {
            Health::Healthy
        } else {
            Health::None
        },
        created_ms: 1,
        cpu_millis: u64::from(s.spec.resources.cpu_millis),
        memory_bytes: s.spec.resources.memory_bytes,
        host_port: s.spec.host_port,
        endpoint: None,
        pending: false,
        stopping: false,
    }
}

fn show(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::Start {
                slot,
                host_id,
                reason,
                ..
            } => format!("start {slot}@h{host_id}: {reason}"),
            Action::Remove {
                slot,
                host_id,
                reason,
                ..
            } => format!("remove {slot}@h{host_id}: {reason}"),
        })
        .collect()
}

fn run(desired: &[DesiredService], observed: &[ObservedReplica], hosts: &[HostInfo]) -> Plan {
    plan(desired, observed, hosts, NOW, SETTINGS)
}

/// Applies a plan as a perfect runtime would (starts are running and healthy at
/// once), for multi-step scenarios.
fn apply(desired: &[DesiredService], observed: &mut Vec<ObservedReplica>, p: &Plan, created: i64) {
    for a in &p.actions {
        match a {
            Action::Start {
                service_id,
                slot,
                host_id,
                ..
            } => {
                let s = desired.iter().find(|s| s.id == *service_id).unwrap();
                let mut r = rep(s, *slot, *host_id);
                r.container_id = format!("{}-new{created}", r.container_id);
                r.created_ms = created;
                observed.push(r);
            }
            Action::Remove { container_id, .. } => {
                observed.retain(|r| &r.container_id != container_id)
            }
        }
    }
}

#[test]
fn a_new_service_spreads_and_then_nothing_is_planned() {
    let s = service(1, 6);
    let hs = hosts(3);
    let p = run(std::slice::from_ref(&s), &[], &hs);
    assert_eq!(p.actions.len(), 6);
    let mut per_host = [0; 3];
    for a in &p.actions {
        if let Action::Start {
            host_id, reason, ..
        } = a
        {
            per_host[*host_id as usize - 1] += 1;
            assert!(matches!(reason, Reason::Started { .. }), "{reason}");
            assert!(reason.fills_empty_slot(), "{reason}");
        }
    }
    assert_eq!(per_host, [2, 2, 2]);
    let mut observed = Vec::new();
    apply(std::slice::from_ref(&s), &mut observed, &p, 10);
    assert!(
        run(&[s], &observed, &hs).is_empty(),
        "a converged cluster plans nothing"
    );
}

#[test]
fn binpack_fills_one_host_first() {
    let mut s = service(1, 3);
    s.spec.placement.strategy = Strategy::Binpack;
    s.spec.resources.memory_bytes = GIB;
    s.spec_hash = s.spec.hash();
    let mut hs = hosts(3);
    hs[1].memory_bytes = 3 * GIB; // the smallest host that fits gets filled first
    let p = run(&[s], &[], &hs);
    assert_eq!(
        show(&p),
        [
            "start 1@h2: replica 1 started",
            "start 2@h2: replica 2 started",
            "start 3@h2: replica 3 started"
        ]
    );
}

#[test]
fn scaling_up_and_down() {
    let s = service(1, 3);
    let hs = hosts(3);
    let observed: Vec<_> = (1..=3).map(|slot| rep(&s, slot, slot as i64)).collect();
    let up = service(1, 5);
    assert_eq!(
        show(&run(&[up], &observed, &hs)),
        [
            "start 4@h1: replica 4 started",
            "start 5@h2: replica 5 started"
        ]
    );

    let observed: Vec<_> = (1..=5)
        .map(|slot| rep(&s, slot, (slot as i64 - 1) % 3 + 1))
        .collect();
    assert_eq!(
        show(&run(&[service(1, 3)], &observed, &hs)),
        [
            "remove 4@h1: replica 4 removed: scaled 5 -> 3",
            "remove 5@h2: replica 5 removed: scaled 5 -> 3"
        ]
    );
    let zero = run(&[service(1, 0)], &observed, &hs);
    assert_eq!(zero.actions.len(), 5);
}

#[test]
fn a_crashed_replica_is_replaced_with_its_exit_code() {
    let s = service(1, 3);
    let hs = hosts(3);
    let mut observed: Vec<_> = (1..=3).map(|slot| rep(&s, slot, slot as i64)).collect();
    observed[1].status = Status::Exited { code: 137 };
    let p = run(&[s], &observed, &hs);
    assert_eq!(
        show(&p),
        [
            "remove 2@h2: replica 2: removing its container, which exited with code 137",
            "start 2@h2: replica 2 replaced: exited with code 137",
        ]
    );
    // A replacement, not a first start: its event says what it replaces.
    assert!(!p.actions[1].reason().fills_empty_slot());
    assert_eq!(
        p.actions[0].reason().failure(),
        Some("exited with code 137")
    );
}

#[test]
fn restart_policies() {
    let hs = hosts(1);
    for (policy, code, replaced) in [
        (RestartPolicy::Always, 0, true),
        (RestartPolicy::Always, 1, true),
        (RestartPolicy::OnFailure, 0, false),
        (RestartPolicy::OnFailure, 2, true),
        (RestartPolicy::Never, 2, false),
    ] {
        let mut s = service(1, 1);
        s.spec.restart = policy;
        s.spec_hash = s.spec.hash();
        let mut r = rep(&s, 1, 1);
        r.status = Status::Exited { code };
        let p = run(&[s], &[r], &hs);
        assert_eq!(
            !p.is_empty(),
            replaced,
            "{policy:?} exit {code}: {:?}",
            show(&p)
        );
    }
}

#[test]
fn an_unhealthy_replica_is_replaced_and_a_starting_one_is_waited_for() {
    let s = with_health(service(1, 2));
    let hs = hosts(2);
    let mut observed = vec![rep(&s, 1, 1), rep(&s, 2, 2)];
    observed[0].health = Health::Unhealthy;
    observed[1].health = Health::Starting;
    assert_eq!(
        show(&run(&[s], &observed, &hs)),
        [
            "remove 1@h1: replica 1: removing its unhealthy container",
            "start 1@h1: replica 1 replaced: unhealthy"
        ]
    );
}

#[test]
fn adopted_replicas_whose_health_is_not_known_yet_are_left_alone() {
    let s = with_health(service(1, 3));
    let hs = hosts(3);
    let observed: Vec<_> = (1..=3)
        .map(|slot| {
            let mut r = rep(&s, slot, slot as i64);
            r.health = Health::Starting;
            r
        })
        .collect();
    assert!(run(&[s], &observed, &hs).is_empty());
}

#[test]
fn a_lost_host_waits_out_its_grace_then_its_replicas_move_and_the_leftovers_go() {
    let s = service(1, 3);
    let mut hs = hosts(3);
    let mut observed: Vec<_> = (1..=3).map(|slot| rep(&s, slot, slot as i64)).collect();

    hs[2].state = HostState::Unreachable;
    hs[2].unreachable_since_ms = Some(NOW - 4_000);
    let waiting = run(std::slice::from_ref(&s), &observed, &hs);
    assert!(waiting.actions.is_empty());
    assert_eq!(
        waiting.problems[&1],
        ["replica 3 waits: its host does not answer (grace 10 s)"]
    );
    // The slot is data: a page finds the slot's problem by it.
    assert_eq!(waiting.problems[&1][0].slot(), 3);

    hs[2].unreachable_since_ms = Some(NOW - 12_000);
    let moved = run(std::slice::from_ref(&s), &observed, &hs);
    assert_eq!(
        show(&moved),
        ["start 3@h1: replica 3 moved: host h3 unreachable for 12 s"]
    );
    apply(std::slice::from_ref(&s), &mut observed, &moved, 50);

    // The host comes back with the old replica still on it.
    hs[2].state = HostState::Ready;
    hs[2].unreachable_since_ms = None;
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &observed, &hs)),
        ["remove 3@h3: replica 3: extra copy on h3 removed"]
    );
}

#[test]
fn cordoned_hosts_keep_their_replicas_but_take_no_new_ones() {
    let s = service(1, 3);
    let mut hs = hosts(3);
    hs[0].state = HostState::Cordoned;
    let observed = vec![rep(&s, 1, 1)];
    assert_eq!(
        show(&run(&[s], &observed, &hs)),
        [
            "start 2@h2: replica 2 started",
            "start 3@h3: replica 3 started"
        ]
    );
}

#[test]
fn draining_moves_replicas_one_at_a_time_start_first() {
    let s = service(1, 2);
    let mut hs = hosts(3);
    let mut observed = vec![rep(&s, 1, 1), rep(&s, 2, 1)];
    hs[0].state = HostState::Draining;
    // One slot moves first: a new replica starts elsewhere, the old one stays.
    let first = run(std::slice::from_ref(&s), &observed, &hs);
    assert_eq!(
        show(&first),
        ["start 1@h2: replica 1 moving off draining host h1"]
    );
    let mut new = rep(&s, 1, 2);
    new.health = Health::Starting;
    new.container_id = "new-1".into();
    new.created_ms = NOW - 1_000;
    new.status = Status::Created;
    observed.push(new);
    assert!(
        run(std::slice::from_ref(&s), &observed, &hs).is_empty(),
        "waits for the new replica"
    );
    // Healthy now: the old one goes, and the next slot starts moving.
    observed.last_mut().unwrap().status = Status::Running;
    observed.last_mut().unwrap().health = Health::None;
    assert_eq!(
        show(&run(std::slice::from_ref(&s), &observed, &hs)),
        [
            "remove 1@h1: replica 1 moved off draining host h1",
            "start 2@h3: replica 2 moving off draining host h1"
        ]
    );
}

#[test]
fn a_new_revision_rolls_out_start_first_within_the_surge() {
    let v1 = with_health(service(1, 3));
    let hs = hosts(3);
    let mut observed: Vec<_> = (1..=3).map(|slot| rep(&v1, slot, slot as i64)).collect();
    let v2 = revised(v1.clone(), "demo:v2", 2);
    let step = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(
        show(&step),
        ["start 1@h1: replica 1: rolling out revision 2 (was 1)"]
    );
    // The new replica is starting: nothing more until it is healthy.
    let mut new = rep(&v2, 1, 1);
    new.container_id = "v2-1".into();
    new.created_ms = 10;
    new.health = Health::Starting;
    observed.push(new);
    assert!(run(std::slice::from_ref(&v2), &observed, &hs).is_empty());
    observed.last_mut().unwrap().health = Health::Healthy;
    assert_eq!(
        show(&run(std::slice::from_ref(&v2), &observed, &hs)),
        [
            "remove 1@h1: replica 1: revision 1 replaced by revision 2",
            "start 2@h2: replica 2: rolling out revision 2 (was 1)"
        ]
    );
    // With a surge of 3, every slot starts at once.
    let mut wide = v2.clone();
    wide.spec.update.max_surge = 3;
    wide.spec_hash = wide.spec.hash();
    let observed: Vec<_> = (1..=3).map(|slot| rep(&v1, slot, slot as i64)).collect();
    assert_eq!(run(&[wide], &observed, &hs).actions.len(), 3);
}

#[test]
fn constraints_and_capacity_explain_what_cannot_be_placed() {
    let mut s = service(1, 3);
    s.spec.placement.constraints = vec![validate::constraint("zone=a").unwrap()];
    s.spec.resources.memory_bytes = 3 * GIB;
    s.spec_hash = s.spec.hash();
    let mut hs = hosts(4);
    for h in &mut hs[..3] {
        h.labels.insert("zone".into(), "a".into());
    }
    hs[2].state = HostState::Cordoned;
    let p = run(&[s], &[], &hs);
    // Two zone-a hosts take one replica each (4 GiB, 3 GiB each); the third waits.
    assert_eq!(p.actions.len(), 2);
    assert_eq!(
        p.problems[&1],
        ["replica 3 not placed: 2 hosts lack 3.0 GiB free memory, 1 host cordoned, 1 host does not match zone=a"]
    );
}

#[test]
fn a_replica_still_being_made_is_never_removed() {
    // Scaled down, or its service deleted, while a task still starts it: there is
    // no container yet; the next pass removes it once its host shows it.
    let s = service(1, 1);
    let mut making = rep(&s, 2, 1);
    making.pending = true;
    let observed = [rep(&s, 1, 1), making.clone()];
    assert!(show(&run(std::slice::from_ref(&s), &observed, &hosts(1))).is_empty());
    assert!(show(&run(&[], &[making], &hosts(1))).is_empty());
}

#[test]
fn a_replica_being_made_and_already_listed_takes_its_host_once() {
    // 3 GiB each on 4 GiB hosts, one per host; slot 1 is being made on h1 and h1
    // lists its container already. Counted twice, h1 would look over-full and a
    // 1 GiB replica of another service would fit nowhere.
    let mut s = service(1, 3);
    s.spec.resources.memory_bytes = 3 * GIB;
    s.spec_hash = s.spec.hash();
    let mut small = service(2, 1);
    small.spec.resources.memory_bytes = GIB;
    small.spec_hash = small.spec.hash();
    let mut making = rep(&s, 1, 1);
    making.pending = true;
    let listed = rep(&s, 1, 1);
    let observed = [making, listed, rep(&s, 2, 2), rep(&s, 3, 3)];
    let p = run(&[s, small], &observed, &hosts(3));
    // 1 GiB is left on h1 (once counted), so the small service fits there.
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert!(
        matches!(
            p.actions[..],
            [Action::Start {
                service_id: 2,
                host_id: 1,
                ..
            }]
        ),
        "{:?}",
        show(&p)
    );
}

#[test]
fn replicas_of_deleted_services_are_removed_and_unknown_hosts_are_lost() {
    let gone = service(9, 1);
    let hs = hosts(1);
    let observed = vec![rep(&gone, 1, 1)];
    assert_eq!(
        show(&run(&[], &observed, &hs)),
        ["remove 1@h1: replica 1 removed: its service was deleted"]
    );
    // A replica on a host Berth no longer knows is lost: replaced, not touched.
    let s = service(1, 1);
    let stray = rep(&s, 1, 77);
    assert_eq!(
        show(&run(&[s], &[stray], &hs)),
        ["start 1@h1: replica 1 moved: host #77 unreachable for 0 s"]
    );
}

#[test]
fn fixed_host_ports_put_one_replica_per_host() {
    let mut s = service(1, 3);
    s.spec.host_port = Some(9000);
    s.spec_hash = s.spec.hash();
    let p = run(&[s], &[], &hosts(2));
    assert_eq!(p.actions.len(), 2);
    assert_eq!(
        p.problems[&1],
        ["replica 3 not placed: 2 hosts have port 9000 taken"]
    );
}
