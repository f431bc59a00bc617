//! A Berth killed (SIGKILL) and started again under load through its proxy, as an
//! operator's crash meets it: requests fail only while no Berth listens; once the
//! new one answers, every request is answered by a replica. The new Berth loads
//! its route table (the replicas it finds, each checked once) before its proxy
//! accepts a connection, so none is answered from an empty table.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::binary::{free_port, start, until_served, Got, ProxyLoad};
use common::{cleanup_for, unix_socket_host};

#[tokio::test]
async fn killed_and_started_again_fails_only_while_down() {
    let host = unix_socket_host();
    let dir = server::testing::TempDir::new();
    let _cleanup = cleanup_for(&dir).await;
    let (port, proxy) = (free_port(), free_port());

    let first = start(&dir, port, proxy, &host);
    until_served(proxy, Duration::from_secs(90)).await;

    let load = ProxyLoad::start(proxy);
    load.until_more(200, Instant::now(), Duration::from_secs(10))
        .await;

    drop(first); // SIGKILL, and reaped
    let killed = Instant::now();
    let _second = start(&dir, port, proxy, &host);
    // Back when a request sent after the kill is answered by a replica (those
    // sent while the new Berth starts wait in its listener's queue).
    let back = common::until(
        "an answer after the restart",
        Duration::from_secs(60),
        || async {
            let o = load.outcomes();
            o.iter()
                .filter(|o| o.sent > killed && o.got == Got::Ok)
                .map(|o| o.answered)
                .min()
                .ok_or_else(|| format!("{} requests, none answered since the kill", o.len()))
        },
    )
    .await;
    // A good while of load after it.
    load.until_more(1000, back, Duration::from_secs(30)).await;
    let outcomes = load.finish().await;
    let proxy_answers: Vec<Got> = outcomes
        .iter()
        .map(|o| o.got)
        .filter(|got| matches!(got, Got::Status(_)))
        .collect();
    let after: Vec<Got> = outcomes
        .iter()
        .filter(|o| o.sent >= back && o.got != Got::Ok)
        .map(|o| o.got)
        .collect();
    let down = outcomes.iter().filter(|o| o.got != Got::Ok).count();
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
