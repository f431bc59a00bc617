//! `berth plan`, `apply` and `export` against a Berth served on 127.0.0.1 with the
//! three test hosts: apply a 3-service stack (--wait), again ("no changes", exit
//! 0), one image changed (plan exit 1 with one new revision, apply --wait), export
//! then plan ("no changes"), a Compose file's env_file sent along (a missing one
//! named), and a plan gone stale while the client asked for a yes (409). Needs
//! `scripts/hosts up 3` (make test runs it).

mod cli_harness;
mod common;

use std::process::Stdio;
use std::time::Duration;

use cli_harness::{one_line, Berth};
use common::{demo_spec, ok_json};
use serde_json::{json, Value};

/// A stack file of three services on the demo image (JSON is YAML), `web` at
/// `web_tag`.
fn stack(web_tag: &str, worker_tag: &str) -> String {
    let service =
        |tag: &str, replicas: u32| json!({"replicas": replicas, "spec": demo_spec(tag, json!({}))});
    let file = json!({
        "kind": "berth/stack",
        "team": "shop",
        "services": {
            "web": service(web_tag, 2),
            "api": service("v1", 1),
            "worker": service(worker_tag, 1),
        }
    });
    serde_json::to_string_pretty(&file).unwrap()
}

#[tokio::test]
async fn the_cli_plans_and_applies_stacks() {
    let b = Berth::start().await;
    b.t.add_team("shop").await;
    b.run(&["login", "--url", &b.url, "--token", &b.token])
        .await
        .ok();
    let file = b.home.0.join("stack.yml");
    let f = file.to_str().unwrap();
    std::fs::write(&file, stack("v1", "v1")).unwrap();

    // Three to create: exit 1.
    let r = b.run(&["plan", "-f", f]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout
            .contains("+ web (team shop): create\n    create with 2 replicas"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("Plan: 3 of 3 services change.\n"),
        "{}",
        r.stdout
    );
    // No terminal, no --yes: nothing applied.
    let r = b.run(&["apply", "-f", f]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(one_line(&r).contains("pass --yes"), "{r:#?}");

    let r = b
        .run(&["apply", "-f", f, "--yes", "--wait", "--timeout", "2m"])
        .await
        .ok();
    assert!(
        r.stdout.contains("Applied: 3 services changed."),
        "{}",
        r.stdout
    );
    for line in [
        "web: revision 1 runs on 2/2",
        "api: revision 1 runs on 1/1",
        "worker: revision 1 runs on 1/1",
    ] {
        assert!(r.stdout.contains(line), "{line}: {}", r.stdout);
    }

    // Again: nothing to do, exit 0 for both.
    let r = b.run(&["apply", "-f", f, "--yes"]).await.ok();
    assert!(
        r.stdout
            .ends_with("No changes: 3 services as the file says.\n"),
        "{}",
        r.stdout
    );
    b.run(&["plan", "-f", f]).await.ok();

    // One image changes: one new revision, exit 1; then applied and followed.
    std::fs::write(&file, stack("v2", "v1")).unwrap();
    let r = b.run(&["plan", "-f", f]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stdout.contains(
            "~ web (team shop): update (revision 1)\n    new revision after 1, rolled out\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("= api (team shop): unchanged"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("Plan: 1 of 3 services change.\n"),
        "{}",
        r.stdout
    );
    let r = b.run(&["--json", "plan", "-f", f]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["changes"], 1);
    let r = b
        .run(&["apply", "-f", f, "-y", "--wait", "-m", "v2"])
        .await
        .ok();
    assert!(
        r.stdout.contains("web: revision 2 runs on 2/2 replicas"),
        "{}",
        r.stdout
    );

    // Exported, then planned: no changes.
    let exported = b.home.0.join("exported.yml");
    b.run(&["export", "--team", "shop", "-o", exported.to_str().unwrap()])
        .await
        .ok();
    let r = b
        .run(&["plan", "-f", exported.to_str().unwrap()])
        .await
        .ok();
    assert!(
        r.stdout
            .ends_with("No changes: 3 services as the file says.\n"),
        "{}",
        r.stdout
    );
    let r = b.run(&["export"]).await.ok();
    assert!(r.stdout.contains("kind: berth/stack"), "{}", r.stdout);

    compose_env_files(&b).await;
    stale_plan(&b, f).await;
}

/// A Compose file's env_file goes with it; a missing one is named.
async fn compose_env_files(b: &Berth) {
    let dir = b.home.0.join("compose");
    std::fs::create_dir_all(&dir).unwrap();
    let compose = dir.join("compose.yml");
    let image = common::demo_image("v1");
    std::fs::write(
        &compose,
        format!("services:\n  cache:\n    image: {image}\n    env_file: cache.env\n"),
    )
    .unwrap();
    let c = compose.to_str().unwrap();
    let r = b.run(&["plan", "-f", c, "--team", "shop"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        one_line(&r).starts_with("berth: env_file \"cache.env\" of service cache cannot be read"),
        "{r:#?}"
    );
    std::fs::write(dir.join("cache.env"), "MODE=fast\n").unwrap();
    let r = b.run(&["--json", "plan", "-f", c, "--team", "shop"]).await;
    assert_eq!(r.code, 1, "{r:#?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["format"], "compose");
    assert_eq!(plan["services"][0]["name"], "cache");
    assert_eq!(plan["services"][0]["action"], "create");
}

/// A plan that went stale while the client asked for a yes: 409, in one line.
async fn stale_plan(b: &Berth, f: &str) {
    std::fs::write(f, stack("v2", "v2")).unwrap();
    // `script` gives the client a terminal, so that it asks.
    let command = format!("{} apply -f {f}", env!("CARGO_BIN_EXE_berth"));
    let mut child = tokio::process::Command::new("script")
        .args(["-q", "-f", "-e", "-c", &command, "/dev/null"])
        .env("HOME", &b.home.0)
        .env("XDG_CONFIG_HOME", b.home.0.join("config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running berth under script");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    read_until(&mut stdout, &mut seen, "[y/N]").await;
    assert!(
        seen.contains("~ worker (team shop): update (revision 1)"),
        "{seen}"
    );

    // Meanwhile web gets a new revision.
    ok_json(
        &b.t,
        &b.auth,
        "POST",
        "/api/v1/services/web/deploy",
        Some(json!({"spec": demo_spec("v1", json!({}))})),
    )
    .await;
    use tokio::io::AsyncWriteExt;
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"y\n")
        .await
        .unwrap();
    read_until(&mut stdout, &mut seen, "plan again").await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{seen}");
    assert!(
        seen.contains(
            "berth: the plan is stale: web was at revision 2 and is at revision 3 now; plan again"
        ),
        "{seen}"
    );
    assert_eq!(
        b.service().await["service"]["spec"]["image"],
        common::demo_image("v1")
    );
}

/// Reads the child's output into `seen` until it holds `what` (20 s at most).
async fn read_until(out: &mut tokio::process::ChildStdout, seen: &mut String, what: &str) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !seen.contains(what) {
        let n = tokio::time::timeout_at(deadline, out.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {what:?} within 20 s: {seen}"))
            .unwrap();
        assert!(n > 0, "the output ended before {what:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', ""));
    }
}
