//! One series of the last hour (pure): a value per sampler step, numbered, so
//! that every series of an answer lines up with the same times; and the sums
//! that turn raw counters into what is drawn (CPU from two readings, a service's
//! traffic from its replicas' counters).

use std::collections::VecDeque;

use crate::proxy::stats::Sample;
use crate::runtime::Reading;

/// Values of consecutive steps, `first` being the step of the oldest. A step
/// without a value holds NaN (4 bytes a step: an hour at 10 s is 1.4 KB).
#[derive(Debug, Clone, Default)]
pub struct Series {
    first: u64,
    values: VecDeque<f32>,
    /// The last step given a value: whether any is left is known without
    /// reading them all.
    last: Option<u64>,
}

impl Series {
    /// Records `v` at `step`, keeping the `keep` latest steps. A step already
    /// recorded is replaced; steps skipped in between hold no value. Room grows
    /// as values come, never past `keep`.
    pub fn record(&mut self, step: u64, v: f64, keep: usize) {
        let next = self.first + self.values.len() as u64;
        if !self.values.is_empty() && step < next {
            if let Some(slot) = step
                .checked_sub(self.first)
                .and_then(|i| self.values.get_mut(i as usize))
            {
                *slot = v as f32;
                self.last = self.last.max(Some(step));
            }
            return;
        }
        if self.values.is_empty() || step >= next + keep as u64 {
            self.values.clear();
            self.first = step;
        } else {
            // Forget first, so that the skipped steps and this one fit.
            self.forget(step, keep);
        }
        let next = self.first + self.values.len() as u64;
        let gap = (step - next) as usize;
        self.room(self.values.len() + gap + 1, keep);
        self.values.extend(std::iter::repeat_n(f32::NAN, gap));
        self.values.push_back(v as f32);
        self.last = Some(step);
    }

    /// Room for `needed` values: twice what there is, at most `keep`.
    fn room(&mut self, needed: usize, keep: usize) {
        if needed > self.values.capacity() {
            let want = (self.values.capacity() * 2).clamp(needed, keep.max(needed));
            self.values.reserve_exact(want - self.values.len());
        }
    }

    /// The last step given a value.
    pub fn last_step(&self) -> Option<u64> {
        self.last
    }

    /// Forgets the steps older than the `keep` latest up to `now`.
    pub fn forget(&mut self, now: u64, keep: usize) {
        let oldest = (now + 1).saturating_sub(keep as u64);
        while self.first < oldest && self.values.pop_front().is_some() {
            self.first += 1;
        }
        if self.values.is_empty() {
            self.first = oldest;
        }
    }

    /// Whether no step kept holds a value.
    pub fn is_blank(&self) -> bool {
        self.last
            .is_none_or(|last| last < self.first || self.values.is_empty())
    }

    /// The value at `step`, if one was recorded.
    pub fn at(&self, step: u64) -> Option<f64> {
        let i = step.checked_sub(self.first)?;
        let v = *self.values.get(i as usize)?;
        (!v.is_nan()).then_some(f64::from(v))
    }

    /// The values of the steps `from..=to`, `None` where none was recorded.
    pub fn aligned(&self, from: u64, to: u64) -> Vec<Option<f64>> {
        (from..=to).map(|s| self.at(s)).collect()
    }
}

/// Percent of one CPU a container used between two readings: its CPU time over
/// the host's (all CPUs), times the CPUs, as `docker stats` counts it. `None`
/// when the counters went back (a restarted container) or no time passed.
pub fn cpu_percent(before: &Reading, now: &Reading) -> Option<f64> {
    let cpu = now.cpu_ns.checked_sub(before.cpu_ns)?;
    let system = now.system_ns.checked_sub(before.system_ns)?;
    (system > 0).then(|| cpu as f64 / system as f64 * f64::from(now.cpus.max(1)) * 100.0)
}

/// A service's traffic in one step: requests per second, error rate and p99
/// (ms), from what its replicas counted during the step (`secs` long).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    pub requests_per_second: f64,
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Adds up the replicas' counts of one step.
pub fn traffic<'a>(counts: impl IntoIterator<Item = &'a Sample>, secs: f64) -> Traffic {
    let mut all = Sample::default();
    for c in counts {
        all.add(c);
    }
    let requests = all.requests as f64;
    Traffic {
        requests_per_second: if secs > 0.0 { requests / secs } else { 0.0 },
        error_rate: (all.requests > 0).then(|| all.errors as f64 / requests),
        p99_ms: all.quantile_ms(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn values(s: &Series, from: u64, to: u64) -> Vec<Option<f64>> {
        s.aligned(from, to)
    }

    #[test]
    fn a_series_keeps_the_latest_steps_and_holds_none_where_a_step_was_skipped() {
        let mut s = Series::default();
        s.record(1, 1.0, 3);
        s.record(2, 2.0, 3);
        assert_eq!(values(&s, 0, 3), [None, Some(1.0), Some(2.0), None]);
        // Step 3 skipped: no value, and the oldest step leaves the hour.
        s.record(4, 4.0, 3);
        assert_eq!(values(&s, 1, 4), [None, Some(2.0), None, Some(4.0)]);
        // The same step again replaces it; an older one than kept is ignored.
        s.record(4, 5.0, 3);
        s.record(1, 9.0, 3);
        assert_eq!(values(&s, 2, 4), [Some(2.0), None, Some(5.0)]);
        // A gap longer than what is kept starts again.
        s.record(10, 1.5, 3);
        assert_eq!(values(&s, 8, 10), [None, None, Some(1.5)]);
        s.forget(12, 3);
        assert_eq!(values(&s, 10, 12), [Some(1.5), None, None]);
        assert!(!s.is_blank());
        s.forget(13, 3);
        assert!(s.is_blank());
    }

    #[test]
    fn memory_stays_bounded_whatever_the_steps() {
        let mut s = Series::default();
        for step in 0..10_000 {
            s.record(step * 2, 1.0, 360);
        }
        assert!(s.values.len() <= 360, "{}", s.values.len());
        assert!(s.values.capacity() <= 400, "{}", s.values.capacity());
        // A series given one value takes room for a few, not for the hour.
        let mut once = Series::default();
        once.record(5, 1.0, 360);
        assert!(once.values.capacity() < 16, "{}", once.values.capacity());
    }

    fn reading(cpu_ns: u64, system_ns: u64, cpus: u32) -> Reading {
        Reading {
            cpu_ns,
            system_ns,
            cpus,
            memory_bytes: 0,
        }
    }

    #[test]
    fn cpu_is_the_containers_share_of_the_hosts_time_times_its_cpus() {
        let cases = [
            // (before, now, percent of one CPU)
            (reading(0, 0, 2), reading(1_000, 2_000, 2), Some(100.0)),
            (reading(0, 0, 4), reading(500, 4_000, 4), Some(50.0)),
            (reading(0, 0, 1), reading(0, 1_000, 1), Some(0.0)),
            // A restart sets the container's counter back: no figure.
            (reading(900, 0, 1), reading(100, 1_000, 1), None),
            (reading(0, 1_000, 1), reading(10, 1_000, 1), None),
        ];
        for (before, now, want) in cases {
            assert_eq!(cpu_percent(&before, &now), want, "{before:?} {now:?}");
        }
    }

    #[test]
    fn a_services_traffic_adds_up_its_replicas() {
        let fast = crate::proxy::stats::BackendStats::default();
        let slow = crate::proxy::stats::BackendStats::default();
        for _ in 0..95 {
            fast.record(Duration::from_millis(1), false);
        }
        for _ in 0..5 {
            slow.record(Duration::from_millis(200), true);
        }
        let t = traffic([&fast.sample(), &slow.sample()], 10.0);
        assert_eq!(t.requests_per_second, 10.0);
        assert_eq!(t.error_rate, Some(0.05));
        let p99 = t.p99_ms.unwrap();
        assert!((150.0..=260.0).contains(&p99), "{p99}");
        let idle = traffic([&Sample::default()], 10.0);
        assert_eq!(
            idle,
            Traffic {
                requests_per_second: 0.0,
                error_rate: None,
                p99_ms: None
            }
        );
    }
}
