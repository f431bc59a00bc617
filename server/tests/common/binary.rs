//! The real `berth` binary in tests: started on a test folder's database, its
//! proxy asked through, its API called with a session; killed when dropped.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::berth_command;

/// The `berth` process; killed if the test ends first.
pub struct Berth(pub Child);

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(
    dir: &server::testing::TempDir,
    port: u16,
    proxy: u16,
    host: &super::TestHost,
) -> Berth {
    let child = berth_command(dir, host, port)
        .env("BERTH_PROXY_LISTEN", format!("127.0.0.1:{proxy}"))
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Berth(child)
}

/// What one request through the proxy got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// A replica's answer.
    Ok,
    /// No connection (nothing listens), or it was cut before an answer.
    NoAnswer,
    /// An answer that is not the replica's: Berth's proxy answered by itself.
    Status(u16),
}

/// `GET /` for the demo service on a new connection.
pub async fn one(proxy: u16) -> Got {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", proxy)).await.ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw);
        text.split_whitespace().nth(1)?.parse::<u16>().ok()
    };
    match tokio::time::timeout(Duration::from_secs(30), attempt).await {
        Ok(Some(200)) => Got::Ok,
        Ok(Some(code)) => Got::Status(code),
        _ => Got::NoAnswer,
    }
}

/// Waits until the demo answers through the proxy, with a deadline.
pub async fn until_served(proxy: u16, within: Duration) {
    super::until("the demo through the proxy", within, || async move {
        match one(proxy).await {
            Got::Ok => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// One API call to a `berth` on 127.0.0.1:`port` (a new connection): the status
/// and the body as JSON (`Null` when it is not). `cookie` is the session's; a
/// change carries the `Origin` the CSRF guard asks of a cookie's caller.
pub async fn api(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value, Option<String>) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = cookie {
        head.push_str(&format!("Cookie: berth_session={c}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let session = head.lines().find_map(|l| {
        let l = l
            .strip_prefix("set-cookie: ")
            .or_else(|| l.strip_prefix("Set-Cookie: "))?;
        let v = l.strip_prefix("berth_session=")?;
        Some(v.split(';').next()?.to_string())
    });
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, json, session)
}

/// A session of the first admin (`root`) on a `berth` at `port`.
pub async fn login(port: u16) -> String {
    let input = serde_json::json!({"username": "root", "password": "root-password"});
    let (status, body, session) = api(port, "POST", "/api/v1/auth/login", None, Some(&input)).await;
    assert_eq!(status, 200, "login: {body}");
    session.expect("a session cookie")
}

/// What `/readyz` says of the instance at `port`: whether it leads (`None`
/// while it does not answer ready).
pub async fn leads(port: u16) -> Option<bool> {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let body = text.split_once("\r\n\r\n")?.1.to_string();
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["leader"].as_bool()
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .ok()
        .flatten()
}

/// One request of a [`ProxyLoad`]: when it was sent and answered, and what came.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub sent: Instant,
    pub answered: Instant,
    pub got: Got,
}

/// Requests for the demo through a proxy by 8 clients (a new connection per
/// request, one every 5 ms each) until finished.
pub struct ProxyLoad {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    clients: tokio::task::JoinSet<()>,
}

impl ProxyLoad {
    pub fn start(proxy: u16) -> ProxyLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (stop, outcomes) = (stop.clone(), outcomes.clone());
            clients.spawn(async move {
                let mut pace = tokio::time::interval(Duration::from_millis(5));
                while !stop.load(Ordering::Relaxed) {
                    pace.tick().await;
                    let sent = Instant::now();
                    let got = one(proxy).await;
                    let answered = Instant::now();
                    outcomes.lock().unwrap().push(Outcome {
                        sent,
                        answered,
                        got,
                    });
                }
            });
        }
        ProxyLoad {
            stop,
            outcomes,
            clients,
        }
    }

    /// Every request so far.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().unwrap().clone()
    }

    /// Waits until `n` requests were sent after `since`.
    pub async fn until_more(&self, n: usize, since: Instant, within: Duration) {
        super::until("requests under load", within, || async move {
            let seen = self.outcomes().iter().filter(|o| o.sent > since).count();
            if seen >= n {
                Ok(())
            } else {
                Err(format!("{seen} requests"))
            }
        })
        .await
    }

    /// Stops the clients; every request.
    pub async fn finish(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        while self.clients.join_next().await.is_some() {}
        self.outcomes()
    }
}
