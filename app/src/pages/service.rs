//! One service: how it stands (live), its replicas with their usage, a scale
//! control, the spec form that deploys a new revision, the log of a replica, its
//! events and revisions; operators scale, deploy and delete it here.

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use leptos_router::components::A;

use super::host::EventList;
use super::volumes::{volume_action, VolumeTable};
use crate::api::{
    control_rollout, delete_service, deploy_service, get_revision_diff, get_service,
    get_service_logs, get_service_stats, list_volumes, promote_rollout, rollback_service,
    scale_service, set_service_proxy,
};
use crate::components::charts::ServiceCharts;
use crate::components::layout::PageHeader;
use crate::components::services::{
    phase_badge, replica_tone, ReadyBar, ReplicaStrip, SpecFields, SpecForm,
};
use crate::components::widgets::{
    every, on_service_change, ActionStatus, Badge, CapacityBar, ConfirmButton, ErrorBox,
};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{
    Balance, DeployInput, ProxyConfig, ReplicaStats, ReplicaView, RevisionView, RolloutKind,
    RolloutState, RolloutView, ServiceDetail, ServiceSpec, ServiceView, TeamRole,
};
use crate::MeResource;

mod history;
mod replicas;

use history::{Revisions, RolloutHistory, RolloutPanel};
use replicas::{Logs, ReplicaTable};

#[derive(Clone, Debug)]
enum Op {
    Scale(u32),
    Deploy(Box<ServiceSpec>),
    Proxy(ProxyConfig),
    Rollback(i64),
    Control(&'static str),
    /// A canary to its next step, or past them all.
    Promote {
        full: bool,
    },
    Delete {
        volumes: bool,
    },
}

#[component]
pub fn Service() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let me = expect_context::<MeResource>();
    // The first look (rendered on the server, and again when the name changes).
    let detail = Resource::new(name, get_service);
    // Every later look, fetched in the browser. The page's parts follow it one by
    // one and re-render only where they changed, so a form being filled in, an
    // open diff or a question being asked survive the live updates.
    let live = RwSignal::new(None::<ServiceDetail>);
    // Usage is sampled in the browser only: the server renders the table without it.
    let stats = LocalResource::new(move || get_service_stats(name()));
    let refresh = move || {
        let wanted = params.read_untracked().get("name").unwrap_or_default();
        leptos::task::spawn_local(async move {
            if let Ok(d) = get_service(wanted).await {
                live.set(Some(d));
            }
        });
    };
    on_service_change(Some(name()), refresh);
    every(Duration::from_secs(5), move || {
        refresh();
        stats.refetch();
    });
    let navigate = use_navigate();
    let act = Action::new(move |op: &Op| {
        let op = op.clone();
        let service = name();
        let navigate = navigate.clone();
        async move {
            let result: Result<String, AppError> = match op {
                Op::Scale(n) => scale_service(service.clone(), n)
                    .await
                    .map(|s| format!("Scaled {} to {}.", s.name, s.replicas)),
                Op::Deploy(spec) => deploy_service(
                    service.clone(),
                    DeployInput {
                        spec: *spec,
                        message: None,
                    },
                )
                .await
                .map(|s| format!("{} is at revision {} now.", s.name, s.revision)),
                Op::Proxy(config) => set_service_proxy(service.clone(), config)
                    .await
                    .map(|s| format!("Routes of {} saved.", s.name)),
                Op::Rollback(revision) => rollback_service(service.clone(), Some(revision))
                    .await
                    .map(|s| format!("Rolling back {} to revision {}.", s.name, s.revision)),
                Op::Control(what) => control_rollout(service.clone(), what.to_string())
                    .await
                    .map(|s| match what {
                        "pause" => format!("The rollout of {} is paused.", s.name),
                        "resume" => format!("The rollout of {} goes on.", s.name),
                        _ => format!("Aborted: {} goes back to revision {}.", s.name, s.revision),
                    }),
                Op::Promote { full } => promote_rollout(service.clone(), full).await.map(|s| {
                    let canary = s.rollout.as_ref().and_then(|r| r.canary.as_ref());
                    match canary {
                        Some(c) => format!(
                            "Promoted: the canary of {} takes {}% of requests (step {} of {}).",
                            s.name, c.weight, c.step, c.steps
                        ),
                        None => format!("Promoted: {} replaces its old replicas.", s.name),
                    }
                }),
                Op::Delete { volumes } => {
                    let r = delete_service(service.clone(), volumes)
                        .await
                        .map(|_| format!("Deleted {service}."));
                    if r.is_ok() {
                        navigate("/services", Default::default());
                    }
                    return r;
                }
            };
            if let Ok(d) = get_service(service).await {
                live.set(Some(d));
            }
            result
        }
    });
    view! {
        <PageHeader title=name() subtitle="A service, its replicas and what happened to it."/>
        <ActionStatus action=act pending="Working…"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                match detail.await {
                    Ok(first) => {
                        let admin = me.as_ref().is_some_and(|m| m.is_admin());
                        let operator = me.is_some_and(|m| {
                            m.is_admin() || m.teams.iter().any(|t| t.id == first.service.team_id && t.role == TeamRole::Operator)
                        });
                        view! { <ServiceBody first live operator admin act stats/> }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ServiceBody(
    first: ServiceDetail,
    live: RwSignal<Option<ServiceDetail>>,
    operator: bool,
    admin: bool,
    act: Action<Op, Result<String, AppError>>,
    stats: LocalResource<Result<Vec<ReplicaStats>, AppError>>,
) -> impl IntoView {
    let name = first.service.name.clone();
    let d = {
        let name = name.clone();
        Memo::new(move |_| {
            live.get()
                .filter(|d| d.service.name == name)
                .unwrap_or_else(|| first.clone())
        })
    };
    let service = Memo::new(move |_| d.with(|d| d.service.clone()));
    let rollout = Memo::new(move |_| service.with(|s| s.rollout.clone()));
    let rollout_key = Memo::new(move |_| rollout.with(|r| r.as_ref().map(|r| (r.id, r.state))));
    let replicas = Memo::new(move |_| service.with(|s| s.replicas));
    let slots = Memo::new(move |_| {
        let mut v: Vec<u32> = service.with(|s| {
            s.instances
                .iter()
                .filter(|i| !i.container_id.is_empty())
                .map(|i| i.slot)
                .collect()
        });
        v.dedup();
        v
    });
    let spec = Memo::new(move |_| service.with(|s| (s.revision, s.spec.clone())));
    let routes = Memo::new(move |_| {
        service.with(|s| {
            s.spec
                .port
                .is_some()
                .then(|| (s.proxy.clone(), s.default_host.clone()))
        })
    });
    let revisions = Memo::new(move |_| d.with(|d| (d.revisions.clone(), d.service.revision)));
    let events = Memo::new(move |_| d.with(|d| d.events.clone()));
    let rollouts = Memo::new(move |_| d.with(|d| d.rollouts.clone()));
    // Each part is its own view, following only what it shows, so the page's type
    // stays shallow and a part re-renders only when its own data changed.
    let svc = name.clone();
    let svc2 = name.clone();
    let has_volumes = Memo::new(move |_| service.with(|s| !s.spec.volumes.is_empty()));
    let delete_volumes = RwSignal::new(false);
    view! {
        {move || view! { <Summary s=service.get()/> }}
        {move || rollout_key.get().map(|_| view! { <RolloutPanel r=rollout operator act/> }.into_any())}
        {move || operator.then(|| view! { <ScaleControl replicas=replicas.get() act/> }.into_any())}
        <section class="panel">
            <div class="panel-head">
                <h2>"Replicas"</h2>
                <span class="muted small">{move || service.with(|s| format!("{} running · {} ready of {} wanted", s.running, s.healthy, s.replicas))}</span>
            </div>
            {move || service.with(|s| view! { <ReplicaTable list=s.instances.clone() revision=s.revision stats/> })}
        </section>
        <ServiceCharts service=name.clone()/>
        {move || view! { <Logs service=svc.clone() slots=slots.get()/> }}
        {let svc = name.clone(); move || has_volumes.get().then(|| view! { <ServiceVolumes service=svc.clone() admin/> })}
        {move || operator.then(|| view! { <DeployForm spec=spec.get().1 act/> }.into_any())}
        {move || operator.then(|| routes.get().map(|(proxy, default_host)| view! { <RoutesForm name=svc2.clone() proxy default_host act/> }.into_any())).flatten()}
        <div class="columns">
            <section class="panel">
                <h2>"Events"</h2>
                {move || view! { <EventList events=events.get()/> }}
            </section>
            <section class="panel">
                <h2>"Revisions"</h2>
                {let svc = name.clone(); move || { let (list, current) = revisions.get(); view! { <Revisions service=svc.clone() list current operator act/> } }}
                <h3 class="subhead">"Rollouts"</h3>
                {move || view! { <RolloutHistory list=rollouts.get()/> }}
            </section>
        </div>
        {operator.then(|| view! {
            <section class="panel">
                <h2>"Delete"</h2>
                <p class="muted small">"Its replicas are stopped and removed on every host. Its volumes are kept (listed on the Volumes page) unless you tick the box."</p>
                {move || has_volumes.get().then(|| view! {
                    <label class="field field-check">
                        <input type="checkbox" name="delete-volumes" bind:checked=delete_volumes/>
                        <span>"Also delete its volumes (their data is lost)"</span>
                    </label>
                })}
                <ConfirmButton label="Delete service" class="btn btn-danger" question=format!("Delete {} and stop its replicas?", name)
                    on_confirm=move || { act.dispatch(Op::Delete { volumes: delete_volumes.get_untracked() }); }/>
            </section>
        }.into_any())}
    }
}

/// The service's volumes on the hosts, with their use and size.
#[component]
fn ServiceVolumes(service: String, admin: bool) -> impl IntoView {
    let svc = service.clone();
    let list = LocalResource::new(move || list_volumes(Some(svc.clone()), None));
    // Shown again only when it changed, so a question being asked stays.
    let data = Memo::new(move |_| list.get());
    every(Duration::from_secs(5), move || list.refetch());
    let act = volume_action(move || list.refetch());
    view! {
        <section class="panel" aria-label="Volumes">
            <div class="panel-head">
                <h2>"Volumes"</h2>
                <A href="/volumes" attr:class="small">"All volumes"</A>
            </div>
            <ActionStatus action=act pending="Working…"/>
            {move || match data.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Ok(l)) if l.is_empty() => view! { <p class="muted">"None yet: they are made on a host when a replica first starts there."</p> }.into_any(),
                Some(Ok(l)) => view! { <VolumeTable list=l admin act show_service=false/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Summary(s: ServiceView) -> impl IntoView {
    let h = s.spec.health.as_ref().map(|h| match &h.probe {
        crate::wire::HealthProbe::Http { path } => format!("GET {path} every {} ms", h.interval_ms),
        crate::wire::HealthProbe::Command { command } => command.join(" "),
    });
    view! {
        <section class="panel" data-phase=s.phase.as_str() data-ready=format!("{}/{}", s.healthy, s.replicas)>
            <div class="panel-head">
                <h2>"State"</h2>
                {phase_badge(s.phase)}
            </div>
            {s.last_error.clone().map(|e| view! { <div class="alert alert-bad" role="status">{e}</div> })}
            {(!s.problems.is_empty()).then(|| view! {
                <div class="alert alert-warn" role="status">
                    <ul class="plain">{s.problems.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
                </div>
            })}
            <div class="summary-row">
                <div class="summary-ready">
                    <div class="field-label">"Ready"</div>
                    <ReadyBar healthy=s.healthy wanted=s.replicas/>
                </div>
                <div>
                    <div class="field-label">"Replicas"</div>
                    <ReplicaStrip service=s.clone()/>
                </div>
            </div>
            <dl class="facts">
                <dt>"Image"</dt><dd class="mono">{s.spec.image.clone()}</dd>
                <dt>"Team"</dt><dd>{s.team.clone()}</dd>
                <dt>"Revision"</dt><dd>{s.revision}</dd>
                <dt>"Port"</dt><dd>{s.spec.port.map(|p| p.to_string()).unwrap_or_else(|| "none".into())}</dd>
                <dt>"Routes"</dt>
                <dd class="mono small">{if s.spec.port.is_none() {
                    "none (no container port)".into()
                } else if !s.proxy.expose {
                    "none (kept off the proxy)".into()
                } else {
                    s.default_host.clone().into_iter()
                        .chain(s.proxy.routes.iter().map(validate::format_route))
                        .collect::<Vec<_>>()
                        .join(", ")
                }}</dd>
                <dt>"Health check"</dt><dd>{h.unwrap_or_else(|| "none".into())}</dd>
                <dt>"Reserved per replica"</dt>
                <dd>{format!("{} CPU · {}", format::cpus(i64::from(s.spec.resources.cpu_millis)), format::bytes(s.spec.resources.memory_bytes as i64))}</dd>
                <dt>"Placement"</dt>
                <dd>{format!("{}{}", match s.spec.placement.strategy { crate::wire::Strategy::Spread => "spread", crate::wire::Strategy::Binpack => "binpack" },
                    if s.spec.placement.constraints.is_empty() { String::new() } else { format!(" · {}", crate::validate::format_constraints(&s.spec.placement.constraints)) })}</dd>
                <dt>"Volumes"</dt>
                <dd class="mono small">{if s.spec.volumes.is_empty() {
                    "none".to_string()
                } else {
                    s.spec.volumes.iter().map(|v| match v.scope {
                        crate::wire::VolumeScope::PerReplica => format!("{} per-replica", validate::format_volume(v)),
                        crate::wire::VolumeScope::Shared => validate::format_volume(v),
                    }).collect::<Vec<_>>().join(", ")
                }}</dd>
                <dt>"Rollouts"</dt>
                <dd>{format!("{}, {}, on failure {}{}{}",
                    s.spec.update_order().as_str(),
                    match s.spec.update.batch_size {
                        Some(b) => format!("batches of {b}"),
                        None => format!("surge {}, unavailable {}", s.spec.update.max_surge, s.spec.update.max_unavailable),
                    },
                    s.spec.update.failure_action.as_str(),
                    s.spec.update.gates.as_ref().map(|g| format!("; {g}")).unwrap_or_default(),
                    s.spec.update.canary.as_ref().map(|c| format!("; {c}")).unwrap_or_default())}</dd>
            </dl>
        </section>
    }
    .into_any()
}

#[component]
fn ScaleControl(replicas: u32, act: Action<Op, Result<String, AppError>>) -> impl IntoView {
    let wanted = RwSignal::new(replicas.to_string());
    let problem = RwSignal::new(None::<String>);
    let send = move || match wanted.get_untracked().trim().parse::<u32>() {
        Err(_) => problem.set(Some("replicas must be a whole number".into())),
        Ok(n) => match validate::replicas(n) {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                act.dispatch(Op::Scale(n));
            }
        },
    };
    let step = move |d: i64| {
        let now = wanted
            .get_untracked()
            .trim()
            .parse::<i64>()
            .unwrap_or(replicas as i64);
        wanted.set(
            (now + d)
                .clamp(0, i64::from(validate::MAX_REPLICAS))
                .to_string(),
        );
    };
    view! {
        <section class="panel">
            <h2>"Scale"</h2>
            <form class="form form-row scale" aria-label="Scale" novalidate on:submit=move |ev| { ev.prevent_default(); send(); }>
                <button type="button" class="btn" aria-label="One replica fewer" on:click=move |_| step(-1)>"−"</button>
                <label class="field field-inline">
                    <span class="visually-hidden">"Replicas"</span>
                    <input type="number" name="replicas" min="0" max=validate::MAX_REPLICAS.to_string() class="scale-input" bind:value=wanted/>
                </label>
                <button type="button" class="btn" aria-label="One replica more" on:click=move |_| step(1)>"+"</button>
                <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>
                    {move || if act.pending().get() { "Scaling…" } else { "Scale" }}
                </button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
}

#[component]
fn DeployForm(spec: ServiceSpec, act: Action<Op, Result<String, AppError>>) -> impl IntoView {
    let form = SpecForm::from_spec(&spec);
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match form.to_spec(&spec) {
            Err(why) => problem.set(Some(why)),
            Ok(new) if new == spec => problem.set(Some(
                "nothing changed: edit a field to deploy a new revision".into(),
            )),
            Ok(new) => {
                problem.set(None);
                act.dispatch(Op::Deploy(Box::new(new)));
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"Deploy a new revision"</h2>
            <p class="muted small">"Any change makes a new revision; replicas are replaced one by one, each new one started and healthy before an old one goes."</p>
            <form class="form" on:submit=submit novalidate aria-label="Deploy">
                <SpecFields form/>
                <div>
                    <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>"Deploy"</button>
                </div>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
}

#[component]
fn RoutesForm(
    name: String,
    proxy: ProxyConfig,
    default_host: Option<String>,
    act: Action<Op, Result<String, AppError>>,
) -> impl IntoView {
    let expose = RwSignal::new(proxy.expose);
    let text = RwSignal::new(
        proxy
            .routes
            .iter()
            .map(validate::format_route)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let balance = RwSignal::new(proxy.balance.as_str().to_string());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let config = validate::parse_routes(&text.get_untracked()).and_then(|routes| {
            let config = ProxyConfig {
                routes,
                balance: if balance.get_untracked() == "round_robin" {
                    Balance::RoundRobin
                } else {
                    Balance::LeastInFlight
                },
                expose: expose.get_untracked(),
            };
            validate::proxy_config(&config).map(|_| config)
        });
        match config {
            Err(why) => problem.set(Some(why)),
            Ok(config) => {
                problem.set(None);
                act.dispatch(Op::Proxy(config));
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"Routes"</h2>
            <p class="muted small">
                {match default_host.clone() {
                    Some(h) => view! { "The proxy sends " <code>{h}</code> " here, and every route below: " }.into_any(),
                    None => view! { {format!("{name} is kept off the proxy; when exposed, it gets its own name and the routes below: ")} }.into_any(),
                }}
                "one per line, " <code>"HOST[/PREFIX]"</code> " or " <code>"/PREFIX"</code>
                ", then " <code>"strip"</code> " to remove the prefix. Hosts lie in the team's domains (Teams page) and may start with " <code>"*."</code> ". "
                <code>"https"</code> " orders a certificate from ACME for the host (" <A href="/certificates">"Certificates"</A> ") and " <code>"redirect"</code> " sends plain HTTP to HTTPS once the host has a certificate. No replica moves."
            </p>
            <form class="form form-row" aria-label="Routes" novalidate on:submit=submit>
                <label class="field field-wide">
                    <span class="field-label">"Routes"</span>
                    <textarea name="routes" rows="3" placeholder="shop.example.com https redirect\n*.shop.test/api strip" bind:value=text></textarea>
                </label>
                <label class="field field-check">
                    <input type="checkbox" name="expose" bind:checked=expose/>
                    <span>"On the proxy"</span>
                </label>
                <label class="field">
                    <span class="field-label">"Balancing"</span>
                    <select name="balance" bind:value=balance>
                        <option value="least_in_flight">"fewest requests in flight"</option>
                        <option value="round_robin">"round robin"</option>
                    </select>
                </label>
                <button type="submit" class="btn" disabled=move || act.pending().get()>"Save routes"</button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
    .into_any()
}
