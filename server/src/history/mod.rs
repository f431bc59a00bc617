//! The last hour, sampled every step (10 s unless `--history-every` says): each
//! replica's CPU and memory, and each service's requests per second, error rate
//! and p99 through this instance's proxy. Kept in memory only (a restart starts
//! it again: nothing in it is needed to run), bounded by the hour and by
//! [`MAX_VALUES`].
//!
//! - `series`: one series (pure), and the sums that make its values.
//! - `sampler`: the task that reads the engines and the proxy every step.
//!
//! Every read takes the hour's times and the series that line up with them; the
//! pages draw them, `/metrics` gives the latest step of each.

pub mod sampler;
pub mod series;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::proxy::stats::Sample;
use crate::runtime::Reading;
use series::Series;

/// How many values the replicas' series may hold in all (4 bytes each): 58 MB,
/// an hour of 20,000 replicas at 10 s (2,000 at 1 s). Past it, series of
/// replicas that are gone make way first; then new replicas are left out
/// (`berth_history_replicas_left_out` says how many).
pub const MAX_VALUES: usize = 14_400_000;

/// How long the history reaches back.
pub const HOUR: Duration = Duration::from_secs(3600);

/// One replica's reading in a step.
#[derive(Debug, Clone)]
pub struct ReplicaReading {
    pub container_id: String,
    pub service_id: i64,
    pub slot: u32,
    pub host_id: i64,
    pub reading: Reading,
}

/// A replica's counters in the proxy, read in a step.
#[derive(Debug, Clone)]
pub struct BackendCount {
    /// `None` once no route names it (draining): the service it had is kept.
    pub service_id: Option<i64>,
    pub container_id: String,
    pub sample: Sample,
}

/// What one step read: when, how long since the last step's proxy counters, the
/// replicas the engines answered for, the proxy's counters and the services
/// with a route.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub at_ms: i64,
    pub proxy_secs: f64,
    pub replicas: Vec<ReplicaReading>,
    pub backends: Vec<BackendCount>,
    pub routed: Vec<i64>,
}

/// A replica's last hour.
#[derive(Debug, Clone, Default)]
pub struct ReplicaSeries {
    pub service_id: i64,
    pub slot: u32,
    pub host_id: i64,
    pub cpu: Series,
    pub memory: Series,
}

/// A service's traffic over the last hour.
#[derive(Debug, Clone, Default)]
pub struct TrafficSeries {
    pub requests_per_second: Series,
    pub error_rate: Series,
    pub p99_ms: Series,
}

#[derive(Debug, Default)]
struct Inner {
    /// The number of the last step (the first is 1).
    step: u64,
    /// Wall-clock times of the steps kept, the last one `step`'s.
    times: VecDeque<i64>,
    replicas: HashMap<String, ReplicaSeries>,
    services: HashMap<i64, TrafficSeries>,
    /// Each replica's last reading, for the next step's CPU figure.
    readings: HashMap<String, Reading>,
    /// Each replica's last counters in the proxy and its service, for the next
    /// step's traffic.
    counts: HashMap<String, (i64, Sample)>,
    /// Replicas not kept for want of room ([`MAX_VALUES`]) in the last step.
    left_out: usize,
}

/// The history: one per instance, shared through `AppState`.
#[derive(Debug)]
pub struct History {
    every: Duration,
    keep: usize,
    /// [`MAX_VALUES`], or less in tests.
    max_values: usize,
    inner: Mutex<Inner>,
}

/// The hour's times and which steps they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Times {
    pub first: u64,
    pub last: u64,
    pub times_ms: Vec<i64>,
}

impl History {
    /// A history sampled every `every`, reaching back an hour.
    pub fn new(every: Duration) -> Self {
        History::bounded(every, MAX_VALUES)
    }

    /// A history whose replicas' series hold at most `max_values` in all.
    pub fn bounded(every: Duration, max_values: usize) -> Self {
        let every = every.max(Duration::from_millis(100));
        let keep = (HOUR.as_millis() / every.as_millis()).clamp(1, 36_000) as usize;
        History {
            every,
            keep,
            max_values,
            inner: Mutex::default(),
        }
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while recording leaves plain numbers behind: still readable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps one step: every replica's CPU (from its reading before) and memory,
    /// and every service's traffic (from its replicas' counters since the last
    /// step; the first step is only where counting starts); forgets what left
    /// the hour.
    pub fn record(&self, s: Step) {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.step += 1;
        let step = inner.step;
        inner.times.push_back(s.at_ms);
        while inner.times.len() > self.keep {
            inner.times.pop_front();
        }
        self.record_replicas(inner, step, s.replicas);
        record_traffic(inner, step, s.proxy_secs, s.backends, &s.routed, self.keep);
        let keep = self.keep;
        inner.replicas.retain(|_, r| {
            r.cpu.forget(step, keep);
            r.memory.forget(step, keep);
            !(r.cpu.is_blank() && r.memory.is_blank())
        });
        let replicas = &inner.replicas;
        inner.readings.retain(|id, _| replicas.contains_key(id));
        inner.services.retain(|_, t| {
            t.requests_per_second.forget(step, keep);
            t.error_rate.forget(step, keep);
            t.p99_ms.forget(step, keep);
            !t.requests_per_second.is_blank()
        });
    }

    /// How many replicas' series fit in the bound at this step.
    fn max_replicas(&self) -> usize {
        (self.max_values / (2 * self.keep)).max(1)
    }

    fn record_replicas(&self, inner: &mut Inner, step: u64, readings: Vec<ReplicaReading>) {
        let new = readings
            .iter()
            .filter(|r| !inner.replicas.contains_key(&r.container_id))
            .count();
        if inner.replicas.len() + new > self.max_replicas() {
            // Gone replicas (not read in the last two steps) make way.
            inner
                .replicas
                .retain(|_, r| r.memory.last_step().is_some_and(|last| last + 1 >= step));
        }
        inner.left_out = 0;
        for r in readings {
            let before = inner.readings.get(&r.container_id);
            let cpu = before.and_then(|b| series::cpu_percent(b, &r.reading));
            if !inner.replicas.contains_key(&r.container_id) {
                if inner.replicas.len() >= self.max_replicas() {
                    inner.left_out += 1;
                    continue;
                }
                let made = ReplicaSeries {
                    service_id: r.service_id,
                    slot: r.slot,
                    host_id: r.host_id,
                    ..Default::default()
                };
                inner.replicas.insert(r.container_id.clone(), made);
            }
            let Some(series) = inner.replicas.get_mut(&r.container_id) else {
                continue;
            };
            if let Some(cpu) = cpu {
                series.cpu.record(step, cpu, self.keep);
            }
            series
                .memory
                .record(step, r.reading.memory_bytes as f64, self.keep);
            // A reading missed in a step keeps the one before for the next.
            inner.readings.insert(r.container_id, r.reading);
        }
    }

    /// The steps kept and their times.
    pub fn times(&self) -> Times {
        let g = self.lock();
        times(&g)
    }

    /// A service's replicas kept (by slot), and its traffic if any went
    /// through the proxy in the hour; all under one lock, so they line up.
    pub fn service(&self, service_id: i64) -> ServiceSeries {
        let g = self.lock();
        let mut replicas: Vec<(String, ReplicaSeries)> = g
            .replicas
            .iter()
            .filter(|(_, r)| r.service_id == service_id)
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect();
        replicas.sort_by(|a, b| (a.1.slot, &a.0).cmp(&(b.1.slot, &b.0)));
        ServiceSeries {
            times: times(&g),
            replicas,
            traffic: g.services.get(&service_id).cloned(),
        }
    }

    /// The replicas on a host that `visible` lets through, added up step by step:
    /// CPU, memory and how many were sampled.
    pub fn host(&self, host_id: i64, visible: impl Fn(i64) -> bool) -> HostSums {
        let g = self.lock();
        let t = times(&g);
        let n = t.times_ms.len();
        let (mut cpu, mut memory, mut count) = (vec![None; n], vec![None; n], vec![0u32; n]);
        for r in g
            .replicas
            .values()
            .filter(|r| r.host_id == host_id && visible(r.service_id))
        {
            for (i, step) in (t.first..=t.last).enumerate() {
                if let Some(v) = r.cpu.at(step) {
                    *cpu[i].get_or_insert(0.0) += v;
                }
                if let Some(v) = r.memory.at(step) {
                    *memory[i].get_or_insert(0.0) += v;
                    count[i] += 1;
                }
            }
        }
        HostSums {
            times: t,
            cpu_percent: cpu,
            memory_bytes: memory,
            replicas: count,
        }
    }

    /// The traffic of the services `wanted` names, those with any in the hour.
    pub fn traffic(&self, wanted: &[i64]) -> (Times, Vec<(i64, TrafficSeries)>) {
        let g = self.lock();
        let out = wanted
            .iter()
            .filter_map(|id| Some((*id, g.services.get(id)?.clone())))
            .collect();
        (times(&g), out)
    }

    /// The latest step of every replica sampled in it (container id, its series'
    /// owner, CPU, memory) and of every service's traffic, for `/metrics`.
    pub fn latest(&self) -> Latest {
        let g = self.lock();
        let step = g.step;
        let replicas = g
            .replicas
            .iter()
            .filter_map(|(id, r)| {
                Some(LatestReplica {
                    memory_bytes: r.memory.at(step)?,
                    cpu_percent: r.cpu.at(step),
                    container_id: id.clone(),
                    service_id: r.service_id,
                    slot: r.slot,
                    host_id: r.host_id,
                })
            })
            .collect();
        let services = g
            .services
            .iter()
            .filter_map(|(id, t)| {
                Some(LatestTraffic {
                    service_id: *id,
                    requests_per_second: t.requests_per_second.at(step)?,
                    error_rate: t.error_rate.at(step),
                    p99_ms: t.p99_ms.at(step),
                })
            })
            .collect();
        Latest {
            replicas,
            services,
            left_out: g.left_out,
        }
    }
}

/// A service's last hour, lined up with `times`.
#[derive(Debug, Clone)]
pub struct ServiceSeries {
    pub times: Times,
    /// By container id, in slot order.
    pub replicas: Vec<(String, ReplicaSeries)>,
    pub traffic: Option<TrafficSeries>,
}

/// The replicas on a host added up, lined up with `times`.
#[derive(Debug, Clone)]
pub struct HostSums {
    pub times: Times,
    pub cpu_percent: Vec<Option<f64>>,
    pub memory_bytes: Vec<Option<f64>>,
    /// How many replicas were sampled at each step.
    pub replicas: Vec<u32>,
}

/// The latest step, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Latest {
    pub replicas: Vec<LatestReplica>,
    pub services: Vec<LatestTraffic>,
    pub left_out: usize,
}

/// A replica sampled in the latest step.
#[derive(Debug, Clone)]
pub struct LatestReplica {
    pub container_id: String,
    pub service_id: i64,
    pub slot: u32,
    pub host_id: i64,
    /// `None` in its first step (CPU needs two readings).
    pub cpu_percent: Option<f64>,
    pub memory_bytes: f64,
}

/// A service's traffic in the latest step.
#[derive(Debug, Clone)]
pub struct LatestTraffic {
    pub service_id: i64,
    pub requests_per_second: f64,
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn times(g: &Inner) -> Times {
    let n = g.times.len() as u64;
    Times {
        first: (g.step + 1).saturating_sub(n).max(1),
        last: g.step,
        times_ms: g.times.iter().copied().collect(),
    }
}

/// Each service's requests in the step: the sum over its replicas of what each
/// counted since the last step (a replica new to the proxy counted from 0; one
/// draining still counted for the service it had). Every routed service has a
/// value: 0 per second without requests or replicas.
fn record_traffic(
    inner: &mut Inner,
    step: u64,
    secs: f64,
    backends: Vec<BackendCount>,
    routed: &[i64],
    keep: usize,
) {
    let first = step == 1;
    let mut by_service: BTreeMap<i64, Vec<Sample>> =
        routed.iter().map(|id| (*id, Vec::new())).collect();
    let mut counts = HashMap::with_capacity(backends.len());
    for b in backends {
        let known = inner.counts.get(&b.container_id);
        let Some(service_id) = b.service_id.or(known.map(|(s, _)| *s)) else {
            continue;
        };
        let since = match known {
            Some((_, before)) => b.sample.since(before),
            None => b.sample.clone(),
        };
        by_service.entry(service_id).or_default().push(since);
        counts.insert(b.container_id, (service_id, b.sample));
    }
    inner.counts = counts;
    if first {
        return;
    }
    for (service_id, samples) in by_service {
        let t = series::traffic(&samples, secs);
        let s = inner.services.entry(service_id).or_default();
        s.requests_per_second
            .record(step, t.requests_per_second, keep);
        if let Some(e) = t.error_rate {
            s.error_rate.record(step, e, keep);
        }
        if let Some(p) = t.p99_ms {
            s.p99_ms.record(step, p, keep);
        }
    }
}

#[cfg(test)]
mod tests;
