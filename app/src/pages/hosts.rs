//! The hosts page: every Docker engine Berth is configured with, and its health.

use leptos::prelude::*;

use super::dashboard::RefreshButton;
use crate::api::get_engines;
use crate::components::engines::EngineTable;
use crate::components::layout::PageHeader;
use crate::components::widgets::ErrorBox;

#[component]
pub fn Hosts() -> impl IntoView {
    let engines = Resource::new(|| (), |_| get_engines());
    let (pending, set_pending) = signal(false);
    view! {
        <PageHeader title="Hosts" subtitle="Docker engines and their capacity.">
            <RefreshButton pending on_refresh=move || engines.refetch()/>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Asking the Docker engines…"</p> } set_pending>
            {move || Suspend::new(async move {
                match engines.await {
                    Ok(report) => view! { <section class="panel"><EngineTable report/></section> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}
