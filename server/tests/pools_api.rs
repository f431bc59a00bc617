//! The pools API without Docker: what an admin's bad input gets (422 in words, 404,
//! 409), that every change is audited, and that a pool is the admins' to read.

mod common;

use axum::http::StatusCode;
use common::{admin, send, Auth};
use serde_json::{json, Value};
use server::testing::TestState;

fn pool(name: &str) -> Value {
    json!({"name": name, "provider": {"kind": "command", "command": "/bin/true"},
           "labels": {"pool": name}, "cpu_millis": 2000, "memory_bytes": 4294967296u64,
           "max_hosts": 3})
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

#[tokio::test]
async fn bad_pools_are_refused_in_words() {
    let (t, auth) = admin().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut p = pool("web");
        edit(&mut p);
        p
    };
    let not_executable =
        std::env::temp_dir().join(format!("berth-not-exec-{}", std::process::id()));
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    let table: Vec<(Value, &str)> = vec![
        (with(&|p| p["name"] = json!("Web!")), "invalid pool name"),
        (
            with(&|p| p["provider"]["command"] = json!("make-host")),
            "absolute path",
        ),
        (
            with(&|p| p["provider"]["command"] = json!("/nonexistent/make-host")),
            "there is no provider command at /nonexistent/make-host",
        ),
        (
            with(&|p| p["provider"]["command"] = json!(not_executable)),
            "is not an executable file",
        ),
        (
            with(&|p| p["provider"]["command"] = json!("/tmp")),
            "is not an executable file",
        ),
        (
            with(&|p| p["provider"]["kind"] = json!("ssh")),
            "does not fit",
        ),
        (
            with(&|p| p["provider"]["shell"] = json!("rm -rf /")),
            "does not fit",
        ),
        (with(&|p| p["privileged"] = json!(true)), "does not fit"),
        (with(&|p| p["labels"] = json!({"bad key": "x"})), "label"),
        (with(&|p| p["cpu_millis"] = json!(0)), "CPUs"),
        (with(&|p| p["memory_bytes"] = json!(-1)), "does not fit"),
        (with(&|p| p["max_hosts"] = json!(0)), "max hosts"),
        (
            with(&|p| p["min_hosts"] = json!(5)),
            "min hosts (5) may not be above max hosts (3)",
        ),
        (with(&|p| p["idle_secs"] = json!(1)), "idle time"),
        (
            with(&|p| p["boot_timeout_secs"] = json!(100000)),
            "to answer",
        ),
    ];
    for (body, words) in table {
        let (status, v) = call(&t, &auth, "POST", "/api/v1/pools", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(words),
            "{body}: {message:?} lacks {words:?}"
        );
    }
    let _ = std::fs::remove_file(&not_executable);
    let (status, v) = call(&t, &auth, "GET", "/api/v1/pools", None).await;
    assert_eq!((status, v), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn a_pool_is_created_changed_and_deleted_and_every_change_is_audited() {
    let (t, auth) = admin().await;
    let (status, v) = call(&t, &auth, "POST", "/api/v1/pools", Some(pool("web"))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["idle_secs"].as_u64(), v["boot_timeout_secs"].as_u64()),
        (Some(600), Some(600))
    );
    assert_eq!(v["hosts"], json!([]));
    let (status, _) = call(&t, &auth, "POST", "/api/v1/pools", Some(pool("web"))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let mut changed = pool("web");
    changed["max_hosts"] = json!(7);
    let (status, v) = call(&t, &auth, "PUT", "/api/v1/pools/web", Some(changed)).await;
    assert_eq!((status, v["max_hosts"].as_u64()), (StatusCode::OK, Some(7)));
    let (status, v) = call(&t, &auth, "PUT", "/api/v1/pools/web", Some(pool("other"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("keeps its name"));
    let (status, _) = call(&t, &auth, "PUT", "/api/v1/pools/nope", Some(pool("nope"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = call(
        &t,
        &auth,
        "POST",
        "/api/v1/pools/web/hosts/web-000000/retire",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");

    let (status, _) = call(&t, &auth, "DELETE", "/api/v1/pools/web", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, &auth, "GET", "/api/v1/pools/web", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = call(&t, &auth, "GET", "/api/v1/audit?action=pool.", None).await;
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
        ("pool.create", "ok"),
        ("pool.create", "failed"),
        ("pool.update", "ok"),
        ("pool.update", "failed"),
        ("pool.retire", "failed"),
        ("pool.delete", "ok"),
    ] {
        assert!(
            actions.contains(&(action.to_string(), result.to_string())),
            "no {action} {result} in {actions:?}"
        );
    }
}
