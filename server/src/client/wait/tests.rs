//! How `--wait` reads a service at one look: done, waiting, or failed, and which
//! revision it waits for.

use serde_json::{json, Value};

use super::*;

fn replica(slot: u32, revision: i64, current: bool, state: &str, health: &str) -> Value {
    json!({"slot": slot, "revision": revision, "host": "h1", "container_id": "c", "state": state,
        "health": health, "endpoint": null, "restarts": 0, "last_exit": null,
        "current": current, "note": null, "created_at_ms": 0})
}

fn rollout(from: i64, to: i64, kind: &str, state: &str, reason: &str) -> Value {
    json!({"id": to, "service": "web", "from_revision": from, "to_revision": to, "kind": kind,
        "state": state, "reason": reason, "author": "ann", "started_at_ms": 0,
        "updated_at_ms": 0, "finished_at_ms": null, "wanted": 2, "new_ready": 0,
        "old_remaining": 0, "phase": "starting new replicas"})
}

fn detail(
    revision: i64,
    phase: &str,
    instances: Vec<Value>,
    rollouts: Vec<Value>,
) -> ServiceDetail {
    serde_json::from_value(json!({
        "service": {"id": 1, "name": "web", "team": "shop", "team_id": 1, "replicas": 2,
            "revision": revision, "spec": {"image": "demo"}, "proxy": {}, "created_at_ms": 0,
            "updated_at_ms": 0, "phase": phase, "rollout": rollouts.first(), "running": 2,
            "healthy": 2, "instances": instances, "problems": [], "last_error": null,
            "observed_at_ms": 0},
        "events": [], "revisions": [], "rollouts": rollouts
    }))
    .unwrap()
}

#[test]
fn done_when_every_wanted_replica_runs_the_new_revision() {
    let d = detail(
        3,
        "running",
        vec![
            replica(1, 3, true, "running", "healthy"),
            replica(2, 3, true, "running", "none"),
        ],
        vec![rollout(2, 3, "deploy", "succeeded", "")],
    );
    assert_eq!(standing(&d, 3), Standing::Done { ready: 2 });
}

#[test]
fn waiting_while_the_rollout_runs() {
    let d = detail(
        3,
        "progressing",
        vec![
            replica(1, 3, true, "running", "healthy"),
            replica(2, 3, true, "running", "starting"),
            replica(2, 2, false, "running", "healthy"),
        ],
        vec![rollout(2, 3, "deploy", "running", "")],
    );
    assert_eq!(
        standing(&d, 3),
        Standing::Waiting {
            ready: 1,
            wanted: 2,
            phase: "starting new replicas".into()
        }
    );
}

#[test]
fn a_rolled_back_rollout_fails_with_its_reason() {
    let d = detail(
        2,
        "running",
        vec![replica(1, 2, true, "running", "healthy")],
        vec![
            rollout(3, 2, "auto_rollback", "succeeded", ""),
            rollout(
                2,
                3,
                "deploy",
                "rolled_back",
                "rolled back: 2 of 2 new replicas of revision 3 failed: unhealthy",
            ),
        ],
    );
    assert_eq!(
        standing(&d, 3),
        Standing::Failed(
            "web: the rollout to revision 3 rolled back: 2 of 2 new replicas of revision 3 failed: unhealthy"
                .into()
        )
    );
    // An apply's "after 2" finds revision 3 even after the service went back.
    assert_eq!(resolve(&d, Target::After(2)), 3);
    assert_eq!(resolve(&d, Target::Current), 2);
    assert_eq!(resolve(&d, Target::Revision(7)), 7);
}

#[test]
fn paused_and_aborted_fail_and_a_moved_revision_too() {
    for (state, words) in [("paused", "paused"), ("aborted", "aborted")] {
        let d = detail(
            3,
            "progressing",
            vec![],
            vec![rollout(2, 3, "deploy", state, "")],
        );
        assert_eq!(
            standing(&d, 3),
            Standing::Failed(format!("web: the rollout to revision 3 {words}"))
        );
    }
    let d = detail(
        4,
        "progressing",
        vec![],
        vec![rollout(3, 4, "deploy", "running", "")],
    );
    match standing(&d, 3) {
        Standing::Failed(line) => assert!(line.contains("now at revision 4, not 3"), "{line}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scaled_to_zero_is_done() {
    let mut d = detail(1, "stopped", vec![], vec![]);
    d.service.replicas = 0;
    assert_eq!(standing(&d, 1), Standing::Done { ready: 0 });
}
