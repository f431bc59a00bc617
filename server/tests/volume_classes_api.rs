//! The volume classes API over the in-memory runtime: what an admin's bad input
//! gets (422 in words, 404, 409), a service naming a class (unknown, closed to its
//! team, a driver no host has: refused, nothing changes), a class in use keeping
//! its driver and scope, and every change audited.

mod common;

use axum::http::StatusCode;
use common::{login, send, Auth};
use serde_json::{json, Value};
use server::testing::TestState;

fn class(name: &str, driver: &str) -> Value {
    json!({"name": name, "driver": driver, "options": {"remote": ":local:/srv/{volume}",
           "allow-other": "true"}, "scope": "global", "teams": ["web"]})
}

async fn world() -> (TestState, Auth) {
    let (t, _fake) = TestState::with_fake(2).await;
    t.add_team("web").await;
    t.add_user("root", "root-password", domain::wire::UserRole::Admin)
        .await;
    let auth = Auth::Cookie(login(&t.router(), "root", "root-password").await);
    (t, auth)
}

async fn call(
    t: &TestState,
    auth: &Auth,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = send(&t.router(), method, uri, auth, body, &[]).await;
    let v = if r.text.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

fn service(name: &str, volume: Value) -> Value {
    json!({"name": name, "team": "web", "replicas": 1, "spec": {"image": "demo:v1", "volumes": [volume]}})
}

#[tokio::test]
async fn bad_classes_are_refused_in_words() {
    let (t, auth) = world().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = class("disk", "rclone");
        edit(&mut c);
        c
    };
    let table: Vec<(Value, &str)> = vec![
        (
            with(&|c| c["name"] = json!("Disk!")),
            "invalid volume class",
        ),
        (
            with(&|c| c["driver"] = json!("rclone && sh")),
            "invalid volume driver",
        ),
        (
            with(&|c| c["options"] = json!({"a b": "x"})),
            "invalid option name",
        ),
        (
            with(&|c| c["options"] = json!({"o": "a\u{7}"})),
            "control characters",
        ),
        (
            with(&|c| c["teams"] = json!(["nobody"])),
            "there is no team \"nobody\"",
        ),
        (with(&|c| c["scope"] = json!("everywhere")), "scope"),
        (with(&|c| c["extra"] = json!(1)), "extra"),
    ];
    for (body, why) in table {
        let (status, v) = call(
            &t,
            &auth,
            "POST",
            "/api/v1/volume-classes",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{body}: {message:?} lacks {why:?}");
    }
    let (_, list) = call(&t, &auth, "GET", "/api/v1/volume-classes", None).await;
    assert_eq!(list, json!([]), "nothing was made");
}

#[tokio::test]
async fn a_class_is_made_used_kept_while_used_and_every_change_audited() {
    let (t, auth) = world().await;
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/volume-classes",
        Some(class("disk", "rclone")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["hosts_with_driver"].as_u64(), v["hosts"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(v["teams"], json!(["web"]));
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/volume-classes",
        Some(class("disk", "rclone")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A service names it; one naming a class that does not exist, or whose driver
    // no host has, is refused and nothing is made.
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(service(
            "db",
            json!({"name": "data", "path": "/data", "class": "disk"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(service(
            "db2",
            json!({"name": "data", "path": "/data", "class": "nope"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("there is no volume class \"nope\""),
        "{v}"
    );
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/volume-classes",
        Some(class("ceph", "rexray/rbd")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(service(
            "db3",
            json!({"name": "data", "path": "/data", "class": "ceph"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no host has the volume driver rexray/rbd (class ceph)"),
        "{v}"
    );
    let (_, services) = call(&t, &auth, "GET", "/api/v1/services", None).await;
    assert_eq!(services.as_array().map(Vec::len), Some(1), "{services}");

    // In use: its driver and scope stay, its options and teams may change, and it
    // cannot be deleted.
    let (status, v) = call(&t, &auth, "GET", "/api/v1/volume-classes/disk", None).await;
    assert_eq!(
        (status, v["used_by"].clone()),
        (StatusCode::OK, json!(["db"]))
    );
    let mut host_scoped = class("disk", "rclone");
    host_scoped["scope"] = json!("host");
    let (status, v) = call(
        &t,
        &auth,
        "PUT",
        "/api/v1/volume-classes/disk",
        Some(host_scoped),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("used by db"),
        "{v}"
    );
    // A global class's options stay too (a moving replica makes its volume again
    // from them), and so do the teams of the services that use it.
    let mut more = class("disk", "rclone");
    more["options"]["vfs-cache-mode"] = json!("writes");
    let (status, v) = call(&t, &auth, "PUT", "/api/v1/volume-classes/disk", Some(more)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a global class's options stay"),
        "{v}"
    );
    let mut closed = class("disk", "rclone");
    closed["teams"] = json!([]);
    let (status, v) = call(
        &t,
        &auth,
        "PUT",
        "/api/v1/volume-classes/disk",
        Some(closed),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // A volume keeps its class: a deploy that changes it is refused in words.
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services/db/deploy",
        Some(json!({"spec": {"image": "demo:v2", "volumes": [{"name": "data", "path": "/data"}]}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a volume keeps its class"),
        "{v}"
    );
    // A host-scoped class's options may change (volumes made keep theirs).
    let mut host_class = class("scratch", "rclone");
    host_class["scope"] = json!("host");
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/volume-classes",
        Some(host_class.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(service(
            "tmp",
            json!({"name": "data", "path": "/data", "class": "scratch"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    host_class["options"]["vfs-cache-mode"] = json!("writes");
    let (status, v) = call(
        &t,
        &auth,
        "PUT",
        "/api/v1/volume-classes/scratch",
        Some(host_class),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["options"]["vfs-cache-mode"], json!("writes"));
    let (status, _) = call(
        &t,
        &auth,
        "PUT",
        "/api/v1/volume-classes/disk",
        Some(class("other", "rclone")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&t, &auth, "DELETE", "/api/v1/volume-classes/disk", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(&t, &auth, "DELETE", "/api/v1/services/db", None).await;
    assert!(status.is_success(), "{status}");
    let (status, _) = call(&t, &auth, "DELETE", "/api/v1/volume-classes/disk", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, &auth, "GET", "/api/v1/volume-classes/disk", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = call(&t, &auth, "GET", "/api/v1/audit?action=volume-class.", None).await;
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (action, result) in [
        ("volume-class.create", "ok"),
        ("volume-class.create", "failed"),
        ("volume-class.update", "ok"),
        ("volume-class.update", "failed"),
        ("volume-class.delete", "failed"),
        ("volume-class.delete", "ok"),
    ] {
        assert!(
            actions.contains(&(action.to_string(), result.to_string())),
            "{action} {result}: {actions:?}"
        );
    }
}
