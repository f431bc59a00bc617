//! The dashboard: the state of the cluster at a glance, true without a reload.

use crate::components::tone::Tone;
use crate::components::widgets::{Col, DataTable};
use std::time::Duration;

use leptos::prelude::*;

use crate::api::{list_hosts, list_pools, list_rollouts, list_services_page, summarize_services};
use crate::components::hosts::{HostSummary, HostTable};
use crate::components::layout::PageHeader;
use crate::components::services::{ReadyBar, ServiceTable};
use crate::components::whatif::LossCheck;
use crate::components::widgets::{every, on_service_change, Badge, ErrorBox};
use crate::wire::{PoolView, RolloutView, ServicePage, ServiceQuery, ServiceSummary};

#[component]
pub fn Dashboard() -> impl IntoView {
    let hosts = Resource::new(|| (), |_| list_hosts());
    let summary = Resource::new(|| (), |_| summarize_services());
    let services = Resource::new(|| (), |_| attention_first());
    let rollouts = Resource::new(|| (), |_| list_rollouts());
    // Admins only: nobody else is asked (the call would be refused).
    let me = expect_context::<crate::MeResource>();
    let pools = Resource::new(
        || (),
        move |_| async move {
            let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
            if admin {
                list_pools().await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let (pending, set_pending) = signal(false);
    every(Duration::from_secs(2), move || {
        hosts.refetch();
        pools.refetch();
    });
    every(Duration::from_secs(5), move || {
        services.refetch();
        summary.refetch();
    });
    on_service_change(None, move || {
        services.refetch();
        summary.refetch();
        rollouts.refetch();
    });
    every(Duration::from_secs(3), move || rollouts.refetch());
    view! {
        <PageHeader title="Dashboard" subtitle="Services and the hosts they run on, as Berth sees them now.">
            <RefreshButton pending on_refresh=move || { hosts.refetch(); services.refetch(); summary.refetch(); }/>
        </PageHeader>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = rollouts.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! { <RolloutsInProgress list/> })
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = pools.await.unwrap_or_default();
                let busy = list.iter().any(|p| p.waiting > 0 || p.hosts.iter().any(|h| h.state.in_flight()));
                busy.then(|| view! { <HostsBeingMade list/> })
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                summary.await.ok().map(|s| view! { <ServiceStats s/> })
            })}
        </Transition>
        <section class="panel">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match services.await {
                        Ok((attention, page)) => {
                            let title = if attention {
                                format!("Needs attention ({})", page.total)
                            } else {
                                "Services".to_string()
                            };
                            let more = page.total as usize > page.services.len();
                            view! {
                                <div class="panel-head">
                                    <h2>{title}</h2>
                                    <a href="/services" class="small">
                                        {if more { format!("All {} services", page.total) } else { "All services".to_string() }}
                                    </a>
                                </div>
                                <ServiceTable services=page.services/>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> } set_pending>
            {move || Suspend::new(async move {
                match hosts.await {
                    Ok(list) => view! {
                        <HostSummary hosts=list.clone()/>
                        <section class="panel">
                            <div class="panel-head">
                                <h2>"Hosts"</h2>
                            </div>
                            <HostTable hosts=list/>
                        </section>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
        <LossCheck/>
    }
}

/// Hosts the pools are making, and the replicas waiting for them.
#[component]
fn HostsBeingMade(list: Vec<PoolView>) -> impl IntoView {
    let lines = list
        .into_iter()
        .flat_map(|p| {
            let mut out: Vec<String> = p
                .hosts
                .iter()
                .filter(|h| h.state.in_flight())
                .map(|h| {
                    format!(
                        "{} for pool {}: {} ({} s)",
                        h.name,
                        p.name,
                        h.state,
                        h.state_for_ms / 1000
                    )
                })
                .collect();
            if p.waiting > 0 {
                out.push(format!("{} replica(s) wait for pool {}", p.waiting, p.name));
            }
            out
        })
        .collect::<Vec<_>>();
    view! {
        <section class="panel" aria-label="Hosts being made">
            <div class="panel-head">
                <h2>"Hosts being made"</h2>
                <a href="/pools" class="small">"Pools"</a>
            </div>
            <ul class="plain-list">
                {lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}
            </ul>
        </section>
    }
}

/// A button that says when it is working.
#[component]
pub fn RefreshButton(
    pending: ReadSignal<bool>,
    on_refresh: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class="btn"
            aria-busy=move || pending.get().to_string()
            on:click=move |_| on_refresh()
        >
            <svg class="btn-icon" class:spin=move || pending.get() viewBox="0 0 24 24" aria-hidden="true">
                <path d="M20 12a8 8 0 1 1-2.3-5.7M20 4v5h-5"/>
            </svg>
            {move || if pending.get() { "Refreshing…" } else { "Refresh" }}
        </button>
    }
}

/// Every rollout under way, with its progress.
#[component]
fn RolloutsInProgress(list: Vec<RolloutView>) -> impl IntoView {
    view! {
        <section class="panel" aria-label="Rollouts in progress">
            <h2>"Rollouts in progress"</h2>
            <DataTable class="rollouts" caption="Rollouts" cols=vec![
                Col::text("Service"),
                Col::text("Revisions"),
                Col::text("State"),
                Col::text("New, healthy"),
                Col::text("Now"),
            ]>
                {list.into_iter().map(|r| view! {
                    <tr data-rollout-service=r.service.clone()>
                        <th scope="row"><a href=format!("/services/{}", r.service)>{r.service.clone()}</a></th>
                        <td>{format!("{} → {}", r.from_revision, r.to_revision)}</td>
                        <td><Badge tone=r.state.tone() label=r.state.as_str().replace('_', " ")/></td>
                        <td class="cell-bar"><ReadyBar healthy=r.new_ready wanted=r.wanted/></td>
                        <td class="small">{r.phase.clone()}</td>
                    </tr>
                }).collect_view()}
            </DataTable>
        </section>
    }
}

/// Services the dashboard lists: those not yet running as wanted, at most ten,
/// or (when all are) the first ten. `true` with the first.
async fn attention_first() -> Result<(bool, ServicePage), crate::errors::AppError> {
    let attention = list_services_page(ServiceQuery {
        phase: Some("degraded,progressing".into()),
        limit: Some(DASHBOARD_ROWS),
        ..Default::default()
    })
    .await?;
    if attention.total > 0 {
        return Ok((true, attention));
    }
    let first = list_services_page(ServiceQuery {
        limit: Some(DASHBOARD_ROWS),
        ..Default::default()
    })
    .await?;
    Ok((false, first))
}

/// Rows of services on the dashboard; the services page has them all.
const DASHBOARD_ROWS: u32 = 10;

/// How many services stand how, and their replicas ready of wanted.
#[component]
fn ServiceStats(s: ServiceSummary) -> impl IntoView {
    // Stopped services (scaled to zero) have no tile of their own: said here.
    let stopped = if s.stopped > 0 {
        format!(" · {} stopped", s.stopped)
    } else {
        String::new()
    };
    let ready = format!(
        "{} of {} replicas ready{stopped}",
        s.replicas_ready, s.replicas_wanted
    );
    let tone = |n: u32, class: &'static str| if n > 0 { class } else { "" };
    view! {
        <div class="stats services-stats" role="group" aria-label="Services by state">
            <div class="stat" data-stat="services">
                <div class="stat-label">"Services"</div>
                <div class="stat-value">{s.services}</div>
                <div class="stat-detail">{ready}</div>
            </div>
            <div class="stat" data-stat="running">
                <div class="stat-label">"Running"</div>
                <div class="stat-value">{s.running}</div>
                <div class="stat-detail">"every replica ready"</div>
            </div>
            <div class=format!("stat {}", tone(s.progressing, "stat-warn")) data-stat="progressing">
                <div class="stat-label">"Progressing"</div>
                <div class="stat-value">{s.progressing}</div>
                <div class="stat-detail">"starting, rolling out, scaling"</div>
            </div>
            <div class=format!("stat {}", tone(s.degraded, "stat-bad")) data-stat="degraded">
                <div class="stat-label">"Degraded"</div>
                <div class="stat-value">{s.degraded}</div>
                <div class="stat-detail">"replicas that cannot be placed or keep failing"</div>
            </div>
        </div>
    }
}
