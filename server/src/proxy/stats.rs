//! What the proxy counts per backend: requests, errors, requests in flight and a
//! latency histogram, all atomics (the hot path never locks); and the windows that
//! turn them into rates and percentiles over the last seconds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds: 50 µs growing by half each
/// step, to about a minute; the last bucket takes the rest.
pub fn bucket_bounds() -> &'static [u64] {
    static BOUNDS: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut b = Vec::new();
        let mut v = 50.0f64;
        while v < 60_000_000.0 {
            b.push(v.round() as u64);
            v *= 1.5;
        }
        b
    })
}

/// The bucket of a latency.
fn bucket(micros: u64) -> usize {
    let bounds = bucket_bounds();
    bounds.partition_point(|b| *b < micros)
}

/// A backend's counters.
#[derive(Debug)]
pub struct BackendStats {
    pub requests: AtomicU64,
    /// Failed requests: the proxy could not get an answer, or the answer was 5xx.
    pub errors: AtomicU64,
    pub in_flight: AtomicU64,
    /// Connect failures in a row; ejected past a few.
    pub connect_failures: AtomicU64,
    /// Until when (ms on the proxy's clock) it is passed over.
    pub ejected_until_ms: AtomicI64,
    /// All latencies added up, in microseconds (Prometheus's `_sum`).
    pub latency_sum_us: AtomicU64,
    latency: Vec<AtomicU64>,
}

impl Default for BackendStats {
    fn default() -> Self {
        BackendStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            ejected_until_ms: AtomicI64::new(0),
            latency_sum_us: AtomicU64::new(0),
            latency: (0..=bucket_bounds().len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

/// A copy of a backend's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub requests: u64,
    pub errors: u64,
    pub latency: Vec<u64>,
}

impl BackendStats {
    /// Counts a finished request (its time to the answer's head).
    pub fn record(&self, took: Duration, error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.latency[bucket(micros)].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn sample(&self) -> Sample {
        Sample {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: self
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

impl Sample {
    /// Adds `other`'s counts to these (several replicas as one).
    pub fn add(&mut self, other: &Sample) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (sum, n) in self.latency.iter_mut().zip(&other.latency) {
            *sum += n;
        }
    }

    /// What happened between `earlier` and this sample.
    pub fn since(&self, earlier: &Sample) -> Sample {
        Sample {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: self
                .latency
                .iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(earlier.latency.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }

    /// How many took at least `micros`, by whole buckets: those whose lower
    /// bound is at or above it (so never more than truly did).
    pub fn at_least(&self, micros: u64) -> u64 {
        let bounds = bucket_bounds();
        self.latency
            .iter()
            .enumerate()
            .filter(|(i, _)| i.checked_sub(1).is_some_and(|j| bounds[j] >= micros))
            .map(|(_, n)| *n)
            .sum()
    }

    /// The `q` quantile (0..1) of the latencies, in milliseconds, interpolated
    /// within its bucket; `None` without requests.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let bounds = bucket_bounds();
        let want = (q * total as f64).ceil().max(1.0);
        let mut seen = 0f64;
        for (i, n) in self.latency.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let before = seen;
            seen += *n as f64;
            if seen >= want {
                let low = if i == 0 { 0.0 } else { bounds[i - 1] as f64 };
                let high = bounds.get(i).map(|b| *b as f64).unwrap_or(low * 1.5);
                let frac = (want - before) / *n as f64;
                return Some((low + (high - low) * frac) / 1000.0);
            }
        }
        None
    }
}

/// The last seconds of samples of one backend, oldest first.
#[derive(Debug, Default)]
pub struct Window {
    samples: VecDeque<(i64, Sample)>,
}

/// How far back rates and percentiles look.
pub const WINDOW_MS: i64 = 10_000;

impl Window {
    /// Keeps a sample taken at `now_ms`, forgetting what is older than the window.
    pub fn push(&mut self, now_ms: i64, s: Sample) {
        self.samples.push_back((now_ms, s));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now_ms - *t > WINDOW_MS)
        {
            self.samples.pop_front();
        }
    }

    /// Requests per second, error rate (0..1) and the window's sample, from the oldest
    /// sample kept to `now`.
    pub fn rates(&self, now_ms: i64, now: &Sample) -> (f64, f64, Sample) {
        let Some((t, oldest)) = self.samples.front() else {
            return (0.0, 0.0, Sample::default());
        };
        let d = now.since(oldest);
        let secs = ((now_ms - t) as f64 / 1000.0).max(1.0);
        let rate = if d.requests == 0 {
            0.0
        } else {
            d.errors as f64 / d.requests as f64
        };
        (d.requests as f64 / secs, rate, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_by_half_from_50_microseconds() {
        let b = bucket_bounds();
        assert_eq!(&b[..4], [50, 75, 113, 169]);
        assert!(*b.last().unwrap() >= 40_000_000);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(50), 0);
        assert_eq!(bucket(51), 1);
        assert_eq!(bucket(u64::MAX), b.len());
    }

    #[test]
    fn percentiles_and_rates_over_the_window() {
        let s = BackendStats::default();
        for _ in 0..98 {
            s.record(Duration::from_micros(400), false);
        }
        s.record(Duration::from_millis(20), true);
        s.record(Duration::from_millis(20), true);
        let now = s.sample();
        let p50 = now.quantile_ms(0.5).unwrap();
        assert!((0.25..=0.6).contains(&p50), "{p50}");
        let p99 = now.quantile_ms(0.99).unwrap();
        assert!((10.0..=30.0).contains(&p99), "{p99}");
        assert_eq!(Sample::default().quantile_ms(0.5), None);

        let mut w = Window::default();
        w.push(0, Sample::default());
        let (rps, err, d) = w.rates(5_000, &now);
        assert_eq!(d.requests, 100);
        assert!((rps - 20.0).abs() < 1e-9, "{rps}");
        assert!((err - 0.02).abs() < 1e-9, "{err}");
        // Old samples leave the window.
        w.push(20_000, now.clone());
        let (rps, _, _) = w.rates(21_000, &now);
        assert_eq!(rps, 0.0);
    }
}
