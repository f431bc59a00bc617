//! The `berth` binary as a client, run as a child process against a Berth served
//! on 127.0.0.1 with the three test hosts: login, services, hosts, ps, deploy with
//! --wait (a good image exits 0; the broken one exits 3 after its automatic
//! rollback; a too-short --timeout exits 4), scale, rollback, a canary's
//! status and promotes (`berth rollout`), logs (and -f),
//! whatif, history, --json and completions. Needs `scripts/hosts up 3` (make test runs it).

mod cli_harness;
mod common;

use std::process::Stdio;
use std::time::Duration;

use cli_harness::{one_line, Berth};
use common::{demo_spec, ok_json};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn the_cli_drives_services() {
    let b = Berth::start().await;
    b.t.add_team("web").await;
    ok_json(
        &b.t,
        &b.auth,
        "POST",
        "/api/v1/services",
        Some(json!({"name": "web", "team": "web", "replicas": 2, "spec": demo_spec("v1", json!({}))})),
    )
    .await;

    login(&b).await;
    hosts_and_services(&b).await;
    b.settled(1, 2).await;
    whatif(&b).await;
    deploys(&b).await;
    scale_ps_rollback(&b).await;
    canary(&b).await;
    logs(&b).await;
    history(&b).await;

    let bash = b.run(&["completions", "bash"]).await.ok();
    assert!(bash.stdout.contains("_berth") && bash.stdout.contains("deploy"));
    let fish = b.run(&["completions", "fish"]).await.ok();
    assert!(fish.stdout.contains("complete -c berth"));
}

async fn login(b: &Berth) {
    let r = b.run(&["services"]).await;
    assert_eq!(r.code, 2);
    assert!(one_line(&r).contains("not logged in"), "{r:#?}");

    let r = b
        .run(&["login", "--url", &b.url, "--token", "berth_wrong"])
        .await;
    assert_eq!(r.code, 2);
    assert!(one_line(&r).contains("refused the token"), "{r:#?}");
    let r = b.run(&["login", "--url", "ftp://x", "--token", "t"]).await;
    assert!(one_line(&r).contains("is not a Berth URL"), "{r:#?}");

    let r = b
        .run(&["login", "--url", &b.url, "--token", &b.token])
        .await
        .ok();
    assert!(
        r.stdout
            .starts_with(&format!("logged in to {} as root (admin)", b.url)),
        "{r:#?}"
    );
    let file = b.home.0.join("config/berth/config.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["url"], b.url.as_str());
}

async fn hosts_and_services(b: &Berth) {
    let r = b.run(&["hosts"]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME  STATE  ADDRESS"), "{}", r.stdout);
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(
        lines[1..].iter().all(|l| l.contains(" ready ")),
        "{}",
        r.stdout
    );

    let r = b.run(&["services"]).await.ok();
    assert!(r.stdout.starts_with("NAME  TEAM  READY"), "{}", r.stdout);
    assert!(
        r.stdout.lines().nth(1).unwrap().starts_with("web   web "),
        "{}",
        r.stdout
    );

    let r = b.run(&["services", "--json"]).await.ok();
    let list: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list[0]["name"], "web");

    // The variables stand in for the saved login.
    let mut c = b.command(&["hosts", "--json"]);
    c.env("BERTH_URL", &b.url)
        .env("BERTH_TOKEN", &b.token)
        .env("XDG_CONFIG_HOME", b.home.0.join("elsewhere"));
    let out = c.output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let hosts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hosts.as_array().unwrap().len(), 3);
}

async fn whatif(b: &Berth) {
    let v = ok_json(&b.t, &b.auth, "GET", "/api/v1/services/web", None).await;
    let host = v["service"]["instances"][0]["host"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b.run(&["whatif", "--lose", &host]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("Losing {host}: no service would lose a replica."),
        "{}",
        r.stdout
    );
    assert!(lines.contains(&"Would move:"), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.starts_with("web ")), "{}", r.stdout);

    let r = b.run(&["whatif", "--each-host"]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0], "Losing any one host would cost no service a replica.",
        "{}",
        r.stdout
    );
    assert!(lines[1].starts_with("HOST LOST  WHOLE"), "{}", r.stdout);
    assert_eq!(lines.len(), 5, "{}", r.stdout);

    let r = b.run(&["whatif", "--lose", "nowhere"]).await;
    assert_eq!(r.code, 2);
    assert!(
        one_line(&r).contains("there is no host \"nowhere\""),
        "{r:#?}"
    );
    let r = b.run(&["whatif", "--lose", "H1"]).await;
    assert_eq!(r.code, 2);
    assert!(one_line(&r).contains("invalid host name"), "{r:#?}");
    let r = b.run(&["whatif"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
}

/// `berth history`: the last hour as read from the real engines (a step every
/// 10 s: waits for one in which the replicas' memory was read).
async fn history(b: &Berth) {
    common::until("a step of history", Duration::from_secs(40), || async {
        let v = ok_json(&b.t, &b.auth, "GET", "/api/v1/services/web/history", None).await;
        let read = v["replicas"].as_array().unwrap().iter().any(|r| {
            r["current"] == true
                && r["memory_bytes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m.as_f64().is_some_and(|m| m > 0.0))
        });
        if read {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
    let r = b.run(&["history", "web"]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("web: the last ") && lines[0].ends_with("a sample every 10 s"),
        "{}",
        r.stdout
    );
    for start in [
        "TRAFFIC",
        "requests/s",
        "error rate",
        "p99",
        "REPLICA  HOST",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(start)),
            "no line starts with {start}: {}",
            r.stdout
        );
    }
    let memory = |l: &&str| l.contains(" MiB") || l.contains(" KiB");
    assert!(lines.iter().any(memory), "{}", r.stdout);
    let r = b.run(&["history", "nothing"]).await;
    assert_eq!(r.code, 2);
    assert!(one_line(&r).contains("there is no service"), "{r:#?}");
}

async fn deploys(b: &Berth) {
    let v2 = common::demo_image("v2");
    let r = b
        .run(&["deploy", "web", "--image", &v2, "--wait", "--timeout", "2m"])
        .await
        .ok();
    assert!(r.stdout.contains("web: deploying revision 2"), "{r:#?}");
    assert!(
        r.stdout.contains("web: revision 2 runs on 2/2 replicas"),
        "{r:#?}"
    );

    let broken = common::demo_image("broken");
    let r = b
        .run(&["deploy", "web", "--image", &broken, "-m", "bad", "--wait"])
        .await;
    assert_eq!(r.code, 3, "{r:#?}");
    let line = one_line(&r);
    assert!(
        line.starts_with("berth: web: the rollout to revision 3 rolled back: "),
        "{line}"
    );
    assert!(line.contains("unhealthy"), "{line}");
    assert_eq!(b.service().await["service"]["revision"], 2);

    // Too short a wait: exit 4, the rollout going on without the client.
    let v1 = common::demo_image("v1");
    let r = b
        .run(&[
            "deploy",
            "web",
            "--image",
            &v1,
            "--wait",
            "--timeout",
            "500ms",
        ])
        .await;
    assert_eq!(r.code, 4, "{r:#?}");
    assert!(
        one_line(&r).contains("gave up waiting after 500ms: web at"),
        "{r:#?}"
    );
    b.settled(4, 2).await;
}

async fn scale_ps_rollback(b: &Berth) {
    let r = b.run(&["scale", "web", "3"]).await.ok();
    assert!(r.stdout.starts_with("web: 3 replicas wanted"), "{r:#?}");
    b.settled(4, 3).await;

    let r = b.run(&["ps", "web"]).await.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("web (team web): revision 4, 3/3 ready, running"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].starts_with("REPLICA  REVISION  HOST"),
        "{}",
        r.stdout
    );
    let rows = &lines[2..];
    assert_eq!(rows.len(), 3, "{}", r.stdout);
    assert!(
        rows.iter().all(|l| l.contains(" running  healthy ")),
        "{}",
        r.stdout
    );

    let r = b.run(&["rollback", "web", "--to", "2"]).await.ok();
    assert!(
        r.stdout.contains("web: rolling back to revision 2"),
        "{r:#?}"
    );
    let r = b.run(&["rollback", "web", "--to", "99"]).await;
    assert_eq!(r.code, 2);
    one_line(&r);
    b.settled(2, 3).await;

    let r = b.run(&["scale", "nothing", "1"]).await;
    assert_eq!(r.code, 2);
    assert!(one_line(&r).contains("nothing"), "{r:#?}");
}

async fn canary(b: &Berth) {
    // Revision 5: v1 again, as a canary of 20%, then 60%, each until promoted.
    let mut spec = b.service().await["service"]["spec"].clone();
    spec["image"] = json!(common::demo_image("v1"));
    spec["update"] = json!({"canary": {"steps": [{"weight": 20}, {"weight": 60}]}});
    ok_json(
        &b.t,
        &b.auth,
        "POST",
        "/api/v1/services/web/deploy",
        Some(json!({ "spec": spec })),
    )
    .await;
    let status = common::until("the canary's step", Duration::from_secs(60), || async {
        let r = b.run(&["rollout", "status", "web"]).await.ok();
        if r.stdout.contains("holds until promoted") {
            Ok(r.stdout)
        } else {
            Err(r.stdout)
        }
    })
    .await;
    assert!(
        status.starts_with("web: deploy to revision 5 running · canary step 1 of 2: 20% of requests to 1 new replica"),
        "{status}"
    );
    assert!(status.contains("\n  new  20% ████\n"), "{status}");
    let r = b.run(&["rollout", "promote", "web"]).await.ok();
    assert!(r.stdout.contains("canary step 2 of 2"), "{r:#?}");
    let r = b
        .run(&["rollout", "promote", "web", "--full", "--json"])
        .await
        .ok();
    let view: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(view["rollout"].get("canary").is_none(), "{view}");
    let r = b.run(&["rollout", "promote", "web"]).await;
    assert_eq!(r.code, 2, "{r:#?}");
    let line = one_line(&r);
    assert!(
        line.contains("has no canary step to promote") || line.contains("has no rollout under way"),
        "{line}"
    );
    b.settled(5, 3).await;
}

async fn logs(b: &Berth) {
    // httpd logs every answer: the health checks' are there.
    let r = b.run(&["logs", "web", "--tail", "5"]).await.ok();
    assert!(r.stdout.contains("response:200"), "{r:#?}");
    assert!(r.stdout.lines().count() <= 5, "{r:#?}");
    let r = b
        .run(&["logs", "web", "--replica", "2", "--json"])
        .await
        .ok();
    let logs: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(logs["slot"], 2);

    // Followed: the next health check arrives as it is written.
    let mut child = b
        .command(&["logs", "web", "-f", "--tail", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a followed line within 20 s")
        .unwrap()
        .unwrap();
    assert!(line.contains("response:200"), "{line}");
    child.kill().await.unwrap();
}
