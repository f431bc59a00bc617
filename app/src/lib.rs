//! Berth's web UI: the shell, the router and the pages, rendered on the server and
//! hydrated in the browser.
//!
//! # Layout
//! - [`wire`], [`validate`], [`format`]: re-exported from the `domain` crate (the
//!   types the API and the pages share, the rules for what people type, formatting).
//! - [`errors`]: `AppError`, the server functions' one error, and the HTTP status of
//!   each error code.
//! - [`backend`] (feature `ssr`): server functions are clients of the JSON API,
//!   called in process through one trait method the server implements; `app`
//!   never depends on `server`.
//! - [`api`]: the server functions the pages call.
//! - `components`: the layout (sidebar, page header) and small widgets (badges, bars).
//! - `pages`: one module per page.
//! - `components::tone`: the colour of each state's badge.
#![forbid(unsafe_code)]
// The typed view trees of the bigger pages are deep; release builds (which do not
// erase component types) need more room to compute their layouts.
#![recursion_limit = "256"]

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod errors;
mod pages;

pub use domain::{format, validate, wire};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use components::layout::Sidebar;
use pages::{
    audit::Audit, certificates::Certificates, dashboard::Dashboard, events::Events, host::Host,
    hosts::Hosts, login::Login, not_found::NotFound, pools::Pools, proxy::Proxy, secrets::Secrets,
    service::Service, services::Services, settings::Settings, setup::Setup, teams::Teams,
    users::Users, volumes::Volumes,
};

/// The HTML document around the app; the server renders it once per page load.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                // The stylesheet by its hashed name when the build hashed it.
                <HashedStylesheet options=options.clone() id="berth"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The caller, loaded once per page load and shared by the sidebar and the pages.
pub type MeResource = Resource<Result<Option<wire::Me>, errors::AppError>>;

/// The application: sidebar navigation and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, so this flips once hydration is done; tests
    // and people can both tell a live page from a server-rendered one.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let me: MeResource = Resource::new(|| (), |_| api::get_me());
    provide_context(me);

    view! {
        <Link rel="icon" href="data:,"/>
        <Meta name="description" content="Berth: run services across Docker hosts"/>
        <Title formatter=|page: String| if page.is_empty() { "Berth".to_string() } else { format!("{page} · Berth") }/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Frame hydrated/>
        </Router>
    }
}

/// The sidebar (except on the login and setup pages) and the routed page.
#[component]
fn Frame(hydrated: RwSignal<bool>) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let bare = move || matches!(location.pathname.get().as_str(), "/login" | "/setup");
    view! {
        <div
            class="layout"
            class:bare=bare
            data-hydrated=move || if hydrated.get() { "true" } else { "false" }
        >
            <Show when=move || !bare()>
                <Sidebar/>
            </Show>
            <main id="main" class="content" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Dashboard/>
                    <Route path=path!("/services") view=Services/>
                    <Route path=path!("/services/:name") view=Service/>
                    <Route path=path!("/hosts") view=Hosts/>
                    <Route path=path!("/hosts/:name") view=Host/>
                    <Route path=path!("/pools") view=Pools/>
                    <Route path=path!("/proxy") view=Proxy/>
                    <Route path=path!("/certificates") view=Certificates/>
                    <Route path=path!("/volumes") view=Volumes/>
                    <Route path=path!("/events") view=Events/>
                    <Route path=path!("/teams") view=Teams/>
                    <Route path=path!("/secrets") view=Secrets/>
                    <Route path=path!("/users") view=Users/>
                    <Route path=path!("/audit") view=Audit/>
                    <Route path=path!("/settings") view=Settings/>
                    <Route path=path!("/login") view=Login/>
                    <Route path=path!("/setup") view=Setup/>
                </Routes>
            </main>
        </div>
    }
}

/// The WASM entry point: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
