//! Teams cannot reach each other or the hosts. Each case is a request from the
//! caller who tries it, with what must come back: specs that would reach the host,
//! names and ids that come again, routes on another team's hosts, what members
//! read, secrets, and the abuse limits. The cases that need Docker run against the
//! real test hosts (`scripts/hosts up 3`).

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{login, send, Auth, Reply};
use domain::wire::{TeamRole, UserRole};
use serde_json::{json, Value};
use server::testing::TestState;

/// Team `a` (operator alice, viewer avery) and team `b` (operator bob), and an
/// admin.
struct World {
    t: TestState,
    a: i64,
    b: i64,
    admin: Auth,
    alice: Auth,
    avery: Auth,
    bob: Auth,
}

impl World {
    async fn new() -> World {
        World::on(TestState::new(&[]).await).await
    }

    async fn on(t: TestState) -> World {
        let a = t.add_team("a").await;
        let b = t.add_team("b").await;
        t.add_user("boss", "password-1", UserRole::Admin).await;
        for (name, team, role) in [
            ("alice", a, TeamRole::Operator),
            ("avery", a, TeamRole::Viewer),
            ("bob", b, TeamRole::Operator),
        ] {
            let id = t.add_user(name, "password-1", UserRole::Member).await;
            t.add_member(team, id, role).await;
        }
        let r = t.router();
        let cookie = |c: String| Auth::Cookie(c);
        World {
            admin: cookie(login(&r, "boss", "password-1").await),
            alice: cookie(login(&r, "alice", "password-1").await),
            avery: cookie(login(&r, "avery", "password-1").await),
            bob: cookie(login(&r, "bob", "password-1").await),
            t,
            a,
            b,
        }
    }

    async fn call(&self, who: &Auth, method: &str, uri: &str, body: Option<Value>) -> Reply {
        send(&self.t.router(), method, uri, who, body, &[]).await
    }

    /// A service of `team` with `spec` (and `proxy`), as `who` asks for it.
    async fn create(&self, who: &Auth, name: &str, team: &str, spec: Value) -> Reply {
        self.call(
            who,
            "POST",
            "/api/v1/services",
            Some(json!({"name": name, "team": team, "replicas": 1, "spec": spec})),
        )
        .await
    }

    async fn token(&self, who: &Auth, body: Value) -> Reply {
        self.call(who, "POST", "/api/v1/tokens", Some(body)).await
    }

    /// An admin gives `team` the domain `d`.
    async fn domain(&self, team: i64, d: &str) -> Reply {
        let uri = format!("/api/v1/teams/{team}/domains");
        self.call(&self.admin, "POST", &uri, Some(json!({ "domain": d })))
            .await
    }

    async fn routes(&self, who: &Auth, svc: &str, routes: Value) -> Reply {
        let uri = format!("/api/v1/services/{svc}/proxy");
        self.call(who, "PUT", &uri, Some(json!({ "routes": routes })))
            .await
    }

    async fn secret(&self, who: &Auth, team: i64, name: &str, value: &str) -> Reply {
        let uri = format!("/api/v1/teams/{team}/secrets/{name}");
        self.call(who, "PUT", &uri, Some(json!({ "value": value })))
            .await
    }
}

/// Asserts a refusal: the status and a word of the reason.
fn refused(r: &Reply, status: StatusCode, why: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.text);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains(why), "{case}: {message:?} lacks {why:?}");
}

#[tokio::test]
async fn a_spec_cannot_reach_the_host() {
    let w = World::new().await;
    let vol = |options: Value| json!({"image": "demo:v1", "volumes": [{"name": "root", "path": "/host", "options": options}]});
    // (who, spec, status, reason): bind mounts for everyone; driver options of
    // any kind for members; unknown fields; other drivers.
    let cases: Vec<(&Auth, Value, StatusCode, &str)> = vec![
        (
            &w.alice,
            vol(json!({"type": "none", "o": "bind", "device": "/"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bind",
        ),
        (
            &w.alice,
            vol(json!({"type": "none", "o": "bind", "device": "/var/run"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bind",
        ),
        (
            &w.alice,
            vol(json!({"o": "rbind", "device": "/etc"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bind",
        ),
        (
            &w.admin,
            vol(json!({"type": "none", "o": "bind", "device": "/"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bind",
        ),
        (
            &w.admin,
            vol(json!({"type": "ext4", "device": "/dev/sda1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not allowed",
        ),
        (
            &w.alice,
            vol(json!({"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin",
        ),
        (
            &w.alice,
            vol(json!({"type": "tmpfs"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "privileged": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "privileged",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "network_mode": "host"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "network_mode",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "cap_add": ["SYS_ADMIN"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cap_add",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "devices": ["/dev/kmsg"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "devices",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "pid": "host"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pid",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "resources": {"cpu_millis": 1, "privileged": true}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "privileged",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "volumes": [{"name": "v", "path": "/v", "source": "/"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "source",
        ),
        (
            &w.alice,
            json!({"image": "demo:v1", "volumes": [{"name": "v", "path": "/v", "driver": "rclone"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "driver",
        ),
        (
            &w.admin,
            json!({"image": "demo:v1", "volumes": [{"name": "v", "path": "/v", "driver": "rclone"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "driver",
        ),
    ];
    for (n, (who, spec, status, why)) in cases.into_iter().enumerate() {
        let r = w.create(who, &format!("s{n}"), "a", spec.clone()).await;
        refused(&r, status, why, &spec.to_string());
    }
    let list = w
        .call(&w.admin, "GET", "/api/v1/services", None)
        .await
        .json();
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "nothing was made: {list}"
    );

    // An admin declares an NFS volume; its operators may keep it, not change it.
    let nfs = vol(json!({"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}));
    let r = w.create(&w.admin, "files", "a", nfs.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut kept = nfs.clone();
    kept["image"] = json!("demo:v2");
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/files/deploy",
            Some(json!({"spec": kept})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut changed = kept.clone();
    changed["volumes"][0]["options"]["device"] = json!(":/other");
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/files/deploy",
            Some(json!({"spec": changed})),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "admin",
        "changed options",
    );
}

#[tokio::test]
async fn a_revision_from_before_the_rules_does_not_come_back() {
    let w = World::new().await;
    let r = w
        .create(&w.alice, "old", "a", json!({"image": "demo:v1"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_i64().unwrap();
    // Revision 2 as one could be written before bind mounts were refused.
    let bind: domain::wire::ServiceSpec = serde_json::from_value(json!({
        "image": "demo:v1",
        "volumes": [{"name": "root", "path": "/host", "options": {"type": "none", "o": "bind", "device": "/"}}]
    }))
    .unwrap();
    w.t.state
        .store
        .add_revision(id, &bind, "old-berth", "", 1)
        .await
        .unwrap();
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/old/deploy",
            Some(json!({"spec": {"image": "demo:v2"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for who in [&w.alice, &w.admin] {
        let r = w
            .call(
                who,
                "POST",
                "/api/v1/services/old/rollback",
                Some(json!({"revision": 2})),
            )
            .await;
        refused(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "bind",
            "rollback to a bind mount",
        );
    }
}

#[tokio::test]
async fn host_pools_and_instances_are_the_admins() {
    let w = World::new().await;
    let pool = json!({"name": "burst", "provider": {"kind": "command", "command": "/bin/true"},
                      "cpu_millis": 1000, "memory_bytes": 1073741824u64, "max_hosts": 2});
    for who in [&w.alice, &w.avery, &w.bob] {
        let r = w.call(who, "GET", "/api/v1/pools", None).await;
        refused(
            &r,
            StatusCode::FORBIDDEN,
            "only cluster admins",
            "list pools",
        );
        let r = w
            .call(who, "POST", "/api/v1/pools", Some(pool.clone()))
            .await;
        refused(
            &r,
            StatusCode::FORBIDDEN,
            "only cluster admins",
            "create a pool",
        );
    }
    let r = w.call(&w.admin, "POST", "/api/v1/pools", Some(pool)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A pool's events (its provider's words) are the admins' to read.
    let words = "provider said: token sk-live-123 expired";
    server::events::pool(&w.t.state, "burst", server::events::Level::Error, words).await;
    let alices = w.call(&w.alice, "GET", "/api/v1/events", None).await.text;
    assert!(!alices.contains("sk-live"), "{alices}");
    let pools_only = w
        .call(&w.alice, "GET", "/api/v1/events?kind=pool", None)
        .await;
    assert!(!pools_only.text.contains("sk-live"), "{}", pools_only.text);
    let admins = w
        .call(&w.admin, "GET", "/api/v1/events?kind=pool", None)
        .await
        .text;
    assert!(admins.contains("sk-live"), "{admins}");
    // So are the instances' (leadership, with the instances' addresses).
    let subject = server::events::Subject::Instance("a1b2c3");
    let words = "instance a1b2c3 (10.0.0.7:3000) leads now (term 4)";
    server::events::record(&w.t.state, subject, server::events::Level::Info, words).await;
    for path in ["/api/v1/events", "/api/v1/events?kind=instance"] {
        let alices = w.call(&w.alice, "GET", path, None).await.text;
        assert!(!alices.contains("10.0.0.7"), "{alices}");
    }
    let admins = w
        .call(&w.admin, "GET", "/api/v1/events?kind=instance", None)
        .await
        .text;
    assert!(admins.contains("10.0.0.7"), "{admins}");
}

#[tokio::test]
async fn the_services_list_its_pages_and_summary_are_per_team() {
    let w = World::new().await;
    let spec = json!({"image": "demo:v1"});
    for (who, name, team) in [
        (&w.alice, "a-1", "a"),
        (&w.alice, "a-2", "a"),
        (&w.bob, "b-1", "b"),
    ] {
        let r = w.create(who, name, team, spec.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let names = |r: &Reply| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (who, uri, want) in [
        (&w.alice, "/api/v1/services", vec!["a-1", "a-2"]),
        (&w.bob, "/api/v1/services", vec!["b-1"]),
        // Asking for another team's, or past one's own by paging, finds nothing more.
        (&w.alice, "/api/v1/services?team=b", vec![]),
        (&w.bob, "/api/v1/services?q=a-", vec![]),
        (&w.bob, "/api/v1/services?offset=1", vec![]),
        (&w.admin, "/api/v1/services?limit=2", vec!["a-1", "a-2"]),
    ] {
        let r = w.call(who, "GET", uri, None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        assert_eq!(names(&r), want, "{uri}");
    }
    for (who, count) in [(&w.alice, 2), (&w.avery, 2), (&w.bob, 1), (&w.admin, 3)] {
        let r = w.call(who, "GET", "/api/v1/summary/services", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["services"], count, "{}", r.text);
    }
}

#[tokio::test]
async fn berths_own_metrics_are_the_admins() {
    let w = World::new().await;
    let r = w.call(&w.alice, "GET", "/api/v1/services", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let series = "berth_api_request_duration_seconds_count{route=\"/api/v1/services\",method=\"GET\",status=\"200\"}";
    // Members see the cluster's series (hosts), not the instance's own.
    for who in [&w.alice, &w.avery, &w.bob] {
        let r = w.call(who, "GET", "/metrics", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.text.contains("# TYPE berth_host_up gauge"), "{}", r.text);
        for hidden in ["berth_api_request", "berth_reconcile_"] {
            assert!(!r.text.contains(hidden), "{hidden} in {}", r.text);
        }
    }
    let r = w.call(&w.admin, "GET", "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains(series), "{}", r.text);
    assert!(
        r.text
            .contains("# TYPE berth_reconcile_pass_seconds histogram"),
        "{}",
        r.text
    );
    // A path with a service's name in it is counted under its route's template.
    let r = w
        .call(&w.admin, "GET", "/api/v1/services/no-such", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = w.call(&w.admin, "GET", "/metrics", None).await;
    assert!(
        r.text
            .contains("route=\"/api/v1/services/{name}\",method=\"GET\",status=\"404\""),
        "{}",
        r.text
    );
    assert!(!r.text.contains("no-such"), "{}", r.text);
}

#[tokio::test]
async fn identities_never_repeat() {
    let w = World::new().await;
    let spec = json!({"image": "demo:v1", "port": 8080});
    let first = w.create(&w.alice, "shop", "a", spec.clone()).await.json();
    let r = w
        .call(&w.alice, "DELETE", "/api/v1/services/shop", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The same name again, by another team: a new id, and no history of the old.
    let second = w.create(&w.bob, "shop", "b", spec.clone()).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let second = second.json();
    assert!(
        second["id"].as_i64() > first["id"].as_i64(),
        "{second} after {first}"
    );
    let detail = w
        .call(&w.bob, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    let events: Vec<String> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("in team b"), "{events:?}");
    // Team a's events of its deleted service stay team a's.
    let bobs = w
        .call(&w.bob, "GET", "/api/v1/events?kind=service", None)
        .await
        .text;
    assert!(!bobs.contains("by alice"), "{bobs}");
    let alices = w
        .call(&w.alice, "GET", "/api/v1/events?kind=service", None)
        .await
        .text;
    assert!(alices.contains("deleted by alice"), "{alices}");
}

#[tokio::test]
async fn a_name_with_another_teams_kept_volumes_waits_for_an_admin() {
    let (t, fake) = TestState::with_fake(1).await;
    let w = World::on(t).await;
    let spec = json!({"image": "demo:v1", "volumes": [{"name": "data", "path": "/data"}]});
    let made = w.create(&w.alice, "vault", "a", spec.clone()).await.json();
    let id = made["id"].as_i64().unwrap();
    // Its replica made a volume (as the loop would), then the service went, its
    // volumes kept.
    let spec_v: domain::wire::ServiceSpec = serde_json::from_value(spec.clone()).unwrap();
    use server::runtime::ContainerRuntime;
    fake.start(
        1,
        &server::runtime::ReplicaSpec {
            service_id: id,
            service: "vault".into(),
            slot: 1,
            revision: 1,
            spec_hash: spec_v.hash(),
            env: Default::default(),
            spec: spec_v,
            publish_ip: String::new(),
            classes: Default::default(),
        },
    )
    .await
    .unwrap();
    let r = w
        .call(&w.alice, "DELETE", "/api/v1/services/vault", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = w.create(&w.bob, "vault", "b", spec.clone()).await;
    refused(
        &r,
        StatusCode::CONFLICT,
        &format!(
            "berth_{}_{id}.vault.data.1",
            server::runtime::fake::FAKE_OWNER
        ),
        "another team",
    );
    assert!(r.text.contains("team a"), "{}", r.text);
    // Its own team may make it again: a new id, new volumes.
    let again = w.create(&w.alice, "vault", "a", spec.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.json()["id"].as_i64(), Some(id));
}

/// `(team's domains, route host, who)` for the route checks below.
#[tokio::test]
async fn traffic_belongs_to_teams() {
    let w = World::new().await;
    let port = json!({"image": "demo:v1", "port": 8080});
    for (who, name, team) in [(&w.alice, "shop", "a"), (&w.bob, "grab", "b")] {
        let r = w.create(who, name, team, port.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    for d in ["shop.example.com", "*.shop.example.com"] {
        let r = w.domain(w.a, d).await;
        assert_eq!(r.status, StatusCode::OK, "{d}: {}", r.text);
    }
    // Domains a team cannot be given.
    for (d, status, why) in [
        ("*.example.com", StatusCode::CONFLICT, "team a"),
        ("x.shop.example.com", StatusCode::CONFLICT, "team a"),
        (
            "*.apps.localhost",
            StatusCode::UNPROCESSABLE_ENTITY,
            "services' own",
        ),
        (
            "localhost",
            StatusCode::UNPROCESSABLE_ENTITY,
            "services' own",
        ),
        ("*.com", StatusCode::UNPROCESSABLE_ENTITY, "invalid domain"),
        (
            "Shop.Example.com; }",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid domain",
        ),
    ] {
        refused(&w.domain(w.b, d).await, status, why, d);
    }
    // Only admins give domains.
    let r = w
        .call(
            &w.bob,
            "POST",
            &format!("/api/v1/teams/{}/domains", w.b),
            Some(json!({"domain": "bob.example.org"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Team b's routes on team a's hosts, whatever their prefixes.
    for (route, status, why) in [
        (
            json!({"host": "shop.example.com"}),
            StatusCode::CONFLICT,
            "belongs to team a",
        ),
        (
            json!({"host": "shop.example.com", "path_prefix": "/api/admin"}),
            StatusCode::CONFLICT,
            "belongs to team a",
        ),
        (
            json!({"host": "x.shop.example.com"}),
            StatusCode::CONFLICT,
            "belongs to team a",
        ),
        (
            json!({"host": "*.example.com"}),
            StatusCode::CONFLICT,
            "belongs to team a",
        ),
        (
            json!({"host": "other.example.org"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no domain",
        ),
        (
            json!({"path_prefix": "/api"}),
            StatusCode::FORBIDDEN,
            "admin",
        ),
        (
            json!({"host": "shop.localhost"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "services' own",
        ),
        (
            json!({"host": "b.example.org", "path_prefix": "/a{b}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid path prefix",
        ),
        (
            json!({"host": "b.example.org", "path_prefix": "/a\"b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid path prefix",
        ),
        (
            json!({"host": "b.example.org", "path_prefix": "/a\rb"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid path prefix",
        ),
        (
            json!({"host": "b.example.org", "path_prefix": "/a;}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid path prefix",
        ),
        (
            json!({"host": "evil.org;"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid route host",
        ),
    ] {
        refused(
            &w.routes(&w.bob, "grab", json!([route.clone()])).await,
            status,
            why,
            &route.to_string(),
        );
    }
    // Even an admin cannot give team b a route on team a's host.
    refused(
        &w.routes(
            &w.admin,
            "grab",
            json!([{"host": "shop.example.com", "path_prefix": "/x"}]),
        )
        .await,
        StatusCode::CONFLICT,
        "belongs to team a",
        "admin",
    );
    // Team a uses its own; an admin may route every host, or a host of nobody's, to
    // team b's service.
    let r = w.routes(&w.alice, "shop", json!([{"host": "shop.example.com"}, {"host": "*.shop.example.com", "path_prefix": "/api"}])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .routes(
            &w.admin,
            "grab",
            json!([{"path_prefix": "/api/orders"}, {"host": "free.example.net"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // ... after which that host cannot be given to team a, and team a's domain
    // cannot be taken while its route uses it.
    refused(
        &w.domain(w.a, "*.example.net").await,
        StatusCode::CONFLICT,
        "grab",
        "taken by a route",
    );
    // (A domain is named as typed: any case, a final dot.)
    let r = w
        .call(
            &w.admin,
            "DELETE",
            &format!("/api/v1/teams/{}/domains/Shop.Example.com.", w.a),
            None,
        )
        .await;
    refused(&r, StatusCode::CONFLICT, "shop", "in use");

    // In the proxy: team b's route for every host never takes team a's host.
    let rows = w.t.state.store.list_services().await.unwrap();
    let table = server::proxy::table::RouteTable::new(
        server::reconciler::driver::route_inputs(&rows, &[], &[], "localhost", &Default::default()),
        |_| Default::default(),
    );
    let to = |host: &str, path: &str| table.lookup(host, path).map(|m| m.route.service.clone());
    assert_eq!(
        to("shop.example.com", "/api/orders/7").as_deref(),
        Some("shop")
    );
    assert_eq!(
        to("a.shop.example.com", "/api/orders").as_deref(),
        Some("shop")
    );
    assert_eq!(to("elsewhere.test", "/api/orders").as_deref(), Some("grab"));
    assert_eq!(to("grab.localhost", "/").as_deref(), Some("grab"));

    // Kept off the proxy: no name, no route.
    let r = w
        .call(
            &w.alice,
            "PUT",
            "/api/v1/services/shop/proxy",
            Some(json!({"expose": false, "routes": [{"host": "shop.example.com"}]})),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no routes",
        "off with routes",
    );
    let r = w
        .call(
            &w.alice,
            "PUT",
            "/api/v1/services/shop/proxy",
            Some(json!({"expose": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["default_host"], Value::Null);
    let rows = w.t.state.store.list_services().await.unwrap();
    let inputs =
        server::reconciler::driver::route_inputs(&rows, &[], &[], "localhost", &Default::default());
    assert!(inputs.iter().all(|i| i.service != "shop"), "{inputs:?}");
}

#[tokio::test]
async fn environment_values_are_hidden_from_readers() {
    let w = World::new().await;
    let spec = json!({"image": "demo:v1", "env": {"DB_URL": "postgres://u:topsecret@db/x"}});
    let r = w.create(&w.alice, "app", "a", spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut v2 = json!({"image": "demo:v2", "env": {"DB_URL": "postgres://u:othersecret@db/x"}});
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/app/deploy",
            Some(json!({"spec": v2.clone()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ro = w
        .token(&w.alice, json!({"name": "ro", "read_only": true}))
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // Viewers and read-only tokens read the service, not its values.
    for who in [w.avery.clone(), Auth::Bearer(ro)] {
        for uri in [
            "/api/v1/services",
            "/api/v1/services/app",
            "/api/v1/services/app/revisions",
            "/api/v1/services/app/revisions/diff?from=1&to=2",
        ] {
            let r = w.call(&who, "GET", uri, None).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
            assert!(!r.text.contains("secret@"), "{uri}: {}", r.text);
        }
    }
    // Those who may change it see them.
    let text = w
        .call(&w.alice, "GET", "/api/v1/services/app", None)
        .await
        .text;
    assert!(text.contains("othersecret"), "{text}");
    let shown = w
        .call(&w.avery, "GET", "/api/v1/services/app", None)
        .await
        .json();
    assert_eq!(
        shown["service"]["spec"]["env"]["DB_URL"],
        json!({"hidden": true})
    );
    // A hidden value is no value.
    v2["env"]["DB_URL"] = json!({"hidden": true});
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/app/deploy",
            Some(json!({"spec": v2})),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "hidden",
        "hidden value",
    );
}

#[tokio::test]
async fn secrets_are_write_only_team_scoped_and_roll_out() {
    let w = World::new().await;
    let a = w.a;
    let r = w.secret(&w.alice, a, "db-password", "Value-One-1x9").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["secret"]["version"], 1);
    // Viewers read the list, not write; other teams neither.
    assert_eq!(
        w.secret(&w.avery, a, "db-password", "x").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.secret(&w.bob, a, "db-password", "x").await.status,
        StatusCode::FORBIDDEN
    );
    let list = w
        .call(&w.avery, "GET", &format!("/api/v1/teams/{a}/secrets"), None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()[0]["name"], "db-password");
    let r = w
        .call(&w.bob, "GET", &format!("/api/v1/teams/{a}/secrets"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (name, value, why) in [
        ("Bad%20Name", "v", "invalid secret name"),
        ("ok", "", "needs a value"),
    ] {
        refused(
            &w.secret(&w.alice, a, name, value).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            why,
            name,
        );
    }
    // A spec names only its own team's secrets.
    let uses = json!({"image": "demo:v1", "env": {"DB_PASSWORD": {"secret": "db-password"}}});
    let r = w.create(&w.bob, "steal", "b", uses.clone()).await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no secret",
        "other team's secret",
    );
    let r = w.create(&w.alice, "db", "a", uses.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json()["spec"]["env"]["DB_PASSWORD"],
        json!({"secret": "db-password", "version": 1})
    );
    // A new value: a new revision, rolled out, saying why.
    let r = w.secret(&w.alice, a, "db-password", "Value-Two-7q2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rolled_out"], json!(["db"]));
    let detail = w
        .call(&w.alice, "GET", "/api/v1/services/db", None)
        .await
        .json();
    assert_eq!(detail["service"]["revision"], 2);
    assert_eq!(
        detail["rollouts"][0]["message"],
        "secret db-password changed: version 1 → 2"
    );
    let diff = w
        .call(
            &w.alice,
            "GET",
            "/api/v1/services/db/revisions/diff?from=1&to=2",
            None,
        )
        .await
        .json();
    assert_eq!(diff["changes"], json!(["env.DB_PASSWORD.version: 1 → 2"]));
    // A service still on a spec from before the rules is not rolled out again,
    // and the answer says so.
    let legacy = w
        .create(&w.alice, "legacy", "a", json!({"image": "demo:v1"}))
        .await
        .json();
    let bind: domain::wire::ServiceSpec = serde_json::from_value(json!({
        "image": "demo:v1", "env": {"PW": {"secret": "db-password", "version": 2}},
        "volumes": [{"name": "root", "path": "/host", "options": {"type": "none", "o": "bind", "device": "/"}}]
    }))
    .unwrap();
    let id = legacy["id"].as_i64().unwrap();
    w.t.state
        .store
        .add_revision(id, &bind, "old-berth", "", 1)
        .await
        .unwrap();
    let r = w.secret(&w.alice, a, "db-password", "Value-Three-3k").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let set = r.json();
    assert_eq!(set["rolled_out"], json!(["db"]));
    assert!(
        set["not_rolled_out"][0]
            .as_str()
            .unwrap()
            .starts_with("legacy: its spec is no longer allowed"),
        "{set}"
    );
    let r = w
        .call(&w.alice, "DELETE", "/api/v1/services/legacy", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // In use: not deleted.
    let r = w
        .call(
            &w.alice,
            "DELETE",
            &format!("/api/v1/teams/{a}/secrets/db-password"),
            None,
        )
        .await;
    refused(&r, StatusCode::CONFLICT, "used by db", "in use");
    // The values appear in no answer, event, audit entry, nor in the database.
    let mut seen = String::new();
    for uri in [
        "/api/v1/services",
        "/api/v1/services/db",
        "/api/v1/services/db/revisions",
        "/api/v1/events",
        "/api/v1/audit",
        "/api/v1/rollouts",
        &format!("/api/v1/teams/{a}/secrets"),
    ] {
        seen.push_str(&w.call(&w.admin, "GET", uri, None).await.text);
    }
    seen.push_str(&w.t.all_stored_text().await);
    for value in ["Value-One-1x9", "Value-Two-7q2"] {
        assert!(!seen.contains(value), "{value} shown");
    }
    assert!(seen.contains("secret.set"), "the change is audited");
    // Deleted once nothing uses it; a revision that used it cannot come back.
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/db/deploy",
            Some(json!({"spec": {"image": "demo:v2"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .call(
            &w.alice,
            "DELETE",
            &format!("/api/v1/teams/{a}/secrets/db-password"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = w
        .call(
            &w.alice,
            "POST",
            "/api/v1/services/db/rollback",
            Some(json!({"revision": 2})),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no secret",
        "rollback to a deleted secret",
    );
}

#[tokio::test]
async fn abuse_limits() {
    let w = World::new().await;
    // Setup is over: 409 at once.
    let r = w
        .call(
            &Auth::None,
            "POST",
            "/api/v1/setup",
            Some(json!({"username": "x", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A name no user can have writes nothing of itself.
    let long = "x".repeat(10_000);
    let r = w
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": long, "password": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let audit = w
        .call(&w.admin, "GET", "/api/v1/audit?action=auth.login", None)
        .await
        .text;
    assert!(!audit.contains(&long[..64]), "the name was written");
    assert!(audit.contains("(invalid user name)"), "{audit}");

    // A token made with a token cannot outlive it, and goes with it.
    let parent = w
        .token(&w.alice, json!({"name": "ci", "expires_in_days": 1}))
        .await
        .json();
    let bearer = Auth::Bearer(parent["token"].as_str().unwrap().into());
    let r = w
        .token(&bearer, json!({"name": "child", "expires_in_days": 30}))
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot outlive",
        "longer",
    );
    let child = w.token(&bearer, json!({"name": "child"})).await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.text);
    assert_eq!(
        child.json()["expires_at_ms"],
        parent["expires_at_ms"],
        "it expires with its maker"
    );
    let child = Auth::Bearer(child.json()["token"].as_str().unwrap().into());
    assert_eq!(
        w.call(&child, "GET", "/api/v1/me", None).await.status,
        StatusCode::OK
    );
    let r = w
        .call(
            &w.alice,
            "DELETE",
            &format!("/api/v1/tokens/{}", parent["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.call(&child, "GET", "/api/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // An admin's password reset ends the user's sessions and tokens.
    let token = w.token(&w.bob, json!({"name": "bobs"})).await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_id = w.call(&w.bob, "GET", "/api/v1/me", None).await.json()["id"]
        .as_i64()
        .unwrap();
    let r = w
        .call(
            &w.admin,
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            Some(json!({"password": "new-password-1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        w.call(&Auth::Bearer(token), "GET", "/api/v1/me", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        w.call(&w.bob, "GET", "/api/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // So does a role lowered.
    let ann = w.t.add_user("ann", "password-1", UserRole::Admin).await;
    let ann_auth = Auth::Cookie(login(&w.t.router(), "ann", "password-1").await);
    let token = w.token(&ann_auth, json!({"name": "anns"})).await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .call(
            &w.admin,
            "PATCH",
            &format!("/api/v1/users/{ann}"),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        w.call(&Auth::Bearer(token), "GET", "/api/v1/me", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Last (they use up this client address's allowance): guesses sent in
    // parallel are counted before they are checked.
    let router = w.t.router();
    let guesses = (0..20).map(|_| {
        let router = router.clone();
        async move {
            send(
                &router,
                "POST",
                "/api/v1/auth/login",
                &Auth::None,
                Some(json!({"username": "alice", "password": "wrong-password"})),
                &[],
            )
            .await
            .status
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (5, 15), "{statuses:?}");
}

/// Opens a live stream and returns its status and body (unread).
async fn stream(w: &World, who: &Auth, uri: &str) -> (StatusCode, axum::body::Body) {
    use tower::ServiceExt;
    let mut b = axum::http::Request::builder().uri(uri);
    match who {
        Auth::Cookie(c) => b = b.header("cookie", format!("berth_session={c}")),
        Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
        Auth::None => {}
    }
    let res =
        w.t.router()
            .oneshot(b.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    (res.status(), res.into_body())
}

/// Reads a stream until it ends; true when it ended within `within`.
async fn ends_within(body: axum::body::Body, within: Duration) -> bool {
    use http_body_util::BodyExt;
    let mut body = body;
    tokio::time::timeout(within, async move {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn live_streams_are_capped_per_user_and_end_at_logout() {
    let w = World::new().await;
    let max = server::state::STREAMS_PER_USER;
    let mut open = Vec::new();
    for _ in 0..max {
        let (status, body) = stream(&w, &w.alice, "/api/v1/watch/services").await;
        assert_eq!(status, StatusCode::OK);
        open.push(body);
    }
    let (status, _) = stream(&w, &w.alice, "/api/v1/watch/services").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Someone else has places of their own; a closed stream gives its place back.
    assert_eq!(
        stream(&w, &w.bob, "/api/v1/watch/services").await.0,
        StatusCode::OK
    );
    drop(open.pop());
    let (status, body) = stream(&w, &w.alice, "/api/v1/watch/services").await;
    assert_eq!(status, StatusCode::OK);
    // Logging out ends the streams of that session.
    let r = w.call(&w.alice, "POST", "/api/v1/auth/logout", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        ends_within(body, Duration::from_secs(5)).await,
        "the stream outlived its session"
    );
    // Leaving the team (or joining another) ends a member's streams too: they
    // open again with what the member may read now.
    let (status, body) = stream(&w, &w.avery, "/api/v1/watch/services").await;
    assert_eq!(status, StatusCode::OK);
    let avery = w.call(&w.avery, "GET", "/api/v1/me", None).await.json()["id"]
        .as_i64()
        .unwrap();
    let r = w
        .call(
            &w.admin,
            "DELETE",
            &format!("/api/v1/teams/{}/members/{avery}", w.a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        ends_within(body, Duration::from_secs(5)).await,
        "the stream outlived the membership"
    );
    // Revoking a token ends its streams too.
    let t = w.token(&w.bob, json!({"name": "watcher"})).await.json();
    let bearer = Auth::Bearer(t["token"].as_str().unwrap().into());
    let (status, body) = stream(&w, &bearer, "/api/v1/watch/services").await;
    assert_eq!(status, StatusCode::OK);
    let r = w
        .call(
            &w.bob,
            "DELETE",
            &format!("/api/v1/tokens/{}", t["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        ends_within(body, Duration::from_secs(5)).await,
        "the stream outlived its token"
    );
}

#[tokio::test]
async fn pages_and_answers_carry_security_headers() {
    let w = World::new().await;
    let page = w.call(&w.alice, "GET", "/services", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a nonce in the page's CSP");
    // Every inline script carries the nonce; none runs without it.
    let scripts = page.text.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        page.text.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "{}",
        page.text
    );
    let api = w.call(&w.alice, "GET", "/api/v1/me", None).await;
    for h in [&page.headers, &api.headers] {
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-frame-options"], "DENY");
    }
    assert!(api.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    // Two pages, two nonces.
    let again = w.call(&w.alice, "GET", "/services", None).await;
    assert_ne!(
        again.headers["content-security-policy"],
        page.headers["content-security-policy"]
    );
}

// ---------------------------------------------------------------------------
// On the real test hosts

mod on_hosts {
    use super::*;
    use common::{cluster, demo_spec, docker, ok_json, test_hosts, Cleanup};
    use std::time::Instant;

    /// A cluster of the test hosts with teams `a` (alice) and `b` (bob).
    async fn hosts_world() -> (World, Cleanup) {
        let (t, _root, cleanup) = cluster(None).await;
        (World::on(t).await, cleanup)
    }

    /// Polls until `name` runs `n` healthy replicas at `revision`; its detail.
    async fn settled(w: &World, who: &Auth, name: &str, n: u64, revision: i64) -> Value {
        let started = Instant::now();
        loop {
            let d = ok_json(&w.t, who, "GET", &format!("/api/v1/services/{name}"), None).await;
            let s = &d["service"];
            if s["revision"] == revision && s["phase"] == "running" && s["healthy"] == n {
                return d;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{name} did not settle: {}",
                serde_json::to_string_pretty(&d).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The host and container id of a settled service's replica `slot`.
    fn replica(d: &Value, slot: u64) -> (common::TestHost, String) {
        let i = d["service"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["slot"] == slot)
            .unwrap();
        let host = test_hosts()
            .into_iter()
            .find(|h| h.name == i["host"].as_str().unwrap())
            .unwrap();
        (host, i["container_id"].as_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn a_bind_mount_is_refused_and_nothing_reaches_a_host() {
        let (w, _cleanup) = hosts_world().await;
        for device in ["/", "/var/run", "/etc"] {
            let spec = demo_spec(
                "v1",
                json!({"volumes": [{"name": "root", "path": "/host",
                "options": {"type": "none", "o": "bind", "device": device}}]}),
            );
            for who in [&w.alice, &w.admin] {
                let r = w.create(who, "peek", "a", spec.clone()).await;
                refused(&r, StatusCode::UNPROCESSABLE_ENTITY, "bind", device);
            }
        }
        for h in test_hosts() {
            let made = docker(&h, &["ps", "-aq", "--filter", "label=berth.service=peek"]);
            assert!(
                made.trim().is_empty(),
                "a container was made on {}: {made}",
                h.name
            );
            let vols = docker(
                &h,
                &["volume", "ls", "-q", "--filter", "label=berth.service=peek"],
            );
            assert!(
                vols.trim().is_empty(),
                "a volume was made on {}: {vols}",
                h.name
            );
        }
        // What Berth makes runs without new privileges.
        let r = w
            .create(&w.alice, "plain", "a", demo_spec("v1", json!({})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let d = settled(&w, &w.alice, "plain", 1, 1).await;
        let (host, id) = replica(&d, 1);
        let opts = docker(
            &host,
            &["inspect", "-f", "{{json .HostConfig.SecurityOpt}}", &id],
        );
        assert_eq!(opts.trim(), r#"["no-new-privileges"]"#);
        let privileged = docker(&host, &["inspect", "-f", "{{.HostConfig.Privileged}} {{.HostConfig.NetworkMode}} {{json .HostConfig.CapAdd}} {{json .HostConfig.Binds}}", &id]);
        assert_eq!(privileged.trim(), "false default null null");
        // Team b sees that a container runs on the host, not whose or what.
        let seen = ok_json(
            &w.t,
            &w.bob,
            "GET",
            &format!("/api/v1/hosts/{}", host.name),
            None,
        )
        .await;
        let text = seen.to_string();
        assert!(!text.contains("plain"), "{text}");
        assert!(!text.contains("berth-demo"), "{text}");
        let short: String = id.chars().take(12).collect();
        let it = seen["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == short.as_str())
            .expect("the container is listed");
        assert_eq!(
            (it["hidden"].clone(), it["name"].clone()),
            (json!(true), json!(""))
        );
        let mine = ok_json(
            &w.t,
            &w.alice,
            "GET",
            &format!("/api/v1/hosts/{}", host.name),
            None,
        )
        .await;
        assert!(mine.to_string().contains("plain.1."), "{mine}");
    }

    #[tokio::test]
    async fn a_name_reused_by_another_team_never_sees_the_old_files() {
        let (w, _cleanup) = hosts_world().await;
        let spec = demo_spec(
            "v1",
            json!({"volumes": [{"name": "data", "path": "/data"}]}),
        );
        let r = w.create(&w.alice, "vault", "a", spec.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let old_id = r.json()["id"].as_i64().unwrap();
        let d = settled(&w, &w.alice, "vault", 1, 1).await;
        let (host, id) = replica(&d, 1);
        docker(
            &host,
            &["exec", &id, "sh", "-c", "echo team-a-private > /data/mark"],
        );
        let r = w
            .call(
                &w.alice,
                "DELETE",
                "/api/v1/services/vault?volumes=keep",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        // Its replica goes; its volume stays.
        let owner = w.t.state.store.instance_id().await.unwrap();
        let old = format!("berth_{}_{old_id}.vault.data.1", &owner[..8]);
        let started = Instant::now();
        while !docker(&host, &["ps", "-aq", "--filter", &format!("id={id}")])
            .trim()
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the replica stays"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Team b asks for the name: refused, naming what is left.
        let r = w.create(&w.bob, "vault", "b", spec.clone()).await;
        refused(&r, StatusCode::CONFLICT, &old, "kept volumes");
        // An admin deletes it; then team b may, and finds nothing of team a's.
        let r = w
            .call(
                &w.admin,
                "DELETE",
                &format!("/api/v1/volumes/{}/{old}", host.name),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = w.create(&w.bob, "vault", "b", spec.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let d = settled(&w, &w.bob, "vault", 1, 1).await;
        let (host, id) = replica(&d, 1);
        let seen = docker(
            &host,
            &[
                "exec",
                &id,
                "sh",
                "-c",
                "cat /data/mark 2>/dev/null; ls -A /data",
            ],
        );
        assert!(!seen.contains("team-a-private"), "{seen}");
        assert!(seen.trim().is_empty(), "a fresh volume: {seen}");
    }

    /// Everything Berth writes to its log, while the test runs.
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_secret_reaches_its_container_and_nothing_else() {
        let log = Capture::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .finish();
        let _logging = tracing::subscriber::set_default(subscriber);

        let (w, _cleanup) = hosts_world().await;
        let stamp = std::process::id();
        let first = format!("first-value-{stamp}-Zq");
        let second = format!("second-value-{stamp}-Wx");
        let r = w.secret(&w.alice, w.a, "app-key", &first).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let spec = demo_spec(
            "v1",
            json!({"env": {"APP_KEY": {"secret": "app-key"}, "MODE": "demo"}}),
        );
        let r = w.create(&w.alice, "keyed", "a", spec).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let d = settled(&w, &w.alice, "keyed", 1, 1).await;
        let (host, id) = replica(&d, 1);
        let env = docker(&host, &["exec", &id, "env"]);
        assert!(env.contains(&format!("APP_KEY={first}")), "{env}");

        // A new value rolls the service out, health-gated, to the new version.
        let started = Instant::now();
        let r = w.secret(&w.alice, w.a, "app-key", &second).await;
        assert_eq!(r.json()["rolled_out"], json!(["keyed"]), "{}", r.text);
        let d = settled(&w, &w.alice, "keyed", 1, 2).await;
        eprintln!("secret rollout: {:.2} s", started.elapsed().as_secs_f64());
        let (host, id) = replica(&d, 1);
        let env = docker(&host, &["exec", &id, "env"]);
        assert!(env.contains(&format!("APP_KEY={second}")), "{env}");
        assert_eq!(
            d["rollouts"][0]["message"],
            "secret app-key changed: version 1 → 2"
        );

        // Nowhere else: no answer, event, audit entry, stored text or log line.
        let mut seen = String::new();
        for uri in [
            "/api/v1/services",
            "/api/v1/services/keyed",
            "/api/v1/services/keyed/revisions",
            "/api/v1/services/keyed/revisions/diff?from=1&to=2",
            "/api/v1/events?limit=200",
            "/api/v1/audit?limit=200",
            "/api/v1/rollouts",
            "/api/v1/volumes",
            "/api/v1/proxy",
            "/metrics",
            &format!("/api/v1/hosts/{}", host.name),
            &format!("/api/v1/teams/{}/secrets", w.a),
        ] {
            seen.push_str(&w.call(&w.admin, "GET", uri, None).await.text);
        }
        seen.push_str(&w.t.all_stored_text().await);
        let logged = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
        assert!(
            logged.len() > 1000,
            "the log was captured: {} bytes",
            logged.len()
        );
        for value in [&first, &second] {
            assert!(!seen.contains(value.as_str()), "{value} is shown");
            assert!(
                !logged.contains(value.as_str()),
                "{value} is in Berth's log"
            );
        }
        assert!(
            seen.contains("secret app-key changed: version 1 → 2"),
            "revisions name the secret and its version"
        );
    }
}

#[tokio::test]
async fn guessing_the_current_password_counts_as_guessing() {
    let w = World::new().await;
    let statuses: Vec<StatusCode> = {
        let mut out = Vec::new();
        for _ in 0..6 {
            let body =
                json!({"current_password": "a-wrong-guess", "new_password": "whatever-new-1"});
            out.push(
                w.call(&w.avery, "PUT", "/api/v1/me/password", Some(body))
                    .await
                    .status,
            );
        }
        out
    };
    assert_eq!(
        statuses[..5],
        [StatusCode::UNPROCESSABLE_ENTITY; 5],
        "{statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

#[tokio::test]
async fn volume_classes_are_the_admins_and_open_only_to_their_teams() {
    let w = World::new().await;
    let class = json!({"name": "shared-disk", "driver": "rclone",
                       "options": {"remote": ":local:/srv/secret-place/{volume}"},
                       "scope": "global", "teams": ["a"]});
    for who in [&w.alice, &w.avery, &w.bob] {
        let r = w
            .call(who, "POST", "/api/v1/volume-classes", Some(class.clone()))
            .await;
        refused(
            &r,
            StatusCode::FORBIDDEN,
            "only cluster admins",
            "define a class",
        );
    }
    let r = w
        .call(&w.admin, "POST", "/api/v1/volume-classes", Some(class))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Team a sees the class, never its options (where the data lives); team b
    // does not see it at all.
    let alices = w
        .call(&w.alice, "GET", "/api/v1/volume-classes", None)
        .await;
    assert!(alices.text.contains("shared-disk"), "{}", alices.text);
    assert!(!alices.text.contains("secret-place"), "{}", alices.text);
    let bobs = w.call(&w.bob, "GET", "/api/v1/volume-classes", None).await;
    assert!(!bobs.text.contains("shared-disk"), "{}", bobs.text);
    let r = w
        .call(&w.bob, "GET", "/api/v1/volume-classes/shared-disk", None)
        .await;
    refused(
        &r,
        StatusCode::NOT_FOUND,
        "no volume class",
        "read another team's class",
    );
    // Bob's service may not name it; a spec's own driver options are refused.
    let spec = |volume: Value| {
        json!({"name": "b-data", "team": "b", "replicas": 1,
        "spec": {"image": "demo:v1", "volumes": [volume]}})
    };
    let r = w
        .call(
            &w.bob,
            "POST",
            "/api/v1/services",
            Some(spec(
                json!({"name": "d", "path": "/d", "class": "shared-disk"}),
            )),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "there is no volume class \"shared-disk\" open to this service's team",
        "use another team's class",
    );
    let r = w
        .call(
            &w.bob,
            "POST",
            "/api/v1/services",
            Some(spec(json!({"name": "d", "path": "/d", "driver": "rclone",
                             "options": {"remote": ":local:/"}}))),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "names a class",
        "a plugin's driver in a spec",
    );
    let services = w.call(&w.admin, "GET", "/api/v1/services", None).await;
    assert!(!services.text.contains("b-data"), "{}", services.text);

    // A class open to both teams: each sees its own team and services only.
    let both = json!({"name": "both-disk", "driver": "rclone", "scope": "host",
                      "teams": ["a", "b"]});
    let r = w
        .call(&w.admin, "POST", "/api/v1/volume-classes", Some(both))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let store = w.t.state.clone();
    for (name, team) in [("a-secret-db", w.a), ("b-secret-db", w.b)] {
        let spec: domain::wire::ServiceSpec = serde_json::from_value(json!({"image": "demo:v1",
            "volumes": [{"name": "d", "path": "/d", "class": "both-disk"}]}))
        .unwrap();
        store
            .store
            .create_service(server::store::NewService {
                name,
                team_id: team,
                replicas: 0,
                spec: &spec,
                proxy: &Default::default(),
                author: "test",
                message: "",
                now: 1,
            })
            .await
            .unwrap();
    }
    let bobs = w
        .call(&w.bob, "GET", "/api/v1/volume-classes/both-disk", None)
        .await;
    assert_eq!(bobs.status, StatusCode::OK, "{}", bobs.text);
    let v = bobs.json();
    assert_eq!(v["teams"], json!(["b"]), "{v}");
    assert_eq!(v["used_by"], json!(["b-secret-db"]), "{v}");
    let admins = w
        .call(&w.admin, "GET", "/api/v1/volume-classes/both-disk", None)
        .await
        .json();
    assert_eq!(admins["used_by"], json!(["a-secret-db", "b-secret-db"]));
}

#[tokio::test]
async fn stacks_reach_only_the_callers_teams() {
    let w = World::new().await;
    let r = w
        .create(
            &w.alice,
            "a-web",
            "a",
            json!({"image": "demo:v1", "env": {"TOKEN": "alice-only"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let compose = "services:\n  b-web:\n    image: demo:v1\n";
    async fn plan(w: &World, who: &Auth, file: &str, team: &str) -> Reply {
        let body = json!({"file": file, "team": team});
        w.call(who, "POST", "/api/v1/stacks/plan", Some(body)).await
    }
    // Bob plans into team a, Avery (a viewer) into her own team: 403.
    refused(
        &plan(&w, &w.bob, compose, "a").await,
        StatusCode::FORBIDDEN,
        "",
        "bob into team a",
    );
    refused(
        &plan(&w, &w.avery, compose, "a").await,
        StatusCode::FORBIDDEN,
        "",
        "a viewer plans",
    );
    // Bob's file names Alice's service: it is not his to change.
    let theirs = "kind: berth/stack\nteam: b\nservices:\n  a-web:\n    replicas: 1\n    spec: {image: evil:v1}\n";
    let r = plan(&w, &w.bob, theirs, "b").await;
    refused(
        &r,
        StatusCode::CONFLICT,
        "a service named \"a-web\" exists already",
        "take a's service",
    );
    let body = json!({"file": theirs, "guard": {"a-web": 1}});
    let r = w
        .call(&w.bob, "POST", "/api/v1/stacks/apply", Some(body))
        .await;
    refused(
        &r,
        StatusCode::CONFLICT,
        "exists already",
        "apply onto a's service",
    );
    // A Compose file that would reach the host is refused whole.
    let root = "services:\n  b-root:\n    image: demo:v1\n    privileged: true\n    volumes: [\"/:/host\"]\n    network_mode: host\n";
    let r = plan(&w, &w.bob, root, "b").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["appliable"], false);
    let body = json!({"file": root, "team": "b", "guard": {"b-root": null}});
    let r = w
        .call(&w.bob, "POST", "/api/v1/stacks/apply", Some(body))
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "is refused",
        "apply a root service",
    );
    let r = w
        .call(&w.admin, "GET", "/api/v1/services/b-root", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Export: Bob sees nothing of team a; Avery sees a's service with its values
    // hidden; Alice sees the values she may change.
    let bobs = w.call(&w.bob, "GET", "/api/v1/stacks/export", None).await;
    assert_eq!(bobs.status, StatusCode::OK);
    assert!(!bobs.text.contains("a-web"), "{}", bobs.text);
    refused(
        &w.call(&w.bob, "GET", "/api/v1/stacks/export?team=a", None)
            .await,
        StatusCode::FORBIDDEN,
        "",
        "bob exports a",
    );
    let averys = w
        .call(&w.avery, "GET", "/api/v1/stacks/export?team=a", None)
        .await;
    assert!(
        averys.text.contains("a-web") && !averys.text.contains("alice-only"),
        "{}",
        averys.text
    );
    let alices = w
        .call(&w.alice, "GET", "/api/v1/stacks/export?team=a", None)
        .await;
    assert!(alices.text.contains("alice-only"), "{}", alices.text);
}

/// A certificate and key upload for `host`, valid for a day, for `team` (or every
/// team).
fn certificate(host: &str, team: Option<&str>) -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    let now = std::time::SystemTime::now();
    p.not_before = (now - Duration::from_secs(60)).into();
    p.not_after = (now + Duration::from_secs(86_400)).into();
    let cert = p.self_signed(&key).unwrap();
    json!({"host": host, "team": team, "certificate_pem": cert.pem(),
           "private_key_pem": key.serialize_pem()})
}

#[tokio::test]
async fn certificates_reach_only_their_teams() {
    let w = World::new().await;
    for (team, d) in [
        (w.a, "*.alpha.test"),
        (w.a, "a.shared.test"),
        (w.b, "*.beta.test"),
    ] {
        let r = w.domain(team, d).await;
        assert_eq!(r.status, StatusCode::OK, "{d}: {}", r.text);
    }
    async fn upload(w: &World, who: &Auth, body: Value) -> Reply {
        w.call(who, "POST", "/api/v1/certificates", Some(body))
            .await
    }
    /// The hosts of the certificates `who` sees.
    async fn hosts(w: &World, who: &Auth) -> Vec<String> {
        let r = w.call(who, "GET", "/api/v1/certificates", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["host"].as_str().unwrap().to_string())
            .collect()
    }
    async fn metrics(w: &World, who: &Auth) -> String {
        let r = w.call(who, "GET", "/metrics", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.text
    }

    // A team's operator uploads for hosts in the team's domains (a wildcard too).
    for host in ["shop.alpha.test", "*.alpha.test"] {
        let r = upload(&w, &w.alice, certificate(host, Some("a"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{host}: {}", r.text);
        assert_eq!(r.json()["team"], "a");
    }
    let r = upload(&w, &w.bob, certificate("x.beta.test", Some("b"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Not for a host of another team's, nor into another team, nor for every
    // team; a viewer not at all.
    for (who, body, status, why, case) in [
        (
            &w.alice,
            certificate("shop.beta.test", Some("a")),
            StatusCode::CONFLICT,
            "shop.beta.test belongs to team b",
            "alice for b's host",
        ),
        (
            &w.bob,
            certificate("shop.alpha.test", Some("b")),
            StatusCode::CONFLICT,
            "shop.alpha.test belongs to team a",
            "bob over alice's certificate",
        ),
        (
            &w.bob,
            certificate("*.alpha.test", Some("b")),
            StatusCode::CONFLICT,
            "belongs to team a",
            "bob for a's wildcard",
        ),
        (
            &w.bob,
            certificate("shop.nobody.test", Some("b")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "team b has no domain for shop.nobody.test",
            "bob outside his domains",
        ),
        (
            &w.bob,
            certificate("shop.alpha.test", Some("a")),
            StatusCode::FORBIDDEN,
            "not a member of team a",
            "bob into team a",
        ),
        (
            &w.alice,
            certificate("y.alpha.test", None),
            StatusCode::FORBIDDEN,
            "only cluster admins",
            "alice for every team",
        ),
        (
            &w.bob,
            certificate("y.beta.test", None),
            StatusCode::FORBIDDEN,
            "only cluster admins",
            "bob for every team",
        ),
        (
            &w.avery,
            certificate("z.alpha.test", Some("a")),
            StatusCode::FORBIDDEN,
            "viewer",
            "a viewer uploads",
        ),
    ] {
        refused(&upload(&w, who, body).await, status, why, case);
    }

    // An admin's certificate for every team: listed for everyone, with only the
    // caller's own services that use it.
    let r = w
        .create(
            &w.alice,
            "a-hidden",
            "a",
            json!({"image": "demo:v1", "port": 8080}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = w
        .routes(&w.alice, "a-hidden", json!([{"host": "a.shared.test"}]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for host in ["*.shared.test", "www.beta.test"] {
        let r = upload(&w, &w.admin, certificate(host, None)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{host}: {}", r.text);
        assert_eq!(r.json()["team"], Value::Null);
    }
    // ... which a team may not take over, even for a host in its domains.
    refused(
        &upload(&w, &w.bob, certificate("www.beta.test", Some("b"))).await,
        StatusCode::CONFLICT,
        "belongs to another team",
        "bob over the admin's certificate",
    );
    assert_eq!(
        hosts(&w, &w.alice).await,
        [
            "*.alpha.test",
            "*.shared.test",
            "shop.alpha.test",
            "www.beta.test"
        ]
    );
    assert_eq!(hosts(&w, &w.avery).await, hosts(&w, &w.alice).await);
    assert_eq!(
        hosts(&w, &w.bob).await,
        ["*.shared.test", "www.beta.test", "x.beta.test"]
    );
    assert_eq!(
        hosts(&w, &w.admin).await,
        [
            "*.alpha.test",
            "*.shared.test",
            "shop.alpha.test",
            "www.beta.test",
            "x.beta.test"
        ]
    );
    let alices = w
        .call(&w.alice, "GET", "/api/v1/certificates", None)
        .await
        .json();
    let shared = |v: &Value| {
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["host"] == "*.shared.test")
            .unwrap()["services"]
            .clone()
    };
    assert_eq!(shared(&alices), json!(["a-hidden"]));
    let bobs = w.call(&w.bob, "GET", "/api/v1/certificates", None).await;
    assert_eq!(shared(&bobs.json()), json!([]));
    for secret in ["alpha", "a-hidden"] {
        assert!(!bobs.text.contains(secret), "{secret}: {}", bobs.text);
    }

    // Bob cannot delete or renew team a's certificates: they do not exist for him.
    for host in ["shop.alpha.test", "*.alpha.test"] {
        for (method, uri) in [
            ("DELETE", format!("/api/v1/certificates/{host}")),
            ("POST", format!("/api/v1/certificates/{host}/renew")),
        ] {
            refused(
                &w.call(&w.bob, method, &uri, None).await,
                StatusCode::NOT_FOUND,
                "there is no certificate",
                &format!("bob: {method} {uri}"),
            );
        }
    }
    // Nor the admins' (Avery not her team's).
    for (who, host, why) in [
        (&w.bob, "*.shared.test", "admins"),
        (&w.bob, "www.beta.test", "admins"),
        (&w.alice, "*.shared.test", "admins"),
        (&w.avery, "shop.alpha.test", "viewer"),
    ] {
        let uri = format!("/api/v1/certificates/{host}");
        refused(
            &w.call(who, "DELETE", &uri, None).await,
            StatusCode::FORBIDDEN,
            why,
            &uri,
        );
    }
    assert!(w.t.state.certs.serves("shop.alpha.test"));
    assert_eq!(hosts(&w, &w.admin).await.len(), 5);

    // Bob's /metrics names none of team a's hosts; Alice's does.
    let bobs = metrics(&w, &w.bob).await;
    assert!(!bobs.contains("alpha"), "{bobs}");
    assert!(
        bobs.contains("berth_certificate_expiry_seconds{host=\"x.beta.test\",source=\"uploaded\"}"),
        "{bobs}"
    );
    assert!(
        bobs.contains(
            "berth_certificate_expiry_seconds{host=\"*.shared.test\",source=\"uploaded\"}"
        ),
        "{bobs}"
    );
    let alices = metrics(&w, &w.alice).await;
    assert!(
        alices.contains(
            "berth_certificate_expiry_seconds{host=\"shop.alpha.test\",source=\"uploaded\"}"
        ),
        "{alices}"
    );
    assert!(!alices.contains("x.beta.test"), "{alices}");

    // Alice deletes her own.
    let r = w
        .call(
            &w.alice,
            "DELETE",
            "/api/v1/certificates/shop.alpha.test",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        hosts(&w, &w.alice).await,
        ["*.alpha.test", "*.shared.test", "www.beta.test"]
    );
}

/// Even an admin cannot make another team the owner of a certificate for a
/// team's host (as for its routes): that team would see the name and could
/// delete what the proxy serves for it.
#[tokio::test]
async fn a_certificate_for_a_teams_host_is_not_another_teams() {
    let w = World::new().await;
    let r = w.domain(w.a, "*.alpha.test").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for host in ["shop.alpha.test", "*.alpha.test", "x.shop.alpha.test"] {
        let r = w
            .call(
                &w.admin,
                "POST",
                "/api/v1/certificates",
                Some(certificate(host, Some("b"))),
            )
            .await;
        let why = format!("{host} belongs to team a");
        refused(&r, StatusCode::CONFLICT, &why, host);
    }
    let bobs = w.call(&w.bob, "GET", "/api/v1/certificates", None).await;
    assert!(!bobs.text.contains("alpha"), "{}", bobs.text);
}
