//! `GET /api/v1/whatif` and `/api/v1/whatif/each-host` over the in-memory runtime
//! and the real reconcile loop: the answer; what each team sees of it; bad input;
//! and the answer against what the loop then does when the host is lost.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{login, ok_json, send, Auth};
use domain::wire::UserRole;
use serde_json::{json, Value};
use server::testing::TestState;
use tokio_util::sync::CancellationToken;

struct World {
    t: TestState,
    root: Auth,
    web: Auth,
    db: Auth,
    stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl World {
    /// Three hosts; `shop` (team web, 3 replicas) and `ledger` (team db, 1
    /// replica with a per-replica volume), converged by the loop.
    async fn new() -> World {
        let (t, _fake) = TestState::with_fake(3).await;
        let (root, web, db) = common::web_and_db(&t).await;
        let w = World {
            root,
            web,
            db,
            stop: CancellationToken::new(),
            t,
        };
        tokio::spawn(server::reconciler::driver::run(
            w.t.state.clone(),
            w.stop.clone(),
        ));
        let spec = json!({"image": "demo:v1", "port": 8080});
        w.create("shop", "web", 3, spec).await;
        let spec = json!({"image": "demo:v1", "volumes": [{"name": "data", "path": "/data", "scope": "per-replica"}]});
        w.create("ledger", "db", 1, spec).await;
        w.until("shop runs", "shop", |r| r.len() == 3).await;
        w.until("ledger runs", "ledger", |r| r.len() == 1).await;
        w
    }

    async fn create(&self, name: &str, team: &str, replicas: u32, spec: Value) {
        let body = json!({"name": name, "team": team, "replicas": replicas, "spec": spec});
        ok_json(&self.t, &self.root, "POST", "/api/v1/services", Some(body)).await;
    }

    /// Slot -> host of the service's running replicas.
    async fn running(&self, name: &str) -> Vec<(u64, String)> {
        let uri = format!("/api/v1/services/{name}");
        let v = ok_json(&self.t, &self.root, "GET", &uri, None).await;
        let mut out: Vec<(u64, String)> = v["service"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["state"] == "running")
            .map(|r| {
                (
                    r["slot"].as_u64().unwrap(),
                    r["host"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Waits until the service's running replicas (slot, host) satisfy `cond`,
    /// poking the loop each time (it sleeps until a write or its interval).
    async fn until(&self, what: &str, name: &str, cond: impl Fn(&[(u64, String)]) -> bool) {
        common::until(what, Duration::from_secs(20), || async {
            self.t.state.reconciler.poke();
            let running = self.running(name).await;
            if cond(&running) {
                Ok(())
            } else {
                Err(format!("{running:?}"))
            }
        })
        .await
    }

    async fn ask(&self, auth: &Auth, uri: &str) -> (StatusCode, Value) {
        let r = send(&self.t.router(), "GET", uri, auth, None, &[]).await;
        let v = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        (r.status, v)
    }
}

fn rows(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match list {
            "moves" => format!(
                "{}/{} {}->{}",
                r["service"].as_str().unwrap(),
                r["slot"],
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap()
            ),
            "stranded" => format!(
                "{}/{} on {}: {}",
                r["service"].as_str().unwrap(),
                r["slot"],
                r["host"].as_str().unwrap(),
                r["volumes"]
            ),
            _ => format!(
                "{}/{} from {}: {}",
                r["service"].as_str().unwrap(),
                r["slot"],
                r["from"].as_str().unwrap(),
                r["why"].as_str().unwrap()
            ),
        })
        .collect()
}

#[tokio::test]
async fn losing_a_host_is_answered_per_team_and_then_happens_as_answered() {
    let w = World::new().await;
    let ledger_host = w.running("ledger").await[0].1.clone();
    let shop = w.running("shop").await;
    let (slot, _) = shop
        .iter()
        .find(|(_, h)| *h == ledger_host)
        .expect("shop spreads over the three hosts")
        .clone();
    let uri = format!("/api/v1/whatif?lose={ledger_host}");

    // The admin sees both services: shop's replica moves, ledger's slot waits for
    // its volume.
    let (status, all) = w.ask(&w.root, &uri).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["lose"], json!([ledger_host]));
    assert_eq!(all["whole"], false);
    let moves = rows(&all, "moves");
    assert_eq!(moves.len(), 1, "{all}");
    assert!(
        moves[0].starts_with(&format!("shop/{slot} {ledger_host}->")),
        "{moves:?}"
    );
    let to = all["moves"][0]["to"].as_str().unwrap().to_string();
    assert_ne!(to, ledger_host);
    assert_eq!(
        rows(&all, "stranded"),
        [format!("ledger/1 on {ledger_host}: [\"data\"]")]
    );
    assert_eq!(rows(&all, "unplaced"), Vec::<String>::new());

    // Each team sees its own services only, and whether they stay whole.
    let (_, web) = w.ask(&w.web, &uri).await;
    assert_eq!(
        (web["whole"].clone(), rows(&web, "moves")),
        (json!(true), moves.clone())
    );
    assert!(web["stranded"].as_array().unwrap().is_empty(), "{web}");
    assert!(!web.to_string().contains("ledger"), "{web}");
    let (_, db) = w.ask(&w.db, &uri).await;
    assert_eq!(db["whole"], false);
    assert!(db["moves"].as_array().unwrap().is_empty(), "{db}");
    assert!(!db.to_string().contains("shop"), "{db}");

    // N-1: only losing ledger's host leaves a service short (for the admin and
    // team db; team web's services survive any one loss).
    let (status, each) = w.ask(&w.root, "/api/v1/whatif/each-host").await;
    assert_eq!(status, StatusCode::OK, "{each}");
    let short: Vec<&str> = each["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["whole"] == false)
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        (each["whole"].clone(), short),
        (json!(false), vec![ledger_host.as_str()])
    );
    assert_eq!(each["hosts"].as_array().unwrap().len(), 3);
    let (_, each) = w.ask(&w.web, "/api/v1/whatif/each-host").await;
    assert_eq!(each["whole"], true, "{each}");

    // Then the host is lost for real: past its grace the loop starts shop's
    // replica where the answer said, and ledger's slot waits for its volume.
    let id = w.t.state.hosts.by_name(&ledger_host).unwrap().id();
    w.t.set_host_answering(id, false);
    w.t.advance(w.t.state.reconciler.settings().host_grace.as_millis() as i64 + 1000);
    let want = (slot, to.clone());
    w.until("shop's replica moved where the answer said", "shop", |r| {
        r.contains(&want)
    })
    .await;
    let v = ok_json(&w.t, &w.root, "GET", "/api/v1/services/ledger", None).await;
    let problems = v["service"]["problems"].to_string();
    assert!(problems.contains(&ledger_host), "{problems}");
}

#[tokio::test]
async fn bad_host_lists_are_refused_before_anything_is_planned() {
    let (t, _fake) = TestState::with_fake(2).await;
    t.add_user("root", "password-1", UserRole::Admin).await;
    let root = Auth::Cookie(login(&t.router(), "root", "password-1").await);
    let many = (0..51)
        .map(|i| format!("h{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases: Vec<(String, &Auth, StatusCode, &str)> = vec![
        (
            "/api/v1/whatif?lose=h1".into(),
            &Auth::None,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "/api/v1/whatif/each-host".into(),
            &Auth::None,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "/api/v1/whatif".into(),
            &root,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/whatif?lose=".into(),
            &root,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/v1/whatif?lose=H1".into(),
            &root,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/v1/whatif?lose=h1,h1".into(),
            &root,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/v1/whatif?lose=h1%3Brm".into(),
            &root,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            format!("/api/v1/whatif?lose={many}"),
            &root,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/v1/whatif?lose=h1,h9".into(),
            &root,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (uri, auth, status, code) in cases {
        let r = send(&t.router(), "GET", &uri, auth, None, &[]).await;
        assert_eq!(
            (r.status, r.error_code()),
            (status, code.to_string()),
            "{uri}: {}",
            r.text
        );
    }
    // Nothing runs: losing both hosts moves nothing and leaves nothing short.
    let v = ok_json(&t, &root, "GET", "/api/v1/whatif?lose=h1,h2", None).await;
    assert_eq!(v["whole"], true);
    assert_eq!(v["lose"], json!(["h1", "h2"]));
}
