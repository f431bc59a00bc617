//! The proxy in front of real replicas on the three test hosts: traffic reaches
//! every replica; new replicas get traffic within a second of turning healthy; a
//! `docker kill` under load fails at most the requests in flight to it; scaling
//! down and rolling out under load fail none; the exported nginx configuration,
//! loaded by a real nginx on 127.0.0.1, reaches the replicas; /metrics counts.
//! Needs `scripts/hosts up 3` (make test runs it) and Debian's nginx.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    client, cluster, demo_image, docker, get, ok_json, send, serve_proxy, test_hosts, Auth,
    HttpClient, Load,
};
use serde_json::{json, Value};
use server::testing::TestState;

async fn service(t: &TestState, auth: &Auth) -> Value {
    send(&t.router(), "GET", "/api/v1/services/web", auth, None, &[])
        .await
        .json()["service"]
        .clone()
}

fn settled(s: &Value, n: u64, revision: i64) -> bool {
    s["phase"] == "running"
        && s["healthy"] == n
        && s["revision"] == revision
        && s["instances"].as_array().unwrap().len() as u64 == n
}

async fn wait_settled(t: &TestState, auth: &Auth, n: u64, revision: i64) -> Instant {
    let started = Instant::now();
    loop {
        let s = service(t, auth).await;
        if settled(&s, n, revision) {
            return Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not settled at {n}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(t: &TestState, auth: &Auth, uri: &str, body: Value) {
    ok_json(t, auth, "POST", uri, Some(body)).await;
}

/// The replicas (their hostnames) that answer within `within`, until `want` did.
async fn hostnames(c: &HttpClient, port: u16, want: usize, within: Duration) -> BTreeSet<String> {
    let started = Instant::now();
    let mut seen = BTreeSet::new();
    while seen.len() < want && started.elapsed() < within {
        if let Ok((200, body)) = get(c, port, "web.localhost", "/cgi-bin/info").await {
            if let Some(h) = body.lines().find_map(|l| l.strip_prefix("hostname=")) {
                seen.insert(h.to_string());
            }
        }
    }
    seen
}

/// nginx on 127.0.0.1 with a configuration of its own; stopped when dropped.
struct Nginx {
    child: std::process::Child,
    _dir: server::testing::TempDir,
}

impl Nginx {
    async fn start(berth_conf: &str) -> (Nginx, u16) {
        let dir = server::testing::TempDir::new();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.0.display();
        std::fs::write(
            dir.0.join("berth.conf"),
            berth_conf.replace("listen 80", &format!("listen 127.0.0.1:{port}")),
        )
        .unwrap();
        std::fs::write(
            dir.0.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 include {d}/berth.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new("nginx")
            .args(["-c", &format!("{d}/nginx.conf"), "-p", &format!("{d}/")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Debian's nginx (make test installs nginx-light)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (Nginx { child, _dir: dir }, port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its workers before it goes.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_proxy_follows_the_replicas_under_load() {
    let (t, auth, _cleanup) = cluster(Some(Duration::from_secs(3))).await;
    let port = serve_proxy(&t).await;
    t.add_team("web").await;
    let spec = |tag: &str| {
        json!({
            "image": demo_image(tag), "port": 8080,
            "health": {"kind": "http", "path": "/healthz", "interval_ms": 500, "start_period_ms": 5000}
        })
    };
    post(
        &t,
        &auth,
        "/api/v1/services",
        json!({"name": "web", "team": "web", "replicas": 3, "spec": spec("v1")}),
    )
    .await;
    wait_settled(&t, &auth, 3, 1).await;
    let c = client();

    // Every replica gets traffic.
    let seen = hostnames(&c, port, 3, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (status, body) = get(&c, port, "nowhere.test", "/").await.unwrap();
    assert_eq!((status, body.contains("No service is routed")), (404, true));

    // 3 -> 6: the new ones get traffic within a second of turning healthy.
    post(
        &t,
        &auth,
        "/api/v1/services/web/scale",
        json!({"replicas": 6}),
    )
    .await;
    wait_settled(&t, &auth, 6, 1).await;
    let seen = hostnames(&c, port, 6, Duration::from_secs(1)).await;
    assert_eq!(seen.len(), 6, "within a second of being healthy: {seen:?}");

    // docker kill under load: at most the requests in flight to it fail.
    let workers = 8;
    let load = Load::start(port, "web.localhost", "/healthz", workers);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = service(&t, &auth).await["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["host"] == "h2")
        .cloned()
        .unwrap();
    docker(
        &test_hosts()[1],
        &["kill", victim["container_id"].as_str().unwrap()],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_settled(&t, &auth, 6, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failures) = load.finish().await;
    eprintln!(
        "docker kill under load: {ok} answered, {} failed",
        failures.len()
    );
    assert!(ok > 100, "{ok}");
    assert!(failures.len() <= workers, "{failures:#?}");

    // Scale down under load: none fail.
    let load = Load::start(port, "web.localhost", "/healthz", workers);
    tokio::time::sleep(Duration::from_millis(300)).await;
    post(
        &t,
        &auth,
        "/api/v1/services/web/scale",
        json!({"replicas": 3}),
    )
    .await;
    wait_settled(&t, &auth, 3, 1).await;
    let (ok, failures) = load.finish().await;
    eprintln!(
        "scale 6 -> 3 under load: {ok} answered, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");

    // A rollout under load: none fail, and v2 answers after.
    let load = Load::start(port, "web.localhost", "/healthz", workers);
    tokio::time::sleep(Duration::from_millis(300)).await;
    post(
        &t,
        &auth,
        "/api/v1/services/web/deploy",
        json!({"spec": spec("v2")}),
    )
    .await;
    wait_settled(&t, &auth, 3, 2).await;
    let (ok, failures) = load.finish().await;
    eprintln!(
        "rollout v1 -> v2 under load: {ok} answered, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    for _ in 0..6 {
        assert_eq!(
            get(&c, port, "web.localhost", "/healthz").await.unwrap(),
            (200, "ok v2\n".into())
        );
    }

    // The proxy view and /metrics count what went through.
    let view = send(&t.router(), "GET", "/api/v1/proxy", &auth, None, &[])
        .await
        .json();
    let route = view["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "web.localhost")
        .unwrap()
        .clone();
    assert_eq!(route["backends"].as_array().unwrap().len(), 3);
    assert!(
        route["backends"][0]["requests"].as_u64().unwrap() > 0,
        "{route}"
    );
    assert_eq!(view["unknown_host"], 1);
    let metrics = send(&t.router(), "GET", "/metrics", &auth, None, &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .text
            .contains("berth_proxy_requests_total{service=\"web\""),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("berth_service_replicas_ready{service=\"web\"} 3"),
        "{}",
        metrics.text
    );
    assert_eq!(
        send(&t.router(), "GET", "/metrics", &Auth::None, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // The same table, exported, in a real nginx.
    let conf = send(
        &t.router(),
        "GET",
        "/api/v1/proxy/nginx.conf",
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(conf.status, StatusCode::OK);
    assert!(conf.text.contains("upstream berth_web {"), "{}", conf.text);
    let (_nginx, nginx_port) = Nginx::start(&conf.text).await;
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let (status, body) = get(&c, nginx_port, "web.localhost", "/cgi-bin/info")
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("version=v2"), "{body}");
        if let Some(h) = body.lines().find_map(|l| l.strip_prefix("hostname=")) {
            seen.insert(h.to_string());
        }
    }
    assert_eq!(seen.len(), 3, "nginx reaches every replica: {seen:?}");
    let bad = send(
        &t.router(),
        "GET",
        "/api/v1/proxy/nginx.conf?listen=everywhere",
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn routes_of_a_service_are_set_checked_and_followed() {
    let (t, auth, _cleanup) = cluster(None).await;
    let port = serve_proxy(&t).await;
    t.add_team("web").await;
    post(&t, &auth, "/api/v1/services", json!({
        "name": "web", "team": "web", "replicas": 2,
        "spec": {"image": demo_image("v1"), "port": 8080, "health": {"kind": "http", "path": "/healthz"}},
        "proxy": {"routes": [{"host": "shop.test", "path_prefix": "/app", "strip_prefix": true}]}
    })).await;
    post(&t, &auth, "/api/v1/services", json!({
        "name": "other", "team": "web", "replicas": 0, "spec": {"image": demo_image("v1"), "port": 8080}
    })).await;
    wait_settled(&t, &auth, 2, 1).await;
    let c = client();
    // Routes follow within a pass of the write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        get(&c, port, "shop.test", "/app/healthz").await.unwrap(),
        (200, "ok v1\n".into())
    );
    assert_eq!(get(&c, port, "shop.test", "/healthz").await.unwrap().0, 404);
    // A service without a healthy replica: 503.
    assert_eq!(get(&c, port, "other.localhost", "/").await.unwrap().0, 503);

    // Another service cannot take the same route; bad routes are refused; nothing changes.
    for (body, status) in [
        (
            json!({"routes": [{"host": "shop.test", "path_prefix": "/app"}]}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"routes": [{"host": "Shop Test"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"routes": [{"path_prefix": "api"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"balance": "random"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = send(
            &t.router(),
            "PUT",
            "/api/v1/services/other/proxy",
            &auth,
            Some(body.clone()),
            &[],
        )
        .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
    }
    // Moving the route moves the traffic; no replica is replaced.
    let before: Vec<Value> = service(&t, &auth).await["instances"]
        .as_array()
        .unwrap()
        .clone();
    let reply = send(
        &t.router(),
        "PUT",
        "/api/v1/services/web/proxy",
        &auth,
        Some(json!({"routes": [{"host": "*.shop.test"}], "balance": "round_robin"})),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["proxy"]["balance"], "round_robin");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok((200, body)) = get(&c, port, "eu.shop.test", "/healthz").await {
            assert_eq!(body, "ok v1\n");
            break;
        }
        assert!(Instant::now() < deadline, "the new route was not followed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        service(&t, &auth).await["instances"].as_array().unwrap(),
        &before
    );
    assert_eq!(service(&t, &auth).await["revision"], 1);
}
