//! The services page.

use leptos::prelude::*;

use crate::components::layout::PageHeader;
use crate::components::widgets::EmptyState;

#[component]
pub fn Services() -> impl IntoView {
    view! {
        <PageHeader title="Services" subtitle="What should run, how many, and where."/>
        <EmptyState title="No services yet">
            <p>"A service is an image Berth keeps running: so many replicas, placed on the hosts with room for them, replaced when they die."</p>
        </EmptyState>
    }
}
