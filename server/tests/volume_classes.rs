//! Volume classes on the test hosts, through rclone's Docker volume plugin (each
//! test host runs `rclone serve docker`; the storage they all reach is the folder
//! `BERTH_TEST_SHARED`): a two-replica service with a global per-replica volume
//! writes a file per slot; one slot's host is cut off (its dockerd frozen, its
//! replica running on unseen): the slot waits for the fence, then starts on
//! another host and reads its own file back; the host answers again and its old
//! container is removed while the moved one keeps running. Then a host is
//! stopped (its containers known stopped): the slot moves at once, with its data.
//! Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{cluster, demo_spec, docker, ok_json, send, test_hosts, until, Auth};
use serde_json::{json, Value};
use server::testing::TestState;

/// The folder every test host's rclone reaches.
fn shared() -> String {
    std::env::var("BERTH_TEST_SHARED").unwrap_or_else(|_| "/var/lib/berth-hosts/shared".into())
}

async fn get(t: &TestState, auth: &Auth, uri: &str) -> Value {
    ok_json(t, auth, "GET", uri, None).await
}

async fn post(t: &TestState, auth: &Auth, uri: &str, body: Value) -> (StatusCode, Value) {
    let reply = send(&t.router(), "POST", uri, auth, Some(body), &[]).await;
    (reply.status, reply.json())
}

/// The service's replicas running healthy: (slot, host, container id), by slot.
fn ready(s: &Value) -> Vec<(u64, String, String)> {
    let mut out: Vec<(u64, String, String)> = s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["health"] == "healthy" && i["state"] == "running")
        .map(|i| {
            (
                i["slot"].as_u64().unwrap(),
                i["host"].as_str().unwrap().to_string(),
                i["container_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn follow(t: &TestState, auth: &Auth) -> Value {
    get(t, auth, "/api/v1/services/follow").await["service"].clone()
}

/// Slot -> (host, container id) once `follow` runs `n` healthy replicas, within 90 s.
async fn healthy(t: &TestState, auth: &Auth, n: usize) -> Vec<(u64, String, String)> {
    until("follow healthy", Duration::from_secs(90), || async {
        let s = follow(t, auth).await;
        let all = s["instances"].as_array().unwrap().len();
        Some(ready(&s))
            .filter(|r| r.len() == n && all == n)
            .ok_or(s.to_string())
    })
    .await
}

fn number(host: &str) -> &'static str {
    match host {
        "h2" => "2",
        "h3" => "3",
        other => panic!("not a test host to stop: {other}"),
    }
}

async fn wait_for_problem(t: &TestState, auth: &Auth, words: &str) {
    until(words, Duration::from_secs(15), || async {
        let s = follow(t, auth).await;
        Some(())
            .filter(|_| s["problems"].to_string().contains(words))
            .ok_or(s.to_string())
    })
    .await
}

/// The host and container of `slot` once it runs healthy on a host other than `lost`.
async fn moved(t: &TestState, auth: &Auth, slot: u64, lost: &str) -> (String, String) {
    until("the replica moved", Duration::from_secs(60), || async {
        let s = follow(t, auth).await;
        ready(&s)
            .into_iter()
            .find(|(n, host, _)| *n == slot && host != lost)
            .map(|(_, host, id)| (host, id))
            .ok_or(s.to_string())
    })
    .await
}

/// Waits until the container `id` is gone from `host`.
async fn gone(host: &str, id: &str) {
    until("the old copy removed", Duration::from_secs(40), || async {
        let left = containers_on(host, "follow");
        Some(()).filter(|_| !left.contains(&id[..12])).ok_or(left)
    })
    .await
}

fn exec(host: &str, container: &str, script: &str) -> String {
    let h = test_hosts().into_iter().find(|h| h.name == host).unwrap();
    docker(&h, &["exec", container, "sh", "-c", script])
}

/// Containers of service `name` on `host`, stopped ones too.
fn containers_on(host: &str, name: &str) -> String {
    let h = test_hosts().into_iter().find(|h| h.name == host).unwrap();
    docker(
        &h,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=berth.service={name}"),
        ],
    )
}

#[tokio::test]
async fn a_global_volume_follows_its_replica_to_another_host_with_its_data() {
    let (t, auth, _cleanup) = cluster(Some(Duration::from_secs(10))).await;
    t.add_team("data").await;
    let root = shared();
    let (status, body) = post(
        &t,
        &auth,
        "/api/v1/volume-classes",
        json!({
            "name": "shared-disk", "driver": "rclone", "scope": "global", "teams": ["data"],
            "options": {"remote": format!(":local:{root}/{{volume}}"), "allow-other": "true"}
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["hosts_with_driver"],
        json!(3),
        "each test host has rclone's plugin: {body}"
    );
    let spec = demo_spec(
        "v1",
        json!({"volumes": [{"name": "data", "path": "/data", "class": "shared-disk"}]}),
    );
    let (status, body) = post(
        &t,
        &auth,
        "/api/v1/services",
        json!({"name": "follow", "team": "data", "replicas": 2, "spec": spec}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = healthy(&t, &auth, 2).await;
    for (slot, host, id) in &first {
        exec(host, id, &format!("echo slot-{slot} > /data/mark"));
    }
    // Listed with its class, its driver and where it is attached.
    let list = get(&t, &auth, "/api/v1/volumes?service=follow").await;
    for v in list.as_array().unwrap() {
        assert_eq!(
            (
                v["class"].as_str(),
                v["class_scope"].as_str(),
                v["driver"].as_str()
            ),
            (Some("shared-disk"), Some("global"), Some("rclone")),
            "{v}"
        );
        assert_eq!(v["attached_on"], v["host"], "{v}");
    }

    // The host of one slot is cut off (its dockerd frozen: its replica runs on,
    // unseen): the slot waits for the fence, then moves with its data.
    let (slot, lost, old_id) = first.iter().find(|(_, h, _)| h != "h1").cloned().unwrap();
    let n = number(&lost);
    let _restart = common::Restart(n);
    common::script(&["pause", n]);
    let cut = Instant::now();
    wait_for_problem(
        &t,
        &auth,
        &format!("replica {slot} waits for host {lost} to be fenced"),
    )
    .await;
    let (host, id) = moved(&t, &auth, slot, &lost).await;
    let took = cut.elapsed();
    assert!(
        took >= Duration::from_secs(10),
        "moved before the fence: {took:?}"
    );
    assert_eq!(
        exec(&host, &id, "cat /data/mark").trim(),
        format!("slot-{slot}"),
        "its own data"
    );
    eprintln!("host cut off -> replica healthy elsewhere with its data: {took:?}");
    // The host answers again: its old copy is removed; the moved one stays.
    common::script(&["resume", n]);
    gone(&lost, &old_id).await;
    let after = healthy(&t, &auth, 2).await;
    assert!(
        after
            .iter()
            .any(|(s, h, i)| *s == slot && *h == host && *i == id),
        "{after:?}"
    );
    // The returned host still lists the volume, attached elsewhere now.
    let uri = format!("/api/v1/volumes?service=follow&host={lost}");
    let stale = until(
        "the volume attached elsewhere",
        Duration::from_secs(20),
        || async {
            let list = get(&t, &auth, &uri).await;
            list.as_array()
                .unwrap()
                .iter()
                .find(|v| v["slot"] == slot && v["attached_on"] == json!(host))
                .cloned()
                .ok_or(list.to_string())
        },
    )
    .await;
    assert!(
        stale["note"].as_str().unwrap().contains("follows replica"),
        "{stale}"
    );

    // A host stopped (its containers stopped with it, as Docker reports): the
    // replica is known gone, and its slot moves with its data at once.
    let (slot, lost, old_id) = after.iter().find(|(_, h, _)| h != "h1").cloned().unwrap();
    let n = number(&lost);
    let _restart_too = common::Restart(n);
    common::script(&["stop", n]);
    let (host, id) = moved(&t, &auth, slot, &lost).await;
    assert_eq!(
        exec(&host, &id, "cat /data/mark").trim(),
        format!("slot-{slot}")
    );
    common::script(&["start", n]);
    gone(&lost, &old_id).await;
    let owner = t.state.store.instance_id().await.unwrap();
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().contains(&owner[..8]) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
