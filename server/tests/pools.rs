//! Host pools against real Docker daemons: a pool whose provider starts a test host
//! (scripts/pool-provider) makes one for a replica that fits no registered host,
//! the replica becomes healthy there, and once idle the host is drained, destroyed
//! and its daemon gone; a failing provider is shown and backed off; Berth stopped
//! while a host is being made leaves no machine behind. Needs `scripts/hosts up 3`
//! (make test runs it).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    admin, demo_spec, ok_json, send, serve_proxy, test_hosts, Auth, Cleanup, Load, HEARTBEAT,
};
use serde_json::{json, Value};
use server::testing::{TempDir, TestState};

fn provider_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/pool-provider")
        .canonicalize()
        .expect("scripts/pool-provider exists")
}

/// Where `scripts/hosts make` keeps the names it made.
const MADE: &str = "/run/berth-hosts/.made";

/// Removes, when dropped, every host made for pools named with `prefix`, whatever
/// happened in the test.
struct Unmake(&'static str);

impl Drop for Unmake {
    fn drop(&mut self) {
        for name in made(self.0) {
            let _ = std::process::Command::new(provider_script())
                .arg("unused")
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    let req = format!(r#"{{"action":"destroy","pool":"x","name":"{name}"}}"#);
                    c.stdin.take().unwrap().write_all(req.as_bytes())?;
                    c.wait()
                });
        }
    }
}

/// Names of the hosts made (and not removed) for pools named with `prefix`.
fn made(prefix: &str) -> Vec<String> {
    std::fs::read_dir(MADE)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// Berth with test host h1 only (labelled zone=a) and its loop running.
async fn one_host() -> (TestState, Auth, Cleanup, Value) {
    let (t, auth) = admin().await;
    t.add_team("web").await;
    let cleanup = Cleanup(t.state.store.instance_id().await.unwrap());
    let h1 = &test_hosts()[0];
    let host = ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/hosts",
        Some(json!({"name": h1.name, "endpoint": h1.endpoint, "address": h1.address, "labels": {"zone": "a"}})),
    )
    .await;
    t.spawn_background(HEARTBEAT);
    (t, auth, cleanup, host)
}

fn pool_body(name: &str, command: &Path, memory: u64) -> Value {
    json!({"name": name, "provider": {"kind": "command", "command": command, "args": []},
           "labels": {"pool": name, "zone": "a"}, "cpu_millis": 2000, "memory_bytes": memory,
           "min_hosts": 0, "max_hosts": 2, "idle_secs": 10, "boot_timeout_secs": 60})
}

/// Polls `what` until `done` holds for its answer, or fails after `within`.
async fn until(
    t: &TestState,
    auth: &Auth,
    uri: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let v = ok_json(t, auth, "GET", uri, None).await;
        if done(&v) {
            return v;
        }
        assert!(started.elapsed() < within, "{uri} after {within:?}: {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_pool_makes_a_host_for_a_replica_that_fits_nowhere_and_destroys_it_when_idle() {
    let _unmake = Unmake("burst");
    let (t, auth, _cleanup, h1) = one_host().await;
    let memory = h1["facts"]["memory_bytes"].as_u64().unwrap();
    let pool = pool_body("burst", &provider_script(), memory);
    ok_json(&t, &auth, "POST", "/api/v1/pools", Some(pool)).await;
    // Each replica sets aside 60% of a host's memory: h1 takes one, not two.
    let need = memory / 10 * 6;
    let spec = demo_spec("v1", json!({"resources": {"memory_bytes": need}}));
    let asked = Instant::now();
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "big", "team": "web", "replicas": 2, "spec": spec})),
    )
    .await;
    // The waiting replica says what it waits for.
    let waiting = until(
        &t,
        &auth,
        "/api/v1/services/big",
        Duration::from_secs(30),
        |s| {
            s["service"]["problems"]
                .to_string()
                .contains("waits for a new host from pool burst")
        },
    )
    .await;
    let first = until(
        &t,
        &auth,
        "/api/v1/pools/burst",
        Duration::from_secs(30),
        |p| p["hosts"].as_array().is_some_and(|h| !h.is_empty()),
    )
    .await;
    let requested = first["hosts"][0]["requested_at_ms"].as_i64().unwrap();
    let name = first["hosts"][0]["name"].as_str().unwrap().to_string();
    let healthy = until(
        &t,
        &auth,
        "/api/v1/services/big",
        Duration::from_secs(90),
        |s| s["service"]["healthy"] == 2,
    )
    .await;
    let took = asked.elapsed();
    let on_new = healthy["service"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["host"] == name.as_str())
        .count();
    assert_eq!(on_new, 1, "{healthy:#}");
    let host = ok_json(&t, &auth, "GET", &format!("/api/v1/hosts/{name}"), None).await;
    assert_eq!(host["host"]["labels"]["pool"], "burst", "{host:#}");
    // One host made for one waiting replica, however many ticks ran meanwhile.
    let pool = ok_json(&t, &auth, "GET", "/api/v1/pools/burst", None).await;
    assert_eq!(pool["hosts"].as_array().unwrap().len(), 1, "{pool:#}");
    eprintln!(
        "figures: waiting {} ms after create; asked for the host {} ms after create; both replicas healthy after {} ms",
        waiting["service"]["observed_at_ms"].as_i64().unwrap_or(0) - healthy["service"]["created_at_ms"].as_i64().unwrap_or(0),
        requested - healthy["service"]["created_at_ms"].as_i64().unwrap_or(0),
        took.as_millis()
    );
    // The provider that made a host destroys it: it is not changed under it.
    let mut other = pool_body("burst", Path::new("/bin/true"), memory);
    other["max_hosts"] = json!(2);
    let r = send(
        &t.router(),
        "PUT",
        "/api/v1/pools/burst",
        &auth,
        Some(other),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(
        r.text.contains("made by its current provider"),
        "{}",
        r.text
    );
    // A host a pool made is the pool's to remove.
    let r = send(
        &t.router(),
        "DELETE",
        &format!("/api/v1/hosts/{name}"),
        &auth,
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("made by pool burst"), "{}", r.text);

    // Scaled down, the pool host is idle: after the idle time it is drained,
    // destroyed, and its daemon is gone.
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services/big/scale",
        Some(json!({"replicas": 1})),
    )
    .await;
    let endpoint = first["hosts"][0]["endpoint"]
        .as_str()
        .unwrap_or("")
        .to_string();
    until(
        &t,
        &auth,
        "/api/v1/pools/burst",
        Duration::from_secs(60),
        |p| p["hosts"].as_array().is_some_and(|h| h.is_empty()),
    )
    .await;
    let socket = endpoint.trim_start_matches("unix://");
    assert!(!Path::new(socket).exists(), "{socket} is still there");
    assert!(made("burst").is_empty(), "{:?}", made("burst"));
    let hosts = ok_json(&t, &auth, "GET", "/api/v1/hosts", None).await;
    assert!(!hosts.to_string().contains(&name), "{hosts:#}");
    let events = ok_json(&t, &auth, "GET", "/api/v1/events?kind=pool", None).await;
    let events = events.to_string();
    for words in [
        "asking for host",
        "ready,",
        "retired (idle for 10 s)",
        "destroyed",
    ] {
        assert!(events.contains(words), "no event with {words:?}: {events}");
    }
    let s = ok_json(&t, &auth, "GET", "/api/v1/services/big", None).await;
    assert_eq!(s["service"]["healthy"], 1, "{s:#}");
}

#[tokio::test]
async fn a_pool_host_whose_replicas_fit_elsewhere_is_drained_without_a_failed_request() {
    let _unmake = Unmake("spill");
    let (t, auth, _cleanup, h1) = one_host().await;
    let port = serve_proxy(&t).await;
    let memory = h1["facts"]["memory_bytes"].as_u64().unwrap();
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/pools",
        Some(pool_body("spill", &provider_script(), memory)),
    )
    .await;
    let need = json!({"resources": {"memory_bytes": memory / 10 * 6}});
    let create = |name: &str| json!({"name": name, "team": "web", "replicas": 1, "spec": demo_spec("v1", need.clone())});
    // `filler` takes h1's room, so `app` gets a host of the pool.
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(create("filler")),
    )
    .await;
    until(
        &t,
        &auth,
        "/api/v1/services/filler",
        Duration::from_secs(60),
        |s| s["service"]["healthy"] == 1,
    )
    .await;
    ok_json(&t, &auth, "POST", "/api/v1/services", Some(create("app"))).await;
    let s = until(
        &t,
        &auth,
        "/api/v1/services/app",
        Duration::from_secs(90),
        |s| s["service"]["healthy"] == 1,
    )
    .await;
    let made = s["service"]["instances"][0]["host"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(made.starts_with("spill-"), "{s:#}");

    // Once filler is gone, app's replica fits on h1: after the idle time its pool host
    // is drained (the replica moves, health-gated) and destroyed, under load.
    let load = Load::start(port, "app.localhost", "/healthz", 4);
    ok_json(&t, &auth, "DELETE", "/api/v1/services/filler", None).await;
    until(
        &t,
        &auth,
        "/api/v1/pools/spill",
        Duration::from_secs(90),
        |p| p["hosts"].as_array().is_some_and(|h| h.is_empty()),
    )
    .await;
    let (ok, failures) = load.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        ok,
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 100, "only {ok} requests went through");
    let s = ok_json(&t, &auth, "GET", "/api/v1/services/app", None).await;
    assert_eq!(s["service"]["healthy"], 1, "{s:#}");
    assert_eq!(s["service"]["instances"][0]["host"], "h1", "{s:#}");
    let events = ok_json(&t, &auth, "GET", "/api/v1/events?kind=pool", None)
        .await
        .to_string();
    assert!(events.contains("retired (idle for 10 s)"), "{events}");
}

/// A provider script in `dir` that logs each action to `calls` and then runs `body`.
fn wrapper(dir: &TempDir, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.0.join("provider");
    let calls = dir.0.join("calls");
    let script = format!(
        "#!/bin/bash\nreq=$(head -c 65536)\naction=$(printf '%s' \"$req\" | grep -o '\"action\":\"[a-z]*\"' | cut -d'\"' -f4)\necho \"$action\" >> {}\n{body}\n",
        calls.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn calls(dir: &TempDir, action: &str) -> usize {
    std::fs::read_to_string(dir.0.join("calls"))
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == action)
        .count()
}

#[tokio::test]
async fn a_failing_provider_is_shown_on_the_service_and_the_pool_and_backed_off() {
    let dir = TempDir::new();
    let provider = wrapper(
        &dir,
        r#"[ "$action" = destroy ] && { echo '{}'; exit 0; }
echo "quota exceeded in zone a" >&2; exit 1"#,
    );
    let (t, auth, _cleanup, _) = one_host().await;
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/pools",
        Some(pool_body("broke", &provider, 1 << 30)),
    )
    .await;
    // Only a host of pool `broke` takes it.
    let spec = demo_spec("v1", json!({"placement": {"constraints": ["pool=broke"]}}));
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "stuck", "team": "web", "replicas": 1, "spec": spec})),
    )
    .await;
    let s = until(
        &t,
        &auth,
        "/api/v1/services/stuck",
        Duration::from_secs(30),
        |s| {
            s["service"]["problems"]
                .to_string()
                .contains("pool broke could not make a host")
        },
    )
    .await;
    // A team reads that the pool fails; the provider's words are the admins'.
    assert!(!s.to_string().contains("quota"), "{s:#}");
    let first = Instant::now();
    let pool = ok_json(&t, &auth, "GET", "/api/v1/pools/broke", None).await;
    assert!(pool["failures"].as_u64() >= Some(1), "{pool:#}");
    assert!(
        pool["last_error"]
            .to_string()
            .contains("quota exceeded in zone a"),
        "{pool:#}"
    );
    let events = ok_json(&t, &auth, "GET", "/api/v1/events?kind=pool", None).await;
    assert!(
        events.to_string().contains("quota exceeded in zone a"),
        "{events:#}"
    );
    // Backed off: 5 s before the second try, 10 s before the third.
    while first.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let creates = calls(&dir, "create");
    assert!((1..=2).contains(&creates), "{creates} creates in 8 s");
    // Each failed request was destroyed by name (it may have made something).
    assert!(calls(&dir, "destroy") >= 1);
    let pool = ok_json(&t, &auth, "GET", "/api/v1/pools/broke", None).await;
    assert!(
        pool["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "destroying"),
        "{pool:#}"
    );
}

#[tokio::test]
async fn a_host_that_never_answers_is_destroyed_after_the_boot_timeout() {
    let dir = TempDir::new();
    // The provider says "made" but nothing will ever answer at that endpoint.
    let provider = wrapper(
        &dir,
        r#"[ "$action" = destroy ] && { echo '{}'; exit 0; }
echo '{"endpoint":"unix:///nonexistent/berth/pool.sock","address":"127.0.0.1"}'"#,
    );
    let (t, auth, _cleanup, _) = one_host().await;
    let mut pool = pool_body("mute", &provider, 1 << 30);
    pool["boot_timeout_secs"] = json!(5);
    ok_json(&t, &auth, "POST", "/api/v1/pools", Some(pool)).await;
    let spec = demo_spec("v1", json!({"placement": {"constraints": ["pool=mute"]}}));
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "hush", "team": "web", "replicas": 1, "spec": spec})),
    )
    .await;
    let booting = until(
        &t,
        &auth,
        "/api/v1/pools/mute",
        Duration::from_secs(20),
        |p| p["hosts"][0]["state"] == "booting",
    )
    .await;
    assert_eq!(
        booting["hosts"][0]["endpoint"],
        "unix:///nonexistent/berth/pool.sock"
    );
    let name = booting["hosts"][0]["name"].as_str().unwrap().to_string();
    let events = until(
        &t,
        &auth,
        "/api/v1/events?kind=pool",
        Duration::from_secs(30),
        // Given up after the boot timeout, then destroyed by its provider.
        |e| {
            let e = e.to_string();
            e.contains("did not answer within 5 s")
                && e.contains(&format!("\"host {name} destroyed\""))
        },
    )
    .await;
    assert!(events.to_string().contains("it is destroyed"), "{events:#}");
    assert!(calls(&dir, "destroy") >= 1);
    // The pool backs off before it asks again.
    let p = ok_json(&t, &auth, "GET", "/api/v1/pools/mute", None).await;
    assert!(p["failures"].as_u64() >= Some(1), "{p:#}");
    let hosts = ok_json(&t, &auth, "GET", "/api/v1/hosts", None).await;
    assert!(!hosts.to_string().contains("mute-"), "{hosts:#}");
}

#[tokio::test]
async fn berth_stopped_while_a_host_is_being_made_leaves_no_machine_behind() {
    let _unmake = Unmake("slow");
    let dir = TempDir::new();
    // The real provider makes the host, then this one hangs before answering: Berth
    // is stopped while it waits.
    let real = provider_script();
    let provider = wrapper(
        &dir,
        &format!(
            r#"if [ "$action" = create ]; then printf '%s' "$req" | {real} >/dev/null && touch {made}; exec sleep 120; fi
printf '%s' "$req" | exec {real}"#,
            real = real.display(),
            made = dir.0.join("made").display(),
        ),
    );
    let (mut t, auth, _cleanup, _) = one_host().await;
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/pools",
        Some(pool_body("slow", &provider, 1 << 30)),
    )
    .await;
    let spec = demo_spec("v1", json!({"placement": {"constraints": ["pool=slow"]}}));
    ok_json(
        &t,
        &auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "later", "team": "web", "replicas": 1, "spec": spec})),
    )
    .await;
    let started = Instant::now();
    while !dir.0.join("made").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the provider never made the host"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let name = made("slow").pop().expect("a host made for pool slow");
    // Berth stops with the machine made and its provider's answer not read.
    t.restart().await;
    // The service is deleted meanwhile, so nothing asks for the host again.
    t.spawn_background(HEARTBEAT);
    ok_json(&t, &auth, "DELETE", "/api/v1/services/later", None).await;
    until(
        &t,
        &auth,
        "/api/v1/pools/slow",
        Duration::from_secs(30),
        |p| p["hosts"].as_array().is_some_and(|h| h.is_empty()),
    )
    .await;
    assert!(
        !made("slow").contains(&name),
        "{name} is left: {:?}",
        made("slow")
    );
    assert!(calls(&dir, "destroy") >= 1);
    let events = ok_json(&t, &auth, "GET", "/api/v1/events?kind=pool", None).await;
    assert!(
        events.to_string().contains("no machine is left unknown"),
        "{events:#}"
    );
}
