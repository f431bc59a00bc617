//! The Docker engines Berth can see: a summary row and a table, shared by the
//! dashboard and the hosts page.

use leptos::prelude::*;

use super::widgets::{Badge, CapacityBar, Stat};
use crate::format;
use crate::wire::{EngineState, EngineStatus, EnginesReport};

/// Engines up, containers running, and the cluster's CPUs and memory.
#[component]
pub fn EngineSummary(report: EnginesReport) -> impl IntoView {
    let total = report.engines.len();
    let up = report.up();
    let down = total - up;
    view! {
        <div class="stats">
            <Stat
                label="Engines up"
                value=format!("{up} / {total}")
                detail=if down == 0 { "all answering".to_string() } else { format!("{down} down") }
            />
            <Stat label="Containers running" value=report.containers_running().to_string()/>
            <Stat label="CPUs" value=report.cpus().to_string()/>
            <Stat label="Memory" value=format::bytes(report.memory_bytes())/>
        </div>
    }
}

/// One row per engine, with the reason in words when an engine is down.
#[component]
pub fn EngineTable(report: EnginesReport) -> impl IntoView {
    if report.engines.is_empty() {
        return view! {
            <p class="muted">
                "No Docker engine is configured. Start Berth with "
                <code>"--engine name=unix:///var/run/docker.sock"</code> " (or "
                <code>"BERTH_ENGINES"</code> ")."
            </p>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table engines" data-checked-at=report.checked_at_ms.to_string()>
                <caption class="visually-hidden">"Docker engines"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Engine"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Containers running"</th>
                        <th scope="col" class="num">"CPUs"</th>
                        <th scope="col" class="num">"Memory"</th>
                        <th scope="col" class="num">"Latency"</th>
                    </tr>
                </thead>
                <tbody>
                    {report.engines.into_iter().map(|e| view! { <EngineRow engine=e/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn EngineRow(engine: EngineStatus) -> impl IntoView {
    let tone = match engine.state {
        EngineState::Up => "ok",
        EngineState::Down => "bad",
    };
    let name = engine.name.clone();
    let cells = match (&engine.facts, &engine.error) {
        (Some(f), _) => view! {
            <td>
                {f.version.clone()}
                <span class="muted small">" · API " {f.api_version.clone()}</span>
            </td>
            <td>
                <CapacityBar
                    label=format!("Containers running on {name}")
                    used=f.containers_running as f64
                    total=f.containers_total.max(1) as f64
                    text=format!("{} of {}", f.containers_running, f.containers_total)
                />
            </td>
            <td class="num">{f.cpus}</td>
            <td class="num">{format::bytes(f.memory_bytes)}</td>
            <td class="num">{engine.latency_ms.map(|ms| format!("{ms} ms")).unwrap_or_default()}</td>
        }
        .into_any(),
        (None, error) => view! {
            <td colspan="5" class="engine-error">
                {error.clone().unwrap_or_else(|| "did not answer".to_string())}
            </td>
        }
        .into_any(),
    };
    view! {
        <tr data-engine=engine.name.clone() data-state=engine.state.as_str()>
            <th scope="row">
                <div class="cell-title">{engine.name.clone()}</div>
                <div class="muted small mono">{engine.endpoint.clone()}</div>
            </th>
            <td><Badge tone=tone label=engine.state.as_str()/></td>
            {cells}
        </tr>
    }
}
