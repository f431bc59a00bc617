//! The page for addresses that lead nowhere.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::layout::PageHeader;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageHeader title="Page not found"/>
        <p>"There is no page at this address. " <A href="/">"Back to the dashboard"</A></p>
    }
}
