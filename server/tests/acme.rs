//! HTTPS at the proxy with certificates from a real ACME CA: Let's Encrypt's test
//! CA, Pebble, started per test with its HTTP-01 checks pointed at the test's
//! proxy on 127.0.0.1. A route gets a certificate when it is saved and HTTPS
//! reaches the replicas (trusting Pebble's root only); plain HTTP redirects; a
//! restarted Berth serves the stored certificate from its first handshake; a
//! short certificate is renewed under load without a failed request; a refused
//! order is shown with the CA's reason. Needs `scripts/hosts up 3` and pebble.

mod common;
#[path = "acme/pebble.rs"]
mod pebble;

use std::time::{Duration, Instant};

use common::{add_test_hosts, demo_spec, login, ok_json, send, until, Auth, Cleanup, HEARTBEAT};
use pebble::{https_get, Options, Pebble};
use serde_json::{json, Value};
use server::config::AcmeDirectory;
use server::testing::TestState;

const HOST: &str = "shop.example.test";

/// A Berth on the test hosts whose certificates come from its own Pebble, with
/// its proxy on free ports (HTTP, HTTPS) that Pebble checks.
struct World {
    t: TestState,
    auth: Auth,
    pebble: Pebble,
    http: u16,
    https: u16,
    _cleanup: Cleanup,
}

async fn listeners() -> (tokio::net::TcpListener, tokio::net::TcpListener) {
    (
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
}

impl World {
    async fn new(options: Options) -> World {
        let (http, https) = listeners().await;
        let (http_port, https_port) = (
            http.local_addr().unwrap().port(),
            https.local_addr().unwrap().port(),
        );
        let pebble = Pebble::start(http_port, options).await;
        let (directory, root) = (pebble.directory.clone(), pebble.listener_root.clone());
        let t = TestState::with_config(&[], |c| {
            c.acme_directory = AcmeDirectory::At(directory);
            c.acme_ca_root = Some(root);
        })
        .await;
        t.add_user("root", "root-password", domain::wire::UserRole::Admin)
            .await;
        t.add_team("web").await;
        let auth = Auth::Cookie(login(&t.router(), "root", "root-password").await);
        let cleanup = Cleanup(t.state.store.instance_id().await.unwrap());
        add_test_hosts(&t, &auth).await;
        t.spawn_background(HEARTBEAT);
        server::serve_proxy(&t.state, Some(http), Some(https));
        World {
            t,
            auth,
            pebble,
            http: http_port,
            https: https_port,
            _cleanup: cleanup,
        }
    }

    async fn certificate(&self, host: &str) -> Option<Value> {
        let list = ok_json(&self.t, &self.auth, "GET", "/api/v1/certificates", None).await;
        list["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["host"] == host)
            .cloned()
    }

    async fn create(&self, routes: Value, replicas: u32) {
        ok_json(
            &self.t,
            &self.auth,
            "POST",
            "/api/v1/services",
            Some(json!({"name": "web", "team": "web", "replicas": replicas,
                "spec": demo_spec("v1", json!({})), "proxy": {"routes": routes}})),
        )
        .await;
    }
}

/// HTTPS through the proxy answers 200 from a replica; the certificate shown.
async fn https_ok(
    w: &World,
    roots: &[rustls::pki_types::CertificateDer<'static>],
    port: u16,
    within: Duration,
) -> rustls::pki_types::CertificateDer<'static> {
    until(
        "HTTPS through the proxy reaches a replica",
        within,
        || async {
            match https_get(roots, ("127.0.0.1", port), HOST, "/cgi-bin/info").await {
                Ok((200, body, shown)) if body.contains("hostname=") => Ok(shown),
                other => Err(format!(
                    "{:?}; the certificate: {:?}",
                    other.map(|(s, b, _)| (s, b)),
                    w.certificate(HOST).await
                )),
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_route_gets_a_certificate_and_https_reaches_the_replicas() {
    let mut w = World::new(Options::default()).await;
    let roots = w.pebble.issuer_root().await;
    // Before any route asks, the HTTPS listener has nothing to show for the name.
    assert!(https_get(&roots, ("127.0.0.1", w.https), HOST, "/")
        .await
        .is_err());

    w.create(json!([]), 2).await;
    until(
        "the replicas serve over HTTP",
        Duration::from_secs(60),
        || async {
            let s = ok_json(&w.t, &w.auth, "GET", "/api/v1/services/web", None).await;
            match s["service"]["healthy"].as_u64() {
                Some(2) => Ok(()),
                _ => Err(s["service"]["phase"].to_string()),
            }
        },
    )
    .await;
    // Saving the route orders the certificate at once: timed to the first HTTPS
    // answer.
    let saved = Instant::now();
    ok_json(
        &w.t,
        &w.auth,
        "PUT",
        "/api/v1/services/web/proxy",
        Some(json!({"routes": [{"host": HOST, "acme": true, "redirect_https": true}]})),
    )
    .await;
    let shown = https_ok(&w, &roots, w.https, Duration::from_secs(30)).await;
    eprintln!(
        "saved route to HTTPS answer: {} ms",
        saved.elapsed().as_millis()
    );

    let cert = w.certificate(HOST).await.expect("listed");
    assert_eq!(cert["state"], "valid", "{cert}");
    assert_eq!(cert["source"], "acme");
    assert!(
        cert["issuer"].as_str().unwrap().contains("Pebble"),
        "{cert}"
    );
    assert_eq!(cert["names"], json!([HOST]));
    assert_eq!(cert["services"], json!(["web"]));
    assert!(cert["next_attempt_ms"].as_i64().unwrap() > cert["not_before_ms"].as_i64().unwrap());
    assert!(!cert.to_string().contains("PRIVATE KEY"));
    let metrics = send(&w.t.router(), "GET", "/metrics", &w.auth, None, &[])
        .await
        .text;
    assert!(
        metrics.contains(&format!(
            "berth_certificate_expiry_seconds{{host=\"{HOST}\",source=\"acme\"}}"
        )),
        "{metrics}"
    );
    let events = ok_json(&w.t, &w.auth, "GET", "/api/v1/services/web", None).await;
    assert!(
        events.to_string().contains("was issued by Pebble"),
        "{events}"
    );

    // Plain HTTP for the route is sent to HTTPS; a challenge Berth does not know
    // goes to the replicas unredirected (their own ACME client may answer it).
    let c = common::client();
    let redirect = hyper::Request::get(format!("http://127.0.0.1:{}/a?b=1", w.http))
        .header("host", HOST)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let answer = c.request(redirect).await.unwrap();
    assert_eq!(answer.status(), 308);
    assert_eq!(
        answer.headers()["location"],
        format!("https://{HOST}:{}/a?b=1", w.https).as_str()
    );
    let (status, _) = common::get(&c, w.http, HOST, "/.well-known/acme-challenge/nothing")
        .await
        .unwrap();
    assert_eq!(status, 404, "the replica's answer to an unknown path");

    // A restart serves the stored certificate from the first handshake: no new
    // order (the same certificate), the route's replicas once the loop has
    // published them.
    w.t.restart().await;
    w.t.spawn_background(HEARTBEAT);
    let (http, https) = listeners().await;
    let https_port = https.local_addr().unwrap().port();
    server::serve_proxy(&w.t.state, Some(http), Some(https));
    let (_, _, first) = https_get(&roots, ("127.0.0.1", https_port), HOST, "/")
        .await
        .expect("the first handshake after a restart");
    assert_eq!(first, shown, "the stored certificate, not a new one");
    https_ok(&w, &roots, https_port, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_short_certificate_is_renewed_without_a_failed_request() {
    // 15 s certificates: renewed at two thirds of their life, about 10 s in.
    let w = World::new(Options {
        validity_secs: Some(15),
        ..Default::default()
    })
    .await;
    let roots = w.pebble.issuer_root().await;
    w.create(json!([{"host": HOST, "acme": true}]), 2).await;
    let first = https_ok(&w, &roots, w.https, Duration::from_secs(60)).await;
    let before = w.certificate(HOST).await.unwrap();

    // Requests the whole time, each on a new connection (a new handshake).
    let (mut ok, mut failed, mut renewed) = (0u32, Vec::new(), None);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        match https_get(&roots, ("127.0.0.1", w.https), HOST, "/cgi-bin/info").await {
            Ok((200, _, shown)) => {
                ok += 1;
                if shown != first && renewed.is_none() {
                    renewed = Some(started.elapsed());
                }
            }
            other => failed.push(format!("{:?}", other.map(|(s, b, _)| (s, b)))),
        }
        if renewed.is_some_and(|at| started.elapsed() > at + Duration::from_secs(2)) {
            break;
        }
    }
    assert!(
        renewed.is_some(),
        "no new certificate within 30 s ({ok} requests)"
    );
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    let after = w.certificate(HOST).await.unwrap();
    assert_eq!(after["state"], "valid");
    assert!(after["not_after_ms"].as_i64() > before["not_after_ms"].as_i64());
    let s = ok_json(&w.t, &w.auth, "GET", "/api/v1/services/web", None).await;
    assert!(s.to_string().contains("was renewed by Pebble"), "{s}");
}

#[tokio::test]
async fn a_refused_order_is_shown_with_the_cas_reason() {
    let blocked = "blocked.example.test";
    let w = World::new(Options {
        blocked: vec![blocked.into()],
        ..Default::default()
    })
    .await;
    let saved = server::clock::now_ms();
    ok_json(
        &w.t,
        &w.auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "web", "team": "web", "replicas": 0,
            "spec": demo_spec("v1", json!({})),
            "proxy": {"routes": [{"host": blocked, "acme": true}]}})),
    )
    .await;
    let cert = until("the order fails", Duration::from_secs(30), || async {
        match w.certificate(blocked).await {
            Some(c) if c["state"] == "failed" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let problem = cert["problem"].as_str().unwrap();
    assert!(problem.starts_with("the CA said: "), "{problem}");
    assert!(
        problem.contains("forbidden by policy"),
        "the CA's reason in words: {problem}"
    );
    assert!(problem.contains("rejectedIdentifier"), "{problem}");
    // Tried again after a back-off, not at once: the CA is not hammered.
    let next = cert["next_attempt_ms"].as_i64().unwrap();
    assert!(next >= saved + 4 * 60 * 1000, "{cert}");
    // The service says so, and so do its events.
    let s = ok_json(&w.t, &w.auth, "GET", "/api/v1/services/web", None).await;
    let problems = s["service"]["problems"].to_string();
    assert!(
        problems.contains(&format!("HTTPS for {blocked}")),
        "{problems}"
    );
    assert!(s.to_string().contains("could not be had"), "{s}");
    // Nothing is served for it.
    let roots = w.pebble.issuer_root().await;
    assert!(https_get(&roots, ("127.0.0.1", w.https), blocked, "/")
        .await
        .is_err());
}
