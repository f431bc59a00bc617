//! `plan()` during rollouts: surge and unavailable allowances, stop-first,
//! batches and their gate, pauses, failures of the new revision, rollbacks.

use super::*;
use crate::model::RolloutCtx;
use domain::wire::{UpdateOrder, UpdatePolicy};

const RUNNING: RolloutCtx = RolloutCtx {
    paused: false,
    gate_until_ms: None,
    started_ms: NOW - 5_000,
    batch_ready: 0,
    canary: None,
};

fn rolling(mut s: DesiredService, policy: UpdatePolicy, ctx: RolloutCtx) -> DesiredService {
    s.spec.update = policy;
    // The policy is not part of what replicas are.
    assert_eq!(s.spec.hash(), s.spec_hash);
    s.rollout = Some(ctx);
    s
}

fn v1_on_three_hosts(n: u32) -> (DesiredService, Vec<ObservedReplica>) {
    let v1 = with_health(service(1, n));
    let observed = (1..=n)
        .map(|slot| rep(&v1, slot, i64::from((slot - 1) % 3 + 1)))
        .collect();
    (v1, observed)
}

#[test]
fn stop_first_stops_within_the_unavailable_allowance_then_starts() {
    let (v1, mut observed) = v1_on_three_hosts(3);
    let policy = UpdatePolicy {
        order: Some(UpdateOrder::StopFirst),
        max_unavailable: 2,
        ..UpdatePolicy::default()
    };
    let v2 = rolling(revised(v1, "demo:v2", 2), policy, RUNNING);
    let hs = hosts(3);
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(
        show(&p),
        [
            "remove 1@h1: replica 1: revision 1 stopped for revision 2 (stop-first)",
            "remove 2@h2: replica 2: revision 1 stopped for revision 2 (stop-first)",
        ]
    );
    apply(std::slice::from_ref(&v2), &mut observed, &p, 10);
    // The emptied slots fill; slot 3 waits for room in the allowance.
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(
        show(&p),
        [
            "start 1@h1: replica 1 started",
            "start 2@h2: replica 2 started"
        ]
    );
    assert_eq!(p.rollouts[&v2.id].in_transition, 2);
    assert_eq!(p.rollouts[&v2.id].old_remaining, 1);
}

#[test]
fn batches_begin_whole_after_the_previous_one_is_healthy_and_the_gate() {
    let (v1, mut observed) = v1_on_three_hosts(6);
    let policy = UpdatePolicy {
        batch_size: Some(2),
        delay_ms: 1_000,
        ..UpdatePolicy::default()
    };
    let v2 = rolling(revised(v1, "demo:v2", 2), policy.clone(), RUNNING);
    let hs = hosts(3);
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(p.actions.len(), 2, "{:?}", show(&p));
    // Starting but not healthy yet: the next batch waits.
    apply(std::slice::from_ref(&v2), &mut observed, &p, 10);
    for r in observed.iter_mut().filter(|r| r.created_ms == 10) {
        r.health = Health::Starting;
    }
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert!(p.is_empty(), "{:?}", show(&p));
    assert_eq!(p.rollouts[&v2.id].in_transition, 2);
    // Healthy: the old ones of the batch go, but the next batch waits for its gate.
    for r in observed.iter_mut().filter(|r| r.created_ms == 10) {
        r.health = Health::Healthy;
    }
    // Done but not recorded yet: nothing begins.
    let unrecorded = run(std::slice::from_ref(&v2), &observed, &hs);
    assert!(
        show(&unrecorded).iter().all(|a| a.starts_with("remove")),
        "{:?}",
        show(&unrecorded)
    );
    let gated = rolling(
        v2.clone(),
        policy.clone(),
        RolloutCtx {
            gate_until_ms: Some(NOW + 500),
            batch_ready: 2,
            ..RUNNING
        },
    );
    let p = run(std::slice::from_ref(&gated), &observed, &hs);
    assert_eq!(
        show(&p).iter().filter(|a| a.starts_with("remove")).count(),
        2,
        "{:?}",
        show(&p)
    );
    assert!(
        show(&p).iter().all(|a| a.starts_with("remove")),
        "{:?}",
        show(&p)
    );
    apply(std::slice::from_ref(&gated), &mut observed, &p, 20);
    // Past the gate, the next two begin.
    let open = rolling(
        v2,
        policy,
        RolloutCtx {
            gate_until_ms: Some(NOW - 1),
            batch_ready: 2,
            ..RUNNING
        },
    );
    let p = run(std::slice::from_ref(&open), &observed, &hs);
    assert_eq!(p.actions.len(), 2, "{:?}", show(&p));
    assert_eq!(p.rollouts[&open.id].new_ready, 2);
    assert_eq!(p.rollouts[&open.id].old_remaining, 4);
}

#[test]
fn a_paused_rollout_moves_nothing_but_failed_replicas_are_still_replaced() {
    let (v1, mut observed) = v1_on_three_hosts(3);
    let paused = rolling(
        revised(v1, "demo:v2", 2),
        UpdatePolicy::default(),
        RolloutCtx {
            paused: true,
            ..RUNNING
        },
    );
    let hs = hosts(3);
    assert!(run(std::slice::from_ref(&paused), &observed, &hs).is_empty());
    observed[0].status = Status::Exited { code: 1 };
    let p = run(std::slice::from_ref(&paused), &observed, &hs);
    assert_eq!(p.actions.len(), 2, "{:?}", show(&p));
}

#[test]
fn failures_of_the_new_revision_are_reported_and_old_ones_are_not() {
    let (v1, mut observed) = v1_on_three_hosts(3);
    let policy = UpdatePolicy {
        deadline_ms: 30_000,
        ..UpdatePolicy::default()
    };
    let v2 = rolling(
        revised(v1.clone(), "demo:v2", 2),
        policy,
        RolloutCtx {
            started_ms: NOW - 40_000,
            ..RUNNING
        },
    );
    let mut crashed = rep(&v2, 1, 1);
    crashed.container_id = "new-1".into();
    crashed.created_ms = NOW - 2_000;
    crashed.status = Status::Exited { code: 3 };
    let mut sick = rep(&v2, 2, 2);
    sick.container_id = "new-2".into();
    sick.created_ms = NOW - 2_000;
    sick.health = Health::Unhealthy;
    let mut slow = rep(&v2, 3, 3);
    slow.container_id = "new-3".into();
    slow.created_ms = NOW - 31_000;
    slow.health = Health::Starting;
    // Before the rollout began: not this rollout's failure.
    let mut earlier = rep(&v2, 4, 1);
    earlier.container_id = "old-new".into();
    earlier.created_ms = NOW - 60_000;
    earlier.status = Status::Exited { code: 9 };
    observed[2].status = Status::Exited { code: 137 }; // an old one dies: not counted
    observed.extend([crashed, sick, slow, earlier]);
    let p = run(std::slice::from_ref(&v2), &observed, &hosts(3));
    let mut failures = p.rollouts[&v2.id].failures.clone();
    failures.sort();
    assert_eq!(
        failures,
        [
            (1, "new-1".to_string(), "exited with code 3".to_string()),
            (2, "new-2".to_string(), "unhealthy".to_string()),
            (3, "new-3".to_string(), "not healthy after 30 s".to_string()),
        ]
    );
    // Without a rollout, failures are plain crashes.
    let plain = revised(v1, "demo:v2", 2);
    assert!(
        run(std::slice::from_ref(&plain), &observed, &hosts(3)).rollouts[&plain.id]
            .failures
            .is_empty()
    );
}

#[test]
fn rolling_back_replaces_the_new_replicas_with_the_old_revision_health_gated() {
    let (v1, mut observed) = v1_on_three_hosts(3);
    let v2 = revised(v1.clone(), "demo:v2", 2);
    // Slot 1 already moved to v2, which turned out broken (still starting).
    let mut broken = rep(&v2, 1, 1);
    broken.container_id = "broken-1".into();
    broken.health = Health::Starting;
    broken.created_ms = NOW - 1_000;
    observed.retain(|r| r.slot != 1);
    observed.push(broken);
    // Back to revision 1 (its hash): slot 1 gets a v1 replica started beside the
    // broken one; the healthy v1 replicas of slots 2 and 3 are left alone.
    let back = DesiredService {
        revision: 1,
        ..rolling(v1, UpdatePolicy::default(), RUNNING)
    };
    let p = run(std::slice::from_ref(&back), &observed, &hosts(3));
    assert_eq!(
        show(&p),
        ["start 1@h1: replica 1: rolling out revision 1 (was 2)"]
    );
    let report = &p.rollouts[&back.id];
    assert_eq!((report.new_ready, report.old_remaining), (2, 1));
}

#[test]
fn a_change_of_the_update_policy_alone_replaces_no_replica() {
    let (v1, observed) = v1_on_three_hosts(3);
    let mut v2 = v1.clone();
    v2.revision = 2;
    v2.spec.update.max_surge = 3;
    assert_eq!(v2.spec.hash(), v1.spec_hash);
    let p = run(std::slice::from_ref(&v2), &observed, &hosts(3));
    assert!(p.is_empty(), "{:?}", show(&p));
    assert_eq!(p.rollouts[&v2.id].new_ready, 3);
}

#[test]
fn with_nothing_to_wait_out_the_next_batch_starts_in_the_pass_its_previous_turned_healthy() {
    let (v1, observed) = v1_on_three_hosts(6);
    let hs = hosts(3);
    // (delay, what the pass after the first batch turned healthy does)
    let cases: [(u64, usize); 2] = [
        // old 2 go, the next 2 start beside them
        (0, 4),
        // old 2 go; the next batch waits out the delay
        (1_000, 2),
    ];
    for (delay_ms, actions) in cases {
        let policy = UpdatePolicy {
            batch_size: Some(2),
            delay_ms,
            ..UpdatePolicy::default()
        };
        let v2 = rolling(revised(v1.clone(), "demo:v2", 2), policy, RUNNING);
        let mut observed = observed.clone();
        let p = run(std::slice::from_ref(&v2), &observed, &hs);
        apply(std::slice::from_ref(&v2), &mut observed, &p, 10);
        // The first batch is healthy; the loop has not recorded it yet.
        let p = run(std::slice::from_ref(&v2), &observed, &hs);
        let shown = show(&p);
        assert_eq!(p.actions.len(), actions, "delay {delay_ms}: {shown:?}");
        let removes = shown.iter().filter(|a| a.starts_with("remove")).count();
        assert_eq!(removes, 2, "delay {delay_ms}: {shown:?}");
    }
}

#[test]
fn a_replica_being_stopped_is_not_removed_again_and_counts_as_old_until_gone() {
    let (v1, mut observed) = v1_on_three_hosts(2);
    let policy = UpdatePolicy {
        max_surge: 2,
        ..UpdatePolicy::default()
    };
    let v2 = rolling(revised(v1, "demo:v2", 2), policy, RUNNING);
    let hs = hosts(3);
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    apply(std::slice::from_ref(&v2), &mut observed, &p, 10);
    // Both new replicas are ready: the old ones go.
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(
        show(&p),
        [
            "remove 1@h1: replica 1: revision 1 replaced by revision 2",
            "remove 2@h2: replica 2: revision 1 replaced by revision 2",
        ]
    );
    // Their stops run after the service's task: marked, they are left alone.
    for r in observed.iter_mut().filter(|r| r.revision == 1) {
        r.stopping = true;
    }
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(show(&p), Vec::<String>::new());
    let report = &p.rollouts[&v2.id];
    assert_eq!((report.new_ready, report.old_remaining), (2, 2));
    // Scaled down to 1, a stopping replica of slot 2 is not removed twice either.
    let mut v2_one = v2.clone();
    v2_one.replicas = 1;
    let p = run(std::slice::from_ref(&v2_one), &observed, &hs);
    assert_eq!(
        show(&p),
        ["remove 2@h2: replica 2 removed: scaled 2 -> 1"],
        "only the new replica of slot 2 goes"
    );
    // Gone: the rollout has nothing old left.
    observed.retain(|r| !r.stopping);
    let p = run(std::slice::from_ref(&v2), &observed, &hs);
    assert_eq!(p.rollouts[&v2.id].old_remaining, 0);
}

#[test]
fn a_slot_whose_old_replica_is_being_stopped_starts_anew() {
    let (v1, mut observed) = v1_on_three_hosts(1);
    let hs = hosts(3);
    // Scaled to 0 and back to 1 while its replica stops: a new one starts.
    observed[0].stopping = true;
    let p = run(std::slice::from_ref(&v1), &observed, &hs);
    assert_eq!(show(&p), ["start 1@h1: replica 1 started"]);
}

#[test]
fn a_start_that_waits_for_room_a_stopping_replica_holds_is_not_reported() {
    let mut s = service(1, 2);
    s.spec.resources.cpu_millis = 1000;
    s.spec_hash = s.spec.hash();
    let hs = hosts(1);
    let mut leaving = rep(&s, 2, 1);
    leaving.stopping = true;
    let observed = [rep(&s, 1, 1), leaving];
    let p = run(std::slice::from_ref(&s), &observed, &hs);
    assert_eq!(show(&p), Vec::<String>::new());
    assert!(!p.problems.contains_key(&s.id), "{:?}", p.problems);
    // Once it is gone, the slot starts.
    let p = run(std::slice::from_ref(&s), &observed[..1], &hs);
    assert_eq!(show(&p), ["start 2@h1: replica 2 started"]);
    // Without a replica being stopped, no room is a problem in words.
    let mut other = service(2, 1);
    other.spec.resources.cpu_millis = 1000;
    other.spec_hash = other.spec.hash();
    let crowded = [rep(&s, 1, 1), rep(&other, 1, 1)];
    let p = run(&[s.clone(), other], &crowded, &hs);
    assert!(p.problems.contains_key(&s.id), "{:?}", p.problems);
}

#[test]
fn a_replica_made_but_never_started_is_replaced_not_counted_as_a_failure() {
    // A leader killed between making a container and starting it leaves it made;
    // the next leader waits a moment (the maker may be starting it), then replaces
    // it, and the rollout goes on.
    let (v1, mut observed) = v1_on_three_hosts(3);
    let v2 = rolling(revised(v1, "demo:v2", 2), UpdatePolicy::default(), RUNNING);
    let mut made = rep(&v2, 1, 1);
    made.container_id = "made-1".into();
    made.status = Status::Created;
    made.health = Health::Starting;
    made.created_ms = NOW - 3_000;
    observed.push(made);
    let p = run(std::slice::from_ref(&v2), &observed, &hosts(3));
    assert!(p.actions.is_empty(), "{:?}", show(&p));
    assert_eq!(p.rollouts[&v2.id].in_transition, 1);

    observed.last_mut().unwrap().created_ms = NOW - 25_000;
    let p = run(std::slice::from_ref(&v2), &observed, &hosts(3));
    assert_eq!(
        show(&p),
        [
            "remove 1@h1: replica 1: removing its container, which was made but never started",
            "start 1@h1: replica 1: rolling out revision 2 (was 1)",
        ]
    );
    assert!(p.rollouts[&v2.id].failures.is_empty());

    // One Berth is making (pulling its image, say) is waited for however long.
    let being_made = observed.last_mut().unwrap();
    being_made.pending = true;
    let p = run(std::slice::from_ref(&v2), &observed, &hosts(3));
    assert!(p.actions.is_empty(), "{:?}", show(&p));
}

/// The plan's actions without their hosts (placement is tested elsewhere).
fn what(p: &Plan) -> Vec<String> {
    show(p)
        .into_iter()
        .map(|a| match a.split_once('@') {
            Some((head, rest)) => format!("{head}{}", &rest[rest.find(':').unwrap_or(0)..]),
            None => a,
        })
        .collect()
}

/// A canary step of `k` new replicas on v1's `n` replicas.
fn canary(v1: &DesiredService, k: u32, paused: bool) -> DesiredService {
    rolling(
        revised(v1.clone(), "demo:v2", 2),
        UpdatePolicy::default(),
        RolloutCtx {
            canary: Some(k),
            paused,
            ..RUNNING
        },
    )
}

#[test]
fn a_canary_step_starts_its_new_replicas_beside_the_old_ones_which_stay() {
    let (v1, mut observed) = v1_on_three_hosts(4);
    let hs = hosts(3);
    let step = canary(&v1, 1, false);
    // Step one (1 of 4): one new replica beside slot 1's old one; nothing goes.
    let p = run(std::slice::from_ref(&step), &observed, &hs);
    assert_eq!(
        what(&p),
        ["start 1: replica 1: a canary of revision 2 beside the old one"]
    );
    apply(std::slice::from_ref(&step), &mut observed, &p, 10);
    // Ready: the old one beside it stays, and the step is converged.
    let p = run(std::slice::from_ref(&step), &observed, &hs);
    assert!(p.is_empty(), "{:?}", what(&p));
    let report = &p.rollouts[&step.id];
    assert_eq!(
        (report.new_ready, report.old_remaining, report.in_transition),
        (1, 4, 0)
    );
    // Paused at the next step (2 of 4): nothing more starts.
    assert!(run(&[canary(&v1, 2, true)], &observed, &hs).is_empty());
    // The next step running: one more beside slot 2's old one.
    let step2 = canary(&v1, 2, false);
    let p = run(std::slice::from_ref(&step2), &observed, &hs);
    assert_eq!(
        what(&p),
        ["start 2: replica 2: a canary of revision 2 beside the old one"]
    );
    apply(std::slice::from_ref(&step2), &mut observed, &p, 20);
    assert!(run(std::slice::from_ref(&step2), &observed, &hs).is_empty());
    // A failed old replica of a slot without a canary is replaced (by the new
    // revision, as any failed replica during a rollout).
    let mut failed = observed.clone();
    failed.iter_mut().find(|r| r.slot == 4).unwrap().status = Status::Exited { code: 1 };
    let p = run(std::slice::from_ref(&step2), &failed, &hs);
    assert_eq!(p.actions.len(), 2, "{:?}", what(&p));
    // Promoted past the last step: the canaries' slots drop their old replicas
    // at once, the other slots roll out as the policy says (a surge of 1).
    let promoted = rolling(revised(v1, "demo:v2", 2), UpdatePolicy::default(), RUNNING);
    let p = run(std::slice::from_ref(&promoted), &observed, &hs);
    let mut actions = what(&p);
    actions.sort();
    assert_eq!(
        actions,
        [
            "remove 1: replica 1: revision 1 replaced by revision 2",
            "remove 2: replica 2: revision 1 replaced by revision 2",
            "start 3: replica 3: rolling out revision 2 (was 1)",
        ]
    );
}

#[test]
fn an_aborted_canary_leaves_at_once_for_the_old_replicas_beside_it() {
    let (v1, mut observed) = v1_on_three_hosts(4);
    let hs = hosts(3);
    let step = canary(&v1, 2, false);
    for created in [10, 20] {
        let p = run(std::slice::from_ref(&step), &observed, &hs);
        apply(std::slice::from_ref(&step), &mut observed, &p, created);
    }
    assert_eq!(observed.len(), 6);
    // The rollback to v1: the canaries go in its first pass, nothing starts.
    let back = rolling(v1, UpdatePolicy::default(), RUNNING);
    let p = run(std::slice::from_ref(&back), &observed, &hs);
    let mut actions = what(&p);
    actions.sort();
    assert_eq!(
        actions,
        [
            "remove 1: replica 1: revision 2 replaced by revision 1",
            "remove 2: replica 2: revision 2 replaced by revision 1",
        ]
    );
}

#[test]
fn a_deploy_over_a_canary_keeps_only_each_slots_stable_replica() {
    let (v1, mut observed) = v1_on_three_hosts(4);
    let hs = hosts(3);
    let step = canary(&v1, 1, false);
    let p = run(std::slice::from_ref(&step), &observed, &hs);
    apply(std::slice::from_ref(&step), &mut observed, &p, 10);
    // v3, a canary of its own: v2's canary goes, v1 stays, v3 starts beside it.
    let v3 = rolling(
        revised(v1.clone(), "demo:v3", 3),
        UpdatePolicy::default(),
        RolloutCtx {
            canary: Some(1),
            ..RUNNING
        },
    );
    let mut actions = what(&run(std::slice::from_ref(&v3), &observed, &hs));
    actions.sort();
    assert_eq!(
        actions,
        [
            "remove 1: replica 1: revision 2 replaced by revision 3",
            "start 1: replica 1: a canary of revision 3 beside the old one",
        ]
    );
    // Back to v1's spec, as a canary: every slot runs it already, so v2's
    // canary (newer than slot 1's v1) goes and nothing starts.
    let back = rolling(
        revised(v1, "demo:v1", 3),
        UpdatePolicy::default(),
        RolloutCtx {
            canary: Some(1),
            ..RUNNING
        },
    );
    assert_eq!(
        what(&run(std::slice::from_ref(&back), &observed, &hs)),
        ["remove 1: replica 1: revision 2 replaced by revision 3"]
    );
}

#[test]
fn a_draining_host_is_not_held_up_by_a_canary() {
    let (v1, observed) = v1_on_three_hosts(3);
    let mut hs = hosts(3);
    hs[1].state = HostState::Draining;
    let step = canary(&v1, 1, false);
    let p = run(std::slice::from_ref(&step), &observed, &hs);
    let actions = what(&p);
    // Slot 2's replica on the draining host moves (as the new revision), as
    // any drain does, while slot 1 gets its canary beside its old one.
    assert!(
        actions
            .contains(&"start 1: replica 1: a canary of revision 2 beside the old one".to_string()),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("start 2: replica 2 moving off draining host")),
        "{actions:?}"
    );
}
