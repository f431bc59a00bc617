//! Canary rollouts on the three test hosts, through the proxy: a canary at 10%
//! takes 7-13% of 2,000 requests (the split is exact per 100 turns, so it is
//! 10%), 50% after a promote; an abort under load sends every request back to
//! the old replicas at once, with none failed.
//! Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::time::{Duration, Instant};

use common::{client, cluster, demo_spec, get, ok_json, send, serve_proxy, Auth, Load};
use serde_json::{json, Value};
use server::testing::TestState;

const REPLICAS: u64 = 4;

async fn service(t: &TestState, auth: &Auth) -> Value {
    send(&t.router(), "GET", "/api/v1/services/shop", auth, None, &[])
        .await
        .json()
}

/// The share of `requests` (sent by 4 workers at once) that the new revision
/// (`version=v2` on the demo's info page) answered, and any that failed.
async fn shares(port: u16, requests: usize) -> (usize, usize, Vec<String>) {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let sent = sent.clone();
            tokio::spawn(async move {
                let c = client();
                let (mut v2, mut all, mut failed) = (0, 0, Vec::new());
                while sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    match get(&c, port, "shop.localhost", "/cgi-bin/info").await {
                        Ok((200, body)) => {
                            all += 1;
                            if body.contains("version=v2") {
                                v2 += 1;
                            }
                        }
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (v2, all, failed)
            })
        })
        .collect();
    let (mut v2, mut all, mut failed) = (0, 0, Vec::new());
    for w in workers {
        let (a, b, c) = w.await.unwrap();
        v2 += a;
        all += b;
        failed.extend(c);
    }
    (v2, all, failed)
}

/// Waits until the proxy splits the service's route: `weight` percent to
/// `canaries` new replicas.
async fn split(t: &TestState, weight: u8, canaries: usize) {
    common::until("the proxy's split", Duration::from_secs(90), || async {
        let routes = t.state.proxy.routes();
        let route = routes.iter().find(|r| r.service == "shop");
        match route.and_then(|r| r.canary.as_ref().map(|c| (r, c))) {
            Some((r, c))
                if c.weight == weight
                    && c.canaries.len() == canaries
                    && r.backends.len() == REPLICAS as usize + canaries =>
            {
                Ok(())
            }
            _ => Err(format!("{route:?}")),
        }
    })
    .await
}

/// Berth's proxy, and the service `shop` with its 4 replicas of v1 healthy; the
/// proxy's port.
async fn four_of_v1(t: &TestState, auth: &Auth) -> u16 {
    let port = serve_proxy(t).await;
    t.add_team("shop").await;
    let v1 = demo_spec("v1", json!({}));
    let body = json!({"name": "shop", "team": "shop", "replicas": REPLICAS, "spec": v1});
    ok_json(t, auth, "POST", "/api/v1/services", Some(body)).await;
    common::until("4 healthy", Duration::from_secs(90), || async {
        let d = service(t, auth).await;
        if d["service"]["healthy"] == REPLICAS {
            Ok(())
        } else {
            Err(d["service"].to_string())
        }
    })
    .await;
    port
}

#[tokio::test]
async fn a_canary_takes_its_weight_is_promoted_and_an_abort_sends_all_back_at_once() {
    let (t, auth, _cleanup) = cluster(None).await;
    let port = four_of_v1(&t, &auth).await;

    // A canary of v2: 10% until promoted, then 50% until promoted.
    let steps = json!([{"weight": 10}, {"weight": 50}]);
    let v2 = demo_spec("v2", json!({"update": {"canary": {"steps": steps}}}));
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/shop/deploy",
        Some(json!({ "spec": v2 })),
    )
    .await;
    split(&t, 10, 1).await;
    let (to_v2, answered, failed) = shares(port, 2000).await;
    let ten = to_v2 as f64 / answered as f64;
    eprintln!(
        "canary 10%: {to_v2} of {answered} requests to the new revision ({:.2}%)",
        ten * 100.0
    );
    assert!(failed.is_empty(), "{failed:#?}");
    assert!((0.07..=0.13).contains(&ten), "{to_v2} of {answered}");
    let d = service(&t, &auth).await;
    let canary = &d["service"]["rollout"]["canary"];
    assert_eq!(
        (canary["weight"].as_u64(), canary["ready"].as_u64()),
        (Some(10), Some(1)),
        "{d}"
    );
    // The old replicas all stay beside it.
    let on = |rev: i64| {
        d["service"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["revision"] == rev)
            .count()
    };
    assert_eq!((on(1), on(2)), (4, 1));

    // Promoted: 50%, two new replicas beside the four old.
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/shop/rollout/promote",
        Some(json!({})),
    )
    .await;
    split(&t, 50, 2).await;
    let (to_v2, answered, failed) = shares(port, 1000).await;
    let half = to_v2 as f64 / answered as f64;
    eprintln!(
        "canary 50%: {to_v2} of {answered} requests to the new revision ({:.2}%)",
        half * 100.0
    );
    assert!(failed.is_empty(), "{failed:#?}");
    assert!((0.45..=0.55).contains(&half), "{to_v2} of {answered}");

    // Aborted under load: every request back to the old replicas at once, none
    // failed.
    let load = Load::start(port, "shop.localhost", "/", 8);
    common::until("load", Duration::from_secs(10), || async {
        if load.answered() > 100 {
            Ok(())
        } else {
            Err(load.answered().to_string())
        }
    })
    .await;
    let aborted = Instant::now();
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/shop/rollout/abort",
        None,
    )
    .await;
    let gone = common::until(
        "the canaries out of the proxy",
        Duration::from_secs(10),
        || async {
            let routes = t.state.proxy.routes();
            let r = routes.iter().find(|r| r.service == "shop").unwrap();
            if r.canary.is_none() && r.backends.len() == REPLICAS as usize {
                Ok(aborted.elapsed())
            } else {
                Err(format!("{r:?}"))
            }
        },
    )
    .await;
    let (to_v2, answered, failed) = shares(port, 500).await;
    assert_eq!(
        (to_v2, failed.len()),
        (0, 0),
        "{answered} answered: {failed:#?}"
    );
    let (ok, failures) = load.finish().await;
    eprintln!("abort: the canaries out of the proxy {gone:?} after the abort's answer; {ok} requests under load, {} failed", failures.len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(gone < Duration::from_secs(2), "{gone:?}");
    let d = service(&t, &auth).await;
    assert_eq!(d["rollouts"][1]["state"], "aborted", "{d}");
    assert_eq!(d["service"]["revision"], 1);
}

#[tokio::test]
async fn a_canary_that_answers_500_is_rolled_back_by_its_gate_within_its_share() {
    let (t, auth, _cleanup) = cluster(None).await;
    let port = four_of_v1(&t, &auth).await;
    let load = Load::start(port, "shop.localhost", "/", 8);
    // A canary at 10% of a release whose health checks pass and whose / fails.
    let update = json!({
        "canary": {"steps": [{"weight": 10}]},
        "gates": {"max_error_rate": 0.05, "window_ms": 10_000}
    });
    let erring = demo_spec("erring", json!({ "update": update }));
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/shop/deploy",
        Some(json!({ "spec": erring })),
    )
    .await;
    let (breach, answered_then) =
        common::until("the gate's breach", Duration::from_secs(60), || async {
            let d = service(&t, &auth).await;
            let failed = d["rollouts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["to_revision"] == 2 && r["state"] == "rolled_back");
            if failed {
                Ok((Instant::now(), load.answered()))
            } else {
                Err(d["rollouts"].to_string())
            }
        })
        .await;
    // 500 more answers once it is rolled back: none fails.
    load.answers_after(answered_then, 500).await;
    let last = load.failed_at().map(|(_, last)| last);
    let (ok, failures) = load.finish().await;
    let d = service(&t, &auth).await;
    let reason = d["rollouts"][1]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rolled back: new replicas answered "),
        "{reason}"
    );
    assert!(!failures.is_empty(), "the canary answered nothing");
    assert!(
        failures.iter().all(|f| f.starts_with("Ok((500,")),
        "{failures:#?}"
    );
    // Only the canary's share failed: at most 13% of what was answered by the
    // breach, and nothing after it (seen by polling every 100 ms).
    let share = failures.len() as f64 / (answered_then as f64 + failures.len() as f64);
    let after = last.map(|l| l.saturating_duration_since(breach));
    eprintln!(
        "canary gate: {} of {} requests failed until the breach ({:.1}%), {ok} answered in all; the last failure {after:?} after the breach was seen",
        failures.len(),
        answered_then + failures.len() as u64,
        share * 100.0
    );
    assert!(share <= 0.13, "{share}");
    assert!(
        after.is_some_and(|a| a < Duration::from_millis(200)),
        "{after:?}"
    );
}
