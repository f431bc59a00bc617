//! The audit log (admins only): every change, who made it, from where, and how it
//! ended; filtered and paged, newest first.

use crate::components::widgets::{Col, DataTable};
use leptos::prelude::*;

use crate::api::get_audit;
use crate::components::layout::PageHeader;
use crate::components::widgets::{Badge, ErrorBox};
use crate::format;
use crate::wire::{AuditEntry, AuditQuery, AuditResult};

const PAGE: u32 = 50;

#[component]
pub fn Audit() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let result = RwSignal::new(String::new());
    // The filters in effect and the page cursor; the form sets them on submit.
    let query = RwSignal::new(AuditQuery {
        limit: Some(PAGE),
        ..Default::default()
    });
    let page = Resource::new(move || query.get(), get_audit);
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty())
        };
        query.set(AuditQuery {
            actor: text(actor),
            action: text(action),
            target: None,
            result: AuditResult::parse(&result.get_untracked()),
            before: None,
            limit: Some(PAGE),
        });
    };
    view! {
        <PageHeader title="Audit log" subtitle="Every change: who, what, when, from where, and how it ended."/>
        <section class="panel">
            <form class="form form-row" on:submit=apply aria-label="Filter the audit log">
                <label class="field">
                    <span class="field-label">"Actor"</span>
                    <input type="text" name="actor" placeholder="alice" bind:value=actor/>
                </label>
                <label class="field">
                    <span class="field-label">"Action"</span>
                    <input type="text" name="action" placeholder="user. or auth.login" bind:value=action/>
                </label>
                <label class="field">
                    <span class="field-label">"Result"</span>
                    <select name="result" bind:value=result>
                        <option value="">"any"</option>
                        <option value="ok">"ok"</option>
                        <option value="denied">"denied"</option>
                        <option value="failed">"failed"</option>
                    </select>
                </label>
                <button type="submit" class="btn">"Filter"</button>
            </form>
        </section>
        <section class="panel">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let next = p.next_before;
                            view! {
                                <AuditTable entries=p.entries/>
                                <div class="pager">
                                    {(query.get_untracked().before.is_some()).then(|| view! {
                                        <button type="button" class="btn btn-small" on:click=move |_| {
                                            query.update(|q| q.before = None);
                                        }>"Newest"</button>
                                    })}
                                    {next.map(|before| view! {
                                        <button type="button" class="btn btn-small" on:click=move |_| {
                                            query.update(|q| q.before = Some(before));
                                        }>"Older entries"</button>
                                    })}
                                </div>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted">"No entries match."</p> }.into_any();
    }
    view! {
        <DataTable class="audit" caption="Audit entries" cols=vec![
            Col::text("When (UTC)"),
            Col::text("Actor"),
            Col::text("Action"),
            Col::text("Target"),
            Col::text("Result"),
            Col::text("From"),
            Col::text("Detail"),
        ]>
            {entries.into_iter().map(|e| {
                let tone = match e.result {
                    AuditResult::Ok => "ok",
                    AuditResult::Denied => "bad",
                    AuditResult::Failed => "warn",
                };
                let action = e.action.clone();
                view! {
                    <tr data-action=action>
                        <td class="small nowrap">{format::utc_datetime(e.at_ms)}</td>
                        <td>{e.actor}</td>
                        <td class="mono">{e.action}</td>
                        <td class="mono">{e.target}</td>
                        <td><Badge tone=tone label=e.result.as_str()/></td>
                        <td class="mono small">{e.client_addr}</td>
                        <td class="small">{e.detail}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}
