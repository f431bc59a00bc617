//! Rollout gates on the three test hosts, under load through the proxy: a
//! release that passes its health checks but answers 500 on `/` (the demo's
//! `erring` image) is rolled back by its error gate, with the figures in the
//! reason; every request that failed was one the new replicas answered before
//! the breach (none of the proxy's own), and once the breach is seen, none
//! fails: the new replicas leave the proxy while the old ones come back.
//! Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::time::{Duration, Instant};

use common::{cluster, demo_spec, ok_json, send, serve_proxy, Auth, Load};
use serde_json::{json, Value};
use server::testing::TestState;

const REPLICAS: u64 = 4;

async fn service(t: &TestState, auth: &Auth) -> Value {
    send(&t.router(), "GET", "/api/v1/services/shop", auth, None, &[])
        .await
        .json()
}

/// Waits until the service runs `REPLICAS` healthy replicas of `revision`, and
/// its latest rollout satisfies `rollout`.
async fn settled(
    t: &TestState,
    auth: &Auth,
    revision: i64,
    rollout: impl Fn(&Value) -> bool,
) -> Value {
    common::until("the service settled", Duration::from_secs(120), || async {
        let d = service(t, auth).await;
        let s = &d["service"];
        let all_at = s["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["revision"] == revision);
        if s["revision"] == revision && s["healthy"] == REPLICAS && all_at && rollout(&d) {
            Ok(d)
        } else {
            Err(d.to_string())
        }
    })
    .await
}

#[tokio::test]
async fn a_release_that_answers_500_is_rolled_back_by_its_error_gate() {
    let (t, auth, _cleanup) = cluster(Some(Duration::from_secs(5))).await;
    let port = serve_proxy(&t).await;
    t.add_team("shop").await;
    let v1 = demo_spec("v1", json!({}));
    let body = json!({"name": "shop", "team": "shop", "replicas": REPLICAS, "spec": v1});
    ok_json(&t, &auth, "POST", "/api/v1/services", Some(body)).await;
    settled(&t, &auth, 1, |_| true).await;

    // Under load on /, a release whose health checks pass and whose / answers 500.
    let load = Load::start(port, "shop.localhost", "/", 8);
    let update = json!({
        "batch_size": 1, "max_surge": 1,
        "gates": {"max_error_rate": 0.05, "window_ms": 10_000}
    });
    let erring = demo_spec("erring", json!({ "update": update }));
    let deployed = Instant::now();
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/shop/deploy",
        Some(json!({ "spec": erring })),
    )
    .await;
    let failed_at = common::until("the gate's breach", Duration::from_secs(60), || async {
        let d = service(&t, &auth).await;
        let failed = d["rollouts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["to_revision"] == 2 && r["state"] == "rolled_back");
        if failed {
            Ok(Instant::now())
        } else {
            Err(d["rollouts"].to_string())
        }
    })
    .await;
    let d = settled(&t, &auth, 1, |d| {
        d["rollouts"][0]["kind"] == "auto_rollback" && d["rollouts"][0]["state"] == "succeeded"
    })
    .await;
    // 500 more answers on the old revision: none fails.
    load.answers_after(load.answered(), 500).await;
    let (first_failure, last_failure) = load
        .failed_at()
        .expect("the erring release failed requests");
    let (ok, failures) = load.finish().await;

    let reason = d["rollouts"][1]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rolled back: new replicas answered ")
            && reason.contains("% 5xx over ")
            && reason.ends_with(", limit 5%"),
        "{reason}"
    );
    // Every failure was the new release's own 500; none was the proxy's.
    assert!(!failures.is_empty(), "the erring release answered nothing");
    assert!(
        failures.iter().all(|f| f.starts_with("Ok((500,")),
        "{failures:#?}"
    );
    let after = last_failure.saturating_duration_since(failed_at);
    eprintln!(
        "gate: the first 500 {:?} after the deploy, the last {:?} after the first (then all traffic on the old revision); {} of {} requests failed (all 500 from the new release); the breach seen {:?} after the first",
        first_failure.duration_since(deployed),
        last_failure.duration_since(first_failure),
        failures.len(),
        ok + failures.len() as u64,
        failed_at.saturating_duration_since(first_failure),
    );
    // The breach is seen by polling every 100 ms; a failure more than a pass
    // after that is one the proxy sent to a new replica after the breach
    // (without taking them out, they would serve until their replacements
    // turned healthy: half a second and more).
    assert!(after < Duration::from_millis(200), "{after:?}");
}
