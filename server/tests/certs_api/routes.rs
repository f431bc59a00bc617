//! Certificates and the routes that use them: HTTPS only where Berth serves it, a
//! route's HTTPS problems on its service, an ACME certificate kept while a route
//! wants it, a team's ACME hosts capped, and certificates following a domain that
//! passes to another team.

use super::*;
use server::config::{AcmeDirectory, ProxyListen};

/// ACME on, pointed at an address nothing answers (no task runs in these tests).
fn acme_on(c: &mut server::config::Config) {
    c.acme_directory = AcmeDirectory::At("https://127.0.0.1:9/dir".into());
}

async fn set_routes(w: &World, who: &Auth, service: &str, routes: Value) -> Reply {
    w.call(
        who,
        "PUT",
        &format!("/api/v1/services/{service}/proxy"),
        Some(json!({ "routes": routes })),
    )
    .await
}

/// The service's problems that are about HTTPS.
async fn https_problems(w: &World, service: &str) -> Vec<String> {
    let s = w
        .call(&w.olga, "GET", &format!("/api/v1/services/{service}"), None)
        .await
        .json();
    s["service"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| p.starts_with("HTTPS for"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn routes_ask_for_https_only_where_berth_serves_it() {
    let w = World::with(|c| {
        acme_on(c);
        c.proxy_tls_listen = ProxyListen::Off;
    })
    .await;
    let r = w.service("shop", json!({"routes": []})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    for routes in [
        json!([{"host": "shop.example.com", "redirect_https": true}]),
        json!([{"host": "shop.example.com", "acme": true}]),
    ] {
        let r = set_routes(&w, &w.olga, "shop", routes.clone()).await;
        refused(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "--proxy-tls-listen off",
            &routes.to_string(),
        );
    }
    let r = set_routes(&w, &w.olga, "shop", json!([{"host": "shop.example.com"}])).await;
    assert_eq!(r.status, StatusCode::OK, "plain HTTP stays: {}", r.text);
}

#[tokio::test]
async fn a_routes_https_problems_are_on_its_service() {
    let w = World::new().await;
    let r = w
        .service(
            "shop",
            json!({"routes": [{"host": "shop.example.com", "redirect_https": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p = https_problems(&w, "shop").await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("there is no certificate for it"), "{p:?}");

    // Ending within two weeks: said, with the day.
    let (cert, key) = made(&["shop.example.com"], now() - 60, now() + 10 * DAY);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;
    let p = https_problems(&w, "shop").await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("its uploaded certificate ends on"), "{p:?}");

    let (cert, key) = fresh(&["shop.example.com"]);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;
    assert_eq!(https_problems(&w, "shop").await, Vec::<String>::new());
}

#[tokio::test]
async fn an_acme_certificate_is_kept_while_a_route_wants_it() {
    let w = World::with(acme_on).await;
    let route = json!([{"host": "shop.example.com", "acme": true}]);
    let r = w.service("shop", json!({ "routes": route })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // What the certificate task does first for a new ACME host.
    let web = w.t.state.store.list_teams().await.unwrap()[0].id;
    assert!(w
        .t
        .state
        .store
        .want_acme_cert("shop.example.com", web, now() * 1000)
        .await
        .unwrap());

    const CERT: &str = "/api/v1/certificates/shop.example.com";
    for who in [&w.olga, &w.admin] {
        let r = w.call(who, "DELETE", CERT, None).await;
        refused(
            &r,
            StatusCode::CONFLICT,
            "routes of shop still ask",
            "delete",
        );
    }
    let renew = format!("{CERT}/renew");
    let r = w.call(&w.olga, "POST", &renew, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);

    // The route no longer asks: not ordered again, and may go.
    let r = set_routes(&w, &w.olga, "shop", json!([{"host": "shop.example.com"}])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w.call(&w.olga, "POST", &renew, None).await;
    refused(&r, StatusCode::CONFLICT, "no route asks", "renew");
    let r = w.call(&w.olga, "DELETE", CERT, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn a_team_asks_acme_for_a_bounded_number_of_hosts() {
    let w = World::with(acme_on).await;
    let routes = |from: usize, n: usize| {
        json!((from..from + n)
            .map(|i| json!({"host": format!("h{i}.example.com"), "acme": true}))
            .collect::<Vec<_>>())
    };
    for (i, from) in [0, 32, 64].into_iter().enumerate() {
        let r = w
            .service(&format!("s{i}"), json!({ "routes": routes(from, 32) }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    // 96 so far; 4 more is the limit, 5 more is over it.
    let r = w.service("s3", json!({ "routes": routes(96, 5) })).await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "would ask the CA for 101 certificates",
        "101",
    );
    let r = w.service("s3", json!({ "routes": routes(96, 4) })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A service's own hosts are not counted twice when its routes change.
    let r = set_routes(&w, &w.olga, "s3", routes(96, 4)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn certificates_follow_a_domain_to_its_new_team() {
    let w = World::new().await;
    let (cert, key) = fresh(&["shop.example.com"]);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;

    // An admin gives the domain to team `shop`, whose operator is sam.
    let store = &w.t.state.store;
    let web = store.list_teams().await.unwrap()[0].id;
    assert!(store.remove_domain(web, "*.example.com").await.unwrap());
    let shop = w.t.add_team("shop").await;
    store.add_domain(shop, "*.example.com", 1).await.unwrap();
    let sam = w.t.add_user("sam", "password-1", UserRole::Member).await;
    w.t.add_member(shop, sam, TeamRole::Operator).await;
    let sam = Auth::Cookie(login(&w.t.router(), "sam", "password-1").await);

    // The old team no longer changes it; the new one replaces it.
    let r = w
        .call(
            &w.olga,
            "DELETE",
            "/api/v1/certificates/shop.example.com",
            None,
        )
        .await;
    refused(
        &r,
        StatusCode::CONFLICT,
        "is in another team's domains now",
        "olga",
    );
    let (cert, key) = fresh(&["shop.example.com"]);
    let r = w
        .upload(&sam, upload("shop.example.com", Some("shop"), &cert, &key))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["team"], "shop");
    assert_eq!(w.hosts(&w.olga).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_stack_keeps_its_team_within_its_acme_hosts() {
    let w = World::with(acme_on).await;
    // Four new services of 26 ACME hosts each: each alone is within the limit.
    let mut file = String::from("kind: berth/stack\nteam: web\nservices:\n");
    for s in 0..4 {
        let routes: Vec<String> = (0..26)
            .map(|i| format!("{{host: s{s}h{i}.example.com, acme: true}}"))
            .collect();
        file.push_str(&format!(
            "  s{s}:\n    replicas: 0\n    spec: {{image: demo:v1, port: 8080}}\n    proxy: {{routes: [{}]}}\n",
            routes.join(", ")
        ));
    }
    let r = w
        .call(
            &w.olga,
            "POST",
            "/api/v1/stacks/plan",
            Some(json!({ "file": file })),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "would ask the CA for 104 certificates",
        "a stack of 104",
    );
}

#[tokio::test]
async fn a_failed_order_waiting_out_its_back_off_is_not_deleted() {
    let w = World::with(acme_on).await;
    let r = w
        .service(
            "shop",
            json!({"routes": [{"host": "shop.example.com", "acme": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let store = &w.t.state.store;
    let web = store.list_teams().await.unwrap()[0].id;
    let ms = now() * 1000;
    assert!(store
        .want_acme_cert("shop.example.com", web, ms)
        .await
        .unwrap());
    assert!(store
        .cert_failed("shop.example.com", 0, "refused", ms + 3_600_000, ms)
        .await
        .unwrap());
    // The route dropped, the failed row still waits: deleting it would let a
    // route asking again order at once.
    let r = set_routes(&w, &w.olga, "shop", json!([{"host": "shop.example.com"}])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .call(
            &w.olga,
            "DELETE",
            "/api/v1/certificates/shop.example.com",
            None,
        )
        .await;
    refused(&r, StatusCode::CONFLICT, "waits until", "in back-off");
}

#[tokio::test]
async fn the_task_forgets_rows_no_route_wants_and_gives_rows_to_their_hosts_team() {
    let w = World::with(acme_on).await;
    let r = w
        .service(
            "shop",
            json!({"routes": [{"host": "shop.example.com", "acme": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let store = &w.t.state.store;
    let web = store.list_teams().await.unwrap()[0].id;
    let old = w.t.add_team("old").await;
    let ms = now() * 1000;
    // shop.example.com's row is still another team's (its domain moved); two rows
    // no route wants: one past its back-off, one still waiting.
    for (host, team) in [
        ("shop.example.com", old),
        ("gone.example.com", web),
        ("waits.example.com", web),
    ] {
        assert!(store.want_acme_cert(host, team, ms).await.unwrap());
    }
    for (host, next) in [
        ("gone.example.com", ms - 1),
        ("waits.example.com", ms + 3_600_000),
    ] {
        assert!(store
            .cert_failed(host, 0, "refused", next, ms)
            .await
            .unwrap());
    }

    // No step of this pass asks the CA (nothing is ordered while a row changes
    // hands).
    server::certs::task::pass_once(&w.t.state).await.unwrap();
    let shop = store.cert("shop.example.com").await.unwrap().unwrap();
    assert_eq!(shop.team_id, Some(web), "the row follows the route's team");
    assert!(store.cert("gone.example.com").await.unwrap().is_none());
    assert!(store.cert("waits.example.com").await.unwrap().is_some());
    // The next pass orders shop's certificate, now the route's team's, from a CA
    // that is not there (127.0.0.1:9): failed, with its back-off; the waiting row
    // still waits.
    server::certs::task::pass_once(&w.t.state).await.unwrap();
    let shop = store.cert("shop.example.com").await.unwrap().unwrap();
    assert_eq!(shop.state, domain::wire::CertState::Failed, "{shop:?}");
    assert!(shop.next_attempt.unwrap() > now() * 1000, "{shop:?}");
    assert!(store.cert("waits.example.com").await.unwrap().is_some());
}
