//! Volumes on the test hosts: a two-replica service with a per-replica volume
//! keeps each slot's data, on the slot's host, through a rollout (stop-first by
//! default), a restart of Berth and scaling 2 -> 1 -> 2; bad volumes are refused;
//! a deleted service's volumes are kept and listed until deleted, or deleted with
//! it when asked; a replica whose host is lost waits for its data until an admin
//! moves it, and the volume left behind can be deleted once the host is back.
//! Needs `scripts/hosts up 3` (make test runs it).

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{cluster, demo_spec, docker, ok_json, send, test_hosts, Auth, HEARTBEAT};
use serde_json::{json, Value};
use server::testing::TestState;

async fn get(t: &TestState, auth: &Auth, uri: &str) -> Value {
    ok_json(t, auth, "GET", uri, None).await
}

async fn call(
    t: &TestState,
    auth: &Auth,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let reply = send(&t.router(), method, uri, auth, body, &[]).await;
    let json = if reply.text.is_empty() {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status, json)
}

/// Polls until `name` runs `n` healthy replicas at `revision`.
async fn settled(t: &TestState, auth: &Auth, name: &str, n: u64, revision: i64) -> Value {
    let started = Instant::now();
    loop {
        let d = get(t, auth, &format!("/api/v1/services/{name}")).await;
        let s = &d["service"];
        if s["revision"] == revision
            && s["phase"] == "running"
            && s["healthy"] == n
            && s["instances"].as_array().unwrap().len() as u64 == n
        {
            return d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{name} did not settle at {n} replicas of revision {revision}: {}",
            serde_json::to_string_pretty(&d).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Slot -> (host name, container id) of a settled service.
fn placement(d: &Value) -> Vec<(u64, String, String)> {
    let mut v: Vec<(u64, String, String)> = d["service"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["slot"].as_u64().unwrap(),
                i["host"].as_str().unwrap().to_string(),
                i["container_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn exec(host: &str, container: &str, script: &str) -> String {
    let h = test_hosts().into_iter().find(|h| h.name == host).unwrap();
    docker(&h, &["exec", container, "sh", "-c", script])
}

fn spec(tag: &str, volumes: Value) -> Value {
    demo_spec(tag, json!({ "volumes": volumes }))
}

#[tokio::test]
async fn per_replica_volumes_keep_their_data_and_outlive_their_service() {
    let (mut t, auth, _cleanup) = cluster(Some(Duration::from_secs(5))).await;
    t.add_team("data").await;
    let volumes = json!([{"name": "data", "path": "/data"}]);
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "store", "team": "data", "replicas": 2, "spec": spec("v1", volumes.clone())})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let d = settled(&t, &auth, "store", 2, 1).await;
    let first = placement(&d);
    assert_ne!(first[0].1, first[1].1, "the two slots spread");
    for (slot, host, id) in &first {
        exec(host, id, &format!("echo slot-{slot} > /data/mark"));
    }

    // Listed, each with its replica, not deletable; sizes are measured in the
    // background (never on the request), soon after a page asked.
    let list = common::until("every volume sized", Duration::from_secs(30), || async {
        let list = get(&t, &auth, "/api/v1/volumes?service=store").await;
        let sized = list
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["size_bytes"].is_i64());
        if sized {
            Ok(list)
        } else {
            Err(list.to_string())
        }
    })
    .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    for v in list {
        assert_eq!(v["scope"], "per-replica");
        assert_eq!(v["path"], "/data");
        assert_eq!(v["deletable"], false);
        assert!(
            v["used_by"].as_str().unwrap().starts_with("replica "),
            "{v}"
        );
        assert!(v["size_bytes"].as_i64().is_some(), "the engine's size: {v}");
    }

    // A rollout (stop-first by default): each slot on its host, reading its data.
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services/store/deploy",
        Some(json!({"spec": spec("v2", volumes.clone())})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = settled(&t, &auth, "store", 2, 2).await;
    let events = d["events"].to_string();
    assert!(events.contains("(stop-first)"), "{events}");
    let after = placement(&d);
    for ((slot, host, _), (_, host2, id2)) in first.iter().zip(&after) {
        assert_eq!(host, host2, "replica {slot} stays beside its data");
        assert_eq!(
            exec(host2, id2, "cat /data/mark").trim(),
            format!("slot-{slot}")
        );
    }

    // Berth restarted: the same data.
    t.restart().await;
    t.spawn_background(HEARTBEAT);
    let d = settled(&t, &auth, "store", 2, 2).await;
    for (slot, host, id) in placement(&d) {
        assert_eq!(
            exec(&host, &id, "cat /data/mark").trim(),
            format!("slot-{slot}")
        );
    }

    // 2 -> 1 -> 2: slot 2's volume waits for it, and it comes back to it.
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services/store/scale",
        Some(json!({"replicas": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    settled(&t, &auth, "store", 1, 2).await;
    let list = get(&t, &auth, "/api/v1/volumes?service=store").await;
    let two = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["slot"] == 2)
        .unwrap()
        .clone();
    assert!(
        two["note"].as_str().unwrap().contains("scaled away"),
        "{two}"
    );
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services/store/scale",
        Some(json!({"replicas": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let d = settled(&t, &auth, "store", 2, 2).await;
    let again = placement(&d);
    for ((slot, host, _), (_, host2, id2)) in first.iter().zip(&again) {
        assert_eq!(host, host2);
        assert_eq!(
            exec(host2, id2, "cat /data/mark").trim(),
            format!("slot-{slot}")
        );
    }

    // Moving a replica whose host is ready is refused; so are bad volumes, and
    // nothing changes.
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services/store/replicas/1/move",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is ready"),
        "{body}"
    );
    for (bad, why) in [
        (
            json!([{"name": "data", "path": "data"}]),
            "invalid mount path",
        ),
        (
            json!([{"name": "a", "path": "/x"}, {"name": "b", "path": "/x/"}]),
            "used twice",
        ),
        (
            json!([{"name": "Bad_Name", "path": "/x"}]),
            "invalid volume name",
        ),
    ] {
        let (status, body) = call(
            &t,
            &auth,
            "POST",
            "/api/v1/services/store/deploy",
            Some(json!({"spec": spec("v1", bad)})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    assert_eq!(
        get(&t, &auth, "/api/v1/services/store").await["service"]["revision"],
        2
    );

    // Deleted: the volumes stay, listed without a service, until an admin deletes them.
    let (status, _) = call(&t, &auth, "DELETE", "/api/v1/services/store", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = Instant::now();
    let left = loop {
        let list = get(&t, &auth, "/api/v1/volumes").await;
        let left: Vec<Value> = list.as_array().unwrap().clone();
        if left.len() == 2 && left.iter().all(|v| v["deletable"] == true) {
            break left;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for v in &left {
        assert_eq!(v["service"], Value::Null);
        let uri = format!(
            "/api/v1/volumes/{}/{}",
            v["host"].as_str().unwrap(),
            v["name"].as_str().unwrap()
        );
        let (status, body) = call(&t, &auth, "DELETE", &uri, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert!(get(&t, &auth, "/api/v1/volumes")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    // Shared, deleted with its service when asked.
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "scratch", "team": "data", "replicas": 2,
            "spec": spec("v1", json!([{"name": "tmp", "path": "/tmp/scratch", "scope": "shared"}]))})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    settled(&t, &auth, "scratch", 2, 1).await;
    let list = get(&t, &auth, "/api/v1/volumes?service=scratch").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|v| v["scope"] == "shared" && v["slot"].is_null()),
        "{list}"
    );
    let (status, body) = call(
        &t,
        &auth,
        "DELETE",
        "/api/v1/services/scratch?volumes=maybe",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(
        &t,
        &auth,
        "DELETE",
        "/api/v1/services/scratch?volumes=delete",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = Instant::now();
    while !get(&t, &auth, "/api/v1/volumes")
        .await
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the shared volumes are not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_replica_whose_host_is_lost_waits_for_its_data_until_an_admin_moves_it() {
    let (t, auth, _cleanup) = cluster(Some(Duration::from_secs(2))).await;
    t.add_team("data").await;
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "kept", "team": "data", "replicas": 3,
            "spec": spec("v1", json!([{"name": "data", "path": "/data"}]))})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let d = settled(&t, &auth, "kept", 3, 1).await;
    // The slot on h3 (the spread puts one on each host).
    let (slot, _, _) = placement(&d)
        .into_iter()
        .find(|(_, host, _)| host == "h3")
        .expect("a replica on h3");

    // h3 stops: past the grace the slot does not move; it waits and says why.
    let _restart = common::Restart("3");
    common::script(&["stop", "3"]);
    let started = Instant::now();
    loop {
        let s = get(&t, &auth, "/api/v1/services/kept").await["service"].clone();
        let problems = s["problems"].to_string();
        if problems.contains(&format!("replica {slot} waits for host h3")) {
            assert!(problems.contains("an admin may move it"), "{problems}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no wait: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = get(&t, &auth, "/api/v1/services/kept").await["service"].clone();
    let on_h3_or_nowhere = s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["slot"] == slot)
        .all(|i| i["host"] == "h3");
    assert!(on_h3_or_nowhere, "the slot moved to an empty volume: {s}");
    let list = get(&t, &auth, "/api/v1/volumes?service=kept").await;
    let stranded: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["stranded"] == true)
        .collect();
    assert_eq!(stranded.len(), 1, "{list}");
    assert_eq!(stranded[0]["slot"], slot);

    // An admin moves it: it starts elsewhere.
    let (status, body) = call(
        &t,
        &auth,
        "POST",
        &format!("/api/v1/services/kept/replicas/{slot}/move"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("stay behind"),
        "{body}"
    );
    let started = Instant::now();
    loop {
        let s = get(&t, &auth, "/api/v1/services/kept").await["service"].clone();
        let moved = s["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["slot"] == slot && i["host"] != "h3" && i["health"] == "healthy");
        if moved && s["healthy"] == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not moved: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // h3 is back: the old volume is left behind there, and may be deleted.
    common::script(&["start", "3"]);
    let started = Instant::now();
    let behind = loop {
        let list = get(&t, &auth, "/api/v1/volumes?service=kept&host=h3").await;
        if let Some(v) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["slot"] == slot && v["deletable"] == true)
        {
            break v.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "nothing left behind on h3: {list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        behind["note"].as_str().unwrap().starts_with("left behind"),
        "{behind}"
    );
    let uri = format!("/api/v1/volumes/h3/{}", behind["name"].as_str().unwrap());
    let (status, body) = call(&t, &auth, "DELETE", &uri, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}
