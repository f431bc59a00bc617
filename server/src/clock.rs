//! Time for records, reports and the reconciler's decisions. The pure core never
//! reads a clock: it is handed `now`. The loop reads the [`Clock`] in `AppState`,
//! so that its tests move time by hand instead of sleeping.

#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Where the loop reads the time (ms since the Unix epoch).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system's clock: Berth's own.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that moves only when told to: loop tests wait out back-offs, graces
/// and monitor windows in no time. For tests only.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock at `start_ms`.
    pub fn at(start_ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(start_ms))
    }

    /// Moves the clock on by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(250);
        assert_eq!(c.now_ms(), 1_250);
        assert!(SystemClock.now_ms() > 1_600_000_000_000);
    }
}
