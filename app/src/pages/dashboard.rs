//! The dashboard: the state of the cluster at a glance, refreshed on its own.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::get_engines;
use crate::components::engines::{EngineSummary, EngineTable};
use crate::components::layout::PageHeader;
use crate::components::widgets::ErrorBox;
use crate::format;

/// How often the page asks again without being told to.
const AUTO_REFRESH: Duration = Duration::from_secs(5);

#[component]
pub fn Dashboard() -> impl IntoView {
    let engines = Resource::new(|| (), |_| get_engines());
    let (pending, set_pending) = signal(false);

    // In the browser only: keep the page true without a reload.
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || engines.refetch(), AUTO_REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <PageHeader title="Dashboard" subtitle="The Docker engines Berth can see, checked every few seconds.">
            <RefreshButton pending on_refresh=move || engines.refetch()/>
        </PageHeader>
        <Transition
            fallback=|| view! { <p class="muted">"Asking the Docker engines…"</p> }
            set_pending
        >
            {move || Suspend::new(async move {
                match engines.await {
                    Ok(report) => view! {
                        <EngineSummary report=report.clone()/>
                        <section class="panel">
                            <div class="panel-head">
                                <h2>"Docker engines"</h2>
                                <span class="muted small" aria-live="polite">
                                    "Updated " {format::utc_time(report.checked_at_ms)} " UTC"
                                </span>
                            </div>
                            <EngineTable report/>
                        </section>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
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
