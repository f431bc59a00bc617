//! The services API through the router, without Docker: creating, reading,
//! deploying, scaling and deleting; what bad input gets; who may do what; and the
//! live stream of changes.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{login, send, Auth};
use domain::wire::{TeamRole, UserRole};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::testing::TestState;
use tower::ServiceExt;

struct World {
    t: TestState,
    admin: Auth,
    viewer: Auth,
    outsider: Auth,
}

async fn world() -> World {
    let t = TestState::new(&[]).await;
    let web = t.add_team("web").await;
    let db = t.add_team("db").await;
    t.add_user("admin", "password-1", UserRole::Admin).await;
    let v = t.add_user("vera", "password-1", UserRole::Member).await;
    t.add_member(web, v, TeamRole::Viewer).await;
    let o = t.add_user("otto", "password-1", UserRole::Member).await;
    t.add_member(db, o, TeamRole::Operator).await;
    let admin = Auth::Cookie(login(&t.router(), "admin", "password-1").await);
    let viewer = Auth::Cookie(login(&t.router(), "vera", "password-1").await);
    let outsider = Auth::Cookie(login(&t.router(), "otto", "password-1").await);
    World {
        t,
        admin,
        viewer,
        outsider,
    }
}

fn service(name: &str) -> Value {
    json!({
        "name": name, "team": "web", "replicas": 3,
        "spec": {"image": "127.0.0.1:5000/berth-demo:v1", "port": 8080,
                 "health": {"kind": "http", "path": "/healthz"}}
    })
}

impl World {
    /// The actions of the audit log's `service.` entries, newest first.
    async fn service_audit_actions(&self) -> Vec<String> {
        let audit = self
            .call(&self.admin, "GET", "/api/v1/audit?action=service.", None)
            .await
            .json();
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }

    async fn call(
        &self,
        auth: &Auth,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> common::Reply {
        send(&self.t.router(), method, uri, auth, body, &[]).await
    }
}

#[tokio::test]
async fn a_service_is_created_read_deployed_scaled_and_deleted() {
    let w = world().await;
    let created = w
        .call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let s = created.json();
    assert_eq!(
        (
            s["name"].as_str(),
            s["team"].as_str(),
            s["replicas"].as_i64()
        ),
        (Some("shop"), Some("web"), Some(3))
    );
    assert_eq!(s["revision"], 1);
    assert_eq!(s["spec"]["health"]["kind"], "http");
    assert_eq!(
        s["spec"]["health"]["interval_ms"], 2000,
        "defaults are filled in"
    );

    let list = w
        .call(&w.admin, "GET", "/api/v1/services", None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // A new spec is a new revision; the same spec again is not.
    let mut spec = s["spec"].clone();
    spec["image"] = json!("127.0.0.1:5000/berth-demo:v2");
    let deployed = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/deploy",
            Some(json!({"spec": spec.clone()})),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.text);
    assert_eq!(deployed.json()["revision"], 2);
    let again = w
        .call(
            &w.admin,
            "PUT",
            "/api/v1/services/shop/spec",
            Some(json!({"spec": spec})),
        )
        .await;
    assert_eq!(again.json()["revision"], 2);

    let scaled = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/scale",
            Some(json!({"replicas": 5})),
        )
        .await;
    assert_eq!(scaled.status, StatusCode::OK);
    assert_eq!(scaled.json()["replicas"], 5);

    let detail = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    let revisions: Vec<i64> = detail["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    assert_eq!(revisions, [2, 1]);
    assert_eq!(detail["revisions"][0]["author"], "admin");
    assert_eq!(
        detail["revisions"][0]["message"],
        "image 127.0.0.1:5000/berth-demo:v1 → 127.0.0.1:5000/berth-demo:v2"
    );
    let events: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"scaled 3 -> 5 by admin"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("service shop created by admin in team web: 3 replicas")),
        "{events:?}"
    );
    // Five slots wanted, none can be placed: no host. Each says so.
    let instances = detail["service"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 5);
    assert!(instances.iter().all(|i| i["state"] == "waiting"));
    assert_eq!(detail["service"]["phase"], "progressing");
    let revs = w
        .call(&w.admin, "GET", "/api/v1/services/shop/revisions", None)
        .await
        .json();
    assert_eq!(revs.as_array().unwrap().len(), 2);

    // The audit log has every change.
    let actions = w.service_audit_actions().await;
    for a in ["service.create", "service.deploy", "service.scale"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }

    // A team that owns a service cannot be deleted.
    let team_id = detail["service"]["team_id"].as_i64().unwrap();
    let refused = w
        .call(
            &w.admin,
            "DELETE",
            &format!("/api/v1/teams/{team_id}"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("still owns 1 service"));

    let deleted = w
        .call(&w.admin, "DELETE", "/api/v1/services/shop", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = w.call(&w.admin, "GET", "/api/v1/services/shop", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "not_found");
}

#[tokio::test]
async fn bad_input_is_refused_in_words_and_changes_nothing() {
    let w = world().await;
    assert_eq!(
        w.call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
            .await
            .status,
        StatusCode::CREATED
    );
    let mut cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            service("Shop"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid service name \"Shop\"",
        ),
        (
            service("shop"),
            StatusCode::CONFLICT,
            "a service named \"shop\" exists already",
        ),
        (
            json!({"name": "x", "team": "nope", "replicas": 1, "spec": {"image": "a"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "there is no team \"nope\"",
        ),
        (
            json!({"name": "x", "team": "web", "replicas": 5000, "spec": {"image": "a"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 1000 replicas",
        ),
        (
            json!({"name": "x", "team": "web", "replicas": -1, "spec": {"image": "a"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the JSON body does not fit",
        ),
        (
            json!({"name": "x", "team": "web", "replicas": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `spec`",
        ),
    ];
    for (field, value, why) in [
        ("image", json!("not an image"), "invalid image"),
        (
            "env",
            json!({"9X": "1"}),
            "invalid environment variable name",
        ),
        (
            "health",
            json!({"kind": "http", "path": "healthz"}),
            "invalid health check path",
        ),
        (
            "placement",
            json!({"constraints": ["zone=="]}),
            "invalid constraint",
        ),
        (
            "resources",
            json!({"memory_bytes": 100, "memory_limit_bytes": 10}),
            "memory limit is below",
        ),
    ] {
        let mut body = service("x");
        body["spec"][field] = value;
        cases.push((body, StatusCode::UNPROCESSABLE_ENTITY, why));
    }
    for (body, status, why) in cases {
        let reply = w
            .call(&w.admin, "POST", "/api/v1/services", Some(body.clone()))
            .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(why), "{body}: {message}");
    }
    let list = w
        .call(&w.admin, "GET", "/api/v1/services", None)
        .await
        .json();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing else was created"
    );

    let not_json = send(
        &w.t.router(),
        "POST",
        "/api/v1/services/shop/scale",
        &w.admin,
        None,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    for (uri, body, status) in [
        (
            "/api/v1/services/shop/scale",
            json!({"replicas": "many"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/services/shop/scale",
            json!({"replicas": 1001}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/services/nope/scale",
            json!({"replicas": 1}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/services/shop/deploy",
            json!({"spec": {"image": "UPPER CASE"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = w.call(&w.admin, "POST", uri, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{uri} {body}: {}", reply.text);
    }
    let shop = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    assert_eq!(
        (
            shop["service"]["replicas"].as_i64(),
            shop["service"]["revision"].as_i64()
        ),
        (Some(3), Some(1))
    );

    // Logs of a slot without a container, and a bad tail.
    let logs = w
        .call(
            &w.admin,
            "GET",
            "/api/v1/services/shop/replicas/1/logs",
            None,
        )
        .await;
    assert_eq!(logs.status, StatusCode::NOT_FOUND, "{}", logs.text);
    let tail = w
        .call(
            &w.admin,
            "GET",
            "/api/v1/services/shop/replicas/1/logs?tail=0",
            None,
        )
        .await;
    assert_eq!(
        tail.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        tail.text
    );
    let slot = w
        .call(
            &w.admin,
            "GET",
            "/api/v1/services/shop/replicas/x/logs",
            None,
        )
        .await;
    assert_eq!(slot.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn members_see_and_change_only_what_their_role_allows() {
    let w = world().await;
    w.call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
        .await;
    // A viewer of the team reads, but does not change.
    let list = w
        .call(&w.viewer, "GET", "/api/v1/services", None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        w.call(&w.viewer, "GET", "/api/v1/services/shop", None)
            .await
            .status,
        StatusCode::OK
    );
    let scale = w
        .call(
            &w.viewer,
            "POST",
            "/api/v1/services/shop/scale",
            Some(json!({"replicas": 1})),
        )
        .await;
    assert_eq!(scale.status, StatusCode::FORBIDDEN);
    assert_eq!(
        scale.json()["error"]["message"],
        "you are a viewer in team web; changing its services needs the operator role"
    );
    // An operator of another team does not even see it.
    let list = w
        .call(&w.outsider, "GET", "/api/v1/services", None)
        .await
        .json();
    assert!(list.as_array().unwrap().is_empty());
    assert_eq!(
        w.call(&w.outsider, "GET", "/api/v1/services/shop", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let create = w
        .call(
            &w.outsider,
            "POST",
            "/api/v1/services",
            Some(service("mine")),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    assert_eq!(
        w.call(&Auth::None, "GET", "/api/v1/services", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let shop = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    assert_eq!(shop["service"]["replicas"], 3, "nothing changed");
}

/// The next server-sent event's `event:` and `data:` lines.
async fn next_event(body: &mut Body) -> (String, String) {
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        if let Some((event, _)) = text.split_once("\n\n") {
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            return (field("event"), field("data"));
        }
    }
}

#[tokio::test]
async fn changes_stream_to_watchers_that_may_read_them() {
    let w = world().await;
    w.call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
        .await;
    let Auth::Cookie(cookie) = &w.viewer else {
        unreachable!()
    };
    let response =
        w.t.router()
            .oneshot(
                Request::get("/api/v1/watch/services")
                    .header("cookie", format!("berth_session={cookie}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    assert_eq!(next_event(&mut body).await, ("ready".into(), "ok".into()));
    w.call(
        &w.admin,
        "POST",
        "/api/v1/services/shop/scale",
        Some(json!({"replicas": 4})),
    )
    .await;
    assert_eq!(
        next_event(&mut body).await,
        ("service".into(), "shop".into())
    );

    let anonymous = w
        .call(&Auth::None, "GET", "/api/v1/watch/services", None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rollouts_are_started_paused_resumed_aborted_and_rolled_back() {
    let w = world().await;
    w.call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
        .await;
    let mut spec = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json()["service"]["spec"]
        .clone();
    spec["image"] = json!("127.0.0.1:5000/berth-demo:v2");
    w.call(
        &w.admin,
        "POST",
        "/api/v1/services/shop/deploy",
        Some(json!({"spec": spec.clone()})),
    )
    .await;
    let detail = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    assert_eq!(detail["rollouts"][0]["kind"], "deploy");
    assert_eq!(detail["rollouts"][0]["state"], "running");
    assert_eq!(
        (
            detail["rollouts"][0]["from_revision"].as_i64(),
            detail["rollouts"][0]["to_revision"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(detail["service"]["rollout"]["to_revision"], 2);
    let active = w
        .call(&w.viewer, "GET", "/api/v1/rollouts", None)
        .await
        .json();
    assert_eq!(active[0]["service"], "shop");
    assert!(w
        .call(&w.outsider, "GET", "/api/v1/rollouts", None)
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());

    // Pause, not twice; resume.
    let paused = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollout/pause",
            None,
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.json()["rollout"]["state"], "paused");
    assert_eq!(paused.json()["rollout"]["reason"], "paused by admin");
    let again = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollout/pause",
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.json()["error"]["message"],
        "the rollout to revision 2 is paused already"
    );
    let resumed = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollout/resume",
            None,
        )
        .await;
    assert_eq!(resumed.json()["rollout"]["state"], "running");

    // Abort: back to revision 1.
    let aborted = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollout/abort",
            None,
        )
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.text);
    assert_eq!(aborted.json()["revision"], 1);
    let rollouts = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json()["rollouts"]
        .clone();
    assert_eq!(
        (
            rollouts[0]["kind"].as_str(),
            rollouts[0]["to_revision"].as_i64()
        ),
        (Some("rollback"), Some(1))
    );
    assert_eq!(
        (
            rollouts[1]["state"].as_str(),
            rollouts[1]["reason"].as_str()
        ),
        (Some("aborted"), Some("aborted by admin"))
    );

    // Roll back to any revision: 2 again; {} means the one before.
    let to2 = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollback",
            Some(json!({"revision": 2})),
        )
        .await;
    assert_eq!(to2.json()["revision"], 2);
    let prev = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollback",
            Some(json!({})),
        )
        .await;
    assert_eq!(prev.status, StatusCode::OK, "{}", prev.text);
    assert_eq!(prev.json()["revision"], 1);
    for (body, status, why) in [
        (
            json!({"revision": 9}),
            StatusCode::NOT_FOUND,
            "shop has no revision 9",
        ),
        (
            json!({"revision": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "shop is at revision 1 already",
        ),
        (
            json!({"revision": "two"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "does not fit",
        ),
    ] {
        let reply = w
            .call(
                &w.admin,
                "POST",
                "/api/v1/services/shop/rollback",
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{}",
            reply.text
        );
    }
    let viewer = w
        .call(
            &w.viewer,
            "POST",
            "/api/v1/services/shop/rollback",
            Some(json!({"revision": 2})),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);

    // A diff between any two revisions.
    let diff = w
        .call(
            &w.viewer,
            "GET",
            "/api/v1/services/shop/revisions/diff?from=1&to=2",
            None,
        )
        .await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.text);
    assert_eq!(
        diff.json()["changes"],
        json!(["image: 127.0.0.1:5000/berth-demo:v1 → 127.0.0.1:5000/berth-demo:v2"])
    );
    assert_eq!(
        w.call(
            &w.admin,
            "GET",
            "/api/v1/services/shop/revisions/diff?from=1&to=7",
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.call(
            &w.admin,
            "GET",
            "/api/v1/services/shop/revisions/diff?from=1",
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    // Nothing under way: 409.
    let rollouts = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json()["rollouts"]
        .clone();
    let actions = w.service_audit_actions().await;
    for a in [
        "service.deploy",
        "service.pause",
        "service.resume",
        "service.abort",
        "service.rollback",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert_eq!(rollouts[0]["state"], "running");
}

#[tokio::test]
async fn a_canary_rollout_is_promoted_step_by_step_and_past_its_last() {
    let w = world().await;
    w.call(&w.admin, "POST", "/api/v1/services", Some(service("shop")))
        .await;
    let promote = |body: Value| {
        w.call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/rollout/promote",
            Some(body),
        )
    };
    // Nothing under way: nothing to promote.
    let none = promote(json!({})).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.text);
    let mut spec = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json()["service"]["spec"]
        .clone();
    spec["image"] = json!("127.0.0.1:5000/berth-demo:v2");
    // Refused in words: weights that do not grow, a step too heavy.
    for (steps, why) in [
        (
            json!([{"weight": 50}, {"weight": 10}]),
            "more than the one before",
        ),
        (json!([{"weight": 100}]), "from 1 to 99"),
    ] {
        spec["update"] = json!({"canary": {"steps": steps}});
        let r = w
            .call(
                &w.admin,
                "POST",
                "/api/v1/services/shop/deploy",
                Some(json!({"spec": spec.clone()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains(why), "{}", r.text);
    }
    spec["update"] =
        json!({"canary": {"steps": [{"weight": 10}, {"weight": 50, "pause_ms": 60000}]}});
    let deployed = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/shop/deploy",
            Some(json!({"spec": spec.clone()})),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.text);
    let canary = deployed.json()["rollout"]["canary"].clone();
    assert_eq!(
        (
            canary["step"].as_u64(),
            canary["steps"].as_u64(),
            canary["weight"].as_u64()
        ),
        (Some(1), Some(2), Some(10))
    );
    // 10% of 3 replicas: one new replica beside them; holds until promoted.
    assert_eq!(canary["replicas"], 1);
    assert_eq!(canary["until_promoted"], true);
    assert!(deployed.json()["rollout"]["phase"]
        .as_str()
        .unwrap()
        .starts_with("canary step 1 of 2"));
    // A body that does not fit.
    let bad = promote(json!({"fully": true})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    // Not a member of the team: as if it were not there.
    let stranger = w
        .call(
            &w.outsider,
            "POST",
            "/api/v1/services/shop/rollout/promote",
            Some(json!({})),
        )
        .await;
    assert!(
        matches!(
            stranger.status,
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "{}",
        stranger.status
    );
    // A paused canary is promoted by a person, and runs again.
    w.call(
        &w.admin,
        "POST",
        "/api/v1/services/shop/rollout/pause",
        None,
    )
    .await;
    let next = promote(json!({})).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    let r = next.json()["rollout"].clone();
    assert_eq!(r["state"], "running");
    assert_eq!(
        (
            r["canary"]["step"].as_u64(),
            r["canary"]["weight"].as_u64(),
            r["canary"]["until_promoted"].as_bool()
        ),
        (Some(2), Some(50), Some(false))
    );
    // Past every step: no canary any more, and nothing more to promote.
    let full = promote(json!({"full": true})).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.text);
    assert!(
        full.json()["rollout"].get("canary").is_none(),
        "{}",
        full.text
    );
    let again = promote(json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.json()["error"]["message"],
        "the rollout to revision 2 has no canary step to promote"
    );
    // Each promote is audited, and said in the service's events.
    let actions = w.service_audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "service.promote").count(),
        5,
        "{actions:?}"
    );
    let events = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json()["events"]
        .clone();
    let said: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        said.contains(&"canary of revision 2 promoted to step 2 of 2 (50%): by admin"),
        "{said:?}"
    );
    assert!(
        said.contains(
            &"canary of revision 2 promoted past its last step, the old replicas are replaced: by admin"
        ),
        "{said:?}"
    );
}

#[tokio::test]
async fn the_list_pages_filters_and_answers_an_unchanged_poll_with_304() {
    let w = world().await;
    for n in 1..=5 {
        let r = w
            .call(
                &w.admin,
                "POST",
                "/api/v1/services",
                Some(service(&format!("web-{n}"))),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = w
        .call(&w.admin, "GET", "/api/v1/services?limit=2&q=web", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    assert_eq!(r.headers["x-total-count"], "5");
    assert_eq!(
        r.headers["link"],
        "</api/v1/services?limit=2&offset=2&q=web>; rel=\"next\""
    );
    let r = w
        .call(&w.admin, "GET", "/api/v1/services?limit=2&offset=4", None)
        .await;
    assert_eq!(r.json()[0]["name"], "web-5");
    assert!(r.headers.get("link").is_none());

    // An unchanged list is a 304 to a poll that sends its ETag back.
    let router = w.t.router();
    let first = send(&router, "GET", "/api/v1/services", &w.admin, None, &[]).await;
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(first.headers["cache-control"], "private, no-cache");
    let again = send(
        &router,
        "GET",
        "/api/v1/services",
        &w.admin,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{}", again.text);
    assert!(again.text.is_empty());
    assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
    // The ETag is what the page says: a reader who sees other services (here
    // none: another team's operator) gets an answer of their own; one who sees
    // the same page (the team's viewer; these specs hold no values to hide) the
    // same 304.
    let others = send(
        &router,
        "GET",
        "/api/v1/services",
        &w.outsider,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(others.status, StatusCode::OK);
    assert_eq!(others.text, "[]");
    let viewers = send(
        &router,
        "GET",
        "/api/v1/services",
        &w.viewer,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(viewers.status, StatusCode::NOT_MODIFIED);
    // A change is seen at once.
    let r = w
        .call(
            &w.admin,
            "POST",
            "/api/v1/services/web-1/scale",
            Some(json!({"replicas": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let changed = send(
        &router,
        "GET",
        "/api/v1/services",
        &w.admin,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.json()[0]["replicas"], 1);

    // Bad input is a 422 that says what to send.
    for (uri, words) in [
        ("/api/v1/services?limit=0", "limit must be 1 to 1000"),
        ("/api/v1/services?limit=5000", "limit must be 1 to 1000"),
        ("/api/v1/services?phase=sleeping", "unknown phase"),
        (
            "/api/v1/services?q=%3Cscript%3E",
            "cannot be part of a service name",
        ),
    ] {
        let r = w.call(&w.admin, "GET", uri, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {}",
            r.text
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{uri}: {}",
            r.text
        );
    }
    let r = w
        .call(&w.admin, "GET", "/api/v1/services?limit=x", None)
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
}
