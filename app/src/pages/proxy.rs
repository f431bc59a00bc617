//! The proxy page.

use leptos::prelude::*;

use crate::components::layout::PageHeader;
use crate::components::widgets::EmptyState;

#[component]
pub fn Proxy() -> impl IntoView {
    view! {
        <PageHeader title="Proxy" subtitle="Routes from host names and paths to healthy replicas."/>
        <EmptyState title="No routes yet">
            <p>"Each service gets a route as soon as one of its replicas is healthy; the routes and their backends are listed here."</p>
        </EmptyState>
    }
}
