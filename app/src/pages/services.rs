//! The services page: every service the caller may see, how it stands, live; the
//! form that creates one and the import of a stack or Compose file (for operators
//! of a team, and admins).

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api::{create_service, list_services_page, list_teams};
use crate::components::layout::PageHeader;
use crate::components::services::{ServiceTable, SpecFields, SpecForm};
use crate::components::widgets::{every, on_service_change, ActionStatus, ErrorBox};
use crate::errors::AppError;
use crate::validate;
use crate::wire::{CreateServiceInput, Me, ServiceQuery, ServiceSpec, TeamRole};
use crate::MeResource;

use super::stacks_import::StackImport;

/// Admins and a team's operators may write services.
fn may_write(me: Option<&Me>) -> bool {
    me.is_some_and(|m| m.is_admin() || m.teams.iter().any(|t| t.role == TeamRole::Operator))
}

/// Services per page of the table: a page stays quick at any number of services.
const PAGE: u32 = 50;

/// Why `q` cannot be part of a service name, if it cannot (the API would refuse it).
fn name_part_problem(q: &str) -> Option<&'static str> {
    let ok = q.len() <= 63
        && q.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!ok).then_some("A service's name holds only lowercase letters, digits and '-' (at most 63).")
}

#[component]
pub fn Services() -> impl IntoView {
    let me = expect_context::<MeResource>();
    // The filters as typed, and the page's first row.
    let q = RwSignal::new(String::new());
    let phase = RwSignal::new(String::new());
    let offset = RwSignal::new(0u32);
    let q_problem = Memo::new(move |_| name_part_problem(q.get().trim()));
    let services = Resource::new(
        move || {
            let text = q.get().trim().to_string();
            let text = (!text.is_empty() && q_problem.get().is_none()).then_some(text);
            (text, phase.get(), offset.get())
        },
        |(q, phase, offset)| {
            list_services_page(ServiceQuery {
                limit: Some(PAGE),
                offset: Some(offset),
                phase: (!phase.is_empty()).then_some(phase),
                q,
                team: None,
            })
        },
    );
    on_service_change(None, move || services.refetch());
    every(Duration::from_secs(5), move || services.refetch());
    let navigate = use_navigate();
    let create = Action::new(move |input: &CreateServiceInput| {
        let input = input.clone();
        let navigate = navigate.clone();
        async move {
            let result = create_service(input).await.map(|s| {
                navigate(&format!("/services/{}", s.name), Default::default());
                format!("Created {}.", s.name)
            });
            services.refetch();
            result
        }
    });
    let importing = RwSignal::new(false);
    view! {
        <PageHeader title="Services" subtitle="What should run, how many, and where; kept so by Berth.">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    may_write(me.await.ok().flatten().as_ref()).then(|| view! {
                        <button type="button" class="btn btn-primary" aria-controls="stack-import"
                            aria-expanded=move || importing.get().to_string()
                            on:click=move |_| importing.update(|open| *open = !*open)>
                            "Import"
                        </button>
                    })
                })}
            </Transition>
        </PageHeader>
        <Show when=move || importing.get()>
            <StackImport on_applied=move |()| services.refetch()/>
        </Show>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                may_write(me.await.ok().flatten().as_ref()).then(|| view! { <NewServiceForm create/> })
            })}
        </Transition>
        <section class="panel">
            <div class="panel-head">
                <h2>"All services"</h2>
                <form class="filters" role="search" aria-label="Filter services" on:submit=|ev| ev.prevent_default()>
                    <label class="field field-inline">
                        <span class="field-label">"Name"</span>
                        <input type="search" name="service-filter" placeholder="part of a name" autocomplete="off"
                            aria-invalid=move || q_problem.get().is_some().to_string()
                            aria-describedby="service-filter-problem"
                            prop:value=move || q.get()
                            on:input=move |ev| { q.set(event_target_value(&ev)); offset.set(0); }/>
                    </label>
                    <label class="field field-inline">
                        <span class="field-label">"State"</span>
                        <select name="service-phase" on:change=move |ev| { phase.set(event_target_value(&ev)); offset.set(0); }>
                            <option value="">"any"</option>
                            <option value="running">"running"</option>
                            <option value="progressing">"progressing"</option>
                            <option value="degraded">"degraded"</option>
                            <option value="stopped">"stopped"</option>
                        </select>
                    </label>
                </form>
            </div>
            <p id="service-filter-problem" class="field-error" role="status">{move || q_problem.get()}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let filtered = !q.get_untracked().trim().is_empty() || !phase.get_untracked().is_empty();
                    match services.await {
                        Ok(page) if page.total == 0 && !filtered => view! {
                            <p class="muted">"No service yet. A service is an image Berth keeps running: so many replicas, placed on the hosts with room for them, replaced when they die."</p>
                        }.into_any(),
                        Ok(page) if page.total == 0 => view! {
                            <p class="muted">"No service matches."</p>
                        }.into_any(),
                        // Fewer services than this page starts at (some were deleted):
                        // back to the last page that has some.
                        Ok(page) if page.services.is_empty() => {
                            offset.set((page.total - 1) / PAGE * PAGE);
                            view! { <p class="muted">"Loading…"</p> }.into_any()
                        }
                        Ok(page) => {
                            let total = page.total;
                            view! {
                                <ServiceTable services=page.services/>
                                <Pager offset total/>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// "51–100 of 1,000" and the buttons to the pages before and after.
#[component]
fn Pager(offset: RwSignal<u32>, total: u32) -> impl IntoView {
    let first = offset.get_untracked();
    let last = (first + PAGE).min(total);
    let shown = if total == 0 { 0 } else { first + 1 };
    view! {
        <nav class="pager" aria-label="Pages of services">
            <span class="muted small pager-count" aria-live="polite">
                {format!("{shown}–{last} of {total}")}
            </span>
            <button type="button" class="btn btn-small" disabled=first == 0
                on:click=move |_| offset.set(first.saturating_sub(PAGE))>
                "Previous"
            </button>
            <button type="button" class="btn btn-small" disabled=last >= total
                on:click=move |_| offset.set(first + PAGE)>
                "Next"
            </button>
        </nav>
    }
}

#[component]
fn NewServiceForm(create: Action<CreateServiceInput, Result<String, AppError>>) -> impl IntoView {
    let me = expect_context::<MeResource>();
    let teams = Resource::new(|| (), |_| list_teams());
    let name = RwSignal::new(String::new());
    let team = RwSignal::new(String::new());
    let replicas = RwSignal::new("3".to_string());
    let base: ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "127.0.0.1:5000/berth-demo:v1",
        "port": 8080,
        "health": {"kind": "http", "path": "/healthz"}
    }))
    .expect("the default spec");
    let form = SpecForm::from_spec(&base);
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        let t = team.get_untracked();
        let checked = validate::service_name(&n)
            .and_then(|_| {
                if t.is_empty() {
                    Err("choose the team that owns the service".to_string())
                } else {
                    Ok(())
                }
            })
            .and_then(|_| {
                replicas
                    .get_untracked()
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| "replicas must be a whole number".to_string())
            })
            .and_then(|r| validate::replicas(r).map(|_| r))
            .and_then(|r| form.to_spec(&base).map(|spec| (r, spec)));
        match checked {
            Err(why) => problem.set(Some(why)),
            Ok((replicas, spec)) => {
                problem.set(None);
                create.dispatch(CreateServiceInput {
                    name: n,
                    team: t,
                    replicas,
                    spec,
                    proxy: Default::default(),
                    message: None,
                });
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"New service"</h2>
            <form class="form" on:submit=submit novalidate aria-label="New service">
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Name"</span>
                        <input type="text" name="service-name" placeholder="shop" autocomplete="off" required bind:value=name/>
                    </label>
                    <label class="field">
                        <span class="field-label">"Team"</span>
                        <Transition fallback=|| view! { <select name="service-team" disabled=true><option>"…"</option></select> }>
                            {move || Suspend::new(async move {
                                let me = me.await.ok().flatten();
                                let admin = me.as_ref().is_some_and(|m| m.is_admin());
                                let mine: Vec<String> = me
                                    .map(|m| m.teams.into_iter().filter(|t| t.role == TeamRole::Operator).map(|t| t.name).collect())
                                    .unwrap_or_default();
                                let names: Vec<String> = teams
                                    .await
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|t| t.name)
                                    .filter(|n| admin || mine.contains(n))
                                    .collect();
                                if team.get_untracked().is_empty() {
                                    if let Some(first) = names.first() {
                                        team.set(first.clone());
                                    }
                                }
                                view! {
                                    <select name="service-team" bind:value=team>
                                        {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                                    </select>
                                }
                            })}
                        </Transition>
                    </label>
                    <label class="field">
                        <span class="field-label">"Replicas"</span>
                        <input type="number" name="service-replicas" min="0" max=validate::MAX_REPLICAS.to_string() bind:value=replicas/>
                    </label>
                </div>
                <SpecFields form/>
                <div>
                    <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Creating…" } else { "Create service" }}
                    </button>
                </div>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <ActionStatus action=create pending="Creating the service…"/>
        </section>
    }
}
