//! Graceful shutdown of the real `berth` binary, as an operator meets it: with a
//! dashboard tab open (its live-update stream and an idle keep-alive connection)
//! and a replica's log followed, SIGTERM ends the process within 2 s, and every
//! open stream ends rather than being cut when the process dies.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{berth_command, cleanup_for, unix_socket_host};

/// The whole answer to a request sent with `Connection: close`: status, head and
/// body.
async fn fetch(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request(port, method, path, headers, body, "close").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status_of(head), head.to_string(), body.to_string())
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    connection: &str,
) -> String {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Connection: {connection}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        r.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Opens a long-lived GET and returns the connection once its head (200) is in.
async fn open(port: u16, path: &str, cookie: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request(port, "GET", path, &[("Cookie", cookie)], "", "keep-alive").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .expect("a head within 10 s")
            .unwrap();
        assert_eq!(n, 1, "{path}: closed before its head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert_eq!(status_of(&head), 200, "{path}: {head}");
    s
}

/// Whether the connection ends (EOF) within `within`, whatever it sends first.
async fn ends_within(mut s: TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    matches!(
        tokio::time::timeout(within, s.read_to_end(&mut sink)).await,
        Ok(Ok(_))
    )
}

/// The process; killed if the test ends before it does.
struct Berth(Option<Child>);

impl Drop for Berth {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Berth's log lines as they come (a thread reads its stdout to the end, so the
/// pipe never fills).
fn log_lines(child: &mut Child) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

#[tokio::test]
async fn sigterm_with_an_open_tab_and_a_followed_log_stops_within_2_s() {
    let host = unix_socket_host();
    let dir = server::testing::TempDir::new();
    let _cleanup = cleanup_for(&dir).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = berth_command(&dir, &host, port)
        .env("BERTH_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut berth = Berth(Some(child));
    let mut log = log_lines(berth.0.as_mut().unwrap());
    // It says when it serves (or its log ends: it exited).
    let serving = async {
        while let Some(line) = log.recv().await {
            if line.contains("Berth is serving") {
                return true;
            }
        }
        false
    };
    let serving = tokio::time::timeout(Duration::from_secs(30), serving).await;
    assert_eq!(serving, Ok(true), "berth did not serve within 30 s");
    let login = r#"{"username":"root","password":"root-password"}"#;
    let (status, head, body) = fetch(port, "POST", "/api/v1/auth/login", &[], login).await;
    assert_eq!(status, 200, "{body}");
    let cookie = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(": ")?;
            name.eq_ignore_ascii_case("set-cookie").then_some(value)
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();

    // A dashboard tab: its live-update stream ...
    let mut watch = open(port, "/api/v1/watch/services", &cookie).await;
    // ... which says each time the demo changes: its first replica, once it has a
    // container to read from, is asked again at each change.
    let logs = "/api/v1/services/demo/replicas/1/logs";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = fetch(port, "GET", logs, &[("Cookie", &cookie)], "").await;
        if status == 200 {
            break;
        }
        let mut change = [0u8; 256];
        let heard = tokio::time::timeout_at(deadline, watch.read(&mut change)).await;
        assert!(
            matches!(heard, Ok(Ok(n)) if n > 0),
            "no replica 1 within 60 s: {status} {body}"
        );
    }
    // ... and an idle keep-alive connection.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    idle.write_all(request(port, "GET", "/healthz", &[], "", "keep-alive").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // A followed log.
    let follow = open(port, &format!("{logs}?follow=true&tail=1"), &cookie).await;

    let mut child = berth.0.take().unwrap();
    let pid = child.id().to_string();
    let stop = Instant::now();
    let exited = tokio::task::spawn_blocking(move || {
        let status = child.wait();
        (status, stop.elapsed(), child)
    });
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let (watch_ended, follow_ended) = tokio::join!(
        ends_within(watch, Duration::from_secs(2)),
        ends_within(follow, Duration::from_secs(2)),
    );
    let Ok(exited) = tokio::time::timeout(Duration::from_secs(10), exited).await else {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("berth still runs 10 s after SIGTERM");
    };
    let (status, took, child) = exited.unwrap();
    berth.0 = Some(child);
    eprintln!("shutdown took {took:?}");
    let status = status.unwrap();
    assert!(status.success(), "berth exited with {status}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(watch_ended, "the live-update stream was not ended");
    assert!(follow_ended, "the followed log was not ended");
    drop(idle);
}
