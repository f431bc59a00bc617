//! The rollout state machine as a table, and races between a person's deploy and
//! the reconciler's move of a rollout it read before the deploy.

use super::*;
use crate::store::NewService;
use crate::testing::TempDir;
use RolloutState::*;

const ALL: [RolloutState; 5] = [Running, Paused, Succeeded, RolledBack, Aborted];

fn row(kind: RolloutKind) -> RolloutRow {
    RolloutRow {
        id: 7,
        service_id: 3,
        from_revision: 1,
        to_revision: 2,
        kind,
        state: Running,
        reason: String::new(),
        author: "ann".into(),
        started_at: 0,
        updated_at: 0,
        finished_at: None,
        batch_done_at: None,
        batch_ready: 0,
        step: 0,
        step_ready_at: None,
    }
}

#[test]
fn the_state_machine() {
    let allowed_moves: Vec<(RolloutState, RolloutState)> = ALL
        .iter()
        .flat_map(|f| ALL.iter().map(move |t| (*f, *t)))
        .filter(|(f, t)| allowed(*f, *t))
        .collect();
    assert_eq!(
        allowed_moves,
        [
            (Running, Running),
            (Running, Paused),
            (Running, Succeeded),
            (Running, RolledBack),
            (Running, Aborted),
            (Paused, Running),
            (Paused, Aborted),
        ]
    );
    // Every transition leads somewhere the machine allows, from every state it
    // expects; finished rollouts go nowhere.
    let every = [
        Transition::Pause { by: "ann".into() },
        Transition::Resume,
        Transition::Abort { by: "ann".into() },
        Transition::Fail {
            rollback: true,
            reason: "x".into(),
        },
        Transition::Fail {
            rollback: false,
            reason: "x".into(),
        },
        Transition::Succeed,
        Transition::Promote {
            by: None,
            from: 0,
            to: 1,
        },
        Transition::Promote {
            by: Some("ann".into()),
            from: 1,
            to: 2,
        },
    ];
    for t in &every {
        for from in t.from() {
            assert!(allowed(*from, t.to()), "{t:?} from {from:?}");
            assert!(from.active());
        }
    }
}

#[test]
fn failures_follow_the_policy_but_a_failing_rollback_waits_for_a_person() {
    let cases = [
        (RolloutKind::Deploy, FailureAction::Rollback, true),
        (RolloutKind::Deploy, FailureAction::Pause, false),
        (RolloutKind::Rollback, FailureAction::Rollback, true),
        (RolloutKind::AutoRollback, FailureAction::Rollback, false),
        (RolloutKind::AutoRollback, FailureAction::Pause, false),
    ];
    for (kind, action, rollback) in cases {
        let t = Transition::fail(&row(kind), action, "2 of 2 failed".into());
        assert_eq!(
            t,
            Transition::Fail {
                rollback,
                reason: "2 of 2 failed".into()
            },
            "{kind:?} {action:?}"
        );
        let back = t.back(&row(kind), 5);
        assert_eq!(back.is_some(), rollback);
        if let Some(b) = back {
            assert_eq!(
                (b.from_revision, b.to_revision, b.kind, b.author),
                (2, 1, RolloutKind::AutoRollback, BERTH)
            );
        }
    }
    assert_eq!(
        Transition::fail(
            &row(RolloutKind::Deploy),
            FailureAction::Rollback,
            "x".into()
        )
        .reason(),
        "rolled back: x"
    );
}

/// A service at revision 2 with its deploy from 1 running, as the loop read it.
async fn deployed(store: &Store) -> (i64, RolloutRow) {
    let team = store.create_team("web", 1).await.unwrap();
    let spec: ServiceSpec =
        serde_json::from_value(serde_json::json!({"image": "demo:v1"})).unwrap();
    let id = store
        .create_service(NewService {
            name: "shop",
            team_id: team,
            replicas: 2,
            spec: &spec,
            proxy: &Default::default(),
            author: "ann",
            message: "",
            now: 1,
        })
        .await
        .unwrap();
    let v2: ServiceSpec = serde_json::from_value(serde_json::json!({"image": "demo:v2"})).unwrap();
    let current = Current {
        service_id: id,
        revision: 1,
        spec: &spec,
        spec_hash: &spec.hash(),
    };
    assert_eq!(
        deploy(store, current, &v2, "ann", "v2", 2).await.unwrap(),
        2
    );
    let stale = store.active_rollouts().await.unwrap().remove(0);
    assert_eq!((stale.to_revision, stale.state), (2, Running));
    (id, stale)
}

async fn v3(store: &Store, id: i64, now: i64) -> i64 {
    let spec: ServiceSpec =
        serde_json::from_value(serde_json::json!({"image": "demo:v3"})).unwrap();
    let row = store.service_by_name("shop").await.unwrap().unwrap();
    let current = Current {
        service_id: id,
        revision: row.revision,
        spec: &row.spec,
        spec_hash: &row.spec_hash,
    };
    deploy(store, current, &spec, "bob", "v3", now)
        .await
        .unwrap()
}

async fn revision_and_active(store: &Store, id: i64) -> (i64, Vec<(i64, RolloutKind)>) {
    let revision = store
        .service_by_name("shop")
        .await
        .unwrap()
        .unwrap()
        .revision;
    let active = store
        .active_rollouts()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.service_id == id)
        .map(|r| (r.to_revision, r.kind))
        .collect();
    (revision, active)
}

#[tokio::test]
async fn a_rollback_from_a_stale_read_loses_to_the_newer_deploy() {
    let dir = TempDir::new();
    let store = Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let (id, stale) = deployed(&store).await;
    // A person deploys revision 3 after the loop read the failing rollout to 2 ...
    assert_eq!(v3(&store, id, 3).await, 3);
    // ... and the loop's rollback of that rollout changes nothing.
    let fail = Transition::fail(&stale, FailureAction::Rollback, "unhealthy".into());
    assert_eq!(
        apply(&store, &stale, &fail, 4).await.unwrap(),
        Outcome::Lost
    );
    assert_eq!(
        revision_and_active(&store, id).await,
        (3, vec![(3, RolloutKind::Deploy)])
    );
    let old = &store.rollouts_of(id, 5).await.unwrap()[1];
    assert_eq!(
        (old.state, old.reason.as_str()),
        (Aborted, "superseded by the move to revision 3")
    );
    // A pause, a resume, a success or a batch from the stale read lose too.
    for t in [Transition::Pause { by: "x".into() }, Transition::Succeed] {
        assert_eq!(apply(&store, &stale, &t, 5).await.unwrap(), Outcome::Lost);
    }
    assert_eq!(
        batch_done(&store, &stale, 5, 1).await.unwrap(),
        Outcome::Lost
    );
}

#[tokio::test]
async fn a_deploy_after_the_rollback_still_wins() {
    let dir = TempDir::new();
    let store = Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let (id, stale) = deployed(&store).await;
    let fail = Transition::fail(&stale, FailureAction::Rollback, "unhealthy".into());
    assert_eq!(
        apply(&store, &stale, &fail, 3).await.unwrap(),
        Outcome::Done
    );
    assert_eq!(
        revision_and_active(&store, id).await,
        (1, vec![(1, RolloutKind::AutoRollback)])
    );
    assert_eq!(v3(&store, id, 4).await, 3);
    assert_eq!(
        revision_and_active(&store, id).await,
        (3, vec![(3, RolloutKind::Deploy)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_a_deploy_against_a_failing_rollouts_rollback_the_deploy_always_wins() {
    for round in 0..20 {
        let dir = TempDir::new();
        let store = Store::open(&dir.db_url()).await.unwrap();
        store.migrate().await.unwrap();
        let (id, stale) = deployed(&store).await;
        let fail = Transition::fail(&stale, FailureAction::Rollback, "unhealthy".into());
        let (a, b) = tokio::join!(
            tokio::spawn({
                let store = store.clone();
                async move { v3(&store, id, 3).await }
            }),
            tokio::spawn({
                let store = store.clone();
                async move { apply(&store, &stale, &fail, 3).await.unwrap() }
            }),
        );
        let (deployed_revision, _outcome) = (a.unwrap(), b.unwrap());
        assert_eq!(deployed_revision, 3, "round {round}");
        assert_eq!(
            revision_and_active(&store, id).await,
            (3, vec![(3, RolloutKind::Deploy)]),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_person_cannot_resume_what_is_not_paused_nor_abort_what_ended() {
    let dir = TempDir::new();
    let store = Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let (id, r) = deployed(&store).await;
    assert_eq!(
        apply(&store, &r, &Transition::Resume, 3).await.unwrap(),
        Outcome::Lost
    );
    assert_eq!(
        apply(&store, &r, &Transition::Succeed, 3).await.unwrap(),
        Outcome::Done
    );
    let abort = Transition::Abort { by: "ann".into() };
    assert_eq!(apply(&store, &r, &abort, 4).await.unwrap(), Outcome::Lost);
    assert_eq!(revision_and_active(&store, id).await, (2, vec![]));
}

#[tokio::test]
async fn a_policy_only_deploy_keeps_the_hash_its_replicas_run_under() {
    let dir = TempDir::new();
    let store = Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let (id, _) = deployed(&store).await;
    let row = store.service_by_name("shop").await.unwrap().unwrap();
    // As if revision 2 had been written under an earlier hash rule.
    let current = Current {
        service_id: id,
        revision: row.revision,
        spec: &row.spec,
        spec_hash: "41e383eef0efd972",
    };
    let mut batched = row.spec.clone();
    batched.update.batch_size = Some(1);
    deploy(&store, current, &batched, "ann", "", 3)
        .await
        .unwrap();
    let now = store.service_by_name("shop").await.unwrap().unwrap();
    assert_eq!(
        (now.revision, now.spec_hash.as_str()),
        (3, "41e383eef0efd972")
    );
    // Anything else about the replicas is a new hash.
    let mut other = batched.clone();
    other.image = "demo:v4".into();
    let current = Current {
        service_id: id,
        revision: now.revision,
        spec: &now.spec,
        spec_hash: &now.spec_hash,
    };
    deploy(&store, current, &other, "ann", "", 4).await.unwrap();
    let last = store.service_by_name("shop").await.unwrap().unwrap();
    assert_eq!(last.spec_hash, other.hash());
}

#[tokio::test]
async fn a_canary_step_is_promoted_once_whoever_promotes_it_first() {
    let dir = TempDir::new();
    let store = Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let (_, stale) = deployed(&store).await;
    // Its step's replicas ready: recorded once.
    assert_eq!(step_ready(&store, &stale, 10).await.unwrap(), Outcome::Done);
    assert_eq!(step_ready(&store, &stale, 11).await.unwrap(), Outcome::Lost);
    // A person promotes from step 0, and Berth's own promote of the same step
    // (its pause ended, read before) changes nothing.
    let person = Transition::Promote {
        by: Some("ann".into()),
        from: 0,
        to: 1,
    };
    let berth = Transition::Promote {
        by: None,
        from: 0,
        to: 1,
    };
    assert_eq!(
        apply(&store, &stale, &person, 12).await.unwrap(),
        Outcome::Done
    );
    assert_eq!(
        apply(&store, &stale, &berth, 13).await.unwrap(),
        Outcome::Lost
    );
    let now = store.active_rollouts().await.unwrap().remove(0);
    assert_eq!((now.step, now.step_ready_at, now.state), (1, None, Running));
    // The new step's readiness is its own; a paused rollout is promoted by a
    // person only, and runs again.
    assert_eq!(step_ready(&store, &now, 14).await.unwrap(), Outcome::Done);
    let pause = Transition::Pause { by: "ann".into() };
    assert_eq!(
        apply(&store, &now, &pause, 15).await.unwrap(),
        Outcome::Done
    );
    let berth = Transition::Promote {
        by: None,
        from: 1,
        to: 2,
    };
    assert_eq!(
        apply(&store, &now, &berth, 16).await.unwrap(),
        Outcome::Lost
    );
    let full = Transition::Promote {
        by: Some("bob".into()),
        from: 1,
        to: 5,
    };
    assert_eq!(apply(&store, &now, &full, 17).await.unwrap(), Outcome::Done);
    let now = store.active_rollouts().await.unwrap().remove(0);
    assert_eq!((now.step, now.step_ready_at, now.state), (5, None, Running));
    assert_eq!(now.reason, "");
}
