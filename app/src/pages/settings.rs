//! The settings page: facts about this Berth server.

use leptos::prelude::*;

use crate::api::get_about;
use crate::components::layout::PageHeader;
use crate::components::widgets::{error_text, ErrorBox};
use crate::format;

#[component]
pub fn Settings() -> impl IntoView {
    let about = Resource::new(|| (), |_| get_about());
    view! {
        <PageHeader title="Settings" subtitle="This Berth server and its database."/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match about.await {
                    Ok(a) => view! {
                        <section class="panel">
                            <h2>"About this server"</h2>
                            <dl class="facts">
                                <dt>"Version"</dt><dd>{a.version}</dd>
                                <dt>"Instance"</dt><dd class="mono">{a.instance_id}</dd>
                                <dt>"Dashboard"</dt><dd class="mono">{format!("http://{}", a.listen)}</dd>
                                <dt>"Database"</dt><dd class="mono">{a.database}</dd>
                                <dt>"Journal mode"</dt><dd>{a.journal_mode}</dd>
                                <dt>"Schema version"</dt><dd>{a.schema_version}</dd>
                                <dt>"Started"</dt><dd>{format::utc_datetime(a.started_at_ms)}</dd>
                            </dl>
                        </section>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorBox message=error_text(&e)/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
