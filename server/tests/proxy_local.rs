//! The proxy against small servers of the test's own on 127.0.0.1 (no Docker): it
//! passes requests on with `X-Forwarded-*` and without hop-by-hop headers, strips
//! prefixes, answers 404, 502, 503 and 504 itself, sends a request elsewhere when
//! a replica refuses connections (and ejects it), streams bodies both ways and
//! passes upgrades through. `pool`: its connections to the replicas.

use std::sync::Arc;
use std::time::Duration;

use domain::wire::Balance;
use server::proxy::table::{Backend, HostMatch, RouteInput};
use server::proxy::{Proxy, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[path = "proxy_local/pool.rs"]
mod pool;

/// What a test backend does with a request.
#[derive(Clone, Copy)]
enum Kind {
    /// Answers 200 with the request's head (and body) as its body.
    Echo,
    /// Reads the request and never answers.
    Silent,
    /// Answers 101 and then echoes whatever comes.
    Upgrade,
}

/// A backend on 127.0.0.1; returns its address.
async fn backend(kind: Kind) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                match kind {
                    Kind::Echo => {
                        let body = String::from_utf8_lossy(&buf).to_string();
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nX-Backend: {}\r\n\r\n{body}",
                            body.len(),
                            s.local_addr().unwrap()
                        );
                        let _ = s.write_all(answer.as_bytes()).await;
                    }
                    Kind::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Kind::Upgrade => {
                        let _ = s
                            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
                            .await;
                        loop {
                            let n = s.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 || s.write_all(&chunk[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

fn route(service: &str, host: &str, prefix: &str, strip: bool, backends: &[String]) -> RouteInput {
    RouteInput {
        team_id: 1,
        service_id: service.len() as i64,
        service: service.into(),
        host: HostMatch::parse(Some(host)),
        prefix: prefix.into(),
        strip,
        redirect: false,
        balance: Balance::RoundRobin,
        backends: backends
            .iter()
            .enumerate()
            .map(|(i, a)| Backend {
                container_id: format!("{service}-{}", a.rsplit(':').next().unwrap()),
                slot: i as u32 + 1,
                host: "h1".into(),
                authority: a.clone(),
            })
            .collect(),
        canary: None,
    }
}

/// A proxy listening on 127.0.0.1 with `routes`; returns it and its port.
async fn proxy(
    routes: Vec<RouteInput>,
    settings: Settings,
) -> (Arc<Proxy>, u16, CancellationToken) {
    let p = Arc::new(Proxy::new(settings));
    p.update(routes);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = CancellationToken::new();
    tokio::spawn(server::proxy::server::serve(
        p.clone(),
        listener,
        token.clone(),
    ));
    (p, port, token)
}

/// One raw HTTP/1.1 request through the proxy; returns the status, head and body.
async fn request(port: u16, raw: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn get(host: &str, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

#[tokio::test]
async fn requests_are_passed_on_with_forwarded_headers_and_without_hop_by_hop_ones() {
    let echo = backend(Kind::Echo).await;
    let (_p, port, _t) = proxy(
        vec![
            route(
                "shop",
                "shop.localhost",
                "/",
                false,
                std::slice::from_ref(&echo),
            ),
            route(
                "api",
                "shop.localhost",
                "/api",
                true,
                std::slice::from_ref(&echo),
            ),
        ],
        Settings::default(),
    )
    .await;
    let (status, head, body) = request(
        port,
        &get(
            "Shop.Localhost:8080",
            "/cart?item=7",
            "Keep-Alive: timeout=9\r\nX-Forwarded-For: 10.1.2.3\r\nProxy-Authorization: secret\r\n",
        ),
    )
    .await;
    assert_eq!(status, 200, "{head}");
    assert!(body.starts_with("GET /cart?item=7 HTTP/1.1\r\n"), "{body}");
    let lower = body.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nhost: shop.localhost:8080\r\n"),
        "{body}"
    );
    // The client is no trusted proxy: what it claimed is replaced by its address.
    assert!(
        lower.contains("\r\nx-forwarded-for: 127.0.0.1\r\n"),
        "{body}"
    );
    assert!(!lower.contains("10.1.2.3"), "{body}");
    assert!(lower.contains("\r\nx-forwarded-proto: http\r\n"), "{body}");
    assert!(
        lower.contains("\r\nx-forwarded-host: shop.localhost:8080\r\n"),
        "{body}"
    );
    assert!(!lower.contains("keep-alive"), "{body}");
    assert!(!lower.contains("proxy-authorization"), "{body}");
    // The answer's hop-by-hop headers stay behind too.
    assert!(!head.to_ascii_lowercase().contains("keep-alive"), "{head}");

    let (status, _, body) = request(port, &get("shop.localhost", "/api/orders/7", "")).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("GET /orders/7 HTTP/1.1\r\n"), "{body}");

    // A body goes along, and the answer streams back.
    let post = "POST /api/upload HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
    let (status, _, body) = request(port, post).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("POST /upload HTTP/1.1\r\n"), "{body}");
    assert!(body.ends_with("\r\n\r\nhello world"), "{body}");
    let big = "x".repeat(200_000);
    let post = format!("POST / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}", big.len());
    let (status, _, body) = request(port, &post).await;
    assert_eq!(status, 200);
    assert!(body.ends_with(&big), "a large body is streamed whole");
}

#[tokio::test]
async fn the_proxy_answers_404_503_502_and_504_itself_and_counts_them() {
    let silent = backend(Kind::Silent).await;
    let dead = closed_port().await;
    let (p, port, _t) = proxy(
        vec![
            route("empty", "empty.localhost", "/", false, &[]),
            route("slow", "slow.localhost", "/", false, &[silent]),
            route("dead", "dead.localhost", "/", false, &[dead]),
        ],
        Settings {
            upstream_timeout: Duration::from_millis(300),
            ..Settings::default()
        },
    )
    .await;
    let (status, _, body) = request(port, &get("nowhere.test", "/x", "")).await;
    assert_eq!(status, 404);
    assert!(
        body.contains("No service is routed for nowhere.test/x."),
        "{body}"
    );
    let (status, head, body) = request(port, &get("empty.localhost", "/", "")).await;
    assert_eq!(status, 503);
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(
        body.contains("empty has no healthy replica right now"),
        "{body}"
    );
    let (status, _, body) = request(port, &get("slow.localhost", "/", "")).await;
    assert_eq!(status, 504);
    assert!(body.contains("slow did not answer within 0 s"), "{body}");
    let (status, _, _) = request(port, &get("dead.localhost", "/", "")).await;
    assert_eq!(status, 502);
    let v = p.view(|_| true);
    assert_eq!(
        (v.unknown_host, v.no_backend, v.timeouts, v.bad_gateway),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn a_replica_that_refuses_connections_is_ejected_and_its_requests_go_elsewhere() {
    let live = backend(Kind::Echo).await;
    let dead = closed_port().await;
    let (p, port, _t) = proxy(
        vec![route(
            "shop",
            "shop.localhost",
            "/",
            false,
            &[dead.clone(), live.clone()],
        )],
        Settings::default(),
    )
    .await;
    for _ in 0..10 {
        let (status, head, _) = request(port, &get("shop.localhost", "/", "")).await;
        assert_eq!(status, 200, "{head}");
        assert!(head.contains(&live), "{head}");
    }
    let v = p.view(|_| true);
    let dead_view = v.routes[0]
        .backends
        .iter()
        .find(|b| b.address == dead)
        .unwrap();
    assert_eq!(dead_view.state, "ejected");
    let live_view = v.routes[0]
        .backends
        .iter()
        .find(|b| b.address == live)
        .unwrap();
    assert_eq!(live_view.requests, 10);
    assert_eq!(live_view.in_flight, 0);
}

#[tokio::test]
async fn upgrades_are_passed_through_both_ways() {
    let up = backend(Kind::Upgrade).await;
    let (_p, port, _t) = proxy(
        vec![route("ws", "ws.localhost", "/", false, &[up])],
        Settings::default(),
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(b"GET /socket HTTP/1.1\r\nHost: ws.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(b"ping").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"ping");
}

#[tokio::test]
async fn a_drained_replica_leaves_the_table_and_its_requests_finish_first() {
    let a = backend(Kind::Echo).await;
    let b = backend(Kind::Echo).await;
    let (p, port, _t) = proxy(
        vec![route(
            "shop",
            "shop.localhost",
            "/",
            false,
            &[a.clone(), b.clone()],
        )],
        Settings::default(),
    )
    .await;
    let (status, _, _) = request(port, &get("shop.localhost", "/", "")).await;
    assert_eq!(status, 200);
    let a_id = format!("shop-{}", a.rsplit(':').next().unwrap());
    assert_eq!(p.drain(&a_id).await, 0);
    assert_eq!(p.table().routes[0].backends.len(), 1);
    for _ in 0..5 {
        let (_, head, _) = request(port, &get("shop.localhost", "/", "")).await;
        assert!(head.contains(&b), "only the other replica answers: {head}");
    }
    // The reconciler still lists it until it is stopped: it stays out.
    p.update(vec![route(
        "shop",
        "shop.localhost",
        "/",
        false,
        &[a.clone(), b.clone()],
    )]);
    assert_eq!(p.table().routes[0].backends.len(), 1);
    // Once gone from the reconciler's routes, it may come back as new.
    p.update(vec![route(
        "shop",
        "shop.localhost",
        "/",
        false,
        std::slice::from_ref(&b),
    )]);
    p.update(vec![route("shop", "shop.localhost", "/", false, &[a, b])]);
    assert_eq!(p.table().routes[0].backends.len(), 2);
}

/// An export of many routes, with every character the path grammar lets through
/// and every kind of host, loads into a real nginx (`nginx -t`): nothing a route
/// holds can end a string or a block there.
#[tokio::test]
async fn an_export_of_many_routes_passes_nginx_t() {
    let prefixes = [
        "/",
        "/api",
        "/a;b",
        "/a'b",
        "/a$b",
        "/a(b)",
        "/a*b",
        "/a+b",
        "/a,b",
        "/a=b",
        "/a:b",
        "/@me",
        "/a!b",
        "/a&b",
        "/a%20b",
        "/a%22b",
        "/a%7Bb%7D",
        "/x~y",
        "/v1/orders/",
        "/a.b",
    ];
    let hosts: [Option<&str>; 4] = [
        Some("shop.example.com"),
        Some("*.shop.example.com"),
        Some("a-1.b-2.example.org"),
        None,
    ];
    let mut inputs = Vec::new();
    for (i, prefix) in prefixes.iter().enumerate() {
        domain::validate::path_prefix(prefix).unwrap_or_else(|e| panic!("{prefix}: {e}"));
        for (j, host) in hosts.iter().enumerate() {
            let mut r = route(
                &format!("svc-{i}-{j}"),
                host.unwrap_or("unused.test"),
                prefix,
                i % 2 == 0,
                &["127.0.0.11:30001".to_string()],
            );
            r.host = server::proxy::table::HostMatch::parse(*host);
            inputs.push(r);
        }
    }
    let table = server::proxy::table::RouteTable::new(inputs, |_| Default::default());
    let conf = server::proxy::export::nginx_conf(&table, "127.0.0.1:18080", |_| true);
    assert!(conf.matches("location").count() > 100, "{conf}");
    let dir = server::testing::TempDir::new();
    let d = dir.0.display();
    std::fs::write(dir.0.join("berth.conf"), &conf).unwrap();
    std::fs::write(
        dir.0.join("nginx.conf"),
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/berth.conf;\n}}\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new("nginx")
        .args([
            "-t",
            "-c",
            &format!("{d}/nginx.conf"),
            "-p",
            &format!("{d}/"),
        ])
        .output()
        .expect("Debian's nginx (make test installs nginx-light)");
    assert!(
        out.status.success(),
        "nginx -t refused the export: {}\n{conf}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for `host`, as the proxy serves it.
fn certified(host: &str) -> Arc<rustls::sign::CertifiedKey> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    server::certs::pem::read(&cert.pem(), &key.serialize_pem(), host, now)
        .unwrap()
        .key
}

#[tokio::test]
async fn plain_http_is_redirected_only_once_the_host_has_a_certificate() {
    let echo = backend(Kind::Echo).await;
    let mut shop = route(
        "shop",
        "shop.localhost",
        "/",
        false,
        std::slice::from_ref(&echo),
    );
    shop.redirect = true;
    let (p, port, _t) = proxy(vec![shop], Settings::default()).await;
    let certs = Arc::new(server::certs::Certs::new(None));
    p.set_certs(certs.clone());
    p.set_tls_listen("127.0.0.1:8443".into());

    // No certificate yet: a redirect would lead to a failed handshake.
    let (status, _, _) = request(port, &get("shop.localhost", "/a?b=1", "")).await;
    assert_eq!(
        status, 200,
        "served over plain HTTP until a certificate comes"
    );

    let mut served = std::collections::HashMap::new();
    served.insert("shop.localhost".to_string(), certified("shop.localhost"));
    certs.serve(served);
    let (status, head, _) = request(port, &get("shop.localhost", "/a?b=1", "")).await;
    assert_eq!(status, 308, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: https://shop.localhost:8443/a?b=1"),
        "{head}"
    );

    // The certificate gone (deleted, or ended): plain HTTP again.
    certs.serve(Default::default());
    let (status, _, _) = request(port, &get("shop.localhost", "/a", "")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_http01_token_is_answered_on_its_own_host_only() {
    let echo = backend(Kind::Echo).await;
    let (p, port, _t) = proxy(
        vec![
            route(
                "shop",
                "shop.localhost",
                "/",
                false,
                std::slice::from_ref(&echo),
            ),
            route(
                "blog",
                "blog.localhost",
                "/",
                false,
                std::slice::from_ref(&echo),
            ),
        ],
        Settings::default(),
    )
    .await;
    let certs = Arc::new(server::certs::Certs::new(None));
    p.set_certs(certs.clone());
    certs
        .challenges
        .put("shop.localhost", "tok-1", "tok-1.thumb");

    let path = "/.well-known/acme-challenge/tok-1";
    let (status, _, body) = request(port, &get("shop.localhost", path, "")).await;
    assert_eq!((status, body.as_str()), (200, "tok-1.thumb"));
    // Another host's request for the token goes on to its replicas as any other.
    let (status, head, body) = request(port, &get("blog.localhost", path, "")).await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-backend"), "{head}");
    assert!(!body.contains("tok-1.thumb"), "{body}");
}

#[tokio::test]
async fn a_redirect_names_the_public_https_port() {
    let echo = backend(Kind::Echo).await;
    let mut shop = route(
        "shop",
        "shop.localhost",
        "/",
        false,
        std::slice::from_ref(&echo),
    );
    shop.redirect = true;
    for (public, location) in [
        (Some(443), "location: https://shop.localhost/a"),
        (Some(9443), "location: https://shop.localhost:9443/a"),
    ] {
        let settings = Settings {
            https_public_port: public,
            ..Settings::default()
        };
        let (p, port, _t) = proxy(vec![shop.clone()], settings).await;
        let certs = Arc::new(server::certs::Certs::new(None));
        certs.serve([("shop.localhost".to_string(), certified("shop.localhost"))].into());
        p.set_certs(certs);
        p.set_tls_listen("127.0.0.1:8443".into());
        let (status, head, _) = request(port, &get("shop.localhost", "/a", "")).await;
        assert_eq!(status, 308, "{head}");
        assert!(
            head.to_ascii_lowercase().contains(location),
            "{public:?}: {head}"
        );
    }
}
