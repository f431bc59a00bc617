//! Small inline-SVG charts of the last hour: a sparkline (a line over the
//! steps, broken where nothing was sampled), a chart card (a title, the latest
//! figure, the line and its highest point), and the panels that fetch a
//! service's, a host's or the proxy's history and keep it current.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_host_history, get_proxy_history, get_service_history};
use crate::components::widgets::{every, Col, DataTable, ErrorBox};
use crate::format;
use crate::wire::{ReplicaHistory, ServiceHistoryView, TrafficHistory};

/// How a series' values read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Requests per second.
    Rate,
    /// 0 to 1, shown as percent.
    Ratio,
    Ms,
    /// Percent of one CPU.
    Cpu,
    Bytes,
    Count,
}

impl Unit {
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Rate if v < 10.0 => format!("{v:.1}/s"),
            Unit::Rate => format!("{v:.0}/s"),
            Unit::Ratio => format!("{:.1} %", v * 100.0),
            Unit::Ms if v < 10.0 => format!("{v:.2} ms"),
            Unit::Ms => format!("{v:.0} ms"),
            Unit::Cpu => format!("{v:.1} % CPU"),
            Unit::Bytes => format::bytes(v.max(0.0) as i64),
            Unit::Count => format!("{v:.0}"),
        }
    }
}

/// The line's path: `M`/`L` over the values in a `width` × `height` box, from
/// 0 at the bottom to `top` at the top, broken where a value is missing (a
/// lone value is a dot: a zero-length segment with round caps).
pub fn line_path(values: &[Option<f64>], width: f64, height: f64, top: f64) -> String {
    let n = values.len();
    if n == 0 {
        return String::new();
    }
    let pad = 2.0;
    let x = |i: usize| {
        if n == 1 {
            width / 2.0
        } else {
            i as f64 / (n - 1) as f64 * width
        }
    };
    let y = |v: f64| {
        let share = if top > 0.0 {
            (v / top).clamp(0.0, 1.0)
        } else {
            0.0
        };
        height - pad - share * (height - 2.0 * pad)
    };
    let mut out = String::new();
    let mut open = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let (px, py) = (x(i), y(*v));
                if open {
                    out.push_str(&format!("L{px:.1} {py:.1}"));
                } else {
                    out.push_str(&format!("M{px:.1} {py:.1}h0.01"));
                    open = true;
                }
            }
            None => open = false,
        }
    }
    out
}

/// The highest value, or `None` when nothing was sampled.
pub fn highest(values: &[Option<f64>]) -> Option<f64> {
    values.iter().flatten().copied().reduce(f64::max)
}

/// The value of the last step: `None` when nothing was sampled then (an
/// error rate from long ago is not "now").
pub fn latest(values: &[Option<f64>]) -> Option<f64> {
    values.last().copied().flatten()
}

/// A line of the last hour, with its words for screen readers.
#[component]
pub fn Sparkline(
    values: Vec<Option<f64>>,
    unit: Unit,
    /// What it is, for the words: "Requests per second".
    label: String,
    #[prop(default = 120)] width: u32,
    #[prop(default = 28)] height: u32,
    #[prop(default = "accent")] tone: &'static str,
) -> impl IntoView {
    let top = highest(&values).unwrap_or(0.0);
    let words = match (latest(&values), highest(&values)) {
        (Some(now), Some(top)) => format!(
            "{label}: {} now, {} at most in the last hour",
            unit.show(now),
            unit.show(top)
        ),
        (None, Some(top)) => format!(
            "{label}: nothing in the last step, {} at most in the last hour",
            unit.show(top)
        ),
        _ => format!("{label}: nothing sampled in the last hour"),
    };
    let d = line_path(&values, f64::from(width), f64::from(height), top);
    let title = words.clone();
    let points = values.iter().flatten().count();
    view! {
        <svg class=format!("spark spark-{tone}") width=width height=height
            viewBox=format!("0 0 {width} {height}") role="img" aria-label=words
            data-points=points preserveAspectRatio="none">
            <title>{title}</title>
            <line class="spark-base" x1="0" x2=width y1=height - 1 y2=height - 1/>
            <path class="spark-line" d=d/>
        </svg>
    }
}

/// A figure of the last hour: its title, the latest value, the line.
#[component]
pub fn ChartCard(
    /// A short name for tests and styles: `rps`, `errors`, `p99`, `cpu`, `memory`.
    kind: &'static str,
    title: &'static str,
    unit: Unit,
    values: Vec<Option<f64>>,
    #[prop(default = "accent")] tone: &'static str,
) -> impl IntoView {
    let now = latest(&values)
        .map(|v| unit.show(v))
        .unwrap_or_else(|| "–".into());
    let top = highest(&values)
        .map(|v| format!("at most {}", unit.show(v)))
        .unwrap_or_else(|| "nothing sampled yet".into());
    view! {
        <figure class="chart" data-chart=kind>
            <figcaption>
                <span class="field-label">{title}</span>
                <span class="chart-now">{now}</span>
            </figcaption>
            <Sparkline values unit label=title.to_string() width=260 height=56 tone/>
            <div class="small muted">{top}</div>
        </figure>
    }
}

/// Refetches once a step: `step_ms` is learned from the answers (10 s until
/// the first), so a page asks no more often than there is something new.
fn each_step(step_ms: RwSignal<i64>, refetch: impl Fn() + Clone + 'static) {
    let waited = StoredValue::new(0i64);
    every(Duration::from_secs(1), move || {
        let w = waited.get_value() + 1000;
        if w >= step_ms.get_untracked() {
            waited.set_value(0);
            refetch();
        } else {
            waited.set_value(w);
        }
    });
}

/// Adds series up step by step (`None` where none had a value).
fn sum<'a>(all: impl Iterator<Item = &'a Vec<Option<f64>>>, n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; n];
    for series in all {
        for (o, v) in out.iter_mut().zip(series) {
            if let Some(v) = v {
                *o = Some(o.unwrap_or(0.0) + v);
            }
        }
    }
    out
}

/// Words for how far the charts reach.
fn span(times: &[i64], step_ms: i64) -> String {
    let step = format::duration_words(step_ms);
    match (times.first(), times.last()) {
        (Some(a), Some(b)) if b > a => format!(
            "{} to {} UTC, a sample every {step}",
            format::utc_time(*a),
            format::utc_time(*b)
        ),
        _ => format!("The first samples come within {step}."),
    }
}

/// The traffic charts of one service.
#[component]
fn TrafficCharts(t: TrafficHistory) -> impl IntoView {
    view! {
        <ChartCard kind="rps" title="Requests per second" unit=Unit::Rate values=t.requests_per_second/>
        <ChartCard kind="errors" title="Error rate" unit=Unit::Ratio values=t.error_rate tone="bad"/>
        <ChartCard kind="p99" title="p99 latency" unit=Unit::Ms values=t.p99_ms tone="warn"/>
    }
}

/// A service's last hour: its traffic, its replicas' CPU and memory added up,
/// and each replica that runs now; fetched in the browser and kept current.
#[component]
pub fn ServiceCharts(service: String) -> impl IntoView {
    let history = LocalResource::new(move || get_service_history(service.clone()));
    let step_ms = RwSignal::new(10_000);
    each_step(step_ms, move || history.refetch());
    view! {
        <section class="panel" data-history="service" aria-labelledby="history-title">
            <div class="panel-head"><h2 id="history-title">"Last hour"</h2></div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(h) => {
                            step_ms.set(h.step_ms);
                            view! { <ServiceChartsBody h/> }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ServiceChartsBody(h: ServiceHistoryView) -> impl IntoView {
    let n = h.times_ms.len();
    let cpu = sum(h.replicas.iter().map(|r| &r.cpu_percent), n);
    let memory = sum(h.replicas.iter().map(|r| &r.memory_bytes), n);
    let current: Vec<ReplicaHistory> = h.replicas.into_iter().filter(|r| r.current).collect();
    view! {
        <p class="small muted">{span(&h.times_ms, h.step_ms)}</p>
        <div class="charts">
            <TrafficCharts t=h.traffic/>
            <ChartCard kind="cpu" title="CPU, all replicas" unit=Unit::Cpu values=cpu/>
            <ChartCard kind="memory" title="Memory, all replicas" unit=Unit::Bytes values=memory/>
        </div>
        {(!current.is_empty()).then(|| view! {
            <DataTable class="replica-history" caption="Each running replica over the last hour" cols=vec![
                Col::text("Replica"),
                Col::text("CPU"),
                Col::text("Memory"),
            ]>
                    {current.into_iter().map(|r| {
                        let cpu_now = latest(&r.cpu_percent).map(|v| Unit::Cpu.show(v)).unwrap_or_default();
                        let mem_now = latest(&r.memory_bytes).map(|v| Unit::Bytes.show(v)).unwrap_or_default();
                        view! {
                            <tr data-slot=r.slot>
                                <th scope="row">{format!("replica {}", r.slot)}<div class="small muted">{r.host.clone()}</div></th>
                                <td class="nowrap"><Sparkline values=r.cpu_percent unit=Unit::Cpu label=format!("CPU of replica {}", r.slot)/>" "<span class="small">{cpu_now}</span></td>
                                <td class="nowrap"><Sparkline values=r.memory_bytes unit=Unit::Bytes label=format!("Memory of replica {}", r.slot)/>" "<span class="small">{mem_now}</span></td>
                            </tr>
                        }
                    }).collect_view()}
            </DataTable>
        })}
    }
}

/// A host's last hour: the CPU and memory of its replicas (those the reader
/// may see) added up, and how many ran.
#[component]
pub fn HostCharts(host: String) -> impl IntoView {
    let history = LocalResource::new(move || get_host_history(host.clone()));
    let step_ms = RwSignal::new(10_000);
    each_step(step_ms, move || history.refetch());
    view! {
        <section class="panel" data-history="host" aria-labelledby="history-title">
            <div class="panel-head"><h2 id="history-title">"Last hour"</h2></div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(h) => {
                            step_ms.set(h.step_ms);
                            let count: Vec<Option<f64>> = h.replicas.iter().map(|n| Some(f64::from(*n))).collect();
                            view! {
                                <p class="small muted">{span(&h.times_ms, h.step_ms)}" · Berth's replicas only"</p>
                                <div class="charts">
                                    <ChartCard kind="cpu" title="CPU of the replicas" unit=Unit::Cpu values=h.cpu_percent/>
                                    <ChartCard kind="memory" title="Memory of the replicas" unit=Unit::Bytes values=h.memory_bytes/>
                                    <ChartCard kind="replicas" title="Replicas running" unit=Unit::Count values=count tone="ok"/>
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Every routed service's traffic over the last hour, one row each.
#[component]
pub fn ProxyCharts() -> impl IntoView {
    let history = LocalResource::new(get_proxy_history);
    let step_ms = RwSignal::new(10_000);
    each_step(step_ms, move || history.refetch());
    view! {
        <section class="panel" data-history="proxy" aria-labelledby="history-title">
            <div class="panel-head"><h2 id="history-title">"Last hour"</h2></div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(h) if h.services.is_empty() => view! { <p class="muted">"No route yet."</p> }.into_any(),
                        Ok(h) => {
                            step_ms.set(h.step_ms);
                            view! {
                            <p class="small muted">{span(&h.times_ms, h.step_ms)}</p>
                            <DataTable class="traffic-history" caption="Each service's traffic over the last hour" cols=vec![
                                Col::text("Service"),
                                Col::text("Requests per second"),
                                Col::text("Error rate"),
                                Col::text("p99 latency"),
                            ]>
                                    {h.services.into_iter().map(|s| {
                                        let t = s.traffic;
                                        let (key, href, shown) = (s.service.clone(), format!("/services/{}", s.service), s.service.clone());
                                        let service = s.service;
                                        let cell = |values: Vec<Option<f64>>, unit: Unit, label: &str, tone: &'static str| {
                                            let now = latest(&values).map(|v| unit.show(v)).unwrap_or_else(|| "–".into());
                                            view! { <td class="nowrap"><Sparkline values unit label=format!("{label} of {service}") tone/>" "<span class="small">{now}</span></td> }
                                        };
                                        view! {
                                            <tr data-service=key>
                                                <th scope="row"><A href=href>{shown}</A></th>
                                                {cell(t.requests_per_second, Unit::Rate, "Requests per second", "accent")}
                                                {cell(t.error_rate, Unit::Ratio, "Error rate", "bad")}
                                                {cell(t.p99_ms, Unit::Ms, "p99 latency", "warn")}
                                            </tr>
                                        }
                                    }).collect_view()}
                            </DataTable>
                        }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_breaks_where_nothing_was_sampled() {
        let d = line_path(&[Some(0.0), Some(10.0), None, Some(5.0)], 30.0, 24.0, 10.0);
        assert_eq!(d, "M0.0 22.0h0.01L10.0 2.0M30.0 12.0h0.01");
        assert_eq!(line_path(&[], 30.0, 24.0, 1.0), "");
        // Nothing but zeros: a flat line at the bottom.
        assert_eq!(
            line_path(&[Some(0.0), Some(0.0)], 10.0, 10.0, 0.0),
            "M0.0 8.0h0.01L10.0 8.0"
        );
    }

    #[test]
    fn sums_and_figures() {
        let a = vec![Some(1.0), None, Some(2.0)];
        let b = vec![Some(3.0), None, None];
        assert_eq!(sum([&a, &b].into_iter(), 3), [Some(4.0), None, Some(2.0)]);
        assert_eq!(highest(&a), Some(2.0));
        assert_eq!(latest(&a), Some(2.0));
        assert_eq!(latest(&b), None, "the last step has no value");
        assert_eq!(latest(&[None]), None);
        assert_eq!(Unit::Ratio.show(0.042), "4.2 %");
        assert_eq!(Unit::Rate.show(12.4), "12/s");
    }
}
