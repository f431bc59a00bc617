//! Failed-login limiting: at most `max` failures per key (an account, a client
//! address) in a sliding window. Pure: the caller passes `now`. An attempt is
//! counted before its password is checked ([`LoginLimiter::attempt`]) and forgiven
//! once it turns out right, so that parallel guesses cannot all pass the check
//! while the first ones are still being verified.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Keys kept at most; past this the quietest keys are forgotten first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    max: usize,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl LoginLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        LoginLimiter {
            window,
            max,
            failures: HashMap::new(),
        }
    }

    /// `Err(wait)` when any of `keys` is over the limit: how long until one more
    /// attempt is allowed.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut wait = Duration::ZERO;
        for key in keys {
            let Some(times) = self.failures.get(key) else {
                continue;
            };
            let recent: Vec<&Instant> = times
                .iter()
                .filter(|t| now.duration_since(**t) < self.window)
                .collect();
            if recent.len() >= self.max {
                // The attempt after the oldest recent failure leaves the window.
                let oldest = recent[recent.len() - self.max];
                wait = wait.max(self.window - now.duration_since(*oldest));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Checks the keys and, when none is over the limit, counts this attempt
    /// against each at once (as a failure, until [`LoginLimiter::forgive`]).
    pub fn attempt(&mut self, keys: &[String], now: Instant) -> Result<(), Duration> {
        self.check(keys, now)?;
        self.record_failure(keys, now);
        Ok(())
    }

    /// Takes back an attempt counted at `now` (it succeeded).
    pub fn forgive(&mut self, keys: &[String], now: Instant) {
        for key in keys {
            if let Some(times) = self.failures.get_mut(key) {
                if let Some(i) = times.iter().rposition(|t| *t == now) {
                    times.remove(i);
                }
                if times.is_empty() {
                    self.failures.remove(key);
                }
            }
        }
    }

    /// Counts a failure against every key.
    pub fn record_failure(&mut self, keys: &[String], now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            self.forget_old(now);
        }
        for key in keys {
            let times = self.failures.entry(key.clone()).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            times.push_back(now);
        }
    }

    /// Forgets the failures of `key` (a successful login clears its account).
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    fn forget_old(&mut self, now: Instant) {
        let window = self.window;
        self.failures.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn five_failures_a_minute_then_wait() {
        let mut l = LoginLimiter::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        let k = keys(&["user:alice", "addr:127.0.0.1"]);
        for i in 0..5 {
            assert!(
                l.check(&k, t0 + Duration::from_secs(i)).is_ok(),
                "attempt {i}"
            );
            l.record_failure(&k, t0 + Duration::from_secs(i));
        }
        // The sixth, 10 s after the first, waits until the first leaves the window.
        assert_eq!(
            l.check(&k, t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
        assert!(l.check(&k, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn keys_count_separately_and_any_key_over_blocks() {
        let mut l = LoginLimiter::new(2, Duration::from_secs(60));
        let t = Instant::now();
        l.record_failure(&keys(&["user:a", "addr:1"]), t);
        l.record_failure(&keys(&["user:b", "addr:1"]), t);
        // addr:1 is full, so user:c from that address waits too.
        assert!(l.check(&keys(&["user:c", "addr:1"]), t).is_err());
        // user:a from another address may try.
        assert!(l.check(&keys(&["user:a", "addr:2"]), t).is_ok());
    }

    #[test]
    fn attempts_count_before_they_are_checked_and_successes_are_forgiven() {
        let mut l = LoginLimiter::new(3, Duration::from_secs(60));
        let t = Instant::now();
        let k = keys(&["user:a", "addr:1"]);
        // Three guesses in flight at once: the fourth is refused before any of
        // them is answered.
        for _ in 0..3 {
            assert!(l.attempt(&k, t).is_ok());
        }
        assert!(l.attempt(&k, t).is_err());
        // Successful logins do not use up the allowance.
        let mut l = LoginLimiter::new(3, Duration::from_secs(60));
        for i in 0..10 {
            let at = t + Duration::from_millis(i);
            assert!(l.attempt(&k, at).is_ok(), "login {i}");
            l.forgive(&k, at);
        }
    }

    #[test]
    fn clearing_an_account_forgets_its_failures() {
        let mut l = LoginLimiter::new(1, Duration::from_secs(60));
        let t = Instant::now();
        l.record_failure(&keys(&["user:a"]), t);
        assert!(l.check(&keys(&["user:a"]), t).is_err());
        l.clear("user:a");
        assert!(l.check(&keys(&["user:a"]), t).is_ok());
    }
}
