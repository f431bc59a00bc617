//! One host: its engine, capacity, labels, containers (Berth's and others') and
//! recent events; admins cordon, drain, relabel and remove it here.

use crate::components::tone::Tone;
use crate::components::widgets::{Col, DataTable};
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{get_host, remove_host, schedule_host, update_host};
use crate::components::charts::HostCharts;
use crate::components::hosts::Labels;
use crate::components::layout::PageHeader;
use crate::components::whatif::HostLoss;
use crate::components::widgets::{
    every, ActionStatus, Badge, CapacityBar, ConfirmButton, ErrorBox,
};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{
    ContainerView, EngineEventView, EventView, HostDetail, HostState, UpdateHostInput,
};
use crate::MeResource;

#[derive(Clone, Debug)]
enum Op {
    Schedule(&'static str),
    Labels(String),
    Remove { force: bool },
}

#[component]
pub fn Host() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let me = expect_context::<MeResource>();
    let detail = Resource::new(name, get_host);
    every(Duration::from_secs(2), move || detail.refetch());
    let navigate = use_navigate();
    let act = Action::new(move |op: &Op| {
        let op = op.clone();
        let host = name();
        let navigate = navigate.clone();
        async move {
            let result: Result<String, AppError> = match op {
                Op::Schedule(what) => schedule_host(host.clone(), what.to_string())
                    .await
                    .map(|h| format!("{} is {} now.", h.name, h.state.as_str())),
                Op::Labels(text) => match validate::parse_labels(&text) {
                    Err(why) => Err(AppError::new("invalid", why)),
                    Ok(labels) => update_host(
                        host.clone(),
                        UpdateHostInput {
                            labels: Some(labels),
                            address: None,
                        },
                    )
                    .await
                    .map(|h| format!("Labels of {} saved.", h.name)),
                },
                Op::Remove { force } => {
                    let r = remove_host(host.clone(), force)
                        .await
                        .map(|_| format!("Removed {host}."));
                    if r.is_ok() {
                        navigate("/hosts", Default::default());
                    }
                    r
                }
            };
            detail.refetch();
            result
        }
    });
    view! {
        <PageHeader title=name() subtitle="A Docker host, its containers and what happened to it."/>
        <ActionStatus action=act pending="Working…"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                match detail.await {
                    Ok(d) => view! { <HostBody d admin act/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
        // Outside the refreshed body: the answer stays while the page polls.
        {move || view! { <HostLoss host=name()/> }}
        {move || view! { <HostCharts host=name()/> }}
    }
}

#[component]
fn HostBody(
    d: HostDetail,
    admin: bool,
    act: Action<Op, Result<String, AppError>>,
) -> impl IntoView {
    let h = d.host;
    let labels_text = RwSignal::new(validate::format_labels(&h.labels));
    let state = h.state;
    let facts = h.facts.clone();
    view! {
        <section class="panel" data-host-state=state.as_str()>
            <div class="panel-head">
                <h2>"State"</h2>
                <Badge tone=state.tone() label=state.as_str()/>
            </div>
            {(state == HostState::Unreachable).then(|| view! {
                <div class="alert alert-bad" role="status">
                    {format!(
                        "Unreachable since {}: {}",
                        h.unreachable_since_ms.map(format::utc_datetime).unwrap_or_default(),
                        h.last_error.clone().unwrap_or_default()
                    )}
                </div>
            })}
            <dl class="facts">
                <dt>"Endpoint"</dt><dd class="mono">{h.endpoint.clone()}{h.tls.then_some(" (TLS)")}</dd>
                <dt>"Published ports at"</dt><dd class="mono">{h.address.clone()}</dd>
                <dt>"Last heartbeat"</dt>
                <dd>{h.heartbeat_age_ms.map(format::ago).unwrap_or_else(|| "never".into())}
                    {h.latency_ms.map(|l| format!(" ({l} ms)"))}</dd>
                {facts.clone().map(|f| view! {
                    <dt>"Engine"</dt><dd>{format!("Docker {} · API {}", f.version, f.api_version)}</dd>
                    <dt>"System"</dt><dd>{format!("{} · {}", f.os, f.arch)}</dd>
                    <dt>"Containers"</dt><dd>{format!("{} running of {} · {} of Berth's · {} images", f.containers_running, f.containers_total, h.berth_containers, f.images)}</dd>
                    <dt>"Volume drivers"</dt><dd class="mono">{f.volume_drivers.join(", ")}</dd>
                })}
                <dt>"Labels"</dt><dd><Labels labels=h.labels.clone()/></dd>
            </dl>
            {facts.map(|f| view! {
                <div class="capacity-pair">
                    <div>
                        <div class="field-label">"CPU reserved"</div>
                        <CapacityBar label="CPU reserved" used=h.reserved_cpu_millis as f64 total=(f.cpus * 1000) as f64
                            text=format!("{} of {} CPUs", format::cpus(h.reserved_cpu_millis), f.cpus)/>
                    </div>
                    <div>
                        <div class="field-label">"Memory reserved"</div>
                        <CapacityBar label="Memory reserved" used=h.reserved_memory_bytes as f64 total=f.memory_bytes as f64
                            text=format!("{} of {}", format::bytes(h.reserved_memory_bytes), format::bytes(f.memory_bytes))/>
                    </div>
                </div>
            })}
        </section>
        {admin.then(|| view! {
            <section class="panel">
                <h2>"Manage"</h2>
                <div class="row-actions">
                    {if h.cordoned {
                        view! { <button type="button" class="btn" on:click=move |_| { act.dispatch(Op::Schedule("uncordon")); }>"Uncordon"</button> }.into_any()
                    } else {
                        view! { <button type="button" class="btn" on:click=move |_| { act.dispatch(Op::Schedule("cordon")); }>"Cordon"</button> }.into_any()
                    }}
                    {(!h.draining).then(|| view! {
                        <ConfirmButton label="Drain" class="btn" question="Move every replica off this host?"
                            on_confirm=move || { act.dispatch(Op::Schedule("drain")); }/>
                    })}
                    <ConfirmButton label="Remove host" class="btn" question="Remove this host from Berth?"
                        on_confirm=move || { act.dispatch(Op::Remove { force: false }); }/>
                    {(h.berth_containers > 0).then(|| view! {
                        <ConfirmButton label="Remove with force" class="btn btn-danger" question="Its replicas stay there, unmanaged. Remove anyway?"
                            on_confirm=move || { act.dispatch(Op::Remove { force: true }); }/>
                    })}
                </div>
                <form class="form form-row" aria-label="Labels" on:submit=move |ev| {
                    ev.prevent_default();
                    act.dispatch(Op::Labels(labels_text.get_untracked()));
                }>
                    <label class="field field-wide">
                        <span class="field-label">"Labels"</span>
                        <input type="text" name="labels" placeholder="zone=a, ssd=true" bind:value=labels_text/>
                    </label>
                    <button type="submit" class="btn">"Save labels"</button>
                </form>
            </section>
        })}
        <section class="panel">
            <h2>"Containers"</h2>
            {d.containers_error.map(|e| view! { <div class="alert alert-bad" role="status">{e}</div> })}
            <ContainerTable list=d.containers/>
        </section>
        <div class="columns">
            <section class="panel">
                <h2>"Berth's events"</h2>
                <EventList events=d.events/>
            </section>
            <section class="panel">
                <h2>"Engine events"</h2>
                <EngineEvents events=d.engine_events/>
            </section>
        </div>
    }
}

#[component]
fn ContainerTable(list: Vec<ContainerView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="muted">"No containers."</p> }.into_any();
    }
    view! {
        <DataTable class="containers" caption="Containers" cols=vec![
            Col::text("Name"),
            Col::text("Image"),
            Col::text("State"),
            Col::text("Status"),
            Col::text("Owner"),
        ]>
            {list.into_iter().map(|c| {
                let tone = if c.state == "running" { "ok" } else if c.state == "exited" || c.state == "dead" { "bad" } else { "muted" };
                let row_name = c.name.clone();
                view! {
                    <tr data-container=row_name>
                        <th scope="row" class="mono small">{c.name}<div class="muted">{c.id}</div></th>
                        <td class="mono small">{c.image}</td>
                        <td><Badge tone=tone label=c.state/></td>
                        <td class="small">{c.status}</td>
                        <td>{if c.berth {
                            view! { <Badge tone="ok" label=c.service.map(|s| format!("berth: {s}")).unwrap_or_else(|| "berth".into())/> }.into_any()
                        } else {
                            view! { <span class="muted small">"not Berth's"</span> }.into_any()
                        }}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}

/// Events Berth recorded, newest first.
#[component]
pub fn EventList(events: Vec<EventView>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="muted">"Nothing yet."</p> }.into_any();
    }
    view! {
        <ol class="timeline">
            {events.into_iter().map(|e| {
                let tone = match e.level.as_str() { "error" => "bad", "warn" => "warn", _ => "ok" };
                view! {
                    <li class=format!("timeline-item timeline-{tone}") data-event-kind=e.kind.clone()>
                        <span class="timeline-time small muted">{format::utc_datetime(e.at_ms)}</span>
                        <span class="timeline-text">{e.message}</span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

#[component]
fn EngineEvents(events: Vec<EngineEventView>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="muted">"None since Berth started."</p> }.into_any();
    }
    view! {
        <ol class="timeline">
            {events.into_iter().map(|e| view! {
                <li class="timeline-item">
                    <span class="timeline-time small muted">{format::utc_time(e.at_ms)}</span>
                    <span class="timeline-text mono small">{format!("{} {} {}", e.kind, e.action, e.actor)}</span>
                </li>
            }).collect_view()}
        </ol>
    }
    .into_any()
}
