//! How long a route that asks for a certificate waits for HTTPS: Let's Encrypt's
//! test CA, Pebble (`PEBBLE_VA_NOSLEEP`: no random wait before its HTTP-01 check),
//! and a Berth over a fresh database serving its proxy on loopback ports, Pebble's
//! checks pointed at its HTTP port. 20 services of no replica (a route gets its
//! certificate all the same); for each, its route for a new host
//! `h{i}.example.test` is saved with `acme: true` (the API, as the page does), and
//! timed to the first TLS handshake with that name (SNI) that trusts Pebble's root
//! only. Prints the median and p95. `cargo bench -p server --bench acme`; needs
//! Debian's pebble (scripts/deps), no Docker.

#[allow(dead_code)]
#[path = "../tests/acme/pebble.rs"]
mod pebble;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use server::config::AcmeDirectory;
use server::testing::TestState;
use tower::ServiceExt;

const HOSTS: usize = 20;
/// How often the bench looks whether the certificate is served yet.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// One request through the router, as a browser on Berth's page sends it (its
/// host and origin, the session cookie when signed in); fails unless it
/// succeeds. The answer's JSON and the session cookie it sets, if any.
async fn api(
    router: &axum::Router,
    cookie: Option<&str>,
    method: &str,
    uri: &str,
    body: Value,
) -> (Value, Option<String>) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("host", "berth.test")
        .header("origin", "http://berth.test");
    if let Some(c) = cookie {
        request = request.header("cookie", format!("berth_session={c}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(status.is_success(), "{method} {uri}: {status} {text}");
    let session = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("berth_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_string());
    (serde_json::from_str(&text).unwrap_or(Value::Null), session)
}

/// A TLS handshake at 127.0.0.1:`port` asking for `name`, trusting `roots` only.
async fn handshake(roots: &[CertificateDer<'static>], port: u16, name: &str) -> Result<(), String> {
    let connector = pebble::connector(roots)?;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    connector
        .connect(name, tcp)
        .await
        .map(|_| ())
        .map_err(|e| format!("handshake: {e}"))
}

#[tokio::main]
async fn main() {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http_port, https_port) = (
        http.local_addr().unwrap().port(),
        https.local_addr().unwrap().port(),
    );
    let ca = pebble::Pebble::start(http_port, pebble::Options::default()).await;
    let (directory, root) = (ca.directory.clone(), ca.listener_root.clone());
    let t = TestState::with_config(&[], |c| {
        c.acme_directory = AcmeDirectory::At(directory);
        c.acme_ca_root = Some(root);
    })
    .await;
    t.add_user("root", "root-password", domain::wire::UserRole::Admin)
        .await;
    t.add_team("web").await;
    let router = t.router();
    let login = json!({"username": "root", "password": "root-password"});
    let (_, cookie) = api(&router, None, "POST", "/api/v1/auth/login", login).await;
    let cookie = cookie.expect("login sets the session cookie");
    t.spawn_background(Duration::from_secs(1));
    server::serve_proxy(&t.state, Some(http), Some(https));
    let roots = ca.issuer_root().await;

    for i in 0..HOSTS {
        let service = json!({"name": format!("s{i}"), "team": "web", "replicas": 0,
            "spec": {"image": "127.0.0.1:5000/berth-demo:v1", "port": 8080}});
        api(&router, Some(&cookie), "POST", "/api/v1/services", service).await;
    }

    let mut took = Vec::with_capacity(HOSTS);
    for i in 0..HOSTS {
        let host = format!("h{i}.example.test");
        assert!(handshake(&roots, https_port, &host).await.is_err());
        let routes = json!({"routes": [{"host": host, "acme": true}]});
        let saved = Instant::now();
        api(
            &router,
            Some(&cookie),
            "PUT",
            &format!("/api/v1/services/s{i}/proxy"),
            routes,
        )
        .await;
        // Looked at every 2 ms: a handshake once the proxy has a certificate to
        // show for the name (what is served is swapped whole, in memory).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut ticks = tokio::time::interval(LOOK_EVERY);
        let mut seen = String::from("no certificate served yet");
        loop {
            ticks.tick().await;
            if t.state.certs.serves(&host) {
                match handshake(&roots, https_port, &host).await {
                    Ok(()) => break,
                    Err(e) => seen = e,
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{host}: no HTTPS within 30 s; {seen}; the CA's problem: {:?}",
                t.state.certs.problem(&host)
            );
        }
        took.push(saved.elapsed().as_secs_f64() * 1000.0);
    }

    let mut sorted = took.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[HOSTS / 2 - 1] + sorted[HOSTS / 2]) / 2.0;
    let p95 = sorted[((HOSTS as f64 * 0.95).ceil() as usize).min(HOSTS) - 1];
    println!(
        "acme bench: route saved to HTTPS: median {median:.0} ms, p95 {p95:.0} ms ({HOSTS} hosts, Pebble with PEBBLE_VA_NOSLEEP)"
    );
    println!(
        "acme bench: each host, in order (the first also registers Berth's ACME account): {}",
        took.iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
