//! The HTTP surface through the router, without a network: health, the JSON API's
//! answers and errors, and server-rendered pages (also with a Docker engine down).

mod common;

use axum::http::StatusCode;
use common::{call, call_json, login, send, Auth};
use domain::wire::UserRole;
use server::testing::TestState;

const DEAD: (&str, &str) = ("ghost", "unix:///nonexistent/berth/docker.sock");

/// A state with an admin `root`, and that admin's session cookie.
async fn logged_in(engines: &[(&str, &str)]) -> (TestState, Auth) {
    let t = TestState::new(engines).await;
    t.add_user("root", "root-password", UserRole::Admin).await;
    let cookie = login(&t.router(), "root", "root-password").await;
    (t, Auth::Cookie(cookie))
}

#[tokio::test]
async fn health_and_readiness_need_no_login() {
    let t = TestState::new(&[]).await;
    let router = t.router();
    let (status, body) = call_json(&router, "GET", "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = call_json(&router, "GET", "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn not_ready_when_the_database_is_closed() {
    let t = TestState::new(&[]).await;
    t.state.store.close().await;
    let (status, body) = call_json(&t.router(), "GET", "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "not_ready");
    // Only that: the database's own words (paths, driver errors) are in the log.
    assert_eq!(body["error"]["message"], "database unavailable", "{body}");
}

#[tokio::test]
async fn about_reports_the_database() {
    let (t, auth) = logged_in(&[]).await;
    let reply = send(&t.router(), "GET", "/api/v1/about", &auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    // The newest migration of the database's own folder is the schema version.
    let (engine, mode, folder) = match t.state.store.backend() {
        server::store::Backend::Sqlite => ("sqlite", "wal", "/../migrations"),
        server::store::Backend::Postgres => ("postgresql", "postgresql", "/../migrations-postgres"),
    };
    assert_eq!(body["engine"], engine);
    assert_eq!(body["journal_mode"], mode);
    assert_eq!(
        body["database"].as_str().unwrap(),
        t.state.store.location(),
        "{body}"
    );
    let newest = std::fs::read_dir(format!("{}{folder}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .split('_')
                .next()?
                .parse::<i64>()
                .ok()
        })
        .max()
        .unwrap();
    assert_eq!(body["schema_version"], newest);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["instance_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn the_api_needs_a_login() {
    let (t, _) = logged_in(&[]).await;
    for uri in [
        "/api/v1/engines",
        "/api/v1/about",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/teams",
    ] {
        let (status, body) = call_json(&t.router(), "GET", uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{uri}");
    }
}

#[tokio::test]
async fn unknown_api_paths_and_methods_are_json_errors() {
    let t = TestState::new(&[]).await;
    for uri in ["/api/v1/nope", "/api/v1/engines/extra/parts"] {
        let (status, body) = call_json(&t.router(), "GET", uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"]["code"], "not_found", "{uri}");
        assert!(body["error"]["message"].is_string(), "{uri}");
    }
    let (status, body) = call_json(&t.router(), "DELETE", "/api/v1/engines").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn an_engine_that_is_down_is_reported_with_the_reason() {
    let (t, auth) = logged_in(&[DEAD]).await;
    // Before any heartbeat the host is only pending; two missed beats make it down.
    let reply = send(&t.router(), "GET", "/api/v1/hosts", &auth, None, &[]).await;
    assert_eq!(reply.json()[0]["state"], "pending");
    t.heartbeat().await;
    t.heartbeat().await;
    let reply = send(&t.router(), "GET", "/api/v1/engines", &auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let engine = &body["engines"][0];
    assert_eq!(engine["name"], "ghost");
    assert_eq!(engine["state"], "down");
    assert!(engine["facts"].is_null());
    let error = engine["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot reach Docker at unix:///nonexistent/berth/docker.sock"),
        "{error}"
    );
    assert!(body["checked_at_ms"].as_i64().unwrap() > 0);
    let hosts = send(&t.router(), "GET", "/api/v1/hosts", &auth, None, &[])
        .await
        .json();
    assert_eq!(hosts[0]["state"], "unreachable");
    assert!(hosts[0]["unreachable_since_ms"].as_i64().is_some());
    let events = send(
        &t.router(),
        "GET",
        "/api/v1/events?kind=host",
        &auth,
        None,
        &[],
    )
    .await
    .json();
    assert!(
        events["events"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("host ghost is unreachable: cannot reach Docker"),
        "{events}"
    );
}

#[tokio::test]
async fn the_dashboard_renders_on_the_server_even_with_an_engine_down() {
    let (t, auth) = logged_in(&[DEAD]).await;
    t.heartbeat().await;
    t.heartbeat().await;
    let reply = send(&t.router(), "GET", "/", &auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let html = reply.text;
    assert!(html.contains("<h1>Dashboard"), "{html}");
    assert!(html.contains(r#"data-host="ghost""#), "{html}");
    assert!(html.contains(r#"data-state="unreachable""#), "{html}");
    assert!(html.contains("cannot reach Docker at unix:///nonexistent/berth/docker.sock"));
    // The page loads its WASM to come alive, and the stylesheet.
    assert!(html.contains("/pkg/berth.js"), "{html}");
    assert!(html.contains("/pkg/berth.css"), "{html}");
}

#[tokio::test]
async fn every_page_of_the_navigation_renders() {
    let (t, auth) = logged_in(&[DEAD]).await;
    for (path, title) in [
        ("/", "Dashboard"),
        ("/services", "Services"),
        ("/hosts", "Hosts"),
        ("/hosts/ghost", "ghost"),
        ("/proxy", "Proxy"),
        ("/events", "Events"),
        ("/teams", "Teams"),
        ("/users", "Users"),
        ("/audit", "Audit log"),
        ("/settings", "Settings"),
    ] {
        let reply = send(&t.router(), "GET", path, &auth, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let html = reply.text;
        assert!(html.contains(&format!("<h1>{title}")), "{path}: {html}");
        assert!(
            html.contains(r#"aria-current="page""#),
            "{path}: no current nav link"
        );
        // The user box streams in after the shell (out-of-order rendering).
        assert!(
            html.contains(r#"data-testid="current-user""#),
            "{path}: no user box"
        );
        assert!(
            html.contains(">root<"),
            "{path}: the user box does not name root"
        );
    }
}

#[tokio::test]
async fn pages_send_people_to_setup_then_to_login() {
    let t = TestState::new(&[]).await;
    // No user yet: every page leads to the setup page.
    for path in ["/", "/hosts", "/login"] {
        let reply = send(&t.router(), "GET", path, &Auth::None, None, &[]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers["location"], "/setup", "{path}");
    }
    let (status, html) = call(&t.router(), "GET", "/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Create the first admin"), "{html}");

    t.add_user("root", "root-password", UserRole::Admin).await;
    // Now the setup page is gone and pages need a login.
    let reply = send(&t.router(), "GET", "/setup", &Auth::None, None, &[]).await;
    assert_eq!(reply.headers["location"], "/login");
    let reply = send(&t.router(), "GET", "/hosts?x=1", &Auth::None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/login?next=/hosts%3Fx%3D1");
    let (status, html) = call(&t.router(), "GET", "/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1 id=\"login-title\">Log in"), "{html}");
    // The page assets are served to anyone.
    let cookie = login(&t.router(), "root", "root-password").await;
    let reply = send(
        &t.router(),
        "GET",
        "/login",
        &Auth::Cookie(cookie),
        None,
        &[],
    )
    .await;
    assert_eq!(reply.headers["location"], "/");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let (t, auth) = logged_in(&[]).await;
    let reply = send(&t.router(), "GET", "/no/such/page", &auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.text.contains("Page not found"), "{}", reply.text);
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let t = TestState::new(&[]).await;
    let (status, doc) = call_json(&t.router(), "GET", "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/teams/{id}/members/{user_id}",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/api/v1/engines",
        "/api/v1/hosts",
        "/api/v1/hosts/{name}/drain",
        "/api/v1/events",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Me"].is_object());
}
