//! The stacks API over the in-memory runtime: a plan per service (create, a new
//! revision with its diff, scale, routes, unchanged) with placement tried, an
//! apply guarded by the plan (409 when stale), all or nothing, audited once;
//! export that plans as "no changes"; Compose keys noted; bad files in words.

mod common;

use axum::http::StatusCode;
use common::{login, send, Auth};
use domain::wire::UserRole;
use serde_json::{json, Value};
use server::testing::TestState;

struct World {
    t: TestState,
    admin: Auth,
}

async fn world() -> World {
    let (t, _fake) = TestState::with_fake(2).await;
    t.add_team("shop").await;
    t.add_user("root", "password-1", UserRole::Admin).await;
    let admin = Auth::Cookie(login(&t.router(), "root", "password-1").await);
    World { t, admin }
}

impl World {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let r = send(&self.t.router(), method, uri, &self.admin, body, &[]).await;
        let v = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        (r.status, v, r.text)
    }

    async fn plan(&self, file: &str) -> Value {
        let (status, v, text) = self
            .call("POST", "/api/v1/stacks/plan", Some(json!({"file": file})))
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        v
    }

    async fn apply(&self, file: &str, guard: &Value) -> (StatusCode, Value) {
        let body = json!({"file": file, "guard": guard});
        let (status, v, _) = self.call("POST", "/api/v1/stacks/apply", Some(body)).await;
        (status, v)
    }
}

/// A stack file of three services of team shop; `web` runs `image`.
fn stack(image: &str, web_replicas: u32) -> String {
    format!(
        "kind: berth/stack
team: shop
services:
  web:
    replicas: {web_replicas}
    spec:
      image: {image}
      port: 8080
      resources: {{memory_bytes: 536870912}}
  api:
    replicas: 2
    spec: {{image: 127.0.0.1:5000/berth-demo:v1, port: 8080}}
    proxy:
      routes: [{{host: api.example.com}}]
  worker:
    replicas: 1
    spec: {{image: 127.0.0.1:5000/berth-demo:v1}}
"
    )
}

fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_stack_is_planned_applied_and_planned_again_as_no_changes() {
    let w = world().await;
    let file = stack("127.0.0.1:5000/berth-demo:v1", 3);
    let plan = w.plan(&file).await;
    assert_eq!(plan["format"], "stack");
    assert_eq!(plan["changes"], 3);
    assert_eq!(plan["appliable"], true);
    assert_eq!(
        plan["guard"],
        json!({"api": null, "web": null, "worker": null})
    );
    assert_eq!(
        actions(&plan),
        pairs(&[("api", "create"), ("web", "create"), ("worker", "create")])
    );
    // Placement: web's three 512 MiB replicas spread over the two 4 GiB hosts.
    let web = &plan["services"][1]["placement"];
    assert_eq!(web["unplaced"], 0, "{web}");
    let placed: u64 = web["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["replicas"].as_u64().unwrap())
        .sum();
    assert_eq!(placed, 3, "{web}");

    let (status, applied) = w.apply(&file, &plan["guard"]).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["changes"], 3);
    let (status, detail, _) = w.call("GET", "/api/v1/services/web", None).await;
    let web = &detail["service"];
    assert_eq!(
        (status, web["replicas"].clone(), web["team"].clone()),
        (StatusCode::OK, json!(3), json!("shop"))
    );
    let (_, api, _) = w.call("GET", "/api/v1/services/api", None).await;
    assert_eq!(
        api["service"]["proxy"]["routes"][0]["host"],
        "api.example.com"
    );

    let again = w.plan(&file).await;
    assert_eq!(again["changes"], 0);
    assert_eq!(
        actions(&again),
        pairs(&[
            ("api", "unchanged"),
            ("web", "unchanged"),
            ("worker", "unchanged")
        ])
    );
    assert_eq!(again["guard"], json!({"api": 1, "web": 1, "worker": 1}));
    // Applying an unchanged plan is fine and changes nothing.
    let (status, none) = w.apply(&file, &again["guard"]).await;
    assert_eq!(
        (status, none["changes"].clone()),
        (StatusCode::OK, json!(0))
    );

    // One image changes: one new revision with its diff; a scale is a scale.
    let changed = w.plan(&stack("127.0.0.1:5000/berth-demo:v2", 5)).await;
    assert_eq!(changed["changes"], 1);
    let web = &changed["services"][1];
    assert_eq!(
        web["changes"],
        json!([{"kind": "revision", "from": 1}, {"kind": "scale", "from": 3, "to": 5}])
    );
    assert_eq!(
        web["diff"],
        json!(["image: 127.0.0.1:5000/berth-demo:v1 → 127.0.0.1:5000/berth-demo:v2"])
    );
    // A new revision places all of its replicas anew (the old ones go).
    assert_eq!(web["placement"]["unplaced"], 0, "{web}");
    let (status, _) = w
        .apply(&stack("127.0.0.1:5000/berth-demo:v2", 5), &changed["guard"])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, web, _) = w.call("GET", "/api/v1/services/web", None).await;
    let web = &web["service"];
    assert_eq!(
        (web["revision"].clone(), web["replicas"].clone()),
        (json!(2), json!(5))
    );

    // One audit entry for each apply, with its changes.
    let (_, audit, _) = w.call("GET", "/api/v1/audit?action=stack.", None).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{audit}");
    let detail = entries[0]["detail"].as_str().unwrap();
    assert_eq!(
        detail, "web: new revision after 1, rolled out, scale 3 → 5",
        "{audit}"
    );
    assert_eq!(entries[1]["detail"], "no changes");
}

#[tokio::test]
async fn a_stale_plan_is_refused_naming_what_changed() {
    let w = world().await;
    let file = stack("127.0.0.1:5000/berth-demo:v1", 1);
    let first = w.plan(&file).await;
    assert_eq!(w.apply(&file, &first["guard"]).await.0, StatusCode::OK);
    let next = stack("127.0.0.1:5000/berth-demo:v2", 1);
    let plan = w.plan(&next).await;
    // Someone deploys web meanwhile.
    let (status, _, text) = w
        .call(
            "PUT",
            "/api/v1/services/web/spec",
            Some(json!({"spec": {"image": "127.0.0.1:5000/berth-demo:v3", "port": 8080}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, v) = w.apply(&next, &plan["guard"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["error"]["message"],
        "the plan is stale: web was at revision 1 and is at revision 2 now; plan again"
    );
    // A plan made before a service existed is stale once it does.
    let (status, v) = w
        .apply(&file, &json!({"api": null, "web": null, "worker": null}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api was absent and is at revision 1 now"),
        "{v}"
    );
    let (_, web, _) = w.call("GET", "/api/v1/services/web", None).await;
    assert_eq!(
        web["service"]["spec"]["image"],
        "127.0.0.1:5000/berth-demo:v3"
    );
}

#[tokio::test]
async fn export_plans_as_no_changes() {
    let w = world().await;
    let file = stack("127.0.0.1:5000/berth-demo:v1", 2);
    let plan = w.plan(&file).await;
    assert_eq!(w.apply(&file, &plan["guard"]).await.0, StatusCode::OK);
    let r = send(
        &w.t.router(),
        "GET",
        "/api/v1/stacks/export?team=shop",
        &w.admin,
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text.starts_with("kind: berth/stack\nteam: shop\n"),
        "{}",
        r.text
    );
    let again = w.plan(&r.text).await;
    assert_eq!(again["changes"], 0, "{again}");
    let (status, v, _) = w
        .call("GET", "/api/v1/stacks/export?team=nobody", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn bad_files_are_refused_in_words_and_nothing_is_applied() {
    let w = world().await;
    let bad_second = "kind: berth/stack\nteam: shop\nservices:\n  alpha:\n    replicas: 1\n    spec: {image: demo:v1}\n  beta:\n    replicas: 1\n    spec: {image: 'not an image!'}\n";
    let table: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: [unclosed\n", "line 4"),
        ("kind: berth/stack\nteam: nobody\nservices:\n  web:\n    replicas: 1\n    spec: {image: demo:v1}\n", "service web: there is no team \"nobody\""),
        ("kind: berth/stack\nteam: shop\nservices:\n  web:\n    replicas: 1\n    spec: {image: demo:v1, colour: red}\n", "unknown field `colour`"),
        (bad_second, "service beta: "),
        ("kind: berth/stack\nteam: shop\nservices:\n  a:\n    replicas: 1\n    spec: {image: demo:v1}\n    proxy: {routes: [{host: x.example.com}]}\n  b:\n    replicas: 1\n    spec: {image: demo:v1}\n    proxy: {routes: [{host: x.example.com}]}\n", "both claim the route x.example.com"),
        ("kind: berth/stack\nteam: shop\n", "the file has no services"),
    ];
    for (file, why) in table {
        for uri in ["/api/v1/stacks/plan", "/api/v1/stacks/apply"] {
            let body = if uri.ends_with("apply") {
                json!({"file": file, "guard": {}})
            } else {
                json!({"file": file})
            };
            let (status, v, _) = w.call("POST", uri, Some(body)).await;
            assert!(
                status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
                "{uri} {file}: {status} {v}"
            );
            let message = v["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(why), "{uri} {file}: {message}");
        }
    }
    // All or nothing: alpha of the file with a bad beta was not made.
    let (status, _, _) = w.call("GET", "/api/v1/services/alpha", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn compose_keys_berth_does_not_take_are_listed_and_refused_ones_stop_the_apply() {
    let w = world().await;
    let compose = "services:\n  web:\n    image: 127.0.0.1:5000/berth-demo:v1\n    build: .\n    container_name: web\n    ports: [\"80:8080\"]\n    deploy: {replicas: 2}\n";
    let (status, plan, text) = w
        .call(
            "POST",
            "/api/v1/stacks/plan",
            Some(json!({"file": compose, "team": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(plan["format"], "compose");
    let notes: Vec<(String, String)> = plan["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["key"].as_str().unwrap().into(),
                n["verdict"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        notes,
        pairs(&[
            ("services.web.build", "ignored"),
            ("services.web.container_name", "ignored"),
            ("services.web.ports", "adapted")
        ])
    );
    let (status, _) = {
        let body = json!({"file": compose, "team": "shop", "guard": plan["guard"]});
        let (s, v, _) = w.call("POST", "/api/v1/stacks/apply", Some(body)).await;
        (s, v)
    };
    assert_eq!(status, StatusCode::OK);
    let (_, web, _) = w.call("GET", "/api/v1/services/web", None).await;
    let web = &web["service"];
    assert_eq!(
        (web["replicas"].clone(), web["spec"]["port"].clone()),
        (json!(2), json!(8080))
    );

    let root = "services:\n  root:\n    image: demo:v1\n    privileged: true\n    volumes: [\"/:/host\"]\n";
    let (_, plan, _) = w
        .call(
            "POST",
            "/api/v1/stacks/plan",
            Some(json!({"file": root, "team": "shop"})),
        )
        .await;
    assert_eq!(plan["appliable"], false, "{plan}");
    let body = json!({"file": root, "team": "shop", "guard": plan["guard"]});
    let (status, v, _) = w.call("POST", "/api/v1/stacks/apply", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("services.root.privileged is refused"),
        "{v}"
    );
    let (status, _, _) = w.call("GET", "/api/v1/services/root", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
