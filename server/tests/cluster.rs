//! Hosts against real Docker daemons: registering the three test hosts, losing one
//! and getting it back (seen by heartbeats and shown by the API and the page),
//! refusing endpoints that do not answer and TLS that fails, and refusing to remove
//! a host that runs Berth's replicas. Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{add_test_hosts, admin, demo_image, login, script, send, test_hosts, Auth, Restart};
use serde_json::{json, Value};
use server::runtime::docker::{DockerEngine, RunSpec};
use server::testing::TestState;

const HEARTBEAT: Duration = Duration::from_secs(1);

async fn host_state(t: &TestState, auth: &Auth, name: &str) -> Value {
    let list = send(&t.router(), "GET", "/api/v1/hosts", auth, None, &[])
        .await
        .json();
    list.as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
}

async fn wait_for_state(
    t: &TestState,
    auth: &Auth,
    name: &str,
    state: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let host = host_state(t, auth, name).await;
        if host["state"] == state {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name} is not {state} after {within:?}: {host}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_stopped_host_is_unreachable_within_three_heartbeats_and_comes_back() {
    let (t, auth) = admin().await;
    add_test_hosts(&t, &auth).await;
    t.spawn_background(HEARTBEAT);

    let _restart = Restart("3");
    script(&["stop", "3"]);
    let took = wait_for_state(
        &t,
        &auth,
        "h3",
        "unreachable",
        3 * HEARTBEAT + Duration::from_millis(500),
    )
    .await;
    eprintln!("h3 seen unreachable {took:?} after its daemon stopped");
    let h3 = host_state(&t, &auth, "h3").await;
    assert!(
        h3["last_error"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach Docker at unix:///run/berth-hosts/h3/docker.sock"),
        "{h3}"
    );
    assert!(h3["unreachable_since_ms"].as_i64().is_some());
    // The others are untouched.
    assert_eq!(host_state(&t, &auth, "h1").await["state"], "ready");

    // The page says so too, rendered on the server.
    let page = send(&t.router(), "GET", "/hosts", &auth, None, &[])
        .await
        .text;
    assert!(
        page.contains(r#"data-host="h3" data-state="unreachable""#),
        "{page}"
    );
    let detail = send(&t.router(), "GET", "/hosts/h3", &auth, None, &[])
        .await
        .text;
    assert!(detail.contains(r#"data-host-state="unreachable""#));

    script(&["start", "3"]);
    wait_for_state(&t, &auth, "h3", "ready", Duration::from_secs(10)).await;
    let events = send(
        &t.router(),
        "GET",
        "/api/v1/events?kind=host&subject=h3",
        &auth,
        None,
        &[],
    )
    .await
    .json();
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].starts_with("host h3 answers again after"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("host h3 is unreachable"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn the_event_streams_of_the_hosts_are_followed() {
    let (t, auth) = admin().await;
    add_test_hosts(&t, &auth).await;
    t.spawn_background(HEARTBEAT);
    let mut bus = t.state.bus.subscribe();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let h2 = &test_hosts()[1];
    let engine = DockerEngine::new(h2.endpoint.parse().unwrap(), Duration::from_secs(30));
    engine.ensure_image(&demo_image("v1")).await.unwrap();
    let name = format!("berth-it-events-{}", std::process::id());
    let started = engine
        .run(&RunSpec {
            name: name.clone(),
            image: demo_image("v1"),
            ..Default::default()
        })
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(server::events::ClusterEvent::Engine { event, .. }) = bus.recv().await {
                if event.actor == name && event.action == "start" {
                    return event;
                }
            }
        }
    })
    .await;
    engine.remove(&started.id).await.unwrap();
    let event = seen.expect("the container's start came over the bus");
    assert_eq!(event.kind, "container");
    // And it is on the host's page.
    let detail = send(&t.router(), "GET", "/api/v1/hosts/h2", &auth, None, &[])
        .await
        .json();
    let engine_events = detail["engine_events"].as_array().unwrap();
    assert!(
        engine_events.iter().any(|e| e["actor"] == name.as_str()),
        "{detail}"
    );
}

#[tokio::test]
async fn hosts_that_cannot_be_reached_are_refused_with_their_own_words() {
    let (t, auth) = admin().await;
    let r = t.router();
    let tls_spec = std::env::var("BERTH_TEST_TLS")
        .unwrap_or_else(|_| "tcp://127.0.0.1:2376@/var/lib/berth-hosts/tls".into());
    let (tls_endpoint, tls_dir) = tls_spec.split_once('@').unwrap();
    let pem = |file: &str| {
        std::fs::read_to_string(std::path::Path::new(tls_dir).join(file)).unwrap_or_else(|e| {
            panic!("{tls_dir}/{file}: {e}; start the test hosts with `scripts/hosts up 3` (it makes the TLS files)")
        })
    };
    let cases = [
        (
            json!({"name": "nowhere", "endpoint": "unix:///nonexistent/docker.sock"}),
            "host_unreachable",
            "cannot reach Docker at unix:///nonexistent/docker.sock",
        ),
        (
            json!({"name": "refused", "endpoint": "tcp://127.0.0.1:1"}),
            "host_unreachable",
            "Connection refused",
        ),
        (
            json!({"name": "bad-tls", "endpoint": tls_endpoint, "tls": {"ca": pem("other-ca.pem"), "cert": pem("client-cert.pem"), "key": pem("client-key.pem")}}),
            "tls_failed",
            "TLS with Docker at tcp://127.0.0.1:2376 failed",
        ),
    ];
    for (body, code, words) in cases {
        let reply = send(&r, "POST", "/api/v1/hosts", &auth, Some(body.clone()), &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), code, "{body}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(words), "{body}: {message}");
    }
    assert_eq!(
        send(&r, "GET", "/api/v1/hosts", &auth, None, &[])
            .await
            .json(),
        json!([])
    );

    // The right certificates work.
    let good = json!({"name": "good-tls", "endpoint": tls_endpoint, "address": "127.0.0.11",
        "tls": {"ca": pem("ca.pem"), "cert": pem("client-cert.pem"), "key": pem("client-key.pem")}});
    let reply = send(&r, "POST", "/api/v1/hosts", &auth, Some(good), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["tls"], true);
    assert_eq!(reply.json()["state"], "ready");
    // The stored key is not in any answer.
    let detail = send(&r, "GET", "/api/v1/hosts/good-tls", &auth, None, &[])
        .await
        .text;
    assert!(!detail.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_host_running_berth_replicas_is_removed_only_with_force() {
    let (t, auth) = admin().await;
    add_test_hosts(&t, &auth).await;
    let h2 = &test_hosts()[1];
    let engine = DockerEngine::new(h2.endpoint.parse().unwrap(), Duration::from_secs(30));
    engine.ensure_image(&demo_image("v1")).await.unwrap();
    let started = engine
        .run(&RunSpec {
            name: format!("berth-it-replica-{}", std::process::id()),
            image: demo_image("v1"),
            labels: HashMap::from([
                ("berth.managed".to_string(), "true".to_string()),
                ("berth.service".to_string(), "it".to_string()),
                ("berth.reserve.cpu_millis".to_string(), "250".to_string()),
                ("berth.reserve.memory".to_string(), "67108864".to_string()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    t.heartbeat().await;
    let r = t.router();
    let h = host_state(&t, &auth, "h2").await;
    let result = async {
        // Other tests run replicas on the same host at the same time: at least
        // this one, with what it reserves.
        assert!(h["berth_containers"].as_i64().unwrap() >= 1, "{h}");
        assert!(h["reserved_cpu_millis"].as_i64().unwrap() >= 250, "{h}");
        assert!(
            h["reserved_memory_bytes"].as_i64().unwrap() >= 67108864,
            "{h}"
        );
        let refused = send(&r, "DELETE", "/api/v1/hosts/h2", &auth, None, &[]).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert!(
            refused.text.contains("of Berth's replicas"),
            "{}",
            refused.text
        );
        let detail = send(&r, "GET", "/api/v1/hosts/h2", &auth, None, &[])
            .await
            .json();
        let ours = detail["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == format!("berth-it-replica-{}", std::process::id()).as_str())
            .cloned();
        assert_eq!(ours.unwrap()["service"], "it");
        let forced = send(
            &r,
            "DELETE",
            "/api/v1/hosts/h2?force=true",
            &auth,
            None,
            &[],
        )
        .await;
        assert_eq!(forced.status, StatusCode::NO_CONTENT, "{}", forced.text);
    };
    // Clean up whatever happened.
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    engine.remove(&started.id).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(
        send(&r, "GET", "/api/v1/hosts/h2", &auth, None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn host_input_is_checked_and_admins_only() {
    let (t, auth) = admin().await;
    add_test_hosts(&t, &auth).await;
    let r = t.router();
    let h1 = &test_hosts()[0];
    let cases = [
        (
            json!({"name": "h1", "endpoint": h1.endpoint}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "H 1", "endpoint": h1.endpoint}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": "ftp://nowhere"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": "unix://relative"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": "tcp://host"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": h1.endpoint, "labels": {"bad key": "v"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": h1.endpoint, "labels": {"k": "bad value"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": h1.endpoint, "address": "not an address"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": h1.endpoint, "labels": ["zone=a"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "endpoint": h1.endpoint, "tls": {"ca": "x", "cert": "y", "key": "z"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, status) in cases {
        let reply = send(&r, "POST", "/api/v1/hosts", &auth, Some(body.clone()), &[]).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
    }
    for (method, uri, body) in [
        ("GET", "/api/v1/hosts/nope", None),
        ("PATCH", "/api/v1/hosts/nope", Some(json!({"labels": {}}))),
        ("POST", "/api/v1/hosts/nope/cordon", None),
        ("DELETE", "/api/v1/hosts/nope", None),
    ] {
        let reply = send(&r, method, uri, &auth, body, &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(reply.error_code(), "not_found");
    }
    let labels = send(
        &r,
        "PATCH",
        "/api/v1/hosts/h1",
        &auth,
        Some(json!({"labels": {"zone": "b", "gpu": ""}})),
        &[],
    )
    .await;
    assert_eq!(labels.json()["labels"], json!({"gpu": "", "zone": "b"}));
    let cordoned = send(&r, "POST", "/api/v1/hosts/h1/cordon", &auth, None, &[])
        .await
        .json();
    assert_eq!(cordoned["state"], "cordoned");
    let draining = send(&r, "POST", "/api/v1/hosts/h1/drain", &auth, None, &[])
        .await
        .json();
    assert_eq!(draining["state"], "draining");
    let back = send(&r, "POST", "/api/v1/hosts/h1/uncordon", &auth, None, &[])
        .await
        .json();
    assert_eq!(back["state"], "ready");

    // A member may look but not touch.
    t.add_user("ann", "ann-password", domain::wire::UserRole::Member)
        .await;
    let ann = Auth::Cookie(login(&r, "ann", "ann-password").await);
    assert_eq!(
        send(&r, "GET", "/api/v1/hosts", &ann, None, &[])
            .await
            .status,
        StatusCode::OK
    );
    let reply = send(&r, "POST", "/api/v1/hosts/h1/cordon", &ann, None, &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json()["error"]["message"],
        "only cluster admins manage hosts"
    );
}
