//! Two real `berth` instances on one database and one real Docker host: one
//! leads, both serve the proxy. The leader killed during a rollout: the other
//! takes the lead and finishes it with exactly the wanted containers, and no
//! request through its proxy fails the whole time. A leader stopped gracefully
//! hands over at once; a leader paused past its lease (SIGSTOP) is replaced, and
//! once woken (SIGCONT) writes nothing. On SQLite in `make test`'s first run,
//! on PostgreSQL (with LISTEN/NOTIFY) in its second.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::binary::{api, free_port, leads, login, start, until_served, Berth, Got, ProxyLoad};
use common::{cleanup_for, docker, unix_socket_host, TestHost};

/// How the test database's leaders hand over without a lease running out:
/// PostgreSQL tells the others at once; SQLite's find out on their next try.
fn handover_limit() -> Duration {
    match std::env::var("BERTH_TEST_DATABASE") {
        Ok(url) if !url.is_empty() => Duration::from_secs(1),
        _ => Duration::from_secs(3),
    }
}

/// Waits until the instance at `port` says it leads (or follows), with a deadline;
/// returns when it did.
async fn until_leads(port: u16, lead: bool, within: Duration) -> Instant {
    let what = if lead { "leads" } else { "follows" };
    common::until(
        &format!("the instance on {port} {what}"),
        within,
        || async move {
            match leads(port).await {
                Some(l) if l == lead => Ok(Instant::now()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

/// The demo's containers on the host (all states): their revisions.
fn demo_revisions(host: &TestHost, owner: &str) -> Vec<String> {
    let out = docker(
        host,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label=berth.owner={owner}"),
            "--filter",
            "label=berth.service=demo",
            "--format",
            "{{.Label \"berth.revision\"}} {{.State}}",
        ],
    );
    let mut all: Vec<String> = out.lines().map(str::to_string).collect();
    all.sort();
    all
}

/// Waits until the demo runs exactly `want` (sorted "revision state" lines).
async fn until_exactly(host: &TestHost, owner: &str, want: &[&str], within: Duration) {
    common::until("exactly the wanted containers", within, || async move {
        let got = demo_revisions(host, owner);
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await
}

/// Checks for `window` that the demo runs exactly `want` all along.
async fn stays(host: &TestHost, owner: &str, want: &[&str], window: Duration) {
    let from = Instant::now();
    while from.elapsed() < window {
        assert_eq!(demo_revisions(host, owner), want);
        tokio::task::yield_now().await;
    }
}

fn signal(berth: &Berth, sig: &str) {
    let pid = berth.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// Two instances: A leads and serves, B follows and serves A's routes.
async fn two(
    dir: &server::testing::TempDir,
    host: &TestHost,
) -> ((Berth, u16, u16), (Berth, u16, u16)) {
    let (pa, qa, pb, qb) = (free_port(), free_port(), free_port(), free_port());
    let a = start(dir, pa, qa, host);
    until_leads(pa, true, Duration::from_secs(60)).await;
    until_served(qa, Duration::from_secs(90)).await;
    let b = start(dir, pb, qb, host);
    until_leads(pb, false, Duration::from_secs(60)).await;
    until_served(qb, Duration::from_secs(30)).await;
    ((a, pa, qa), (b, pb, qb))
}

#[tokio::test]
async fn a_killed_leader_is_replaced_and_its_rollout_finished_with_no_failed_request() {
    let host = unix_socket_host();
    let dir = server::testing::TempDir::new();
    let cleanup = cleanup_for(&dir).await;
    let ((a, _, _), (_b, pb, qb)) = two(&dir, &host).await;
    until_exactly(
        &host,
        &cleanup.0,
        &["1 running"; 3],
        Duration::from_secs(60),
    )
    .await;

    let load = ProxyLoad::start(qb);
    let within = Duration::from_secs(60);
    load.until_more(200, Instant::now(), within).await;

    // A rollout asked of the follower: the leader hears of it and starts it.
    let session = login(pb).await;
    let (status, demo, _) = api(pb, "GET", "/api/v1/services/demo", Some(&session), None).await;
    assert_eq!(status, 200, "{demo}");
    let mut spec = demo["service"]["spec"].clone();
    spec["env"] = serde_json::json!({"ROUND": "2"});
    let deploy = serde_json::json!({"spec": spec, "message": "round 2"});
    let path = "/api/v1/services/demo/deploy";
    let (status, body, _) = api(pb, "POST", path, Some(&session), Some(&deploy)).await;
    assert!(status == 200 || status == 202, "{status} {body}");

    // Killed once its first new replica runs, in the middle of the rollout.
    common::until("the rollout under way", Duration::from_secs(60), || async {
        let revs = demo_revisions(&host, &cleanup.0);
        if revs.iter().any(|r| r.starts_with("2 ")) && revs.iter().any(|r| r.starts_with("1 ")) {
            Ok(())
        } else {
            Err(format!("{revs:?}"))
        }
    })
    .await;
    drop(a); // SIGKILL, reaped
    let killed = Instant::now();
    let took_over = until_leads(pb, true, Duration::from_secs(20)).await;
    let failover = took_over - killed;

    until_exactly(
        &host,
        &cleanup.0,
        &["2 running"; 3],
        Duration::from_secs(90),
    )
    .await;
    let done = Instant::now();
    load.until_more(300, done, within).await;
    let outcomes = load.finish().await;
    let total = outcomes.len();
    let failed: Vec<Got> = outcomes
        .iter()
        .map(|o| o.got)
        .filter(|g| *g != Got::Ok)
        .collect();
    eprintln!(
        "failover after SIGKILL: {} ms; {total} requests through the survivor's proxy, {} failed",
        failover.as_millis(),
        failed.len()
    );
    assert!(
        failover <= Duration::from_secs(15),
        "the killed leader was replaced after {failover:?}"
    );
    assert!(
        failed.is_empty(),
        "{} of {total} requests failed through the survivor: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    // Still exactly the wanted containers for a while: no duplicate.
    stays(&host, &cleanup.0, &["2 running"; 3], Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_graceful_leader_hands_over_at_once_and_a_paused_one_writes_nothing_when_it_wakes() {
    let host = unix_socket_host();
    let dir = server::testing::TempDir::new();
    let cleanup = cleanup_for(&dir).await;
    let ((a, _, _), (b, pb, _)) = two(&dir, &host).await;

    // Graceful: SIGTERM, and B leads within the handover limit.
    signal(&a, "-TERM");
    let stopped = Instant::now();
    let took_over = until_leads(pb, true, Duration::from_secs(15)).await;
    let handover = took_over - stopped;
    drop(a);

    // A new follower beside B.
    let (pc, qc) = (free_port(), free_port());
    let _c = start(&dir, pc, qc, &host);
    until_leads(pc, false, Duration::from_secs(60)).await;
    until_served(qc, Duration::from_secs(30)).await;

    // B paused past its lease: C takes the lead.
    signal(&b, "-STOP");
    let paused = Instant::now();
    let took_over = until_leads(pc, true, Duration::from_secs(20)).await;
    let replaced = took_over - paused;

    // The service changes while B sleeps: C scales it to 2.
    let session = login(pc).await;
    let scale = serde_json::json!({"replicas": 2});
    let path = "/api/v1/services/demo/scale";
    let (status, body, _) = api(pc, "POST", path, Some(&session), Some(&scale)).await;
    assert!(status == 200 || status == 202, "{status} {body}");
    until_exactly(
        &host,
        &cleanup.0,
        &["1 running"; 2],
        Duration::from_secs(30),
    )
    .await;
    let store = server::store::Store::open(&dir.db_url()).await.unwrap();
    let before = store.published_state(0).await.unwrap().unwrap();
    let lease = store.lease().await.unwrap();

    // B wakes: it finds it no longer leads; its loops wrote nothing meanwhile.
    signal(&b, "-CONT");
    until_leads(pb, false, Duration::from_secs(10)).await;
    let woke = Instant::now();
    while woke.elapsed() < Duration::from_secs(3) {
        assert_eq!(demo_revisions(&host, &cleanup.0), ["1 running"; 2]);
        let now = store.published_state(0).await.unwrap().unwrap();
        assert_eq!(now.term, before.term, "a state published by another term");
        assert_eq!(store.lease().await.unwrap().term, lease.term);
        tokio::task::yield_now().await;
    }
    eprintln!(
        "graceful handover: {} ms; a paused leader replaced after {} ms",
        handover.as_millis(),
        replaced.as_millis()
    );
    assert!(
        handover <= handover_limit(),
        "the graceful handover took {handover:?}"
    );
    assert!(replaced <= Duration::from_secs(15), "{replaced:?}");
    store.close().await;
}
