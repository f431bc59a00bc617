//! Accounts through the API: first-run setup, login and its limits, sessions that
//! end, tokens that are hashed and can be read-only, CSRF refusal, the audit log,
//! and bad input that gets a clear 4xx and changes nothing.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{login, send, Auth};
use domain::wire::{TeamRole, UserRole};
use serde_json::json;
use server::testing::TestState;

async fn admin_state() -> (TestState, Auth) {
    let t = TestState::new(&[]).await;
    t.add_user("root", "root-password", UserRole::Admin).await;
    let cookie = login(&t.router(), "root", "root-password").await;
    (t, Auth::Cookie(cookie))
}

#[tokio::test]
async fn first_admin_setup_happens_once() {
    let t = TestState::new(&[]).await;
    let r = t.router();
    let reply = send(&r, "GET", "/api/v1/setup", &Auth::None, None, &[]).await;
    assert_eq!(reply.json()["needed"], true);

    let body = json!({"username": "boss", "password": "boss-password"});
    let reply = send(
        &r,
        "POST",
        "/api/v1/setup",
        &Auth::None,
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["role"], "admin");
    let cookie = reply.session_cookie().expect("setup logs in");
    let me = send(&r, "GET", "/api/v1/me", &Auth::Cookie(cookie), None, &[]).await;
    assert_eq!(me.json()["username"], "boss");

    let again = send(
        &r,
        "POST",
        "/api/v1/setup",
        &Auth::None,
        Some(json!({"username": "eve", "password": "eve-password"})),
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        send(&r, "GET", "/api/v1/setup", &Auth::None, None, &[])
            .await
            .json()["needed"],
        false
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_rotates() {
    let t = TestState::new(&[]).await;
    t.add_user("ann", "ann-password", UserRole::Member).await;
    let r = t.router();
    let body = json!({"username": "ann", "password": "ann-password"});
    let first = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(body.clone()),
        &[],
    )
    .await;
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let old = first.session_cookie().unwrap();

    // Logging in again with the old session replaces it with a new one.
    let second = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::Cookie(old.clone()),
        Some(body.clone()),
        &[],
    )
    .await;
    let new = second.session_cookie().unwrap();
    assert_ne!(old, new);
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &Auth::Cookie(old), None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &Auth::Cookie(new), None, &[])
            .await
            .status,
        StatusCode::OK
    );

    // Over https (behind a TLS proxy) the cookie is Secure.
    let https = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(body),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(https.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));
}

#[tokio::test]
async fn failed_logins_are_limited_with_retry_after() {
    let t = TestState::new(&[]).await;
    t.add_user("ann", "ann-password", UserRole::Member).await;
    let r = t.router();
    for i in 0..5 {
        let reply = send(
            &r,
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"username": "ann", "password": "wrong"})),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert_eq!(
            reply.json()["error"]["message"],
            "wrong user name or password"
        );
    }
    // Even the right password waits now.
    let reply = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(json!({"username": "ann", "password": "ann-password"})),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error_code(), "rate_limited");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("try again in {retry} s")));

    // The failures and the refusal are in the audit log.
    t.add_user("auditor", "auditor-password", UserRole::Admin)
        .await;
    let log = t.all_stored_text().await;
    assert!(
        log.contains("too many failed logins"),
        "the refusal is audited"
    );
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let t = TestState::new(&[]).await;
    t.add_user("ann", "ann-password", UserRole::Member).await;
    let r = t.router();
    let a = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(json!({"username": "ann", "password": "nope-nope"})),
        &[],
    )
    .await;
    let b = send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(json!({"username": "nobody", "password": "nope-nope"})),
        &[],
    )
    .await;
    assert_eq!(a.status, b.status);
    assert_eq!(a.text, b.text);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let reply = send(&r, "POST", "/api/v1/auth/logout", &auth, None, &[]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // The old cookie, replayed, is worth nothing.
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &auth, None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_expire() {
    let t = TestState::with_session_ttl(&[], Duration::from_millis(1500)).await;
    t.add_user("ann", "ann-password", UserRole::Member).await;
    let r = t.router();
    let cookie = Auth::Cookie(login(&r, "ann", "ann-password").await);
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &cookie, None, &[])
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &cookie, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_can_be_listed_and_revoked() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let other = Auth::Cookie(login(&r, "root", "root-password").await);
    let list = send(&r, "GET", "/api/v1/me/sessions", &auth, None, &[])
        .await
        .json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let theirs = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_i64()
        .unwrap();
    let reply = send(
        &r,
        "DELETE",
        &format!("/api/v1/me/sessions/{theirs}"),
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &other, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &auth, None, &[]).await.status,
        StatusCode::OK
    );
    // An admin ends all of a user's sessions.
    let ann = t.add_user("ann", "ann-password", UserRole::Member).await;
    let ann_cookie = Auth::Cookie(login(&r, "ann", "ann-password").await);
    let reply = send(
        &r,
        "DELETE",
        &format!("/api/v1/users/{ann}/sessions"),
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(reply.json()["revoked"], 1);
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &ann_cookie, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let other = Auth::Cookie(login(&r, "root", "root-password").await);
    let wrong = send(
        &r,
        "PUT",
        "/api/v1/me/password",
        &auth,
        Some(json!({"current_password": "nope", "new_password": "new-password"})),
        &[],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let short = send(
        &r,
        "PUT",
        "/api/v1/me/password",
        &auth,
        Some(json!({"current_password": "root-password", "new_password": "short"})),
        &[],
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = send(
        &r,
        "PUT",
        "/api/v1/me/password",
        &auth,
        Some(json!({"current_password": "root-password", "new_password": "new-password"})),
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text);
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &auth, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&r, "GET", "/api/v1/me", &other, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    login(&r, "root", "new-password").await;
}

#[tokio::test]
async fn tokens_act_as_their_user_and_are_stored_only_as_hashes() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let reply = send(
        &r,
        "POST",
        "/api/v1/tokens",
        &auth,
        Some(json!({"name": "ci deploy", "expires_in_days": 30})),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created = reply.json();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("berth_"));
    assert_eq!(created["name"], "ci deploy");
    assert_eq!(created["read_only"], false);
    assert!(
        created["expires_at_ms"].as_i64().unwrap() > created["created_at_ms"].as_i64().unwrap()
    );

    let bearer = Auth::Bearer(token.clone());
    let me = send(&r, "GET", "/api/v1/me", &bearer, None, &[])
        .await
        .json();
    assert_eq!(me["username"], "root");
    assert_eq!(me["auth"], "token");

    // Listed without the secret, with its last use.
    let list = send(&r, "GET", "/api/v1/tokens", &auth, None, &[]).await;
    assert!(!list.text.contains(&token));
    assert!(list.json()[0]["last_used_at_ms"].as_i64().is_some());

    // The database holds neither the token nor any password.
    let stored = t.all_stored_text().await;
    assert!(!stored.contains(&token), "a raw token is stored");
    assert!(
        !stored.contains("root-password"),
        "a raw password is stored"
    );
    assert!(
        stored.contains("$argon2id$"),
        "passwords are argon2id hashes"
    );

    // Revoked, it stops working at once.
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        send(
            &r,
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &auth,
            None,
            &[]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let after = send(&r, "GET", "/api/v1/me", &bearer, None, &[]).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(
            &r,
            "GET",
            "/api/v1/me",
            &Auth::Bearer("berth_made-up".into()),
            None,
            &[]
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn read_only_tokens_read_but_do_not_change() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let created = send(
        &r,
        "POST",
        "/api/v1/tokens",
        &auth,
        Some(json!({"name": "dash", "read_only": true})),
        &[],
    )
    .await
    .json();
    let bearer = Auth::Bearer(created["token"].as_str().unwrap().to_string());
    assert_eq!(
        send(&r, "GET", "/api/v1/users", &bearer, None, &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&r, "GET", "/api/v1/audit", &bearer, None, &[])
            .await
            .status,
        StatusCode::OK
    );
    let reply = send(
        &r,
        "POST",
        "/api/v1/teams",
        &bearer,
        Some(json!({"name": "web"})),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
}

#[tokio::test]
async fn cross_site_changes_are_refused() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let host = ("host", "127.0.0.1:3000");
    let body = Some(json!({"name": "web"}));
    let evil = send(
        &r,
        "POST",
        "/api/v1/teams",
        &auth,
        body.clone(),
        &[host, ("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    assert_eq!(evil.error_code(), "forbidden");
    let evil_referer = send(
        &r,
        "POST",
        "/api/v1/teams",
        &auth,
        body.clone(),
        &[host, ("referer", "http://evil.example/x")],
    )
    .await;
    assert_eq!(evil_referer.status, StatusCode::FORBIDDEN);
    // Neither Origin nor Referer: a browser always says where a POST comes from,
    // so a cookie-carrying change without either is refused too.
    let unplaced = send(&r, "POST", "/api/v1/teams", &auth, body.clone(), &[host]).await;
    assert_eq!(unplaced.status, StatusCode::FORBIDDEN, "{}", unplaced.text);
    assert!(
        unplaced.text.contains("Origin or Referer"),
        "{}",
        unplaced.text
    );
    // Nothing was created.
    let teams = send(&r, "GET", "/api/v1/teams", &auth, None, &[])
        .await
        .json();
    assert_eq!(teams.as_array().unwrap().len(), 0);
    // The same request from the server's own page passes.
    let own = send(
        &r,
        "POST",
        "/api/v1/teams",
        &auth,
        body.clone(),
        &[host, ("origin", "http://127.0.0.1:3000")],
    )
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    // A bearer token carries no ambient authority and needs no Origin.
    let token = send(
        &r,
        "POST",
        "/api/v1/tokens",
        &auth,
        Some(json!({"name": "x"})),
        &[],
    )
    .await
    .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let with_token = send(
        &r,
        "POST",
        "/api/v1/teams",
        &Auth::Bearer(token),
        Some(json!({"name": "api"})),
        &[host, ("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(with_token.status, StatusCode::CREATED);
}

#[tokio::test]
async fn members_see_only_their_teams() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let web = t.add_team("web").await;
    t.add_team("db").await;
    let ann = t.add_user("ann", "ann-password", UserRole::Member).await;
    t.add_member(web, ann, TeamRole::Viewer).await;
    let ann_auth = Auth::Cookie(login(&r, "ann", "ann-password").await);
    let theirs = send(&r, "GET", "/api/v1/teams", &ann_auth, None, &[])
        .await
        .json();
    let names: Vec<&str> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"]);
    let all = send(&r, "GET", "/api/v1/teams", &auth, None, &[])
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let me = send(&r, "GET", "/api/v1/me", &ann_auth, None, &[])
        .await
        .json();
    assert_eq!(me["teams"][0]["role"], "viewer");
}

#[tokio::test]
async fn the_audit_log_records_changes_and_filters() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    send(
        &r,
        "POST",
        "/api/v1/users",
        &auth,
        Some(json!({"username": "bob", "password": "bob-password", "role": "member"})),
        &[],
    )
    .await;
    send(
        &r,
        "POST",
        "/api/v1/users",
        &auth,
        Some(json!({"username": "bob", "password": "bob-password", "role": "member"})),
        &[],
    )
    .await;
    send(
        &r,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(json!({"username": "bob", "password": "wrong-one"})),
        &[],
    )
    .await;

    let page = send(
        &r,
        "GET",
        "/api/v1/audit?action=user.create",
        &auth,
        None,
        &[],
    )
    .await
    .json();
    let entries = page["entries"].as_array().unwrap();
    // bob twice, and root, made by the test set-up as the command line would.
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["actor"], "system");
    assert_eq!(entries[0]["result"], "failed");
    assert!(entries[0]["detail"]
        .as_str()
        .unwrap()
        .contains("exists already"));
    assert_eq!(entries[1]["result"], "ok");
    assert_eq!(entries[1]["actor"], "root");
    assert_eq!(entries[1]["target"], "user:bob");
    assert_eq!(entries[1]["client_addr"], "local");

    let failed = send(
        &r,
        "GET",
        "/api/v1/audit?action=auth.&result=failed",
        &auth,
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(failed["entries"][0]["actor"], "bob");
    assert_eq!(failed["entries"][0]["action"], "auth.login");

    let paged = send(&r, "GET", "/api/v1/audit?limit=1", &auth, None, &[])
        .await
        .json();
    assert_eq!(paged["entries"].as_array().unwrap().len(), 1);
    let before = paged["next_before"].as_i64().unwrap();
    let older = send(
        &r,
        "GET",
        &format!("/api/v1/audit?limit=1&before={before}"),
        &auth,
        None,
        &[],
    )
    .await
    .json();
    assert!(older["entries"][0]["id"].as_i64().unwrap() < before);

    for bad in ["/api/v1/audit?limit=0", "/api/v1/audit?limit=1000"] {
        assert_eq!(
            send(&r, "GET", bad, &auth, None, &[]).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_eq!(
        send(&r, "GET", "/api/v1/audit?result=maybe", &auth, None, &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let (t, auth) = admin_state().await;
    let r = t.router();
    let users_before = send(&r, "GET", "/api/v1/users", &auth, None, &[])
        .await
        .text;

    // (method, path, JSON body, or else a raw body, expected status and code)
    type Case = (
        &'static str,
        &'static str,
        Option<serde_json::Value>,
        Option<String>,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        // Empty body with a JSON content type.
        (
            "POST",
            "/api/v1/users",
            None,
            Some(String::new()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // Not JSON.
        (
            "POST",
            "/api/v1/users",
            None,
            Some("{nope".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // 10 MB.
        (
            "POST",
            "/api/v1/users",
            None,
            Some(format!(
                "{{\"username\":\"{}\"}}",
                "a".repeat(10 * 1024 * 1024)
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        // Wrong types and missing fields.
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": 5, "password": "x", "role": "member"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "x"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "x", "password": "long-enough", "role": "god"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        // Names with spaces or look-alike characters.
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "bad name", "password": "long-enough", "role": "member"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "rооt", "password": "long-enough", "role": "member"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(
                json!({"username": "<script>alert(1)</script>", "password": "long-enough", "role": "member"}),
            ),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/teams",
            Some(json!({"name": "Web Team"})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": " padded "})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "x", "expires_in_days": 0})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        // Duplicates.
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "ROOT", "password": "long-enough", "role": "member"})),
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
        // Unknown ids, and ids that are not numbers.
        (
            "GET",
            "/api/v1/users/999",
            None,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "PATCH",
            "/api/v1/users/999",
            Some(json!({"role": "admin"})),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/api/v1/teams/999",
            None,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/api/v1/tokens/999",
            None,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "PUT",
            "/api/v1/teams/999/members/1",
            Some(json!({"role": "viewer"})),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/users/abc",
            None,
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // Nothing to change; the last admin cannot be demoted or deleted.
        (
            "PATCH",
            "/api/v1/users/1",
            Some(json!({})),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "PATCH",
            "/api/v1/users/1",
            Some(json!({"role": "member"})),
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "DELETE",
            "/api/v1/users/1",
            None,
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
    ];
    for (method, uri, json_body, raw, status, code) in cases {
        let reply = match raw {
            Some(raw) => raw_send(&r, method, uri, &auth, raw).await,
            None => send(&r, method, uri, &auth, json_body.clone(), &[]).await,
        };
        assert_eq!(
            reply.status, status,
            "{method} {uri} {json_body:?}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), code, "{method} {uri}");
        assert!(!reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .is_empty());
    }
    let users_after = send(&r, "GET", "/api/v1/users", &auth, None, &[])
        .await
        .text;
    assert_eq!(users_before, users_after);
    let teams = send(&r, "GET", "/api/v1/teams", &auth, None, &[])
        .await
        .json();
    assert_eq!(teams.as_array().unwrap().len(), 0);
}

async fn raw_send(
    r: &axum::Router,
    method: &str,
    uri: &str,
    auth: &Auth,
    body: String,
) -> common::Reply {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let Auth::Cookie(c) = auth else {
        panic!("cookie auth expected")
    };
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("cookie", format!("berth_session={c}"))
        .header("host", "berth.test")
        .header("origin", "http://berth.test")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let res = r.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text =
        String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    common::Reply {
        status,
        headers,
        text,
    }
}

#[tokio::test]
async fn the_command_line_creates_users() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = server::testing::TempDir::new();
    let url = dir.db_url();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_DATABASE_URL", &url)
            .env("BERTH_DATA_DIR", &dir.0)
            .env("BERTH_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        &["user", "create", "--username", "ops", "--role", "admin"],
        "ops-password\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "created admin ops (id 1)");
    let (code, _, err) = run(
        &["user", "create", "--username", "ops", "--role", "member"],
        "other-password\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("berth: a user named \"ops\" exists already"),
        "{err}"
    );
    let (code, _, err) = run(&["user", "create", "--username", "short"], "short\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("at least 8 characters"), "{err}");
    let (code, _, err) = run(&["user", "create", "--username", "x", "--role", "root"], "");
    assert_eq!(code, Some(2));
    assert!(err.contains("'root' is not a role"), "{err}");
}
