//! The history over the in-memory runtime and the real reconcile loop, and the
//! real proxy in front of a server of the test's own: each replica's CPU and
//! memory step by step, a host's replicas added up for each team, a service's
//! traffic (requests per second, errors, p99) as the proxy counted it, the same
//! in `/metrics`; bad input and other teams' callers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{ok_json, send, Auth};
use domain::wire::Balance;
use serde_json::{json, Value};
use server::history::History;
use server::proxy::table::{Backend, HostMatch, RouteInput};
use server::testing::TestState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const MIB: f64 = 1_048_576.0;

struct World {
    t: TestState,
    root: Auth,
    web: Auth,
    db: Auth,
    stop: CancellationToken,
    /// When the last step read the proxy's counters.
    last: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl World {
    /// Teams web (alice) and db (bob), a history of a step a second whose steps
    /// the test takes itself (`step`), as the sampler would.
    async fn new(hosts: usize) -> World {
        let (mut t, _fake) = TestState::with_fake(hosts).await;
        t.state.history = Arc::new(History::new(Duration::from_secs(1)));
        let (root, web, db) = common::web_and_db(&t).await;
        World {
            root,
            web,
            db,
            stop: CancellationToken::new(),
            last: Default::default(),
            t,
        }
    }

    /// One step of history, as the sampler takes it.
    async fn step(&self) {
        let mut last = self.last.lock().await;
        server::history::sampler::step(&self.t.state, &mut last).await;
    }

    /// Waits until the service runs `n` replicas.
    async fn runs(&self, name: &str, n: usize) {
        let uri = format!("/api/v1/services/{name}");
        self.until(&format!("{name} runs {n}"), &self.root, &uri, |v| {
            v["service"]["instances"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["state"] == "running")
                .count()
                == n
        })
        .await;
    }

    async fn create(&self, name: &str, team: &str, replicas: u32, spec: Value) {
        let body = json!({"name": name, "team": team, "replicas": replicas, "spec": spec});
        ok_json(&self.t, &self.root, "POST", "/api/v1/services", Some(body)).await;
    }

    async fn ask(&self, auth: &Auth, uri: &str) -> (StatusCode, Value) {
        let r = send(&self.t.router(), "GET", uri, auth, None, &[]).await;
        let v = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        (r.status, v)
    }

    /// Asks `uri` as `auth` until the answer satisfies `cond`.
    async fn until(
        &self,
        what: &str,
        auth: &Auth,
        uri: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        common::until(what, Duration::from_secs(20), || async {
            self.t.state.reconciler.poke();
            let (status, v) = self.ask(auth, uri).await;
            if status == StatusCode::OK && cond(&v) {
                Ok(v)
            } else {
                Err(format!("{status} {v}"))
            }
        })
        .await
    }
}

fn last(series: &Value) -> Option<f64> {
    series.as_array()?.iter().rev().find_map(|v| v.as_f64())
}

#[tokio::test]
async fn replicas_cpu_and_memory_step_by_step_and_a_hosts_sum_for_each_team() {
    let w = World::new(1).await;
    tokio::spawn(server::reconciler::driver::run(
        w.t.state.clone(),
        w.stop.clone(),
    ));
    w.create("shop", "web", 2, json!({"image": "demo:v1"}))
        .await;
    w.create("ledger", "db", 1, json!({"image": "demo:v1"}))
        .await;
    w.runs("shop", 2).await;
    w.runs("ledger", 1).await;
    // The in-memory runtime's containers use 5 % of one CPU and 32 MiB and a
    // MiB a slot; CPU needs two readings.
    w.step().await;
    let (_, v) = w.ask(&w.web, "/api/v1/services/shop/history").await;
    assert!(
        v["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| last(&r["cpu_percent"]).is_none()),
        "{v}"
    );
    w.step().await;
    let (status, v) = w.ask(&w.web, "/api/v1/services/shop/history").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let current = v["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["current"] == true)
        .count();
    assert_eq!(current, 2, "{v}");
    let n = v["times_ms"].as_array().unwrap().len();
    assert_eq!(n, 2, "{v}");
    assert_eq!(v["step_ms"], 1000);
    for r in v["replicas"].as_array().unwrap() {
        assert_eq!(r["cpu_percent"].as_array().unwrap().len(), n, "{r}");
        assert_eq!(r["memory_bytes"].as_array().unwrap().len(), n, "{r}");
        assert!(r["container_id"].as_str().unwrap().len() <= 12, "{r}");
        let slot = r["slot"].as_f64().unwrap();
        assert_eq!(last(&r["cpu_percent"]), Some(5.0), "{r}");
        assert_eq!(last(&r["memory_bytes"]), Some((32.0 + slot) * MIB), "{r}");
    }
    // No proxy route: no traffic, but one null a step.
    assert_eq!(
        v["traffic"]["requests_per_second"]
            .as_array()
            .unwrap()
            .len(),
        n
    );
    assert_eq!(last(&v["traffic"]["requests_per_second"]), None);

    // The host holds all three replicas: the admin sees them added up, each
    // team only its own.
    let host = v["replicas"][0]["host"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/hosts/{host}/history");
    let (_, all) = w.ask(&w.root, &uri).await;
    assert_eq!(all["replicas"], json!([3, 3]), "{all}");
    assert_eq!(last(&all["memory_bytes"]), Some((33.0 + 34.0 + 33.0) * MIB));
    let (_, web) = w.ask(&w.web, &uri).await;
    assert_eq!(
        web["replicas"].as_array().unwrap().last(),
        Some(&json!(2)),
        "{web}"
    );
    assert_eq!(last(&web["memory_bytes"]), Some((33.0 + 34.0) * MIB));
    let (_, db) = w.ask(&w.db, &uri).await;
    assert_eq!(
        db["replicas"].as_array().unwrap().last(),
        Some(&json!(1)),
        "{db}"
    );
    assert_eq!(last(&db["cpu_percent"]), Some(5.0));

    // /metrics: alice's replicas, not bob's.
    let r = send(&w.t.router(), "GET", "/metrics", &w.web, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text
            .contains("berth_replica_memory_bytes{service=\"shop\""),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("berth_replica_cpu_percent{service=\"shop\""),
        "{}",
        r.text
    );
    assert!(!r.text.contains("service=\"ledger\""), "{}", r.text);

    // Another team's service is not theirs to read; bad names and strangers.
    let (status, v) = w.ask(&w.db, "/api/v1/services/shop/history").await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status} {v}"
    );
    assert!(!v.to_string().contains("cpu_percent"));
    for (uri, want) in [
        ("/api/v1/services/nothing/history", StatusCode::NOT_FOUND),
        ("/api/v1/hosts/nowhere/history", StatusCode::NOT_FOUND),
    ] {
        let (status, v) = w.ask(&w.root, uri).await;
        assert_eq!(status, want, "{uri}: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    for uri in [
        "/api/v1/services/shop/history".to_string(),
        uri.clone(),
        "/api/v1/proxy/history".to_string(),
    ] {
        let (status, _) = w.ask(&Auth::None, &uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

/// A server of the test's own on 127.0.0.1: 500 on `/fail`, 200 otherwise.
async fn backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let status = if buf.starts_with(b"GET /fail") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_services_traffic_is_what_went_through_the_proxy_step_by_step() {
    let w = World::new(1).await;
    w.create("shop", "web", 1, json!({"image": "demo:v1", "port": 8080}))
        .await;
    w.create("ledger", "db", 1, json!({"image": "demo:v1", "port": 8080}))
        .await;
    let rows = w.t.state.store.list_services().await.unwrap();
    let route = |name: &str, prefix: &str, backend: &str| {
        let row = rows.iter().find(|r| r.name == name).unwrap();
        RouteInput {
            service_id: row.id,
            team_id: row.team_id,
            service: name.into(),
            host: HostMatch::Any,
            prefix: prefix.into(),
            strip: false,
            redirect: false,
            balance: Balance::RoundRobin,
            backends: vec![Backend {
                container_id: format!("{name}-replica-1"),
                slot: 1,
                host: "h1".into(),
                authority: backend.into(),
            }],
            canary: None,
        }
    };
    let (shop, ledger) = (backend().await, backend().await);
    w.t.state.proxy.update(vec![
        route("ledger", "/ledger", &ledger),
        route("shop", "/", &shop),
    ]);
    let port = common::serve_proxy(&w.t).await;
    // The first step is where counting starts; then 90 answered and 10 failed
    // in the next step.
    w.step().await;
    for i in 0..100 {
        let path = if i % 10 == 0 { "/fail" } else { "/" };
        let (status, _) = common::http_get("127.0.0.1", port, path).await.unwrap();
        assert_eq!(status, if i % 10 == 0 { 500 } else { 200 });
    }
    w.step().await;
    let (status, v) = w.ask(&w.web, "/api/v1/services/shop/history").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let t = &v["traffic"];
    assert_eq!(t["requests_per_second"][0], Value::Null, "{v}");
    assert!(t["requests_per_second"][1].as_f64().unwrap() > 0.0, "{v}");
    // Kept as f32: 0.1 within its precision.
    let rate = t["error_rate"][1].as_f64().unwrap();
    assert!((rate - 0.1).abs() < 1e-6, "{v}");
    assert!(t["p99_ms"][1].as_f64().unwrap() > 0.0, "{v}");
    // A step without requests: 0 per second, no error rate.
    w.step().await;
    let (_, v) = w.ask(&w.web, "/api/v1/services/shop/history").await;
    assert_eq!(
        v["traffic"]["requests_per_second"][2].as_f64(),
        Some(0.0),
        "{v}"
    );
    assert_eq!(v["traffic"]["error_rate"][2], Value::Null, "{v}");

    // The proxy's history: each team its own routes.
    let (_, mine) = w.ask(&w.web, "/api/v1/proxy/history").await;
    let names: Vec<&str> = mine["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop"], "{mine}");
    let (_, all) = w.ask(&w.root, "/api/v1/proxy/history").await;
    let names: Vec<&str> = all["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ledger", "shop"], "{all}");
    let ledger = &all["services"][0]["traffic"]["requests_per_second"];
    assert!(
        ledger
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x.as_f64().unwrap_or(0.0) == 0.0),
        "{all}"
    );

    // /metrics has the service's traffic of the last step.
    let r = send(&w.t.router(), "GET", "/metrics", &w.root, None, &[]).await;
    assert!(
        r.text
            .contains("berth_service_requests_per_second{service=\"shop\"}"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("berth_history_replicas_left_out 0"),
        "{}",
        r.text
    );
}
