//! Hosts at a glance: the summary figures and the table, shared by the dashboard
//! and the hosts page.

use crate::components::tone::Tone;
use crate::components::widgets::{Col, DataTable};
use leptos::prelude::*;
use leptos_router::components::A;

use super::widgets::{Badge, CapacityBar, Stat};
use crate::format;
use crate::wire::{HostState, HostView};

/// Hosts ready, containers running, and the cluster's CPUs and memory with what
/// Berth reserved of them.
#[component]
pub fn HostSummary(hosts: Vec<HostView>) -> impl IntoView {
    let total = hosts.len();
    let ready = hosts.iter().filter(|h| h.state == HostState::Ready).count();
    let down = hosts
        .iter()
        .filter(|h| h.state == HostState::Unreachable)
        .count();
    let facts = || hosts.iter().filter_map(|h| h.facts.as_ref());
    let running: i64 = facts().map(|f| f.containers_running).sum();
    let cpus: i64 = facts().map(|f| f.cpus).sum();
    let memory: i64 = facts().map(|f| f.memory_bytes).sum();
    let reserved_cpu: i64 = hosts.iter().map(|h| h.reserved_cpu_millis).sum();
    let reserved_memory: i64 = hosts.iter().map(|h| h.reserved_memory_bytes).sum();
    view! {
        <div class="stats">
            <Stat
                label="Hosts ready"
                value=format!("{ready} / {total}")
                detail=if down == 0 { "none unreachable".to_string() } else { format!("{down} unreachable") }
            />
            <Stat label="Containers running" value=running.to_string()/>
            <Stat label="CPUs" value=cpus.to_string() detail=format!("{} reserved", format::cpus(reserved_cpu))/>
            <Stat label="Memory" value=format::bytes(memory) detail=format!("{} reserved", format::bytes(reserved_memory))/>
        </div>
    }
}

/// One row per host, with the reason in words when a host is down.
#[component]
pub fn HostTable(hosts: Vec<HostView>) -> impl IntoView {
    if hosts.is_empty() {
        return view! {
            <p class="muted">"No host yet. An admin adds one on the Hosts page (or starts Berth with " <code>"--engine"</code> ")."</p>
        }
        .into_any();
    }
    view! {
        <DataTable class="hosts" caption="Docker hosts" cols=vec![
            Col::text("Host"),
            Col::text("State"),
            Col::text("Engine"),
            Col::text("CPU reserved"),
            Col::text("Memory reserved"),
            Col::text("Containers").titled("running / all · Berth's"),
            Col::text("Labels"),
            Col::text("Heartbeat"),
        ]>
            {hosts.into_iter().map(|h| view! { <HostRow h/> }).collect_view()}
        </DataTable>
    }
    .into_any()
}

#[component]
fn HostRow(h: HostView) -> impl IntoView {
    let name = h.name.clone();
    let problem = (h.state == HostState::Unreachable).then(|| {
        let since = h
            .unreachable_since_ms
            .map(|t| format!(" since {} UTC", format::utc_time(t)))
            .unwrap_or_default();
        format!("{}{since}", h.last_error.clone().unwrap_or_default())
    });
    let (cpu, memory, engine, containers) = match &h.facts {
        Some(f) => (
            view! {
                <CapacityBar
                    label=format!("CPU reserved on {name}")
                    used=h.reserved_cpu_millis as f64
                    total=(f.cpus * 1000) as f64
                    text=format!("{} of {}", format::cpus(h.reserved_cpu_millis), f.cpus)
                />
            }
            .into_any(),
            view! {
                <CapacityBar
                    label=format!("Memory reserved on {name}")
                    used=h.reserved_memory_bytes as f64
                    total=f.memory_bytes as f64
                    text=format!("{} of {}", format::bytes(h.reserved_memory_bytes), format::bytes(f.memory_bytes))
                />
            }
            .into_any(),
            view! {
                <span>{f.version.clone()}</span>
                <span class="muted small">" · API " {f.api_version.clone()}</span>
            }
            .into_any(),
            format!("{} / {} · {} Berth", f.containers_running, f.containers_total, h.berth_containers),
        ),
        None => (
            view! { <span class="muted">"—"</span> }.into_any(),
            view! { <span class="muted">"—"</span> }.into_any(),
            view! { <span class="muted">"—"</span> }.into_any(),
            "—".to_string(),
        ),
    };
    let heartbeat = h
        .heartbeat_age_ms
        .map(format::ago)
        .unwrap_or_else(|| "never".into());
    let href = format!("/hosts/{}", h.name);
    let row_name = h.name.clone();
    view! {
        <tr data-host=row_name data-state=h.state.as_str()>
            <th scope="row">
                <A href=href attr:class="cell-title">{h.name.clone()}</A>
                <div class="muted small mono">{h.endpoint.clone()}{h.tls.then_some(" (TLS)")}</div>
            </th>
            <td>
                <Badge tone=h.state.tone() label=h.state.as_str()/>
                {problem.map(|p| view! { <div class="host-error small">{p}</div> })}
            </td>
            <td class="nowrap">{engine}</td>
            <td>{cpu}</td>
            <td>{memory}</td>
            <td class="small nowrap">{containers}</td>
            <td><Labels labels=h.labels.clone()/></td>
            <td class="small nowrap">{heartbeat}</td>
        </tr>
    }
}

/// Labels as little chips.
#[component]
pub fn Labels(labels: std::collections::BTreeMap<String, String>) -> impl IntoView {
    if labels.is_empty() {
        return view! { <span class="muted small">"none"</span> }.into_any();
    }
    view! {
        <ul class="chips" aria-label="Labels">
            {labels
                .into_iter()
                .map(|(k, v)| view! { <li class="chip">{format!("{k}={v}")}</li> })
                .collect_view()}
        </ul>
    }
    .into_any()
}
