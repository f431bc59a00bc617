//! Slow and idle clients on 127.0.0.1 (no Docker): 500 connections that send
//! nothing, or half a request, to the dashboard and to the proxy. Both still
//! answer a real request within a second, the idle ones are closed after the
//! header timeout, and past the connection cap the next clients wait for a free
//! place instead of taking the server down.

use std::time::{Duration, Instant};

use server::http::Limits;
use server::testing::TestState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const IDLE: usize = 500;
const TIMEOUT: Duration = Duration::from_secs(1);

/// The dashboard and the proxy of one Berth on free loopback ports, with the
/// header (and idle) timeout of the test and `cap` connections each.
async fn serve(cap: usize) -> (TestState, u16, u16) {
    let t = TestState::new(&[]).await;
    let limits = Limits {
        header_timeout: TIMEOUT,
        max_connections: cap,
    };
    let dashboard = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dash_port = dashboard.local_addr().unwrap().port();
    tokio::spawn(server::http::serve_router(
        dashboard,
        t.router(),
        limits,
        t.state.shutdown.clone(),
    ));
    let mut state = t.state.clone();
    state.proxy = std::sync::Arc::new(server::proxy::Proxy::new(server::proxy::Settings {
        limits,
        ..Default::default()
    }));
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    tokio::spawn(server::proxy::server::serve(
        state.proxy.clone(),
        proxy,
        t.state.shutdown.clone(),
    ));
    (t, dash_port, proxy_port)
}

/// `n` connections that send nothing, or the first half of a request's head
/// (every other one).
async fn idle(port: u16, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET / HTTP/1.1\r\nHost: slow.loris\r\nX-Wait: ")
                .await
                .unwrap();
        }
        out.push(s);
    }
    out
}

/// One real request on a new connection: its status line and how long it took.
async fn real(port: u16, host: &str, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    (
        text.lines().next().unwrap_or("").to_string(),
        started.elapsed(),
    )
}

/// Whether the server closed each connection within `within`.
async fn all_closed(conns: Vec<TcpStream>, within: Duration) -> usize {
    let closing = conns.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(within, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    });
    futures::future::join_all(closing)
        .await
        .into_iter()
        .filter(|c| *c)
        .count()
}

#[tokio::test]
async fn idle_clients_neither_block_nor_stay() {
    let (_t, dash, proxy) = serve(2048).await;
    let dash_idle = idle(dash, IDLE).await;
    let proxy_idle = idle(proxy, IDLE).await;
    // Real requests are answered at once, beside 1000 idle connections.
    let (status, took) = real(dash, "berth.test", "/healthz").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(took < Duration::from_secs(1), "the dashboard took {took:?}");
    let (status, took) = real(proxy, "nobody.test", "/").await;
    assert!(status.contains(" 404 "), "{status}");
    assert!(took < Duration::from_secs(1), "the proxy took {took:?}");
    eprintln!("a request beside {} idle connections: {took:?}", 2 * IDLE);
    // The idle ones are closed once the header timeout passes.
    let closed = all_closed(dash_idle, TIMEOUT * 4).await;
    assert_eq!(closed, IDLE, "dashboard connections closed");
    let closed = all_closed(proxy_idle, TIMEOUT * 4).await;
    assert_eq!(closed, IDLE, "proxy connections closed");
}

#[tokio::test]
async fn a_kept_alive_connection_without_a_next_request_is_closed() {
    let (_t, dash, _proxy) = serve(64).await;
    let mut s = TcpStream::connect(("127.0.0.1", dash)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // No next request: closed after the timeout, not kept for ever.
    let started = Instant::now();
    assert_eq!(all_closed(vec![s], TIMEOUT * 4).await, 1);
    assert!(started.elapsed() >= TIMEOUT / 2, "{:?}", started.elapsed());
}

#[tokio::test]
async fn past_the_cap_clients_wait_for_a_free_place() {
    let cap = 20;
    let (_t, dash, _proxy) = serve(cap).await;
    let hogs = idle(dash, cap).await;
    // Every place is taken: the next request waits until the idle ones are
    // closed by the timeout, and is answered then.
    let (status, took) = real(dash, "berth.test", "/healthz").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(took >= TIMEOUT / 2, "it should have waited: {took:?}");
    assert!(took < TIMEOUT * 4, "{took:?}");
    drop(hogs);
}
