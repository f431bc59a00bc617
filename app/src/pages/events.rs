//! The events page.

use leptos::prelude::*;

use crate::components::layout::PageHeader;
use crate::components::widgets::EmptyState;

#[component]
pub fn Events() -> impl IntoView {
    view! {
        <PageHeader title="Events" subtitle="What Berth did, and why."/>
        <EmptyState title="No events yet">
            <p>"Every action Berth takes on a host or a service is recorded here with its reason."</p>
        </EmptyState>
    }
}
