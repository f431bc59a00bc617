//! The loop against the in-memory runtime: convergence, idempotence, crash
//! replacement and its back-off, failing starts backing off, pulls, host loss, and
//! adoption of what a previous Berth left running.

use std::sync::Arc;
use std::time::Duration;

use domain::wire::{Health, ServiceSpec};

use super::*;
use crate::runtime::fake::FakeRuntime;
use crate::store::NewService;
use crate::testing::TestState;

mod collect;
mod rollouts;
mod stops;
mod unreadable;
mod volumes;

async fn world(hosts: usize) -> (TestState, Arc<FakeRuntime>, Driver) {
    let (t, fake) = TestState::with_fake(hosts).await;
    (t, fake, Driver::default())
}

fn spec(v: serde_json::Value) -> ServiceSpec {
    serde_json::from_value(v).unwrap()
}

async fn add_service(t: &TestState, name: &str, replicas: u32, spec: ServiceSpec) -> i64 {
    let team = match t.state.store.list_teams().await.unwrap().first() {
        Some(team) => team.id,
        None => t.add_team("web").await,
    };
    t.state
        .store
        .create_service(NewService {
            name,
            team_id: team,
            replicas,
            spec: &spec,
            proxy: &Default::default(),
            author: "test",
            message: "",
            now: t.state.clock.now_ms(),
        })
        .await
        .unwrap()
}

fn demo() -> ServiceSpec {
    spec(serde_json::json!({"image": "demo:v1", "port": 8080}))
}

impl Driver {
    /// Waits for every service task the passes started, and the stops they
    /// left (within a deadline).
    async fn finish(&mut self) {
        let all = async {
            while let Some(done) = self.tasks.join_next_with_id().await {
                let (id, stops) = done.expect("a service task panicked");
                self.running.remove(&id);
                if let Some(stops) = stops {
                    self.tasks.spawn(stops.run());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .expect("service tasks did not finish within 10 s");
        assert!(self.shared.lock().unwrap().busy.is_empty());
    }
}

/// Passes until one plans nothing new (its tasks done), as the loop would.
async fn settle(d: &mut Driver, t: &TestState, fake: &FakeRuntime) {
    for _ in 0..20 {
        let before = fake.calls().len();
        let wake = d.pass(&t.state).await;
        d.finish().await;
        // A pass that wants another at once (a rollout moved on) is not the end.
        if fake.calls().len() == before && wake > t.state.clock.now_ms() {
            return;
        }
    }
    panic!("no convergence after 20 passes: {:#?}", fake.calls());
}

fn per_host(fake: &FakeRuntime, service_id: i64) -> Vec<usize> {
    let mut counts = vec![0; 3];
    for c in fake
        .containers()
        .iter()
        .filter(|c| c.service_id == service_id)
    {
        counts[(c.host_id - 1) as usize] += 1;
    }
    counts
}

async fn messages(t: &TestState, name: &str) -> Vec<String> {
    t.state
        .store
        .list_events(&crate::store::EventFilter {
            kind: Some("service".into()),
            subject: Some(name.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect()
}

#[tokio::test]
async fn a_service_converges_spread_and_a_converged_cluster_plans_nothing() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 6, demo()).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(per_host(&fake, id), [2, 2, 2]);
    let calls = fake.calls().len();
    assert_eq!(calls, 6, "{:?}", fake.calls());
    // Idempotent: more passes do nothing.
    for _ in 0..3 {
        d.pass(&t.state).await;
    }
    assert_eq!(fake.calls().len(), calls);
    // Each pass and each start is counted for /metrics.
    let mut out = String::new();
    t.state.metrics.write_instance(&mut out);
    assert!(
        out.contains("berth_reconcile_actions_total{kind=\"start\",outcome=\"ok\"} 6\n"),
        "{out}"
    );
    let passes: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("berth_reconcile_pass_seconds_count "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(passes >= 4, "{passes} passes in\n{out}");
    assert!(out.contains("berth_reconcile_errors_total 0\n"), "{out}");
    let seen = t.state.reconciler.service(id);
    assert_eq!(seen.replicas.len(), 6);
    assert!(seen.problems.is_empty());
    assert!(seen.pending.is_empty());
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m.starts_with("replica 1 started (on h")));
}

#[tokio::test]
async fn scaling_down_and_to_zero_and_back() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 6, demo()).await;
    settle(&mut d, &t, &fake).await;
    t.state.store.set_replicas(id, 0, 1).await.unwrap();
    settle(&mut d, &t, &fake).await;
    assert!(fake.containers().is_empty());
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m.starts_with("replica 6 removed: scaled 6 -> 0")));
    t.state.store.set_replicas(id, 3, 2).await.unwrap();
    settle(&mut d, &t, &fake).await;
    assert_eq!(per_host(&fake, id), [1, 1, 1]);
}

#[tokio::test]
async fn a_killed_replica_is_replaced_with_its_exit_code_and_counted() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 3, demo()).await;
    settle(&mut d, &t, &fake).await;
    let victim = fake.containers()[0].clone();
    fake.kill(&victim.container_id, 137);
    settle(&mut d, &t, &fake).await;
    let slot_now: Vec<_> = fake
        .containers()
        .into_iter()
        .filter(|c| c.slot == victim.slot)
        .collect();
    assert_eq!(slot_now.len(), 1);
    assert_ne!(slot_now[0].container_id, victim.container_id);
    let history = t.state.reconciler.service(id).slots[&victim.slot].clone();
    assert_eq!(history.restarts, 1);
    assert_eq!(history.last_exit.as_deref(), Some("exited with code 137"));
    let want = format!("replica {} replaced: exited with code 137", victim.slot);
    assert!(
        messages(&t, "web")
            .await
            .iter()
            .any(|m| m.starts_with(&want)),
        "{:?}",
        messages(&t, "web").await
    );
}

#[tokio::test]
async fn a_replica_that_keeps_crashing_restarts_after_a_growing_delay() {
    let (t, fake, mut d) = world(1).await;
    let id = add_service(&t, "web", 1, demo()).await;
    settle(&mut d, &t, &fake).await;
    // First crash: replaced at once. Second: it waits.
    for round in 0..2 {
        let c = fake.containers()[0].clone();
        fake.kill(&c.container_id, 1);
        settle(&mut d, &t, &fake).await;
        assert_eq!(fake.containers().len(), 1 - round, "round {round}");
    }
    let seen = t.state.reconciler.service(id);
    assert!(
        seen.problems.iter().any(|p| p.to_string().starts_with(
            "replica 1 restarts in 1 s: it failed 2 times in a row (exited with code 1)"
        )),
        "{:?}",
        seen.problems
    );
    t.advance(1100);
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 1);
    assert!(
        messages(&t, "web").await.iter().any(|m| m.starts_with(
            "replica 1 restarted after 2 failures in a row (exited with code 1) (on h1"
        )),
        "{:?}",
        messages(&t, "web").await
    );
    assert!(
        messages(&t, "web").await.iter().any(|m| m.starts_with(
            "replica 1 restarted after 2 failures in a row (exited with code 1) (on h1"
        )),
        "{:?}",
        messages(&t, "web").await
    );
}

#[tokio::test]
async fn unhealthy_replicas_are_replaced() {
    let (t, fake, mut d) = world(2).await;
    let s = spec(serde_json::json!({
        "image": "demo:v1",
        "health": {"kind": "command", "command": ["true"]}
    }));
    let id = add_service(&t, "web", 2, s).await;
    settle(&mut d, &t, &fake).await;
    let sick = fake.containers()[0].clone();
    fake.set_health(&sick.container_id, Health::Unhealthy);
    settle(&mut d, &t, &fake).await;
    assert!(fake
        .containers()
        .iter()
        .all(|c| c.container_id != sick.container_id));
    assert_eq!(fake.containers().len(), 2);
    assert_eq!(
        t.state.reconciler.service(id).slots[&sick.slot]
            .last_exit
            .as_deref(),
        Some("unhealthy")
    );
}

#[tokio::test]
async fn failing_starts_are_shown_and_backed_off_until_a_write() {
    let (t, fake, mut d) = world(1).await;
    let id = add_service(&t, "web", 1, demo()).await;
    fake.fail_starts(100);
    d.pass(&t.state).await;
    settle(&mut d, &t, &fake).await;
    let starts = fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("start"))
        .count();
    // Waits instead of hammering the engine.
    for _ in 0..5 {
        d.pass(&t.state).await;
    }
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("start"))
            .count(),
        starts
    );
    let seen = t.state.reconciler.service(id);
    let error = seen.last_error.unwrap();
    assert!(
        error.starts_with(
            "replica 1 not started on h1: the engine refused to start it (retrying in "
        ),
        "{error}"
    );
    assert_eq!(
        seen.slots[&1].start_failure.as_ref().unwrap().error,
        "the engine refused to start it"
    );
    // A write tries again at once.
    fake.fail_starts(0);
    t.state.reconciler.written(id);
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 1);
    let seen = t.state.reconciler.service(id);
    assert_eq!(seen.last_error, None);
    assert_eq!(seen.slots[&1].start_failure, None);
}

#[tokio::test]
async fn missing_images_are_pulled_and_a_failed_pull_says_why() {
    let (t, fake, mut d) = world(1).await;
    fake.missing_image("demo:v1", false);
    add_service(&t, "web", 1, demo()).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.calls()[0], "pull demo:v1@h1");
    assert_eq!(fake.containers().len(), 1);
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m == "replica 1: pulled demo:v1 on h1"));

    fake.missing_image("demo:gone", true);
    let id = add_service(
        &t,
        "gone",
        1,
        spec(serde_json::json!({"image": "demo:gone"})),
    )
    .await;
    settle(&mut d, &t, &fake).await;
    let failure = t.state.reconciler.service(id).slots[&1]
        .start_failure
        .clone()
        .unwrap();
    assert_eq!(failure.error, "pulling demo:gone failed: manifest unknown");
}

#[tokio::test]
async fn replicas_of_a_lost_host_move_after_the_grace_and_leftovers_go_when_it_returns() {
    let (t, fake, mut d) = world(3).await;
    t.state.reconciler.configure(crate::reconciler::Settings {
        host_grace: Duration::from_millis(300),
        interval: Duration::from_secs(10),
    });
    let id = add_service(&t, "web", 3, demo()).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(per_host(&fake, id), [1, 1, 1]);

    fake.fail_host(3, true);
    t.set_host_answering(3, false);
    settle(&mut d, &t, &fake).await;
    // Within the grace it waits, and says so.
    let seen = t.state.reconciler.service(id);
    assert!(
        seen.problems.iter().any(|p| p.slot() == 3
            && p.to_string()
                .ends_with("waits: its host does not answer (grace 0 s)")),
        "{:?}",
        seen.problems
    );
    t.advance(350);
    settle(&mut d, &t, &fake).await;
    let live: Vec<_> = fake
        .containers()
        .into_iter()
        .filter(|c| c.host_id != 3)
        .collect();
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m.contains("moved: host h3 unreachable for")));

    // The host comes back with its old replica: the extra copy goes.
    fake.fail_host(3, false);
    t.set_host_answering(3, true);
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 3);
    assert_eq!(per_host(&fake, id).iter().sum::<usize>(), 3);
}

#[tokio::test]
async fn a_restarted_berth_adopts_what_runs_and_duplicates_nothing() {
    let (t, fake, mut d) = world(3).await;
    let id = add_service(&t, "web", 6, demo()).await;
    settle(&mut d, &t, &fake).await;
    let before: Vec<String> = fake
        .containers()
        .into_iter()
        .map(|c| c.container_id)
        .collect();
    let calls = fake.calls().len();
    // A new loop with nothing in memory, as after a restart.
    let mut fresh = Driver::default();
    t.state.reconciler.retain(|_| false);
    fresh.pass(&t.state).await;
    settle(&mut fresh, &t, &fake).await;
    assert_eq!(fake.calls().len(), calls, "{:?}", &fake.calls()[calls..]);
    let after: Vec<String> = fake
        .containers()
        .into_iter()
        .map(|c| c.container_id)
        .collect();
    assert_eq!(before, after);
    assert_eq!(t.state.reconciler.service(id).replicas.len(), 6);
}

#[tokio::test]
async fn replicas_of_a_deleted_service_are_removed() {
    let (t, fake, mut d) = world(2).await;
    let id = add_service(&t, "web", 2, demo()).await;
    settle(&mut d, &t, &fake).await;
    t.state.store.delete_service(id, 1, false).await.unwrap();
    settle(&mut d, &t, &fake).await;
    assert!(fake.containers().is_empty());
    assert!(messages(&t, "web")
        .await
        .iter()
        .any(|m| m.contains("its service was deleted")));
}

#[tokio::test]
async fn what_cannot_be_placed_waits_and_says_why() {
    let (t, fake, mut d) = world(2).await;
    let s =
        spec(serde_json::json!({"image": "demo:v1", "resources": {"memory_bytes": 3u64 << 30}}));
    let id = add_service(&t, "big", 3, s).await;
    settle(&mut d, &t, &fake).await;
    assert_eq!(fake.containers().len(), 2);
    let seen = t.state.reconciler.service(id);
    assert_eq!(
        seen.problems,
        ["replica 3 not placed: 2 hosts lack 3.0 GiB free memory"]
    );
    assert!(messages(&t, "big")
        .await
        .iter()
        .any(|m| m == "replica 3 not placed: 2 hosts lack 3.0 GiB free memory"));
}

#[test]
fn back_off_doubles_up_to_a_minute() {
    assert_eq!(
        [0, 1, 2, 3, 4, 8, 30].map(backoff_ms),
        [0, 0, 1000, 2000, 4000, 60_000, 60_000]
    );
}

#[tokio::test]
async fn secrets_are_opened_only_when_a_container_is_made() {
    let (t, fake, mut d) = world(1).await;
    let team = t.add_team("web").await;
    let put = |value: &'static str| {
        let keyring = t.state.keyring.clone();
        let store = t.state.store.clone();
        async move {
            store
                .put_secret(team, "pw", "test", 1, |v| {
                    keyring.seal(&crate::secrets::context(team, "pw", v), value.as_bytes())
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(put("first-value").await, 1);
    let id = add_service(
        &t,
        "db",
        1,
        spec(serde_json::json!({
            "image": "demo:v1",
            "env": {"MODE": "x", "PW": {"secret": "pw", "version": 1}}
        })),
    )
    .await;
    settle(&mut d, &t, &fake).await;
    let c = fake.containers();
    assert_eq!(c.len(), 1);
    let mut env = fake.env_of(&c[0].container_id);
    env.sort();
    assert_eq!(env, ["MODE=x", "PW=first-value"]);

    // A revision pinned to a version that is gone: the start fails, says which
    // secret and version, and shows no value.
    put("second-value").await;
    let gone = spec(serde_json::json!({
        "image": "demo:v1", "env": {"PW": {"secret": "pw", "version": 7}}
    }));
    t.state
        .store
        .add_revision(id, &gone, "test", "", t.state.clock.now_ms())
        .await
        .unwrap();
    let _ = d.pass(&t.state).await;
    d.finish().await;
    let events = messages(&t, "db").await.join("\n");
    assert!(
        events.contains("PW: secret pw version 7 no longer exists"),
        "{events}"
    );
    assert!(!events.contains("-value"), "{events}");
}

#[tokio::test]
async fn a_revision_from_before_the_rules_is_not_started() {
    let (t, fake, mut d) = world(1).await;
    // A spec as one could be written before bind mounts were refused.
    let bind: ServiceSpec = spec(serde_json::json!({
        "image": "demo:v1",
        "volumes": [{"name": "root", "path": "/host",
                     "options": {"type": "none", "o": "bind", "device": "/"}}]
    }));
    add_service(&t, "old", 1, bind).await;
    let _ = d.pass(&t.state).await;
    d.finish().await;
    assert!(fake.containers().is_empty(), "{:?}", fake.containers());
    let events = messages(&t, "old").await.join("\n");
    assert!(
        events.contains("revision 1 is no longer allowed"),
        "{events}"
    );
    assert!(events.contains("bind"), "{events}");
}

#[test]
fn restarts_of_slots_that_keep_failing_wait_their_growing_delay() {
    const NOW: i64 = 100_000;
    let start = |slot| Action::Start {
        service_id: 1,
        slot,
        host_id: 1,
        reason: plan::Reason::Replaced {
            slot,
            why: "exited with code 1".into(),
        },
    };
    let crash = |slot| Action::Remove {
        service_id: 1,
        slot,
        host_id: 1,
        container_id: format!("c{slot}"),
        reason: plan::Reason::Failed {
            slot,
            why: "exited with code 1".into(),
        },
    };
    let history = |failures_in_row, last_failure_ms| crate::reconciler::SlotHistory {
        failures_in_row,
        last_failure_ms,
        last_exit: Some("exited with code 3".into()),
        ..Default::default()
    };
    // (slot's history, crashed this pass, start kept, the delay's end)
    let cases = [
        (history(0, 0), false, true, None),
        (history(0, 0), true, true, None),
        (history(1, NOW - 500), false, true, None),
        (history(1, 0), true, false, Some(NOW + 1_000)),
        (history(3, NOW - 1_000), false, false, Some(NOW + 1_000)),
        (history(3, NOW - 4_000), false, true, None),
        (history(30, NOW), false, false, Some(NOW + 60_000)),
    ];
    for (i, (h, crashed, kept, until)) in cases.into_iter().enumerate() {
        let mut actions = vec![start(1)];
        if crashed {
            actions.insert(0, crash(1));
        }
        let (delayed, earliest) = delay_restarts(&mut actions, |_, _| h.clone(), NOW);
        let started = actions.iter().any(|a| matches!(a, Action::Start { .. }));
        assert_eq!((started, earliest), (kept, until), "case {i}");
        assert_eq!(
            actions.len(),
            usize::from(crashed) + usize::from(kept),
            "case {i}"
        );
        if !kept {
            let why = if crashed {
                "exited with code 1"
            } else {
                "exited with code 3"
            };
            assert!(
                delayed[&1][0]
                    .to_string()
                    .ends_with(&format!("in a row ({why})")),
                "case {i}: {delayed:?}"
            );
        }
    }
}
