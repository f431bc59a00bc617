//! The client's test harness, shared by `cli.rs` and `cli_stacks.rs`: a Berth
//! served on a free 127.0.0.1 port over the test hosts, an admin API token for it,
//! and the `berth` binary run as a child with a home of its own.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use server::testing::{TempDir, TestState};

use crate::common::{cluster, ok_json, until, Auth, Cleanup};

/// A Berth on a real port, an admin token for it, and a home for the client.
pub struct Berth {
    pub t: TestState,
    pub auth: Auth,
    pub url: String,
    pub token: String,
    pub home: TempDir,
    pub _cleanup: Cleanup,
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
}

impl Berth {
    pub async fn start() -> Berth {
        let (t, auth, cleanup) = cluster(None).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::http::serve_router(
            listener,
            t.router(),
            server::http::Limits::default(),
            t.state.shutdown.clone(),
        ));
        let token = ok_json(
            &t,
            &auth,
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "cli"})),
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_string();
        Berth {
            t,
            auth,
            url,
            token,
            home: TempDir::new(),
            _cleanup: cleanup,
        }
    }

    /// The binary with this test's home, and no login from the environment.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .env("HOME", &self.home.0)
            .env("XDG_CONFIG_HOME", self.home.0.join("config"))
            .env_remove("BERTH_URL")
            .env_remove("BERTH_TOKEN")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().await.expect("running berth");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn service(&self) -> Value {
        ok_json(&self.t, &self.auth, "GET", "/api/v1/services/web", None).await
    }

    /// Until the service settles at `revision` with `replicas` ready.
    pub async fn settled(&self, revision: i64, replicas: u64) {
        until(
            &format!("web running revision {revision} on {replicas} replicas"),
            Duration::from_secs(120),
            || async {
                let d = self.service().await;
                let s = &d["service"];
                let ok = s["revision"] == revision
                    && s["phase"] == "running"
                    && s["healthy"] == replicas
                    && d["rollouts"][0]["state"] != "running";
                if ok {
                    Ok(())
                } else {
                    Err(format!("{} {} {}", s["revision"], s["phase"], s["healthy"]))
                }
            },
        )
        .await
    }
}

/// One line on stderr, starting `berth: `.
pub fn one_line(run: &Run) -> &str {
    let line = run.stderr.trim_end();
    assert!(line.starts_with("berth: "), "{run:#?}");
    assert!(!line.contains('\n'), "{run:#?}");
    line
}
