//! Services on three real Docker test hosts: six replicas spread 2/2/2 and answer on
//! their published ports; a `docker kill`ed replica is replaced; stopping a host's
//! daemon moves its replicas and, when it comes back, the leftovers go; a restarted
//! Berth adopts what runs and duplicates nothing; scaling 6 -> 0 -> 3. Needs
//! `scripts/hosts up 3` (make test runs it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    cluster, demo_image, docker, http_get_ok, script, send, test_hosts, Auth, Restart, HEARTBEAT,
};
use serde_json::{json, Value};
use server::testing::TestState;

async fn service(t: &TestState, auth: &Auth) -> Value {
    let reply = send(&t.router(), "GET", "/api/v1/services/web", auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["service"].clone()
}

/// Polls the service until `ok` holds; returns how long it took.
async fn wait_for(
    t: &TestState,
    auth: &Auth,
    what: &str,
    within: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let s = service(t, auth).await;
        if ok(&s) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: not within {within:?}: {}",
            serde_json::to_string_pretty(&s).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn running(s: &Value) -> Vec<Value> {
    s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "running" && i["health"] == "healthy")
        .cloned()
        .collect()
}

fn per_host(s: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in running(s) {
        *out.entry(i["host"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

fn settled(s: &Value, n: u64) -> bool {
    s["phase"] == if n == 0 { "stopped" } else { "running" }
        && s["healthy"] == n
        && s["instances"].as_array().unwrap().len() as u64 == n
}

fn ids(s: &Value) -> BTreeSet<String> {
    running(s)
        .iter()
        .map(|i| i["container_id"].as_str().unwrap().to_string())
        .collect()
}

/// Berth's containers on a test host, by its own listing.
fn containers_on(host: usize, owner: &str) -> usize {
    let h = &test_hosts()[host];
    docker(
        h,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=berth.owner={owner}"),
        ],
    )
    .split_whitespace()
    .count()
}

#[tokio::test]
async fn six_replicas_spread_heal_move_survive_a_restart_and_scale() {
    let (mut t, auth, cleanup) = cluster(Some(Duration::from_secs(3))).await;
    let owner = cleanup.0.clone();
    t.add_team("web").await;

    let created = send(
        &t.router(),
        "POST",
        "/api/v1/services",
        &auth,
        Some(json!({
            "name": "web", "team": "web", "replicas": 6,
            "spec": {
                "image": demo_image("v1"), "port": 8080,
                "resources": {"cpu_millis": 10, "memory_bytes": 16 << 20},
                "health": {"kind": "http", "path": "/healthz", "interval_ms": 1000, "start_period_ms": 5000}
            }
        })),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    // Six replicas, two a host, each answering on its host's own address.
    let took = wait_for(
        &t,
        &auth,
        "6 healthy replicas",
        Duration::from_secs(60),
        |s| settled(s, 6),
    )
    .await;
    eprintln!("6 replicas healthy {took:?} after the create");
    let s = service(&t, &auth).await;
    assert_eq!(
        per_host(&s),
        BTreeMap::from([("h1".into(), 2), ("h2".into(), 2), ("h3".into(), 2)])
    );
    for i in running(&s) {
        let endpoint = i["endpoint"].as_str().unwrap();
        let (address, port) = endpoint.rsplit_once(':').unwrap();
        let host = test_hosts()
            .into_iter()
            .find(|h| h.name == i["host"])
            .unwrap();
        assert_eq!(address, host.address, "published on its host's address");
        let body = http_get_ok(
            address,
            port.parse().unwrap(),
            "/healthz",
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(body.trim(), "ok v1");
    }

    // A replica's log: busybox httpd logs each request, Berth's health checks too.
    let logs = send(
        &t.router(),
        "GET",
        "/api/v1/services/web/replicas/1/logs?tail=5",
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.text);
    assert_eq!(logs.headers["content-type"], "text/plain; charset=utf-8");
    assert!(logs.text.contains("response:200"), "{}", logs.text);
    assert!(logs.text.lines().count() <= 5, "{}", logs.text);
    let stats = send(
        &t.router(),
        "GET",
        "/api/v1/services/web/stats",
        &auth,
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(stats.as_array().unwrap().len(), 6, "{stats}");
    assert!(stats[0]["memory_bytes"].as_u64().unwrap() > 0, "{stats}");

    // docker kill: replaced, with the reason on the service.
    let victim = running(&s).into_iter().find(|i| i["host"] == "h1").unwrap();
    let slot = victim["slot"].as_u64().unwrap();
    let old_id = victim["container_id"].as_str().unwrap().to_string();
    docker(&test_hosts()[0], &["kill", &old_id]);
    let took = wait_for(
        &t,
        &auth,
        "the killed replica replaced",
        Duration::from_secs(15),
        |s| {
            settled(s, 6)
                && running(s)
                    .iter()
                    .any(|i| i["slot"] == slot && i["container_id"] != old_id.as_str())
        },
    )
    .await;
    eprintln!("replica {slot} replaced and healthy {took:?} after docker kill");
    let detail = send(&t.router(), "GET", "/api/v1/services/web", &auth, None, &[])
        .await
        .json();
    let events: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    let want = format!("replica {slot} replaced: exited with code 137");
    assert!(events.iter().any(|e| e.starts_with(&want)), "{events:?}");
    let replaced = running(&detail["service"])
        .into_iter()
        .find(|i| i["slot"] == slot)
        .unwrap();
    assert_eq!(replaced["restarts"], 1);
    assert_eq!(replaced["last_exit"], "exited with code 137");

    // A host's daemon stops: its replicas move after the grace; back, its leftovers go.
    let _restart = Restart("3");
    script(&["stop", "3"]);
    let took = wait_for(
        &t,
        &auth,
        "replicas moved off h3",
        Duration::from_secs(40),
        |s| {
            let hosts = per_host(s);
            s["healthy"] == 6 && !hosts.contains_key("h3") && hosts.values().sum::<usize>() == 6
        },
    )
    .await;
    eprintln!("h3's replicas running elsewhere {took:?} after its daemon stopped");
    script(&["start", "3"]);
    wait_for(
        &t,
        &auth,
        "h3's leftovers removed",
        Duration::from_secs(60),
        |s| {
            settled(s, 6)
                && s["instances"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i["host"] != "h3")
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while containers_on(2, &owner) > 0 {
        assert!(
            Instant::now() < deadline,
            "Berth's containers are still on h3"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Berth restarts: it adopts what runs; nothing is started or removed.
    let before = ids(&service(&t, &auth).await);
    t.restart().await;
    t.spawn_background(HEARTBEAT);
    wait_for(
        &t,
        &auth,
        "adopted replicas healthy",
        Duration::from_secs(20),
        |s| settled(s, 6),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = service(&t, &auth).await;
    assert!(settled(&after, 6));
    assert_eq!(ids(&after), before, "the restarted Berth replaced nothing");
    let total: usize = (0..3).map(|h| containers_on(h, &owner)).sum();
    assert_eq!(total, 6, "and duplicated nothing");

    // 6 -> 0 -> 3.
    for (n, spread) in [(0u64, vec![]), (3, vec![1, 1, 1])] {
        let reply = send(
            &t.router(),
            "POST",
            "/api/v1/services/web/scale",
            &auth,
            Some(json!({ "replicas": n })),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let took = wait_for(
            &t,
            &auth,
            &format!("scaled to {n}"),
            Duration::from_secs(60),
            |s| settled(s, n),
        )
        .await;
        eprintln!("scaled to {n} in {took:?}");
        let s = service(&t, &auth).await;
        assert_eq!(per_host(&s).values().copied().collect::<Vec<_>>(), spread);
        let total: usize = (0..3).map(|h| containers_on(h, &owner)).sum();
        assert_eq!(total as u64, n);
    }

    let deleted = send(
        &t.router(),
        "DELETE",
        "/api/v1/services/web",
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).map(|h| containers_on(h, &owner)).sum::<usize>() > 0 {
        assert!(
            Instant::now() < deadline,
            "a deleted service's replicas are still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_says_why_on_the_replica() {
    let (t, auth, _cleanup) = cluster(None).await;
    t.add_team("web").await;
    let created = send(
        &t.router(),
        "POST",
        "/api/v1/services",
        &auth,
        Some(json!({"name": "web", "team": "web", "replicas": 1,
                    "spec": {"image": "127.0.0.1:5000/berth-demo:missing"}})),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    // One answer says it all: the replica failed and why, the service is degraded
    // and its last error names the start. (A second read may catch the next pull
    // attempt under way, the service progressing again.)
    wait_for(
        &t,
        &auth,
        "the pull failure shown",
        Duration::from_secs(20),
        |s| {
            let i = &s["instances"][0];
            i["state"] == "failed"
                && i["note"].as_str().is_some_and(|n| {
                    n.starts_with("pulling 127.0.0.1:5000/berth-demo:missing failed: ")
                })
                && s["phase"] == "degraded"
                && s["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("replica 1 not started on h"))
        },
    )
    .await;
}
