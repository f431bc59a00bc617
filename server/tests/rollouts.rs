//! Rollouts on the three test hosts, under load through the proxy: v1 -> v2 with
//! ten replicas never has fewer than ten healthy serving and fails no request; a
//! broken revision rolls back by itself, failing no request; a rollback to
//! revision 1 works; a Berth restarted in the middle of a batched rollout finishes
//! it without duplicates. Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    cluster, demo_spec, docker, ok_json, send, serve_proxy, test_hosts, Auth, Load, HEARTBEAT,
};
use serde_json::{json, Value};
use server::testing::TestState;

const REPLICAS: u64 = 10;

async fn service(t: &TestState, auth: &Auth) -> Value {
    send(&t.router(), "GET", "/api/v1/services/web", auth, None, &[])
        .await
        .json()
}

/// Replicas running and healthy (any revision) that the proxy can send to.
fn serving(s: &Value) -> u64 {
    s["service"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "running" && i["health"] == "healthy")
        .count() as u64
}

/// Polls until the latest rollout is `state` (any, when empty) and the service
/// settled at `revision`;
/// meanwhile counts the fewest replicas serving seen.
async fn wait_rollout(
    t: &TestState,
    auth: &Auth,
    state: &str,
    revision: i64,
    fewest: &AtomicU64,
) -> Value {
    let started = Instant::now();
    loop {
        let d = service(t, auth).await;
        fewest.fetch_min(serving(&d), Ordering::Relaxed);
        let s = &d["service"];
        let done = state.is_empty() || d["rollouts"][0]["state"] == state;
        if done
            && s["revision"] == revision
            && s["phase"] == "running"
            && s["healthy"] == REPLICAS
            && s["instances"].as_array().unwrap().len() as u64 == REPLICAS
        {
            return d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no {state} rollout at revision {revision}: {}",
            serde_json::to_string_pretty(&d).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(t: &TestState, auth: &Auth, uri: &str, body: Value) -> Value {
    ok_json(t, auth, "POST", uri, Some(body)).await
}

/// Keeps counting the fewest serving replicas in the background.
fn watch(t: &TestState, auth: &Auth) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
    let fewest = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let (f, s, router, auth) = (fewest.clone(), stop.clone(), t.router(), auth.clone());
    tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            let d = send(&router, "GET", "/api/v1/services/web", &auth, None, &[])
                .await
                .json();
            f.fetch_min(serving(&d), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (fewest, stop)
}

fn spec(tag: &str, update: Value) -> Value {
    demo_spec(tag, json!({ "update": update }))
}

#[tokio::test]
async fn rollouts_and_rollbacks_fail_no_request() {
    let (mut t, auth, cleanup) = cluster(Some(Duration::from_secs(5))).await;
    let owner = cleanup.0.clone();
    let port = serve_proxy(&t).await;
    t.add_team("web").await;
    post(
        &t,
        &auth,
        "/api/v1/services",
        json!({
            "name": "web", "team": "web", "replicas": REPLICAS, "spec": spec("v1", json!({}))
        }),
    )
    .await;
    let none = AtomicU64::new(u64::MAX);
    // Created: no rollout, just replicas.
    wait_rollout(&t, &auth, "", 1, &none).await;

    // v1 -> v2, two at a time, start-first, under load.
    let load = Load::start(port, "web.localhost", "/healthz", 8);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (fewest, stop) = watch(&t, &auth);
    let began = Instant::now();
    post(
        &t,
        &auth,
        "/api/v1/services/web/deploy",
        json!({"spec": spec("v2", json!({"max_surge": 2}))}),
    )
    .await;
    let d = wait_rollout(&t, &auth, "succeeded", 2, &fewest).await;
    let took = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, failures) = load.finish().await;
    eprintln!(
        "rollout of {REPLICAS} v1 -> v2: {took:?}, {ok} requests answered, {} failed, fewest serving {}",
        failures.len(),
        fewest.load(Ordering::Relaxed)
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        fewest.load(Ordering::Relaxed) >= REPLICAS,
        "fewer than {REPLICAS} serving at a moment"
    );
    assert!(d["service"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["revision"] == 2));

    // v2 -> broken: it rolls back to v2 by itself, and no request fails.
    let load = Load::start(port, "web.localhost", "/healthz", 8);
    post(
        &t,
        &auth,
        "/api/v1/services/web/deploy",
        json!({"spec": spec("broken", json!({"max_surge": 2}))}),
    )
    .await;
    let fewest = AtomicU64::new(u64::MAX);
    let d = wait_rollout(&t, &auth, "succeeded", 2, &fewest).await;
    let (ok, failures) = load.finish().await;
    eprintln!(
        "automatic rollback: {ok} requests answered, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(d["rollouts"][0]["kind"], "auto_rollback");
    let reason = d["rollouts"][1]["reason"].as_str().unwrap();
    assert_eq!(d["rollouts"][1]["state"], "rolled_back");
    assert!(reason.starts_with("rolled back: "), "{reason}");
    assert!(
        reason.contains("of revision 3 failed: unhealthy (GET /healthz answered 404)"),
        "{reason}"
    );
    let events: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("rollout to revision 3 rolled back to revision 2")),
        "{events:?}"
    );

    // Back to revision 1 in one action.
    post(
        &t,
        &auth,
        "/api/v1/services/web/rollback",
        json!({"revision": 1}),
    )
    .await;
    let d = wait_rollout(&t, &auth, "succeeded", 1, &fewest).await;
    assert_eq!(d["rollouts"][0]["kind"], "rollback");
    let c = common::client();
    assert_eq!(
        common::get(&c, port, "web.localhost", "/healthz")
            .await
            .unwrap(),
        (200, "ok v1\n".into())
    );

    // A batched rollout, Berth restarted after its first batch: it finishes, and
    // nothing is duplicated.
    post(
        &t,
        &auth,
        "/api/v1/services/web/deploy",
        json!({
            "spec": spec("v2", json!({"batch_size": 3, "delay_ms": 1500}))
        }),
    )
    .await;
    let started = Instant::now();
    loop {
        let d = service(&t, &auth).await;
        if d["service"]["rollout"]["new_ready"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no first batch: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.restart().await;
    t.spawn_background(HEARTBEAT);
    let d = wait_rollout(&t, &auth, "succeeded", 4, &fewest).await;
    assert!(d["service"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["revision"] == 4));
    let total: usize = test_hosts()
        .iter()
        .map(|h| {
            docker(
                h,
                &[
                    "ps",
                    "-q",
                    "--filter",
                    &format!("label=berth.owner={owner}"),
                ],
            )
            .split_whitespace()
            .count()
        })
        .sum();
    assert_eq!(total as u64, REPLICAS, "no duplicates after the restart");
    assert_eq!(
        send(&t.router(), "GET", "/api/v1/rollouts", &auth, None, &[])
            .await
            .status,
        StatusCode::OK
    );
}
