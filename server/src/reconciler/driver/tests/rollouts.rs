//! The loop moving rollouts: every replica replaced, failures rolled back or
//! paused, batches across a restart.

use super::*;
use crate::store::NewRollout;
use domain::wire::{RolloutKind, RolloutState};

fn checked(image: &str, policy: serde_json::Value) -> ServiceSpec {
    spec(serde_json::json!({
        "image": image,
        "health": {"kind": "command", "command": ["true"]},
        "update": policy
    }))
}

/// Deploys `spec` as a new revision, as `ops::services::deploy` does.
async fn deploy(t: &TestState, id: i64, spec: &ServiceSpec) -> i64 {
    let from = t
        .state
        .store
        .list_services()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap()
        .revision;
    let to = t
        .state
        .store
        .add_revision(id, spec, "test", "", t.state.clock.now_ms())
        .await
        .unwrap();
    t.state
        .store
        .start_rollout(NewRollout {
            service_id: id,
            from_revision: from,
            to_revision: to,
            kind: RolloutKind::Deploy,
            author: "test",
            now: t.state.clock.now_ms(),
        })
        .await
        .unwrap();
    t.state.reconciler.written(id);
    to
}

async fn rollouts(t: &TestState, id: i64) -> Vec<(RolloutKind, RolloutState, String)> {
    t.state
        .store
        .rollouts_of(id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.state, r.reason))
        .collect()
}

fn images(fake: &FakeRuntime) -> Vec<String> {
    let mut v: Vec<String> = fake
        .containers()
        .iter()
        .map(|c| c.spec_hash.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test]
async fn a_rollout_replaces_every_replica_and_succeeds() {
    let (t, fake, mut d) = world(3).await;
    let v1 = checked("demo:v1", serde_json::json!({}));
    let id = add_service(&t, "web", 4, v1).await;
    settle(&mut d, &t, &fake).await;
    let v2 = checked("demo:v2", serde_json::json!({"max_surge": 2}));
    deploy(&t, id, &v2).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 4);
    assert_eq!(images(&fake), [v2.hash()]);
    assert_eq!(rollouts(&t, id).await[0].1, RolloutState::Succeeded);
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m == "rollout to revision 2 done: 4 of 4 replicas healthy"));
    // Never fewer than 4 ready on the way: start-first.
    let starts_before_removes = fake
        .calls()
        .iter()
        .skip(4)
        .take(2)
        .all(|c| c.starts_with("start"));
    assert!(starts_before_removes, "{:?}", fake.calls());
}

#[tokio::test]
async fn new_replicas_that_fail_roll_the_service_back_by_itself() {
    let (t, fake, mut d) = world(3).await;
    let v1 = checked("demo:v1", serde_json::json!({}));
    let id = add_service(&t, "web", 3, v1.clone()).await;
    settle(&mut d, &t, &fake).await;
    let before: Vec<String> = fake
        .containers()
        .into_iter()
        .map(|c| c.container_id)
        .collect();
    fake.sick_image("demo:broken", true);
    deploy(&t, id, &checked("demo:broken", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    let all = rollouts(&t, id).await;
    assert_eq!(
        (all[0].0, all[0].1),
        (RolloutKind::AutoRollback, RolloutState::Succeeded)
    );
    assert_eq!(all[1].1, RolloutState::RolledBack);
    assert_eq!(
        all[1].2,
        "rolled back: 1 of 1 new replica of revision 2 failed: unhealthy"
    );
    let service = t.state.store.service_by_name("web").await.unwrap().unwrap();
    assert_eq!(service.revision, 1);
    // The v1 replicas never left.
    let after: Vec<String> = fake
        .containers()
        .into_iter()
        .map(|c| c.container_id)
        .collect();
    assert_eq!(before, after);
    assert!(messages(&t, "web").await.iter().any(|m| m.starts_with(
        "rollout to revision 2 rolled back to revision 1: 1 of 1 new replica of revision 2 failed"
    )));
}

#[tokio::test]
async fn a_rollback_that_fails_too_pauses_instead_of_going_round() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 2, checked("demo:v1", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    // v1 breaks too (a dependency is gone, say): going back cannot help either.
    fake.sick_image("demo:v1", true);
    fake.sick_image("demo:v2", true);
    // Stop-first, so that going back has to start v1 replicas anew.
    deploy(
        &t,
        id,
        &checked(
            "demo:v2",
            serde_json::json!({"order": "stop-first", "max_unavailable": 1}),
        ),
    )
    .await;
    settle(&mut d, &t, &fake).await;
    let all = rollouts(&t, id).await;
    assert_eq!(
        (all[0].0, all[0].1),
        (RolloutKind::AutoRollback, RolloutState::Paused),
        "{all:?}"
    );
    assert!(all[0].2.starts_with("paused: "), "{all:?}");
    assert_eq!(all[1].1, RolloutState::RolledBack);
}

#[tokio::test]
async fn the_pause_failure_action_stops_where_it_is() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 3, checked("demo:v1", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    fake.sick_image("demo:broken", true);
    deploy(
        &t,
        id,
        &checked(
            "demo:broken",
            serde_json::json!({"failure_action": "pause"}),
        ),
    )
    .await;
    settle(&mut d, &t, &fake).await;
    let all = rollouts(&t, id).await;
    assert_eq!(all[0].1, RolloutState::Paused);
    assert_eq!(
        all[0].2,
        "paused: 1 of 1 new replica of revision 2 failed: unhealthy"
    );
    let service = t.state.store.service_by_name("web").await.unwrap().unwrap();
    assert_eq!(service.revision, 2, "the service stays where it was going");
}

#[tokio::test]
async fn batches_wait_for_the_delay_and_a_restart_resumes_without_duplicates() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 4, checked("demo:v1", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    let v2 = checked(
        "demo:v2",
        serde_json::json!({"batch_size": 2, "delay_ms": 300}),
    );
    deploy(&t, id, &v2).await;
    settle(&mut d, &t, &fake).await;
    // One batch through; the next waits out the delay.
    let moved = fake
        .containers()
        .iter()
        .filter(|c| c.spec_hash == v2.hash())
        .count();
    assert_eq!(moved, 2);
    assert!(t.state.store.rollouts_of(id, 1).await.unwrap()[0]
        .batch_done_at
        .is_some());
    // Berth restarts in the middle: a new loop, nothing in memory.
    let mut fresh = Driver::default();
    t.state.reconciler.retain(|_| false);
    t.advance(350);
    settle(&mut fresh, &t, &fake).await;
    assert_eq!(fake.containers().len(), 4, "{:?}", fake.containers());
    assert_eq!(images(&fake), [v2.hash()]);
    assert_eq!(rollouts(&t, id).await[0].1, RolloutState::Succeeded);
}

#[tokio::test]
async fn a_canary_takes_its_share_then_moves_on_when_its_pause_ends() {
    let (t, fake, mut d) = world(3).await;
    let v1 = checked("demo:v1", serde_json::json!({}));
    let id = add_service(&t, "web", 4, v1).await;
    settle(&mut d, &t, &fake).await;
    let canary = serde_json::json!({"canary": {"steps": [{"weight": 25, "pause_ms": 10_000}]}});
    let v2 = checked("demo:v2", canary);
    deploy(&t, id, &v2).await;
    settle(&mut d, &t, &fake).await;
    // One new replica beside the four old ones (its share of the requests:
    // `publish.rs`' tables and `tests/canary.rs` on real hosts).
    assert_eq!(fake.containers().len(), 5);
    let r = t.state.store.rollouts_of(id, 1).await.unwrap().remove(0);
    assert_eq!((r.state, r.step), (RolloutState::Running, 0));
    assert!(r.step_ready_at.is_some());
    // Its pause ends: past its last step, the old ones are replaced.
    t.advance(10_000);
    settle(&mut d, &t, &fake).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 4);
    assert_eq!(images(&fake), [v2.hash()]);
    assert_eq!(rollouts(&t, id).await[0].1, RolloutState::Succeeded);
    let said = messages(&t, "web").await;
    assert!(
        said.iter()
            .any(|m| m == "canary of revision 2: 1 new replica takes 25% of requests (for 10 s)"),
        "{said:?}"
    );
    assert!(
        said.iter().any(|m| m
            == "canary of revision 2 promoted past its last step, the old replicas are replaced: its pause ended"),
        "{said:?}"
    );
    // A canary of a policy-only change has nothing to split: past every step
    // at once, nothing started.
    t.advance(5_000);
    let calls = fake.calls().len();
    let again = checked(
        "demo:v2",
        serde_json::json!({"max_surge": 2, "canary": {"steps": [{"weight": 10}]}}),
    );
    deploy(&t, id, &again).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(rollouts(&t, id).await[0].1, RolloutState::Succeeded);
    assert!(
        fake.calls()[calls..]
            .iter()
            .all(|c| !c.starts_with("start")),
        "{:?}",
        &fake.calls()[calls..]
    );
}

#[tokio::test]
async fn a_canary_step_waiting_for_a_person_holds_when_its_old_replicas_are_gone() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 2, checked("demo:v1", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    let old: Vec<String> = fake
        .containers()
        .into_iter()
        .map(|c| c.container_id)
        .collect();
    let v2 = checked(
        "demo:v2",
        serde_json::json!({"canary": {"steps": [{"weight": 50}]}}),
    );
    deploy(&t, id, &v2).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 3);
    // Both old replicas crash: replaced by the new revision, as any failed
    // replica during a rollout; the step still waits for a person's promote.
    for c in &old {
        fake.kill(c, 137);
    }
    settle(&mut d, &t, &fake).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(images(&fake), [v2.hash()]);
    let r = t.state.store.rollouts_of(id, 1).await.unwrap().remove(0);
    assert_eq!((r.state, r.step), (RolloutState::Running, 0));
}

#[tokio::test]
async fn a_gated_canary_is_not_promoted_by_berth_without_requests_to_judge() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 2, checked("demo:v1", serde_json::json!({}))).await;
    settle(&mut d, &t, &fake).await;
    let v2 = checked(
        "demo:v2",
        serde_json::json!({
            "canary": {"steps": [{"weight": 50, "pause_ms": 1000}]},
            "gates": {"max_error_rate": 0.05, "window_ms": 1000}
        }),
    );
    deploy(&t, id, &v2).await;
    settle(&mut d, &t, &fake).await;
    // Its pause and a whole window are long over, but no request reached the
    // canary: nothing to judge, so it holds (a person may promote).
    for _ in 0..5 {
        t.advance(1_000);
        settle(&mut d, &t, &fake).await;
    }
    let r = t.state.store.rollouts_of(id, 1).await.unwrap().remove(0);
    assert_eq!((r.state, r.step), (RolloutState::Running, 0));
    assert!(r.step_ready_at.is_some());
}
