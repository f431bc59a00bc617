//! HTTP health checks, asked from outside through each replica's published port
//! (the address the proxy uses too), so images need no tools inside. A replica is
//! `starting` until a check passes, `healthy` after, and `unhealthy` after
//! `retries` failures in a row; failures in its start period do not count. While a
//! replica starts it is asked every [`STARTING_EVERY`], so that it counts as
//! healthy within a moment of answering; after that, every interval.
//!
//! [`Verdict`] is the pure part; [`Prober`] holds one per replica and the loop in
//! [`run`] asks the replicas that are due.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use domain::wire::{Health, HealthCheck};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a starting replica is asked.
pub const STARTING_EVERY: Duration = Duration::from_millis(100);

/// A replica's health from its checks so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub health: Health,
    pub failures: u32,
    pub last_error: Option<String>,
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict {
            health: Health::Starting,
            failures: 0,
            last_error: None,
        }
    }
}

impl Verdict {
    /// Takes one check's outcome, `age_ms` after the replica was first seen;
    /// returns whether the health changed.
    pub fn record(
        &mut self,
        outcome: Result<(), String>,
        age_ms: u64,
        check: &HealthCheck,
    ) -> bool {
        let before = self.health;
        match outcome {
            Ok(()) => {
                self.failures = 0;
                self.last_error = None;
                self.health = Health::Healthy;
            }
            Err(e) => {
                self.last_error = Some(e);
                let grace = self.health == Health::Starting && age_ms < check.start_period_ms;
                if !grace {
                    self.failures += 1;
                    if self.failures >= check.retries.max(1) {
                        self.health = Health::Unhealthy;
                    }
                }
            }
        }
        self.health != before
    }

    /// How long until the next check.
    pub fn next_in(&self, age_ms: u64, check: &HealthCheck) -> Duration {
        let interval = Duration::from_millis(check.interval_ms.max(100));
        if self.health == Health::Starting && age_ms < check.start_period_ms {
            STARTING_EVERY.min(interval)
        } else {
            interval
        }
    }
}

/// A replica to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service_id: i64,
    pub address: String,
    pub port: u16,
    pub path: String,
    pub check: HealthCheck,
}

struct Probed {
    target: Target,
    verdict: Verdict,
    first_seen: Instant,
    next_at: Instant,
    busy: bool,
}

/// Every replica Berth checks, by container id.
#[derive(Default)]
pub struct Prober {
    probed: Mutex<HashMap<String, Probed>>,
}

impl Prober {
    /// Sets what to check: new replicas are checked at once, gone ones forgotten,
    /// and a replica whose address or check changed starts over.
    pub fn set_targets(&self, targets: HashMap<String, Target>) {
        let now = Instant::now();
        let mut probed = self.probed.lock().expect("prober lock");
        probed.retain(|id, p| targets.get(id).is_some_and(|t| *t == p.target));
        for (id, target) in targets {
            probed.entry(id).or_insert_with(|| Probed {
                target,
                verdict: Verdict::default(),
                first_seen: now,
                next_at: now,
                busy: false,
            });
        }
    }

    /// The health of a checked replica (`starting` when not known yet).
    pub fn health(&self, container_id: &str) -> Health {
        self.probed
            .lock()
            .expect("prober lock")
            .get(container_id)
            .map(|p| p.verdict.health)
            .unwrap_or(Health::Starting)
    }

    /// The last check's error of a replica, if it failed.
    pub fn last_error(&self, container_id: &str) -> Option<String> {
        self.probed
            .lock()
            .expect("prober lock")
            .get(container_id)
            .and_then(|p| p.verdict.last_error.clone())
    }

    /// Checks once, at once, every replica not checked yet, for at most
    /// `within`, and records the checks that pass; answers the services whose
    /// replicas' health changed. A Berth that starts again does this before its
    /// proxy takes connections: replicas that were serving are routed from the
    /// first request instead of after their first turn in [`run`]. A failure is
    /// left to [`run`] (it may be a slow replica cut short here), and nothing is
    /// marked busy, so the wait can end at any point.
    pub async fn check_unchecked(&self, within: Duration) -> Vec<i64> {
        let due: Vec<(String, Target)> = {
            let probed = self.probed.lock().expect("prober lock");
            probed
                .iter()
                .filter(|(_, p)| p.next_at == p.first_seen)
                .map(|(id, p)| (id.clone(), p.target.clone()))
                .collect()
        };
        let checks = due.into_iter().map(|(id, target)| async move {
            let timeout = Duration::from_millis(target.check.timeout_ms.max(10));
            let outcome = http_check(&target.address, target.port, &target.path, timeout).await;
            (id, outcome)
        });
        let mut checks = futures::stream::iter(checks).buffer_unordered(MAX_PROBES);
        let mut changed = Vec::new();
        let _ = tokio::time::timeout(within, async {
            while let Some((id, outcome)) = checks.next().await {
                if outcome.is_ok() {
                    changed.extend(self.record(&id, outcome));
                }
            }
        })
        .await;
        changed
    }

    /// The replicas due for a check, marked busy, and when the next one is due.
    fn due(&self, now: Instant) -> (Vec<(String, Target)>, Option<Instant>) {
        let mut probed = self.probed.lock().expect("prober lock");
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (id, p) in probed.iter_mut() {
            if p.busy {
                continue;
            }
            if p.next_at <= now {
                p.busy = true;
                due.push((id.clone(), p.target.clone()));
            } else {
                next = Some(next.map_or(p.next_at, |n| n.min(p.next_at)));
            }
        }
        (due, next)
    }

    /// Records a check's outcome; returns the service whose replica's health
    /// changed, if it did.
    fn record(&self, id: &str, outcome: Result<(), String>) -> Option<i64> {
        let mut probed = self.probed.lock().expect("prober lock");
        let p = probed.get_mut(id)?;
        let now = Instant::now();
        let age = now.duration_since(p.first_seen).as_millis() as u64;
        p.busy = false;
        let changed = p.verdict.record(outcome, age, &p.target.check);
        p.next_at = now + p.verdict.next_in(age, &p.target.check);
        changed.then_some(p.target.service_id)
    }
}

/// One HTTP check: `GET path` answers 2xx or 3xx within the timeout.
pub async fn http_check(
    address: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((address, port))
            .await
            .map_err(|e| format!("cannot connect to {address}:{port}: {e}"))?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.0\r\nHost: {address}:{port}\r\nUser-Agent: berth-health\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .map_err(|e| format!("cannot send the check: {e}"))?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("no answer: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| "the answer is not HTTP".to_string())?;
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("GET {path} answered {code}"))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "GET {path} did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

/// Health checks under way at once, at most; the others wait their turn.
const MAX_PROBES: usize = 256;

/// Checks the replicas that are due until the token is cancelled; a replica whose
/// health changes pokes the reconciler. The checks are owned: each is bounded by
/// its timeout, at most [`MAX_PROBES`] run at once, and they stop with the loop.
pub async fn run(reconciler: std::sync::Arc<super::Reconciler>, token: CancellationToken) {
    let mut probes = tokio::task::JoinSet::new();
    let turns = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_PROBES));
    loop {
        while probes.try_join_next().is_some() {}
        let (due, next) = reconciler.prober.due(Instant::now());
        for (id, target) in due {
            let reconciler = reconciler.clone();
            let turns = turns.clone();
            probes.spawn(async move {
                let Ok(_turn) = turns.acquire_owned().await else {
                    return;
                };
                let timeout = Duration::from_millis(target.check.timeout_ms.max(10));
                let outcome = http_check(&target.address, target.port, &target.path, timeout).await;
                if let Some(service_id) = reconciler.prober.record(&id, outcome) {
                    reconciler.changed(service_id);
                    reconciler.poke();
                }
            });
        }
        // Wake for the next due check, or soon anyway: new targets come in between.
        let wake = next
            .unwrap_or_else(|| Instant::now() + STARTING_EVERY)
            .min(Instant::now() + STARTING_EVERY)
            .max(Instant::now() + Duration::from_millis(10));
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::wire::HealthProbe;

    fn check(retries: u32, start_period_ms: u64) -> HealthCheck {
        HealthCheck {
            probe: HealthProbe::Http {
                path: "/healthz".into(),
            },
            interval_ms: 2000,
            timeout_ms: 500,
            retries,
            start_period_ms,
        }
    }

    fn fail() -> Result<(), String> {
        Err("GET /healthz answered 500".into())
    }

    #[test]
    fn starting_then_healthy_then_unhealthy_after_retries() {
        let c = check(3, 0);
        let mut v = Verdict::default();
        assert_eq!(v.health, Health::Starting);
        assert!(v.record(Ok(()), 0, &c));
        assert_eq!(v.health, Health::Healthy);
        assert!(!v.record(fail(), 10, &c));
        assert!(!v.record(fail(), 20, &c));
        assert_eq!((v.health, v.failures), (Health::Healthy, 2));
        assert!(v.record(fail(), 30, &c));
        assert_eq!(v.health, Health::Unhealthy);
        assert_eq!(v.last_error.as_deref(), Some("GET /healthz answered 500"));
        // One success makes it healthy again.
        assert!(v.record(Ok(()), 40, &c));
        assert_eq!(
            (v.health, v.failures, v.last_error.clone()),
            (Health::Healthy, 0, None)
        );
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_and_are_checked_often() {
        let c = check(2, 10_000);
        let mut v = Verdict::default();
        for age in [0, 100, 5_000, 9_999] {
            assert!(!v.record(fail(), age, &c));
            assert_eq!(v.next_in(age, &c), STARTING_EVERY);
        }
        assert_eq!((v.health, v.failures), (Health::Starting, 0));
        // After it, the interval, and retries count.
        assert_eq!(v.next_in(10_000, &c), Duration::from_millis(2000));
        assert!(!v.record(fail(), 10_000, &c));
        assert!(v.record(fail(), 12_000, &c));
        assert_eq!(v.health, Health::Unhealthy);
    }

    #[test]
    fn a_healthy_replica_that_fails_in_its_start_period_counts_it() {
        let c = check(1, 60_000);
        let mut v = Verdict::default();
        v.record(Ok(()), 0, &c);
        assert!(v.record(fail(), 1_000, &c));
        assert_eq!(v.health, Health::Unhealthy);
    }

    #[tokio::test]
    async fn http_checks_read_the_status_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.0 200 OK\r\n\r\nok",
                "HTTP/1.1 503 Busy\r\n\r\n",
                "garbage",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let t = Duration::from_secs(2);
        assert_eq!(http_check("127.0.0.1", port, "/healthz", t).await, Ok(()));
        assert_eq!(
            http_check("127.0.0.1", port, "/healthz", t).await,
            Err("GET /healthz answered 503".into())
        );
        assert_eq!(
            http_check("127.0.0.1", port, "/healthz", t).await,
            Err("the answer is not HTTP".into())
        );
        let closed = http_check("127.0.0.1", port, "/healthz", t)
            .await
            .unwrap_err();
        assert!(
            closed.starts_with("cannot connect to 127.0.0.1:"),
            "{closed}"
        );
    }

    #[tokio::test]
    async fn targets_are_replaced_and_due_ones_handed_out_once() {
        let p = Prober::default();
        let t = Target {
            service_id: 1,
            address: "127.0.0.1".into(),
            port: 1,
            path: "/".into(),
            check: check(1, 0),
        };
        p.set_targets(HashMap::from([("a".to_string(), t.clone())]));
        let (due, _) = p.due(Instant::now());
        assert_eq!(due.len(), 1);
        assert!(p.due(Instant::now()).0.is_empty(), "busy until recorded");
        assert_eq!(p.record("a", Ok(())), Some(1));
        assert_eq!(p.health("a"), Health::Healthy);
        assert_eq!(p.record("a", Ok(())), None);
        p.set_targets(HashMap::new());
        assert_eq!(p.health("a"), Health::Starting);
    }
}
