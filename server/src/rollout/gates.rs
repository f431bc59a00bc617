//! Gates (pure): what the proxy counted of a rollout's new replicas over the
//! last window, and whether it breaches the rollout's limits, in words with
//! the figures ("new replicas answered 4.2% 5xx over 30 s, limit 1%").

use std::collections::{BTreeMap, VecDeque};

use domain::wire::{Gates, Ratio};

use crate::proxy::stats::Sample;

/// Fewer requests than this in the window are not judged: one failure in three
/// requests is not a 33% error rate to roll back for.
pub const MIN_REQUESTS: u64 = 20;

/// Nor fewer failures than this: one early 5xx is not a trend.
pub const MIN_ERRORS: u64 = 3;

/// A rollout's new replicas as the proxy counted them: what they answered
/// second by second (bounded by the window: at most 601 sums, whatever the
/// replicas), and each one's counters at the last look.
#[derive(Debug, Default, Clone)]
pub struct Watch {
    /// When watching began.
    started: Option<i64>,
    /// Each new replica's counters at the last look.
    last: BTreeMap<String, Sample>,
    /// (second, what the new replicas answered in it), oldest first.
    seconds: VecDeque<(i64, Sample)>,
    /// When each new replica running now was first seen (in the proxy or not
    /// yet: the last batch is watched from its start).
    first_seen: BTreeMap<String, i64>,
}

impl Watch {
    /// Adds what the new replicas running (`ids`; those in the proxy have
    /// `counts`) answered since the last look, and forgets the seconds the
    /// window no longer reaches. The first look only starts counting; a replica
    /// new to the proxy counts from zero; one whose counters went back (it left
    /// the proxy and came back) counts from zero again; one that left keeps
    /// what it answered.
    pub fn push(
        &mut self,
        now: i64,
        ids: &[String],
        counts: BTreeMap<String, Sample>,
        window_ms: i64,
    ) {
        for id in ids {
            self.first_seen.entry(id.clone()).or_insert(now);
        }
        self.first_seen.retain(|id, _| ids.contains(id));
        let first = self.started.is_none();
        self.started.get_or_insert(now);
        let mut answered = Sample::default();
        for (id, c) in &counts {
            match self.last.get(id) {
                _ if first => {}
                Some(before) if c.requests >= before.requests => answered.add(&c.since(before)),
                _ => answered.add(c),
            }
        }
        self.last = counts;
        let second = now.div_euclid(1000);
        match self.seconds.back_mut() {
            Some((s, sum)) if *s == second => sum.add(&answered),
            _ => self.seconds.push_back((second, answered)),
        }
        let oldest = (now - window_ms).div_euclid(1000);
        while self.seconds.front().is_some_and(|(s, _)| *s < oldest) {
            self.seconds.pop_front();
        }
    }

    /// What the new replicas answered over the window (or since watching
    /// began, when later), and over how long.
    pub fn observed(&self, now: i64, window_ms: i64) -> Option<(Sample, i64)> {
        let started = self.started?;
        let mut sum = Sample::default();
        for (_, s) in &self.seconds {
            sum.add(s);
        }
        Some((sum, now - started.max(now - window_ms)))
    }

    /// Whether watching has gone on a whole window, and every new replica
    /// running now was watched that long.
    pub fn watched_all(&self, now: i64, window_ms: i64) -> bool {
        self.started.is_some_and(|s| now - s >= window_ms)
            && self.first_seen.values().all(|t| now - t >= window_ms)
    }
}

/// A limit the new replicas went past.
#[derive(Debug, Clone, PartialEq)]
pub enum Breach {
    ErrorRate {
        rate: f64,
        limit: Ratio,
        over_ms: i64,
    },
    P99 {
        ms: f64,
        limit_ms: u64,
        over_ms: i64,
    },
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: i64| (ms as f64 / 1000.0).round() as i64;
        match self {
            Breach::ErrorRate {
                rate,
                limit,
                over_ms,
            } => write!(
                f,
                "new replicas answered {} 5xx over {} s, limit {limit}",
                domain::format::percent(*rate, 2),
                secs(*over_ms)
            ),
            Breach::P99 {
                ms,
                limit_ms,
                over_ms,
            } => write!(
                f,
                "new replicas' p99 was {ms:.0} ms over {} s, limit {limit_ms} ms",
                secs(*over_ms)
            ),
        }
    }
}

/// Whether what the new replicas answered (`observed`, over `over_ms`) breaches
/// a gate: the error rate first (with at least [`MIN_REQUESTS`] requests and
/// [`MIN_ERRORS`] failures), then the p99: more than 1% of the requests in
/// latency buckets wholly above the limit (buckets are 1.5 times wide: a p99
/// read between their bounds could pass a limit no request did).
pub fn judge(gates: &Gates, observed: &Sample, over_ms: i64) -> Option<Breach> {
    if observed.requests < MIN_REQUESTS {
        return None;
    }
    if let Some(limit) = gates.max_error_rate {
        let rate = observed.errors as f64 / observed.requests as f64;
        if observed.errors >= MIN_ERRORS && rate > limit.as_f64() {
            return Some(Breach::ErrorRate {
                rate,
                limit,
                over_ms,
            });
        }
    }
    let limit_ms = gates.max_p99_ms?;
    let slower = observed.at_least(limit_ms.saturating_mul(1000));
    if slower * 100 <= observed.requests {
        return None;
    }
    Some(Breach::P99 {
        ms: observed.quantile_ms(0.99)?,
        limit_ms,
        over_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::stats::BackendStats;
    use std::time::Duration;

    fn gates(rate: Option<u32>, p99: Option<u64>) -> Gates {
        Gates {
            max_error_rate: rate.map(Ratio),
            max_p99_ms: p99,
            window_ms: 30_000,
        }
    }

    /// `n` requests of `ms` each, `failed` of them failed.
    fn answered(n: u64, failed: u64, ms: u64) -> Sample {
        let s = BackendStats::default();
        for i in 0..n {
            s.record(Duration::from_millis(ms), i < failed);
        }
        s.sample()
    }

    #[test]
    fn breaches_are_judged_in_words_with_their_figures() {
        let one_pct = Some(10_000);
        let cases: [(Gates, Sample, Option<&str>); 10] = [
            (
                gates(one_pct, None),
                answered(1000, 42, 5),
                Some("new replicas answered 4.2% 5xx over 30 s, limit 1%"),
            ),
            (gates(one_pct, None), answered(1000, 10, 5), None),
            (
                gates(one_pct, None),
                answered(1000, 11, 5),
                Some("new replicas answered 1.1% 5xx over 30 s, limit 1%"),
            ),
            (
                gates(one_pct, None),
                answered(1000, 105, 5),
                Some("new replicas answered 10.5% 5xx"),
            ),
            // Too few to judge: 5 of 10 failed, but 10 requests say little;
            // nor is one early failure in 30 a trend.
            (gates(one_pct, None), answered(10, 5, 5), None),
            (gates(one_pct, None), answered(30, 2, 5), None),
            (
                gates(None, Some(300)),
                answered(100, 0, 450),
                Some("new replicas' p99 was"),
            ),
            (gates(None, Some(300)), answered(100, 0, 100), None),
            // Just under the limit, in a bucket that reaches past it: no breach.
            (gates(None, Some(300)), answered(100, 0, 260), None),
            // Both limits: the error rate is named first.
            (
                gates(one_pct, Some(300)),
                answered(100, 50, 450),
                Some("5xx over 30 s"),
            ),
        ];
        for (g, seen, want) in cases {
            let got = judge(&g, &seen, 30_000).map(|b| b.to_string());
            match want {
                None => assert_eq!(got, None, "{g:?}"),
                Some(words) => assert!(
                    got.as_deref().is_some_and(|w| w.contains(words)),
                    "{g:?}: {got:?}"
                ),
            }
        }
        let p99 = judge(&gates(None, Some(300)), &answered(100, 0, 450), 29_600).unwrap();
        assert!(
            p99.to_string().ends_with("over 30 s, limit 300 ms"),
            "{p99}"
        );
    }

    fn counts(list: &[(&str, Sample)]) -> BTreeMap<String, Sample> {
        list.iter()
            .map(|(id, s)| (id.to_string(), s.clone()))
            .collect()
    }

    /// Looks at `list` as the replicas running, each counted by the proxy.
    fn look(w: &mut Watch, now: i64, list: &[(&str, Sample)]) {
        let ids: Vec<String> = list.iter().map(|(id, _)| id.to_string()).collect();
        w.push(now, &ids, counts(list), 30_000);
    }

    fn seen(w: &Watch, now: i64) -> (u64, u64, i64) {
        let (s, over) = w.observed(now, 30_000).unwrap();
        (s.requests, s.errors, over)
    }

    #[test]
    fn the_watch_counts_what_each_replica_answered_since_it_began() {
        let mut w = Watch::default();
        assert!(w.observed(0, 30_000).is_none());
        // The first look only starts counting (a's 10 came before).
        look(&mut w, 0, &[("a", answered(10, 0, 1))]);
        assert_eq!(seen(&w, 0), (0, 0, 0));
        // b joins at 10 s: all it answered counts.
        look(
            &mut w,
            10_000,
            &[("a", answered(30, 1, 1)), ("b", answered(5, 5, 1))],
        );
        assert_eq!(seen(&w, 10_000), (25, 6, 10_000));
        // b leaves: what it answered stays. a's counters went back (it left the
        // proxy and came back): its 4 count from zero.
        look(&mut w, 20_000, &[("a", answered(4, 0, 1))]);
        assert_eq!(seen(&w, 20_000), (29, 6, 20_000));
        // Past the window, the seconds before it are forgotten.
        look(&mut w, 41_000, &[("a", answered(14, 0, 1))]);
        assert_eq!(seen(&w, 41_000), (14, 0, 30_000));
    }

    #[test]
    fn a_rollout_is_watched_a_whole_window_and_its_last_batch_from_its_start() {
        let mut w = Watch::default();
        assert!(!w.watched_all(100_000, 30_000), "not watched at all");
        // Nothing running yet: still a whole window from the first look.
        w.push(0, &[], BTreeMap::new(), 30_000);
        assert!(!w.watched_all(29_999, 30_000));
        look(&mut w, 10_000, &[("a", answered(1, 0, 1))]);
        assert!(!w.watched_all(30_000, 30_000), "a since 10 s");
        assert!(w.watched_all(40_000, 30_000));
        // The last batch, started and not yet in the proxy, is waited for.
        w.push(42_000, &["c".to_string()], BTreeMap::new(), 30_000);
        assert!(!w.watched_all(60_000, 30_000));
        assert!(w.watched_all(72_000, 30_000));
    }

    #[test]
    fn the_watch_stays_bounded_by_its_window() {
        let mut w = Watch::default();
        for t in 0..5_000 {
            look(&mut w, t * 250, &[("a", answered(1, 0, 1))]);
        }
        assert!(w.seconds.len() <= 31, "{}", w.seconds.len());
    }
}
