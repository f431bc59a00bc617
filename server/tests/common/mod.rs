//! Shared by the integration tests: one-shot requests against the router, a tiny
//! HTTP client for published ports, and the test hosts that `scripts/hosts` starts.
#![allow(dead_code)]

pub mod binary;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// How a test request proves who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// The value of the `berth_session` cookie.
    Cookie(String),
    Bearer(String),
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The session cookie this reply sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("berth_session="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// Sends one request through the router: method, path, credentials, optional JSON
/// body, extra headers.
pub async fn send(
    router: &axum::Router,
    method: &str,
    uri: &str,
    auth: &Auth,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut builder = Request::builder().method(method).uri(uri);
    match auth {
        Auth::None => {}
        Auth::Cookie(c) => {
            builder = builder.header("cookie", format!("berth_session={c}"));
            // As a browser on Berth's own page would send it, unless the test
            // says where the request comes from itself.
            let placed = headers.iter().any(|(k, _)| {
                matches!(
                    k.to_ascii_lowercase().as_str(),
                    "host" | "origin" | "referer"
                )
            });
            if !placed {
                builder = builder
                    .header("host", "berth.test")
                    .header("origin", "http://berth.test");
            }
        }
        Auth::Bearer(t) => builder = builder.header("authorization", format!("Bearer {t}")),
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    oneshot(router, builder.body(body).expect("a request")).await
}

/// One request through the router, its answer read whole.
pub async fn oneshot(router: &axum::Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Logs in through the API and returns the session cookie.
pub async fn login(router: &axum::Router, username: &str, password: &str) -> String {
    let reply = send(
        router,
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        Some(serde_json::json!({ "username": username, "password": password })),
        &[],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "login as {username}: {}",
        reply.text
    );
    reply
        .session_cookie()
        .expect("login sets the session cookie")
}

/// Sends one request without credentials and returns the status and body.
pub async fn call(router: &axum::Router, method: &str, uri: &str) -> (StatusCode, String) {
    let reply = send(router, method, uri, &Auth::None, None, &[]).await;
    (reply.status, reply.text)
}

/// `call` for JSON answers.
pub async fn call_json(
    router: &axum::Router,
    method: &str,
    uri: &str,
) -> (StatusCode, serde_json::Value) {
    let reply = send(router, method, uri, &Auth::None, None, &[]).await;
    let json = reply.json();
    (reply.status, json)
}

/// A plain HTTP/1.0 GET over TCP, for published ports (loopback only).
pub async fn http_get(host: &str, port: u16, path: &str) -> std::io::Result<(u16, String)> {
    assert!(
        host.starts_with("127."),
        "tests only talk to loopback, not {host}"
    );
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// `http_get` until it answers 200 or `within` passes.
pub async fn http_get_ok(host: &str, port: u16, path: &str, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match http_get(host, port, path).await {
            Ok((200, body)) => return body,
            other if tokio::time::Instant::now() >= deadline => {
                panic!("GET http://{host}:{port}{path} did not answer 200 within {within:?}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One test host: a Docker daemon of its own, publishing ports on its own address.
#[derive(Debug, Clone)]
pub struct TestHost {
    pub name: String,
    pub endpoint: String,
    pub address: String,
}

/// The test hosts from `BERTH_TEST_HOSTS` (`name=endpoint@address,...`, as
/// `scripts/hosts env` prints it), or the three that `scripts/hosts up` starts.
pub fn test_hosts() -> Vec<TestHost> {
    let spec = std::env::var("BERTH_TEST_HOSTS").unwrap_or_else(|_| {
        (1..=3)
            .map(|n| {
                format!(
                    "h{n}=unix:///run/berth-hosts/h{n}/docker.sock@127.0.0.{}",
                    10 + n
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    });
    spec.split(',')
        .map(|item| {
            let (name, rest) = item.split_once('=').expect("name=endpoint@address");
            let (endpoint, address) = rest.rsplit_once('@').expect("endpoint@address");
            TestHost {
                name: name.to_string(),
                endpoint: endpoint.to_string(),
                address: address.to_string(),
            }
        })
        .collect()
}

/// The local registry's copy of a demo image.
pub fn demo_image(tag: &str) -> String {
    format!("127.0.0.1:5000/berth-demo:{tag}")
}

fn hosts_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/hosts")
}

/// Runs `scripts/hosts` with `args` (`stop 3`, `start 3`); panics when it fails.
pub fn script(args: &[&str]) {
    let out = std::process::Command::new(hosts_script())
        .args(args)
        .output()
        .expect("running scripts/hosts");
    assert!(
        out.status.success(),
        "scripts/hosts {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a stopped test host again when dropped, so a failing test leaves the
/// hosts as it found them.
pub struct Restart(pub &'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = std::process::Command::new(hosts_script())
            .args(["start", self.0])
            .output();
    }
}

/// How often the tests' Berth heartbeats the test hosts.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// A fresh Berth as admin `root` with the test hosts registered and its loop
/// running (replicas of a lost host move after `host_grace`, when given), and the
/// guard that removes what it made on the hosts (its `.0` is the instance id).
pub async fn cluster(
    host_grace: Option<std::time::Duration>,
) -> (server::testing::TestState, Auth, Cleanup) {
    let (t, auth) = admin().await;
    let cleanup = Cleanup(t.state.store.instance_id().await.unwrap());
    add_test_hosts(&t, &auth).await;
    if let Some(host_grace) = host_grace {
        t.state.reconciler.configure(server::reconciler::Settings {
            host_grace,
            interval: std::time::Duration::from_secs(5),
        });
    }
    t.spawn_background(HEARTBEAT);
    (t, auth, cleanup)
}

/// Berth's proxy on a free loopback port, until the state shuts down; its port.
pub async fn serve_proxy(t: &server::testing::TestState) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(server::proxy::server::serve(
        t.state.proxy.clone(),
        listener,
        t.state.shutdown.clone(),
    ));
    port
}

/// A successful call's JSON answer (empty answers are `null`); fails the test with
/// the answer otherwise.
pub async fn ok_json(
    t: &server::testing::TestState,
    auth: &Auth,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let reply = send(&t.router(), method, uri, auth, body, &[]).await;
    assert!(
        reply.status.is_success(),
        "{method} {uri}: {} {}",
        reply.status,
        reply.text
    );
    if reply.text.is_empty() {
        serde_json::Value::Null
    } else {
        reply.json()
    }
}

/// The demo image's spec at `tag`, health-checked on /healthz every 500 ms, with
/// `extra`'s keys (`update`, `volumes`…) added.
pub fn demo_spec(tag: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "image": demo_image(tag), "port": 8080,
        "health": {"kind": "http", "path": "/healthz", "interval_ms": 500, "retries": 2, "start_period_ms": 1000}
    });
    if let serde_json::Value::Object(extra) = extra {
        spec.as_object_mut().unwrap().extend(extra);
    }
    spec
}

/// A fresh state with an admin `root`, logged in.
pub async fn admin() -> (server::testing::TestState, Auth) {
    let t = server::testing::TestState::new(&[]).await;
    t.add_user("root", "root-password", domain::wire::UserRole::Admin)
        .await;
    let auth = Auth::Cookie(login(&t.router(), "root", "root-password").await);
    (t, auth)
}

/// Registers the test hosts through the API (labelled `zone=a`); fails with the
/// command that starts them when they are not up.
pub async fn add_test_hosts(t: &server::testing::TestState, auth: &Auth) {
    for h in test_hosts() {
        let reply = send(
            &t.router(),
            "POST",
            "/api/v1/hosts",
            auth,
            Some(serde_json::json!({"name": h.name, "endpoint": h.endpoint, "address": h.address, "labels": {"zone": "a"}})),
            &[],
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "test host {} does not register ({}); start the test hosts with `scripts/hosts up 3` (make test does it)",
            h.name,
            reply.text
        );
        let host = reply.json();
        assert_eq!(host["state"], "ready");
        assert_eq!(host["facts"]["api_version"], "1.41");
        assert_eq!(host["address"], h.address.as_str());
        assert!(host["facts"]["cpus"].as_i64().unwrap() >= 1);
    }
}

/// Removes every container and volume of the Berth with this instance id from the
/// test hosts when dropped, whatever happened in the test.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for h in test_hosts() {
            let filter = format!("label=berth.owner={}", self.0);
            let Ok(out) = std::process::Command::new("docker")
                .env("DOCKER_HOST", &h.endpoint)
                .args(["ps", "-aq", "--filter", &filter])
                .output()
            else {
                continue;
            };
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = std::process::Command::new("docker")
                    .env("DOCKER_HOST", &h.endpoint)
                    .arg("rm")
                    .arg("-f")
                    .args(&ids)
                    .output();
            }
            // Then the volumes they held.
            let Ok(out) = std::process::Command::new("docker")
                .env("DOCKER_HOST", &h.endpoint)
                .args(["volume", "ls", "-q", "--filter", &filter])
                .output()
            else {
                continue;
            };
            let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !names.is_empty() {
                let _ = std::process::Command::new("docker")
                    .env("DOCKER_HOST", &h.endpoint)
                    .args(["volume", "rm", "-f"])
                    .args(&names)
                    .output();
            }
        }
    }
}

/// The `docker` command line against a test host.
pub fn docker(host: &TestHost, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", &host.endpoint)
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?} on {} failed: {}",
        host.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// Traffic through the proxy

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET through the proxy with `host`; the status and body.
pub async fn get(
    c: &HttpClient,
    port: u16,
    host: &str,
    path: &str,
) -> Result<(u16, String), String> {
    let req = hyper::Request::get(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), c.request(req))
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the body broke off: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Requests sent over and over by a few workers until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    /// When the first and the last request failed.
    failed_at: Arc<Mutex<Option<(std::time::Instant, std::time::Instant)>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, host: &str, path: &str, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let failed_at = Arc::new(Mutex::new(None));
        let workers = (0..workers)
            .map(|_| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                let failed_at = failed_at.clone();
                let (host, path) = (host.to_string(), path.to_string());
                tokio::spawn(async move {
                    let c = client();
                    while !stop.load(Ordering::Relaxed) {
                        match get(&c, port, &host, &path).await {
                            Ok((200, _)) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                failures.lock().unwrap().push(format!("{other:?}"));
                                let now = std::time::Instant::now();
                                let mut at = failed_at.lock().unwrap();
                                *at = Some((at.map_or(now, |(first, _)| first), now));
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            failed_at,
            workers,
        }
    }

    /// How many requests were answered 200 so far.
    pub fn answered(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Waits (30 s at most) until `more` requests were answered 200 since
    /// `answered` had been.
    pub async fn answers_after(&self, answered: u64, more: u64) {
        until("answers", Duration::from_secs(30), || async {
            let n = self.answered();
            if n >= answered + more {
                Ok(())
            } else {
                Err(format!("{} answered since", n - answered))
            }
        })
        .await
    }

    /// When the first and the last request failed, if one did.
    pub fn failed_at(&self) -> Option<(std::time::Instant, std::time::Instant)> {
        *self.failed_at.lock().unwrap()
    }

    pub async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            let _ = w.await;
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

/// Waits for a condition with a deadline: `check` answers `Ok(value)` once it
/// holds, or `Err(what it sees)` to be asked again (every 100 ms) until `within`
/// has passed; then the test fails with `what` and the last thing seen.
pub async fn until<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    // Asked again on each tick until the deadline, never faster.
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(100));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match check().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last seen: {seen}")
            }
            Err(_) => {}
        }
    }
}

/// A test host Berth reaches on a unix socket (the real-binary tests use one).
pub fn unix_socket_host() -> TestHost {
    test_hosts()
        .into_iter()
        .find(|h| h.endpoint.starts_with("unix://"))
        .expect("a test host on a unix socket")
}

/// The instance id of `dir`'s database, made first, so that what a `berth`
/// process started on it makes is removed whatever happens in the test.
pub async fn cleanup_for(dir: &server::testing::TempDir) -> Cleanup {
    let store = server::store::Store::open(&dir.db_url()).await.unwrap();
    store.migrate().await.unwrap();
    let cleanup = Cleanup(store.instance_id().await.unwrap());
    store.close().await;
    cleanup
}

/// The real `berth` binary on `dir`'s database with `host` as its engine, the
/// dashboard on 127.0.0.1:`port`, the first admin `root`/`root-password` and the
/// demo service; TLS and ACME off, the proxy off unless the caller says.
pub fn berth_command(
    dir: &server::testing::TempDir,
    host: &TestHost,
    port: u16,
) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("BERTH_DATABASE_URL", dir.db_url())
        .env("BERTH_DATA_DIR", &dir.0)
        .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "BERTH_ENGINES",
            format!("{}={}@{}", host.name, host.endpoint, host.address),
        )
        .env("BERTH_PROXY_LISTEN", "off")
        .env("BERTH_PROXY_TLS_LISTEN", "off")
        .env("BERTH_ACME_DIRECTORY", "off")
        .env("BERTH_ADMIN_USER", "root")
        .env("BERTH_ADMIN_PASSWORD", "root-password")
        .env("BERTH_DEMO", "true");
    c
}

/// Teams `web` (alice, an operator) and `db` (bob, an operator) and an admin
/// `root`, each logged in: (root, alice, bob).
pub async fn web_and_db(t: &server::testing::TestState) -> (Auth, Auth, Auth) {
    use domain::wire::{TeamRole, UserRole};
    let web = t.add_team("web").await;
    let db = t.add_team("db").await;
    t.add_user("root", "password-1", UserRole::Admin).await;
    for (name, team) in [("alice", web), ("bob", db)] {
        let id = t.add_user(name, "password-1", UserRole::Member).await;
        t.add_member(team, id, TeamRole::Operator).await;
    }
    let router = t.router();
    (
        Auth::Cookie(login(&router, "root", "password-1").await),
        Auth::Cookie(login(&router, "alice", "password-1").await),
        Auth::Cookie(login(&router, "bob", "password-1").await),
    )
}
