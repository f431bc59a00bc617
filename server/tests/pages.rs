//! The pages' server functions are clients of the JSON API, called in process as
//! their caller: the cookie a login sets comes back to the browser, the caller's
//! address reaches the login limit, an API error keeps its status and code, and
//! "nobody logged in" is an answer, not an error.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::Reply;
use domain::wire::UserRole;
use leptos::server_fn::ServerFn;
use server::testing::TestState;

/// Calls a server function as a page would: a form-encoded POST from `addr`.
async fn page_call(
    router: &axum::Router,
    path: &str,
    form: &str,
    addr: &str,
    cookie: Option<&str>,
) -> Reply {
    let mut builder = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("host", "berth.test")
        .header("origin", "http://berth.test");
    if let Some(c) = cookie {
        builder = builder.header("cookie", format!("berth_session={c}"));
    }
    let from: SocketAddr = format!("{addr}:40000").parse().expect("an address");
    let request = builder
        .extension(ConnectInfo(from))
        .body(Body::from(form.to_string()))
        .expect("a request");
    common::oneshot(router, request).await
}

fn login_form(user: &str, password: &str) -> String {
    format!("input[username]={user}&input[password]={password}")
}

#[tokio::test]
async fn server_functions_reach_the_api_as_their_caller() {
    let t = TestState::new(&[]).await;
    t.add_user("admin", "a-long-password", UserRole::Admin)
        .await;
    let r = t.router();
    let (login, me, users) = (
        app::api::Login::PATH,
        app::api::GetMe::PATH,
        app::api::ListUsers::PATH,
    );

    // Nobody logged in: an answer (null), not a 401.
    let reply = page_call(&r, me, "", "10.0.0.1", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.text.trim(), "null");

    // A login through the page sets the API's session cookie on the page's answer.
    let form = login_form("admin", "a-long-password");
    let reply = page_call(&r, login, &form, "10.0.0.1", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["username"], "admin");
    let cookie = reply.session_cookie().expect("a session cookie");
    let reply = page_call(&r, me, "", "10.0.0.1", Some(&cookie)).await;
    assert_eq!(reply.json()["username"], "admin", "{}", reply.text);
    let reply = page_call(&r, users, "", "10.0.0.1", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()[0]["username"], "admin");

    // An API error keeps its status and code.
    let reply = page_call(&r, users, "", "10.0.0.1", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.json()["code"], "unauthenticated");

    // The caller's address reaches the limit: five failures from one address
    // (each for another name, so only the address counts) stop the sixth there,
    // and only there.
    for n in 0..5 {
        let form = login_form(&format!("nobody{n}"), "wrong-password");
        let reply = page_call(&r, login, &form, "10.0.0.2", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    let form = login_form("nobody9", "wrong-password");
    let reply = page_call(&r, login, &form, "10.0.0.2", None).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    assert!(
        reply.json()["retry_after_secs"].as_u64().is_some(),
        "{}",
        reply.text
    );
    let reply = page_call(&r, login, &form, "10.0.0.3", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
}
