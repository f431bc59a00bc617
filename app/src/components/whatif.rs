//! What-if panels: what losing a host (and others with it) would do, on its page,
//! and whether losing any one host would cost a service replicas (the N-1 check,
//! on the dashboard).
//! Both ask Berth's own planner; nothing is changed.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::{each_host_loss, what_if};
use crate::components::widgets::{every, Badge, Col, DataTable, ErrorBox};
use crate::validate;
use crate::wire::{EachHostView, WhatIfView};

/// A host page's "what if it is lost?" question (with other hosts lost beside it,
/// if asked), checked before it is sent, and its answer.
#[component]
pub fn HostLoss(host: String) -> impl IntoView {
    let ask = Action::new(|lose: &String| what_if(lose.clone()));
    let pending = ask.pending();
    let answer = ask.value();
    let also = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // This host first; naming it again among the others is no mistake.
        let extra = also.get_untracked();
        let others = extra
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != host);
        let list = std::iter::once(host.as_str())
            .chain(others)
            .collect::<Vec<_>>()
            .join(",");
        match validate::host_list(&list) {
            Ok(names) => {
                problem.set(None);
                ask.dispatch(names.join(","));
            }
            Err(why) => {
                // The last answer is not this question's.
                answer.set(None);
                problem.set(Some(why));
            }
        }
    };
    view! {
        <section class="panel" aria-labelledby="whatif-title" data-whatif>
            <h2 id="whatif-title">"If this host were lost"</h2>
            <p class="muted small">
                "Berth's planner places this host's replicas again without it, from what runs now, "
                "as it would once the host stopped answering. Nothing is changed."
            </p>
            <form class="form form-row" aria-label="What if" on:submit=submit>
                <label class="field field-wide">
                    <span class="field-label">"Other hosts lost with it (optional)"</span>
                    <input type="text" name="also" placeholder="h3, h4" bind:value=also
                        aria-invalid=move || problem.get().is_some().to_string()
                        aria-describedby="whatif-problem"/>
                </label>
                <button type="submit" class="btn" disabled=move || pending.get()>
                    {move || if pending.get() { "Working it out…" } else { "What if it is lost?" }}
                </button>
            </form>
            <div id="whatif-problem">
                {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            </div>
            <div aria-live="polite">
                {move || answer.get().map(|r| match r {
                    Ok(v) => view! { <WhatIfAnswer v/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
            </div>
        </section>
    }
}

/// The answer: a sentence, then what moves where, what cannot be placed and why,
/// and which slots would wait for their volumes.
#[component]
fn WhatIfAnswer(v: WhatIfView) -> impl IntoView {
    let (moved, unplaced, stranded) = (v.moves.len(), v.unplaced.len(), v.stranded.len());
    let sentence = if moved + unplaced + stranded == 0 {
        "Nothing of the services you can see would have to move.".to_string()
    } else if v.whole {
        format!(
            "No service would lose a replica: {} move to other hosts.",
            replicas(moved)
        )
    } else {
        let mut parts = Vec::new();
        if unplaced > 0 {
            parts.push(format!("{} could not be placed", replicas(unplaced)));
        }
        if stranded > 0 {
            parts.push(format!(
                "{} would wait for volumes left on it",
                replicas(stranded)
            ));
        }
        if moved > 0 {
            parts.push(format!("{} move", replicas(moved)));
        }
        format!("Some service would lose replicas: {}.", parts.join(", "))
    };
    let (tone, label) = if v.whole {
        ("ok", "whole")
    } else {
        ("bad", "not whole")
    };
    view! {
        <div class="whatif-answer" data-whole=v.whole.to_string()>
            <p><Badge tone label/>" "{sentence}</p>
            {(!v.moves.is_empty()).then(|| view! {
                <h3>"Would move"</h3>
                <DataTable class="whatif-moves" caption="Replicas that would move" cols=vec![
                    Col::text("Service"), Col::text("Replica"), Col::text("To host"),
                ]>
                    {v.moves.into_iter().map(|m| view! {
                        <tr data-service=m.service.clone() data-slot=m.slot>
                            <th scope="row"><a href=format!("/services/{}", m.service)>{m.service.clone()}</a></th>
                            <td>{m.slot}</td>
                            <td><a href=format!("/hosts/{}", m.to)>{m.to.clone()}</a></td>
                        </tr>
                    }).collect_view()}
                </DataTable>
            })}
            {(!v.unplaced.is_empty()).then(|| view! {
                <h3>"Could not be placed"</h3>
                <DataTable class="whatif-unplaced" caption="Replicas that could not be placed" cols=vec![
                    Col::text("Service"), Col::text("Replica"), Col::text("Why"),
                ]>
                    {v.unplaced.into_iter().map(|u| view! {
                        <tr data-service=u.service.clone() data-slot=u.slot>
                            <th scope="row"><a href=format!("/services/{}", u.service)>{u.service.clone()}</a></th>
                            <td>{u.slot}</td>
                            <td class="small">{u.why}</td>
                        </tr>
                    }).collect_view()}
                </DataTable>
            })}
            {(!v.stranded.is_empty()).then(|| view! {
                <h3>"Would wait for their volumes on a lost host"</h3>
                <DataTable class="whatif-stranded" caption="Replicas whose volumes would be left on it" cols=vec![
                    Col::text("Service"), Col::text("Replica"), Col::text("Volumes"),
                ]>
                    {v.stranded.into_iter().map(|s| view! {
                        <tr data-service=s.service.clone() data-slot=s.slot>
                            <th scope="row"><a href=format!("/services/{}", s.service)>{s.service.clone()}</a></th>
                            <td>{s.slot}</td>
                            <td class="mono small">{s.volumes.join(", ")}</td>
                        </tr>
                    }).collect_view()}
                </DataTable>
            })}
        </div>
    }
}

fn replicas(n: usize) -> String {
    if n == 1 {
        "1 replica".to_string()
    } else {
        format!("{n} replicas")
    }
}

/// The dashboard's N-1 check: whether losing any one host leaves every service
/// whole, and which hosts would not.
#[component]
pub fn LossCheck() -> impl IntoView {
    let check = Resource::new(|| (), |_| each_host_loss());
    every(Duration::from_secs(10), move || check.refetch());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match check.await {
                    Ok(v) => view! { <LossSummary v/> }.into_any(),
                    Err(e) => view! { <section class="panel"><ErrorBox error=e/></section> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn LossSummary(v: EachHostView) -> impl IntoView {
    let n = v.hosts.len();
    let (tone, label, sentence) = if n == 0 {
        ("muted", "no hosts", "No hosts yet.".to_string())
    } else if v.whole {
        (
            "ok",
            "N-1 whole",
            format!("Losing any one of the {n} hosts would cost no service a replica."),
        )
    } else {
        let count = v.hosts.iter().filter(|h| !h.whole).count();
        (
            "warn",
            "N-1 not whole",
            format!("Losing {count} of the {n} hosts would cost some service replicas:"),
        )
    };
    let short: Vec<_> = v.hosts.into_iter().filter(|h| !h.whole).collect();
    view! {
        <section class="panel" aria-labelledby="loss-title" data-loss-check=v.whole.to_string()>
            <div class="panel-head">
                <h2 id="loss-title">"Losing one host"</h2>
                <Badge tone label/>
            </div>
            <p>{sentence}</p>
            {(!short.is_empty()).then(|| view! {
                <ul class="loss-list">
                    {short.into_iter().map(|h| {
                        let mut parts = Vec::new();
                        if h.unplaced > 0 { parts.push(format!("{} not placed", replicas(h.unplaced as usize))); }
                        if h.stranded > 0 { parts.push(format!("{} waiting for volumes", replicas(h.stranded as usize))); }
                        view! {
                            <li data-host=h.host.clone()>
                                <a href=format!("/hosts/{}", h.host)>{h.host.clone()}</a>": "{parts.join(", ")}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
