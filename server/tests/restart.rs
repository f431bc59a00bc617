//! A Berth killed (SIGKILL) and started again under load through its proxy, as an
//! operator's crash meets it: requests fail only while no Berth listens; once the
//! new one answers, every request is answered by a replica. The new Berth loads
//! its route table (the replicas it finds, each checked once) before its proxy
//! accepts a connection, so none is answered from an empty table.

mod common;

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use common::{berth_command, cleanup_for, unix_socket_host};

/// The `berth` process; killed if the test ends first.
struct Berth(Child);

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &server::testing::TempDir, port: u16, proxy: u16, host: &common::TestHost) -> Berth {
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
enum Got {
    /// A replica's answer.
    Ok,
    /// No connection (nothing listens), or it was cut before an answer.
    NoAnswer,
    /// An answer that is not the replica's: Berth's proxy answered by itself.
    Status(u16),
}

/// `GET /` for the demo service on a new connection.
async fn one(proxy: u16) -> Got {
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
async fn until_served(proxy: u16, within: Duration) {
    common::until("the demo through the proxy", within, || async move {
        match one(proxy).await {
            Got::Ok => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn killed_and_started_again_fails_only_while_down() {
    let host = unix_socket_host();
    let dir = server::testing::TempDir::new();
    let _cleanup = cleanup_for(&dir).await;
    let (port, proxy) = (free_port(), free_port());

    let first = start(&dir, port, proxy, &host);
    until_served(proxy, Duration::from_secs(90)).await;

    // Load: 8 clients, a new connection per request, each outcome with when it
    // was sent.
    let stop = Arc::new(AtomicBool::new(false));
    // (sent, answered, what came)
    let outcomes: Arc<Mutex<Vec<(Instant, Instant, Got)>>> = Arc::default();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (stop, outcomes) = (stop.clone(), outcomes.clone());
        clients.spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(5));
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                let sent = Instant::now();
                let got = one(proxy).await;
                outcomes.lock().unwrap().push((sent, Instant::now(), got));
            }
        });
    }
    common::until("requests under load", Duration::from_secs(10), || {
        let outcomes = outcomes.clone();
        async move {
            let n = outcomes.lock().unwrap().len();
            if n >= 200 {
                Ok(())
            } else {
                Err(format!("{n} requests"))
            }
        }
    })
    .await;

    drop(first); // SIGKILL, and reaped
    let killed = Instant::now();
    let _second = start(&dir, port, proxy, &host);
    // Back when a request sent after the kill is answered by a replica (those
    // sent while the new Berth starts wait in its listener's queue).
    let back = common::until(
        "an answer after the restart",
        Duration::from_secs(60),
        || {
            let outcomes = outcomes.clone();
            async move {
                let o = outcomes.lock().unwrap();
                o.iter()
                    .filter(|(sent, _, got)| *sent > killed && *got == Got::Ok)
                    .map(|(_, answered, _)| *answered)
                    .min()
                    .ok_or_else(|| format!("{} requests, none answered since the kill", o.len()))
            }
        },
    )
    .await;
    // A good while of load after it.
    common::until("load after the restart", Duration::from_secs(30), || {
        let outcomes = outcomes.clone();
        async move {
            let o = outcomes.lock().unwrap();
            let n = o.iter().filter(|(sent, _, _)| *sent > back).count();
            if n >= 1000 {
                Ok(())
            } else {
                Err(format!("{n} requests since"))
            }
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    while clients.join_next().await.is_some() {}

    let outcomes = outcomes.lock().unwrap().clone();
    let proxy_answers: Vec<Got> = outcomes
        .iter()
        .map(|(_, _, got)| *got)
        .filter(|got| matches!(got, Got::Status(_)))
        .collect();
    let after: Vec<Got> = outcomes
        .iter()
        .filter(|(sent, _, got)| *sent >= back && *got != Got::Ok)
        .map(|(_, _, got)| *got)
        .collect();
    let down = outcomes
        .iter()
        .filter(|(_, _, got)| *got != Got::Ok)
        .count();
    eprintln!(
        "{} requests; {down} failed, all while down ({} ms from the kill to the first answer)",
        outcomes.len(),
        (back - killed).as_millis()
    );
    assert!(
        proxy_answers.is_empty(),
        "the proxy answered {} requests by itself (an empty or partial table): {:?}",
        proxy_answers.len(),
        &proxy_answers[..proxy_answers.len().min(10)]
    );
    assert!(
        after.is_empty(),
        "{} requests failed after Berth answered again: {:?}",
        after.len(),
        &after[..after.len().min(10)]
    );
}
