//! Calling a pool's provider: its command, run directly (never through a shell)
//! with a clean environment, a JSON request on stdin and a JSON answer on stdout,
//! bounded in time and in output. Any cloud CLI or tool plugs in this way.

use std::process::Stdio;
use std::time::Duration;

use domain::wire::{Provider, ProviderAnswer};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most a provider may write on stdout or stderr.
const MAX_OUTPUT: u64 = 64 * 1024;
/// What the environment keeps: a provider's credentials belong in its own files.
const KEPT_ENV: [&str; 6] = ["PATH", "HOME", "USER", "LANG", "TZ", "SSL_CERT_FILE"];

/// The request a provider reads on stdin.
#[derive(Debug, Clone, Serialize)]
pub struct Request<'a> {
    /// `create` or `destroy`.
    pub action: &'static str,
    pub pool: &'a str,
    pub name: &'a str,
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// Why a provider call failed, in words an admin acts on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot run {command}: {cause}")]
    Spawn { command: String, cause: String },
    #[error("the provider did not finish within {secs} s")]
    Timeout { secs: u64 },
    #[error("the provider failed ({status}){}", tail(.stderr))]
    Failed { status: String, stderr: String },
    #[error("the provider's answer is not what Berth expects: {0}")]
    BadAnswer(String),
}

/// ": <the last line of stderr>", or nothing.
fn tail(stderr: &str) -> String {
    match stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => {
            let line: String = line.chars().take(300).collect();
            format!(": {line}")
        }
        None => String::new(),
    }
}

/// Runs the provider with `request`; its stdout when it exits 0. It runs in a
/// process group of its own: past the time limit, or when Berth stops waiting
/// (shutdown), the whole group is killed, so a tool it started cannot finish a
/// machine after Berth gave up on it.
pub async fn call(
    provider: &Provider,
    request: &Request<'_>,
    limit: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let body = serde_json::to_vec(request).map_err(|e| ProviderError::BadAnswer(e.to_string()))?;
    let mut child = spawn(provider, request)?;
    let mut group = Group(child.id());
    let (status, out, err) = tokio::time::timeout(limit, exchange(&mut child, body))
        .await
        .map_err(|_| ProviderError::Timeout {
            secs: limit.as_secs(),
        })?;
    group.0 = None;
    let Provider::Command { command, .. } = provider;
    let status = status.map_err(|e| ProviderError::Spawn {
        command: command.clone(),
        cause: e.to_string(),
    })?;
    if !status.success() {
        return Err(ProviderError::Failed {
            status: status.to_string(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        });
    }
    Ok(out)
}

fn spawn(
    provider: &Provider,
    request: &Request<'_>,
) -> Result<tokio::process::Child, ProviderError> {
    let Provider::Command { command, args } = provider;
    tokio::process::Command::new(command)
        .args(args)
        .env_clear()
        .envs(
            KEPT_ENV
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
        )
        .env("BERTH_POOL", request.pool)
        .env("BERTH_HOST_NAME", request.name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProviderError::Spawn {
            command: command.clone(),
            cause: e.to_string(),
        })
}

/// Writes the request, reads what comes back (the first [`MAX_OUTPUT`] bytes of
/// each stream; the rest is read and dropped, so a chatty provider never blocks),
/// and waits for the exit.
async fn exchange(
    child: &mut tokio::process::Child,
    body: Vec<u8>,
) -> (std::io::Result<std::process::ExitStatus>, Vec<u8>, Vec<u8>) {
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    // A provider that does not read its stdin must not block the call.
    let write = async move {
        let _ = stdin.write_all(&body).await;
    };
    let (_, out, err) = tokio::join!(write, capped(stdout), capped(stderr));
    (child.wait().await, out, err)
}

async fn capped(mut r: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = (&mut r).take(MAX_OUTPUT).read_to_end(&mut out).await;
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    out
}

/// A provider's process group, killed when dropped unless it finished (its id
/// taken out).
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // `kill` on the negative id reaches the whole group; quick, and only
            // when a provider is abandoned.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A `create` answer, checked: an endpoint Berth can use and, if given, an address
/// and complete TLS material.
pub fn answer(stdout: &[u8]) -> Result<ProviderAnswer, ProviderError> {
    let a: ProviderAnswer =
        serde_json::from_slice(stdout).map_err(|e| ProviderError::BadAnswer(e.to_string()))?;
    domain::validate::endpoint(&a.endpoint).map_err(ProviderError::BadAnswer)?;
    if let Some(address) = &a.address {
        domain::validate::address(address).map_err(ProviderError::BadAnswer)?;
    }
    if a.tls.is_some() && !a.endpoint.starts_with("tcp://") {
        return Err(ProviderError::BadAnswer(
            "TLS material is for tcp:// endpoints".into(),
        ));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn script(dir: &crate::testing::TempDir, body: &str) -> Provider {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.0.join("provider");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Provider::Command {
            command: path.to_string_lossy().into_owned(),
            args: vec!["one".into()],
        }
    }

    fn request(labels: &BTreeMap<String, String>) -> Request<'_> {
        Request {
            action: "create",
            pool: "web",
            name: "web-abc123",
            labels,
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
        }
    }

    #[tokio::test]
    async fn a_provider_reads_the_request_and_its_answer_is_checked() {
        let dir = crate::testing::TempDir::new();
        let labels = BTreeMap::new();
        // It echoes what it was given: the request on stdin, its argument, the name.
        let p = script(
            &dir,
            r#"read -r req; case "$req" in *'"action":"create"'*'"name":"web-abc123"'*) ;; *) exit 3;; esac
[ "$1" = one ] && [ "$BERTH_HOST_NAME" = web-abc123 ] || exit 4
echo '{"endpoint":"tcp://10.0.0.5:2376","address":"10.0.0.5"}'"#,
        );
        let out = call(&p, &request(&labels), Duration::from_secs(10))
            .await
            .unwrap();
        let a = answer(&out).unwrap();
        assert_eq!(a.endpoint, "tcp://10.0.0.5:2376");
        assert!(answer(br#"{"endpoint":"ftp://x"}"#).is_err());
        assert!(answer(b"not json").is_err());
    }

    #[tokio::test]
    async fn failures_say_what_went_wrong() {
        let dir = crate::testing::TempDir::new();
        let labels = BTreeMap::new();
        let p = script(&dir, "echo 'quota exceeded in zone a' >&2; exit 2");
        let err = call(&p, &request(&labels), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the provider failed (exit status: 2): quota exceeded in zone a"
        );
        // Past the limit the provider and what it started are killed: the child
        // is gone (waited for, with a deadline) without having left its mark.
        let marker = dir.0.join("late");
        let child = dir.0.join("child.pid");
        let p = script(
            &dir,
            &format!(
                "sh -c 'echo $$ > {}; sleep 2; touch {}' & sleep 30",
                child.display(),
                marker.display()
            ),
        );
        let err = call(&p, &request(&labels), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
        let pid = std::fs::read_to_string(&child).expect("the child wrote its pid");
        let stat = format!("/proc/{}/stat", pid.trim());
        let gone = || {
            // A killed child not yet reaped is a zombie: gone all the same.
            std::fs::read_to_string(&stat).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !gone() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the provider's child lives on"
            );
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
        assert!(!marker.exists(), "a child of the provider lived on");
        // Output past the cap is read and dropped, not left to block the provider.
        let p = script(&dir, "head -c 1000000 /dev/zero; echo done >&2");
        let out = call(&p, &request(&labels), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.len() as u64, MAX_OUTPUT);
        let missing = Provider::Command {
            command: "/nonexistent/provider".into(),
            args: vec![],
        };
        let err = call(&missing, &request(&labels), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot run /nonexistent/provider"),
            "{err}"
        );
    }
}
