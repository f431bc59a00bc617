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

/// One admin's calls, and what a refusal must say.
struct Admin {
    t: TestState,
    auth: Auth,
}

impl Admin {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(&self.t, &self.auth, method, uri, body).await
    }

    /// `method uri` answers `status`, its message holding `words`.
    async fn refused(&self, method: &str, uri: &str, body: Value, status: StatusCode, words: &str) {
        let (got, v) = self.call(method, uri, Some(body)).await;
        assert_eq!(got, status, "{method} {uri}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(words),
            "{method} {uri}: {message:?} lacks {words:?}"
        );
    }

    async fn made(&self, uri: &str, body: Value) -> Value {
        let (status, v) = self.call("POST", uri, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{uri}: {v}");
        v
    }
}

#[tokio::test]
async fn a_class_is_made_used_kept_while_used_and_every_change_audited() {
    let (t, auth) = world().await;
    let w = Admin { t, auth };
    let classes = "/api/v1/volume-classes";
    let disk = format!("{classes}/disk");
    let v = w.made(classes, class("disk", "rclone")).await;
    assert_eq!(
        (v["hosts_with_driver"].as_u64(), v["hosts"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(v["teams"], json!(["web"]));
    w.refused(
        "POST",
        classes,
        class("disk", "rclone"),
        StatusCode::CONFLICT,
        "exists already",
    )
    .await;

    // A service names it; one naming a class that does not exist, or whose driver
    // no host has, is refused and nothing is made.
    let volume = |class: &str| json!({"name": "data", "path": "/data", "class": class});
    w.made("/api/v1/services", service("db", volume("disk")))
        .await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    w.refused(
        "POST",
        "/api/v1/services",
        service("db2", volume("nope")),
        unprocessable,
        "there is no volume class \"nope\"",
    )
    .await;
    w.made(classes, class("ceph", "rexray/rbd")).await;
    w.refused(
        "POST",
        "/api/v1/services",
        service("db3", volume("ceph")),
        StatusCode::CONFLICT,
        "no host has the volume driver rexray/rbd (class ceph)",
    )
    .await;
    let (_, services) = w.call("GET", "/api/v1/services", None).await;
    assert_eq!(services.as_array().map(Vec::len), Some(1), "{services}");

    // In use: its driver and scope stay, and so do a global class's options (a
    // moving replica makes its volume again from them) and the teams of the
    // services that use it; it cannot be deleted.
    let (status, v) = w.call("GET", &disk, None).await;
    assert_eq!(
        (status, v["used_by"].clone()),
        (StatusCode::OK, json!(["db"]))
    );
    let mut host_scoped = class("disk", "rclone");
    host_scoped["scope"] = json!("host");
    w.refused(
        "PUT",
        &disk,
        host_scoped,
        StatusCode::CONFLICT,
        "used by db",
    )
    .await;
    let mut more = class("disk", "rclone");
    more["options"]["vfs-cache-mode"] = json!("writes");
    w.refused(
        "PUT",
        &disk,
        more,
        StatusCode::CONFLICT,
        "a global class's options stay",
    )
    .await;
    let mut closed = class("disk", "rclone");
    closed["teams"] = json!([]);
    w.refused(
        "PUT",
        &disk,
        closed,
        StatusCode::CONFLICT,
        "the teams of those services",
    )
    .await;
    // A volume keeps its class: a deploy that changes it is refused in words.
    let plain =
        json!({"spec": {"image": "demo:v2", "volumes": [{"name": "data", "path": "/data"}]}});
    w.refused(
        "POST",
        "/api/v1/services/db/deploy",
        plain,
        unprocessable,
        "a volume keeps its class",
    )
    .await;
    // A host-scoped class's options may change (volumes made keep theirs).
    let mut host_class = class("scratch", "rclone");
    host_class["scope"] = json!("host");
    w.made(classes, host_class.clone()).await;
    w.made("/api/v1/services", service("tmp", volume("scratch")))
        .await;
    host_class["options"]["vfs-cache-mode"] = json!("writes");
    let (status, v) = w
        .call("PUT", &format!("{classes}/scratch"), Some(host_class))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["options"]["vfs-cache-mode"], json!("writes"));
    w.refused(
        "PUT",
        &disk,
        class("other", "rclone"),
        unprocessable,
        "keeps its name",
    )
    .await;
    let (status, _) = w.call("DELETE", &disk, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = w.call("DELETE", "/api/v1/services/db", None).await;
    assert!(status.is_success(), "{status}");
    let (status, _) = w.call("DELETE", &disk, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.call("GET", &disk, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = w
        .call("GET", "/api/v1/audit?action=volume-class.", None)
        .await;
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
