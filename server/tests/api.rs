//! The HTTP surface through the router, without a network: health, the JSON API's
//! answers and errors, and server-rendered pages (also with a Docker engine down).

mod common;

use axum::http::StatusCode;
use common::{call, call_json};
use server::testing::TestState;

const DEAD: (&str, &str) = ("ghost", "unix:///nonexistent/berth/docker.sock");

#[tokio::test]
async fn health_and_readiness() {
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
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the database does not answer"),
        "{body}"
    );
}

#[tokio::test]
async fn about_reports_the_database() {
    let t = TestState::new(&[]).await;
    let (status, body) = call_json(&t.router(), "GET", "/api/v1/about").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["journal_mode"], "wal");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["instance_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let t = TestState::new(&[]).await;
    for uri in ["/api/v1/nope", "/api/v1/engines/extra/parts"] {
        let (status, body) = call_json(&t.router(), "GET", uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"]["code"], "not_found", "{uri}");
        assert!(body["error"]["message"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn an_engine_that_is_down_is_reported_with_the_reason() {
    let t = TestState::new(&[DEAD]).await;
    let (status, body) = call_json(&t.router(), "GET", "/api/v1/engines").await;
    assert_eq!(status, StatusCode::OK);
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
}

#[tokio::test]
async fn the_dashboard_renders_on_the_server_even_with_an_engine_down() {
    let t = TestState::new(&[DEAD]).await;
    let (status, html) = call(&t.router(), "GET", "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Dashboard"), "{html}");
    assert!(html.contains(r#"data-engine="ghost""#), "{html}");
    assert!(html.contains(r#"data-state="down""#), "{html}");
    assert!(html.contains("cannot reach Docker at unix:///nonexistent/berth/docker.sock"));
    // The page loads its WASM to come alive, and the stylesheet.
    assert!(html.contains("/pkg/berth.js"), "{html}");
    assert!(html.contains("/pkg/berth.css"), "{html}");
}

#[tokio::test]
async fn every_page_of_the_navigation_renders() {
    let t = TestState::new(&[]).await;
    for (path, title) in [
        ("/", "Dashboard"),
        ("/services", "Services"),
        ("/hosts", "Hosts"),
        ("/proxy", "Proxy"),
        ("/events", "Events"),
        ("/settings", "Settings"),
    ] {
        let (status, html) = call(&t.router(), "GET", path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains(&format!("<h1>{title}")), "{path}: {html}");
        assert!(
            html.contains(r#"aria-current="page""#),
            "{path}: no current nav link"
        );
    }
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let t = TestState::new(&[]).await;
    let (status, html) = call(&t.router(), "GET", "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
}
