//! The proxy's connections to replicas: kept and reused while a replica keeps
//! them open, opened anew when it closes them (after each answer, or while they
//! sat idle), and a request of any size sent to another replica when one cannot
//! be reached.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A keep-alive backend on 127.0.0.1 answering `GET`s with its address; with
/// `close_idle`, it closes each connection right after answering (without
/// saying so), as a replica whose keep-alive timeout passed. Returns its address
/// and how many connections it has accepted.
async fn keep_alive_backend(close_idle: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let me = addr.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let me = me.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: {me}\r\n\r\n{me}",
                        me.len()
                    );
                    if s.write_all(answer.as_bytes()).await.is_err() || close_idle {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Reads one answer (head and a `Content-Length` body) from `s`; its status.
async fn read_answer(s: &mut tokio::net::TcpStream) -> u16 {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "the proxy closed");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.unwrap();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `n` requests one after the other on one client connection; each answer's
/// status.
async fn in_a_row(port: u16, host: &str, n: usize) -> Vec<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..n {
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        statuses.push(read_answer(&mut s).await);
    }
    statuses
}

#[tokio::test]
async fn a_kept_connection_serves_many_requests() {
    let (addr, accepted) = keep_alive_backend(false).await;
    let (_p, port, _t) = proxy(
        vec![route("shop", "shop.localhost", "/", false, &[addr])],
        Settings::default(),
    )
    .await;
    assert_eq!(in_a_row(port, "shop.localhost", 50).await, vec![200; 50]);
    // One request at a time: each proxy thread opens at most one connection.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opened = accepted.load(Ordering::SeqCst);
    assert!(opened <= threads, "{opened} connections for 50 requests");
}

#[tokio::test]
async fn connections_the_replica_closes_are_opened_anew() {
    // Closed after each answer without a word: the kept connection is found
    // closed (or fails before the request goes out) and a new one takes it.
    let (silent, silent_accepted) = keep_alive_backend(true).await;
    // Closed after each answer with `Connection: close`.
    let closing = backend(Kind::Echo).await;
    let (_p, port, _t) = proxy(
        vec![
            route("quiet", "quiet.localhost", "/", false, &[silent]),
            route("shop", "shop.localhost", "/", false, &[closing]),
        ],
        Settings::default(),
    )
    .await;
    assert_eq!(in_a_row(port, "quiet.localhost", 30).await, vec![200; 30]);
    assert_eq!(silent_accepted.load(Ordering::SeqCst), 30);
    assert_eq!(in_a_row(port, "shop.localhost", 30).await, vec![200; 30]);
}

#[tokio::test]
async fn a_large_body_goes_to_another_replica_when_one_refuses() {
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
    // Larger than any buffer: nothing of it is read before a replica is reached.
    let body = "x".repeat(1 << 20);
    for _ in 0..4 {
        let raw = format!(
            "POST /upload HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, head, echoed) = request(port, &raw).await;
        assert_eq!(status, 200, "{head}");
        assert!(head.contains(&live), "{head}");
        assert!(echoed.ends_with(&body), "the body did not arrive whole");
    }
    let v = p.view(|_| true);
    let dead_view = v.routes[0]
        .backends
        .iter()
        .find(|b| b.address == dead)
        .unwrap();
    assert_eq!(dead_view.state, "ejected");
}

#[tokio::test]
async fn an_answer_before_its_upload_ends_holds_up_no_other_request() {
    let (addr, _) = keep_alive_backend(false).await;
    let (_p, port, _t) = proxy(
        vec![route("shop", "shop.localhost", "/", false, &[addr])],
        Settings::default(),
    )
    .await;
    // An upload that stalls after its first bytes, which the replica answers
    // at once: its connection is still sending when the answer has ended.
    let mut uploader = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    uploader
        .write_all(
            b"POST / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 1000000\r\n\r\nxxxx",
        )
        .await
        .unwrap();
    assert_eq!(read_answer(&mut uploader).await, 200);
    // Whichever proxy thread takes them, other requests do not wait for it.
    for _ in 0..4 {
        let answered =
            tokio::time::timeout(Duration::from_secs(3), in_a_row(port, "shop.localhost", 1)).await;
        assert_eq!(
            answered.ok(),
            Some(vec![200]),
            "a request waited for the upload"
        );
    }
}
