//! The events page: what Berth did and saw, newest first, updating by itself.

use std::time::Duration;

use leptos::prelude::*;

use super::host::EventList;
use crate::api::list_events;
use crate::components::layout::PageHeader;
use crate::components::widgets::{every, EmptyState, ErrorBox};
use crate::wire::EventQuery;

#[component]
pub fn Events() -> impl IntoView {
    let kind = RwSignal::new(String::new());
    let events = Resource::new(
        move || kind.get(),
        |kind| {
            list_events(EventQuery {
                kind: (!kind.is_empty()).then_some(kind),
                limit: Some(100),
                ..Default::default()
            })
        },
    );
    every(Duration::from_secs(2), move || events.refetch());
    view! {
        <PageHeader title="Events" subtitle="What Berth did and saw, and why; newest first."/>
        <section class="panel">
            <div class="panel-head">
                <label class="field field-inline">
                    <span class="field-label">"Show"</span>
                    <select name="kind" bind:value=kind>
                        <option value="">"everything"</option>
                        <option value="host">"hosts"</option>
                        <option value="service">"services"</option>
                        <option value="instance">"Berth instances (leadership)"</option>
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) if page.events.is_empty() => view! {
                            <EmptyState title="No events yet">
                                <p>"Hosts joining and leaving, replicas started and replaced: each is recorded here with its reason."</p>
                            </EmptyState>
                        }
                        .into_any(),
                        Ok(page) => view! { <EventList events=page.events/> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
