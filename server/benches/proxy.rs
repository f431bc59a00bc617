//! The proxy's own cost, against nginx: three fast keep-alive backends (nginx
//! serving a small file on 127.0.0.1), then wrk (Debian's) against each backend
//! directly, through nginx configured with Berth's exported configuration for
//! those backends, and through Berth's proxy (the same server code as the
//! `berth` binary, given the same table). Then the same with three backends that
//! close every connection after one answer, as the demo image does (the proxies
//! open a connection per request). Prints requests/s and p99 latency, the median
//! of five runs each (the three taken in turn, round after round), and Berth's
//! throughput over nginx's (the medians', and each round's). `cargo bench -p server --bench proxy`.
//!
//! Then HTTPS: the same backends behind nginx (`listen … ssl`, Berth's exported
//! configuration) and behind Berth's proxy (`serve_tls`, rustls), both serving one
//! self-signed certificate for `localhost` made here, driven by wrk at
//! `https://localhost:PORT/healthz` (SNI `localhost`): keep-alive connections, and a
//! new connection (a new TLS handshake) per request (`Connection: close`).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use domain::wire::Balance;
use server::proxy::table::{Backend, HostMatch, RouteInput};
use server::proxy::{Proxy, Settings};
use tokio_util::sync::CancellationToken;

const SECONDS: u32 = 8;
const RUNS: usize = 5;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx with `http` as its http block's body (`DIR` in it is nginx's own
/// folder, which also holds `files`, by name); stopped when dropped.
struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    fn start(name: &str, workers: &str, http: &str, port: u16, files: &[(&str, &str)]) -> Nginx {
        let dir = std::env::temp_dir().join(format!("berth-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        std::fs::write(dir.join("healthz"), "ok\n").unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let http = http.replace("DIR", &d.to_string());
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off; worker_processes {workers}; pid {d}/nginx.pid; error_log {d}/error.log error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
                 uwsgi_temp_path {d}/u; scgi_temp_path {d}/s; keepalive_requests 100000;\n{http}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .args(["-c", &format!("{d}/nginx.conf"), "-p", &format!("{d}/")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's nginx (scripts/deps installs nginx-light)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One wrk run with these extra headers: requests per second, p99 in
/// milliseconds, and wrk's line of socket errors when it has one.
fn wrk(url: &str, headers: &[&str]) -> (f64, f64, Option<String>) {
    let mut args = vec![
        "-t1".to_string(),
        "-c32".to_string(),
        format!("-d{SECONDS}s"),
        "--latency".to_string(),
    ];
    for h in headers {
        args.extend(["-H".to_string(), h.to_string()]);
    }
    args.push(url.to_string());
    let out = Command::new("wrk")
        .args(&args)
        .output()
        .expect("wrk (scripts/deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{text}");
    let errors = text
        .lines()
        .find(|l| l.trim().starts_with("Socket errors:"))
        .map(|l| l.trim().to_string());
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no 99% in {text}"));
    let ms = if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>().unwrap() / 1000.0
    } else if let Some(v) = p99.strip_suffix("ms") {
        v.parse::<f64>().unwrap()
    } else {
        p99.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0
    };
    assert!(rps > 0.0, "no request answered: {text}");
    (rps, ms, errors)
}

/// What one target measured: the median of its runs' requests/s and p99 (ms),
/// and wrk's socket errors in those runs, if any.
struct Measured {
    rps: f64,
    p99: f64,
    errors: String,
}

/// Each target's warm-up run (pools, caches, session caches), then `RUNS` rounds
/// that run every target once, each round starting one target further on: a VM's
/// speed drifts over the minutes of a bench (the same binary measured 23,000 and
/// 16,700 requests/s in two runs), and taken in turn, in no fixed order, the drift
/// falls on every target alike. Each target's medians, and per round the last
/// target's throughput over the one before it (Berth's over nginx's).
fn measure(urls: &[String], headers: &[&str]) -> (Vec<Measured>, Vec<f64>) {
    for url in urls {
        wrk(url, headers);
    }
    let n = urls.len();
    let mut rounds: Vec<Vec<(f64, f64, Option<String>)>> = Vec::new();
    for round in 0..RUNS {
        let mut runs = vec![None; n];
        for i in (0..n).map(|k| (k + round) % n) {
            runs[i] = Some(wrk(&urls[i], headers));
        }
        rounds.push(runs.into_iter().flatten().collect());
    }
    let measured = (0..n)
        .map(|i| {
            let errors: Vec<String> = rounds.iter().filter_map(|r| r[i].2.clone()).collect();
            let rps = median(rounds.iter().map(|r| r[i].0).collect());
            let p99 = median(rounds.iter().map(|r| r[i].1).collect());
            let errors = if errors.is_empty() {
                String::new()
            } else {
                format!(" [wrk: {}]", errors.join("; "))
            };
            Measured { rps, p99, errors }
        })
        .collect();
    let ratios = rounds.iter().map(|r| r[n - 1].0 / r[n - 2].0).collect();
    (measured, ratios)
}

/// Berth's throughput over nginx's: the ratio of the medians, and the lowest and
/// highest of the rounds' own ratios.
fn ratio_words(nginx: &Measured, berth: &Measured, ratios: &[f64]) -> String {
    let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios.iter().copied().fold(0.0, f64::max);
    format!(
        "{:.2}x nginx's throughput (medians; rounds {lowest:.2}-{highest:.2}x)",
        berth.rps / nginx.rps
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Three backends on 127.0.0.1 in the backends' nginx: keep-alive ones, or ones
/// that close every connection after one answer (`keepalive_timeout 0`, as the
/// demo image's server does).
fn backend_servers(ports: &[u16], closing: bool) -> String {
    let keep = if closing { "keepalive_timeout 0; " } else { "" };
    ports
        .iter()
        .map(|p| format!("server {{ listen 127.0.0.1:{p}; {keep}location / {{ root DIR; }} }}\n"))
        .collect()
}

/// One route for `host` to the backends at `ports`, as service `service_id`.
fn route(service_id: i64, service: &str, host: &str, ports: &[u16]) -> RouteInput {
    RouteInput {
        team_id: 1,
        service_id,
        service: service.into(),
        host: HostMatch::parse(Some(host)),
        prefix: "/".into(),
        strip: false,
        redirect: false,
        balance: Balance::LeastInFlight,
        backends: ports
            .iter()
            .enumerate()
            .map(|(i, p)| Backend {
                container_id: format!("{service}-{i}"),
                slot: i as u32 + 1,
                host: "bench".into(),
                authority: format!("127.0.0.1:{p}"),
            })
            .collect(),
        canary: None,
    }
}

fn main() {
    // Two sets of three backends: keep-alive ones, and ones that close every
    // connection (a new connection from the proxy per request).
    let keep: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let closing: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers = backend_servers(&keep, false) + &backend_servers(&closing, true);
    let _backends = Nginx::start("backends", "1", &servers, keep[0], &[]);

    // The same table for Berth's proxy and, exported, for nginx: `web` to the
    // keep-alive backends, `close` to the closing ones.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = Arc::new(Proxy::new(Settings::default()));
    proxy.update(vec![
        route(1, "web", "web.localhost", &keep),
        route(2, "close", "close.localhost", &closing),
    ]);
    let berth_port = free_port();
    let token = CancellationToken::new();
    {
        let (proxy, token) = (proxy.clone(), token.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", berth_port))
                .await
                .unwrap();
            server::proxy::server::serve(proxy, listener, token)
                .await
                .unwrap();
        });
    }
    let nginx_port = free_port();
    let conf = server::proxy::export::nginx_conf(
        &proxy.table(),
        &format!("127.0.0.1:{nginx_port}"),
        |_| true,
    );
    let _nginx = Nginx::start("proxy", "auto", &conf, nginx_port, &[]);
    std::thread::sleep(Duration::from_millis(300));

    for (regime, host, direct) in [
        ("keep-alive backends", "web.localhost", keep[0]),
        ("backends that close", "close.localhost", closing[0]),
    ] {
        let header = format!("Host: {host}");
        let cases = [
            ("direct to one backend", direct),
            ("nginx (worker_processes auto)", nginx_port),
            ("Berth's proxy", berth_port),
        ];
        let urls: Vec<String> = cases
            .iter()
            .map(|(_, port)| format!("http://127.0.0.1:{port}/healthz"))
            .collect();
        let (results, ratios) = measure(&urls, &[&header]);
        for ((name, _), r) in cases.iter().zip(&results) {
            println!(
                "proxy bench: {regime}: {name:30} {:>8.0} requests/s, p99 {:.2} ms{}",
                r.rps, r.p99, r.errors
            );
        }
        let (n, b) = (&results[1], &results[2]);
        println!(
            "proxy bench: {regime}: Berth's proxy is {}, p99 {:+.2} ms against nginx's (medians)",
            ratio_words(n, b, &ratios),
            b.p99 - n.p99
        );
    }

    https(&rt, &[route(1, "web", "localhost", &keep)], &token);
    token.cancel();
}

/// The HTTPS rows: nginx and Berth's proxy in front of the same backends (the
/// route for `localhost`), serving the same certificate.
///
/// TLS settings, the same for both: TLS 1.2 and 1.3 (wrk's OpenSSL 3 negotiates
/// 1.3), an ECDSA P-256 certificate, and resumption from a session cache on the
/// server only, no stateless tickets. nginx: `ssl_session_cache shared:SSL:10m`
/// (one cache for its workers) with `ssl_session_tickets off`. Berth's rustls, as
/// `server_config` builds it (rustls's defaults): an in-memory cache of 256
/// sessions shared by its threads, TLS 1.3 resumption through the 2 stateful
/// tickets (ids into that cache) it sends after a full handshake, and no ticket
/// encryption key (`NeverProducesTickets`). wrk keeps the session of a closed
/// connection for the next one (`SSL_clear`), so "new connections" are mostly
/// resumed handshakes, at both servers alike.
fn https(rt: &tokio::runtime::Runtime, routes: &[RouteInput], token: &CancellationToken) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());

    let nginx_port = free_port();
    let proxy = Arc::new(Proxy::new(Settings::default()));
    proxy.update(routes.to_vec());
    let conf = server::proxy::export::nginx_conf(
        &proxy.table(),
        &format!("127.0.0.1:{nginx_port} ssl"),
        |_| true,
    );
    let tls = "ssl_certificate DIR/cert.pem; ssl_certificate_key DIR/key.pem;\n\
               ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets off;\n";
    let _nginx = Nginx::start(
        "proxy-tls",
        "auto",
        &format!("{tls}{conf}"),
        nginx_port,
        &[("cert.pem", &cert_pem), ("key.pem", &key_pem)],
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let parsed = server::certs::pem::read(&cert_pem, &key_pem, "localhost", now).unwrap();
    let certs = server::certs::Certs::new(None);
    certs.serve(HashMap::from([("localhost".to_string(), parsed.key)]));
    let config = server::certs::server_config(Arc::new(certs));
    // Bound here, before wrk starts: connections wait in its backlog until the
    // proxy's threads accept.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let berth_port = listener.local_addr().unwrap().port();
    {
        let token = token.clone();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            server::proxy::server::serve_tls(proxy, listener, config, token)
                .await
                .unwrap();
        });
    }

    for (mode, headers) in [
        ("keep-alive", &[][..]),
        ("new connections", &["Connection: close"][..]),
    ] {
        let urls = [
            format!("https://localhost:{nginx_port}/healthz"),
            format!("https://localhost:{berth_port}/healthz"),
        ];
        let (r, ratios) = measure(&urls, headers);
        let (n, b) = (&r[0], &r[1]);
        println!(
            "proxy bench https {mode}: nginx {:.0} req/s p99 {:.2} ms{}; berth {:.0} req/s p99 {:.2} ms{} ({})",
            n.rps,
            n.p99,
            n.errors,
            b.rps,
            b.p99,
            b.errors,
            ratio_words(n, b, &ratios)
        );
    }
}
