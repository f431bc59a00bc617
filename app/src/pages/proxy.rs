//! The proxy page: every route with its service and the replicas behind it, with
//! what went through each lately (requests per second, errors, latency), live; the
//! requests the proxy answered itself; and the table as nginx configuration.

use crate::components::widgets::{Col, DataTable};
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_nginx_conf, get_proxy};
use crate::components::charts::ProxyCharts;
use crate::components::layout::PageHeader;
use crate::components::widgets::{every, Badge, ErrorBox, Stat};
use crate::wire::{BackendView, ProxyRouteView, ProxyView};

#[component]
pub fn Proxy() -> impl IntoView {
    let proxy = Resource::new(|| (), |_| get_proxy());
    let nginx = Resource::new(|| (), |_| get_nginx_conf(None));
    every(Duration::from_secs(1), move || proxy.refetch());
    every(Duration::from_secs(5), move || nginx.refetch());
    view! {
        <PageHeader title="Proxy" subtitle="Routes from host names and paths to the services' healthy replicas, and what goes through them."/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match proxy.await {
                    Ok(p) => view! { <ProxyBody p/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
        <ProxyCharts/>
        <section class="panel">
            <div class="panel-head">
                <h2>"As nginx configuration"</h2>
                <a class="btn btn-small" href="/api/v1/proxy/nginx.conf" download="berth-nginx.conf">"Download"</a>
            </div>
            <p class="muted small">"The same routes as upstream and server blocks, for teams that keep nginx in front. Include it in nginx's http block; regenerate it when replicas change."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match nginx.await {
                        Ok(conf) => view! { <pre class="logs" tabindex="0" aria-label="nginx configuration">{conf}</pre> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ProxyBody(p: ProxyView) -> impl IntoView {
    // A replica serves every route of its service: count it once.
    let total_rps: f64 = p
        .routes
        .iter()
        .flat_map(|r| {
            r.backends
                .iter()
                .map(|b| (b.container_id.clone(), b.requests_per_second))
        })
        .collect::<std::collections::HashMap<_, _>>()
        .values()
        .sum();
    let listen = p
        .listen
        .clone()
        .map(|l| format!("listening on {l}"))
        .unwrap_or_else(|| "not listening".into());
    // A service's routes share its replicas: one panel per service.
    let mut services: Vec<(String, Vec<ProxyRouteView>)> = Vec::new();
    for r in p.routes.clone() {
        match services.iter_mut().find(|(s, _)| *s == r.service) {
            Some((_, list)) => list.push(r),
            None => services.push((r.service.clone(), vec![r])),
        }
    }
    services.sort_by(|a, b| a.0.cmp(&b.0));
    view! {
        <div class="stats">
            <Stat label="Routes" value=p.routes.len().to_string() detail=listen/>
            <Stat label="Requests/s now" value=format!("{total_rps:.1}") detail="over the last 10 s"/>
            <Stat label="Unknown host (404)" value=p.unknown_host.to_string()/>
            <Stat label="No healthy replica (503)" value=p.no_backend.to_string()
                detail=format!("{} timeouts (504), {} unreachable (502)", p.timeouts, p.bad_gateway)/>
        </div>
        {if services.is_empty() {
            view! {
                <section class="empty">
                    <h2>"No routes yet"</h2>
                    <div class="empty-body"><p>"A service with a container port is reachable as "<code>{format!("<service>.{}", p.domain)}</code>" and by its own routes as soon as one of its replicas is healthy."</p></div>
                </section>
            }.into_any()
        } else {
            services.into_iter().map(|(_, routes)| view! { <RoutePanel routes/> }).collect_view().into_any()
        }}
    }
}

#[component]
fn RoutePanel(routes: Vec<ProxyRouteView>) -> impl IntoView {
    let first = routes[0].clone();
    let max_rps = first
        .backends
        .iter()
        .map(|b| b.requests_per_second)
        .fold(0.0f64, f64::max);
    let href = format!("/services/{}", first.service);
    let empty = first.backends.is_empty();
    let (key, title) = (first.service.clone(), first.service.clone());
    view! {
        <section class="panel" data-service=key>
            <div class="panel-head">
                <h2><A href=href>{title}</A></h2>
                <span class="small muted">{first.balance.as_str().replace('_', " ")}</span>
            </div>
            <ul class="chips" aria-label="Routes">
                {routes.iter().map(|r| {
                    let target = format!(
                        "{}{}{}",
                        r.host,
                        if r.path_prefix == "/" { String::new() } else { r.path_prefix.clone() },
                        if r.strip_prefix { " (prefix stripped)" } else { "" }
                    );
                    view! { <li class="chip mono" data-route=format!("{}|{}", r.host, r.path_prefix)>{target}</li> }
                }).collect_view()}
            </ul>
            {if empty {
                view! { <p class="muted">"No healthy replica: requests get 503 until one is."</p> }.into_any()
            } else {
                view! {
                    <DataTable class="backends" caption="Replicas behind the routes" cols=vec![
                        Col::text("Replica"),
                        Col::text("Address"),
                        Col::text("State"),
                        Col::num("In flight"),
                        Col::text("Requests/s"),
                        Col::num("Errors"),
                        Col::num("p50"),
                        Col::num("p99"),
                        Col::num("Requests"),
                    ]>
                        {first.backends.into_iter().map(|b| view! { <BackendRow b max_rps/> }).collect_view()}
                    </DataTable>
                }.into_any()
            }}
        </section>
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

#[component]
fn BackendRow(b: BackendView, max_rps: f64) -> impl IntoView {
    let share = if max_rps > 0.0 {
        (b.requests_per_second / max_rps * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    let tone = if b.state == "serving" { "ok" } else { "bad" };
    let error_tone = if b.error_rate > 0.05 { "bad-text" } else { "" };
    view! {
        <tr data-backend=b.container_id.clone() data-requests=b.requests>
            <th scope="row">{format!("replica {}", b.slot)}<div class="mono small muted">{b.container_id.clone()}</div></th>
            <td class="mono small">{b.address.clone()}<div class="muted">{b.host.clone()}</div></td>
            <td><Badge tone=tone label=b.state.clone()/>
                {b.canary.map(|w| view! { <span data-canary=w>" "<Badge tone="info" label=format!("canary {w}%")/></span> })}
            </td>
            <td class="num">{b.in_flight}</td>
            <td class="cell-bar">
                <div class="capacity">
                    <div class="bar" role="meter" aria-label="Share of the route's requests" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{share:.0}")>
                        <div class="bar-fill bar-ok" style=format!("width:{share:.1}%")></div>
                    </div>
                    <span class="capacity-text">{format!("{:.1}", b.requests_per_second)}</span>
                </div>
            </td>
            <td class=format!("num {error_tone}")>{format!("{:.1} %", b.error_rate * 100.0)}</td>
            <td class="num nowrap">{ms(b.p50_ms)}</td>
            <td class="num nowrap">{ms(b.p99_ms)}</td>
            <td class="num" data-counter="requests">{b.requests}</td>
        </tr>
    }
}
