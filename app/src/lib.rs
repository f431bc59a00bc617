//! Berth's web UI: the shell, the router and the pages, rendered on the server and
//! hydrated in the browser.
//!
//! # Layout
//! - [`wire`]: the wire types (DTOs) that server functions and the REST API share, so
//!   that the browser and the API always agree.
//! - [`backend`] (feature `ssr`): the trait through which server functions reach the
//!   server's logic; `app` never depends on `server`.
//! - [`api`]: the server functions the pages call.
//! - `components`: the layout (sidebar, page header) and small widgets (badges, bars).
//! - `pages`: one module per page.
//! - [`format`]: plain formatting of bytes and times, shared by pages and the server.
#![forbid(unsafe_code)]

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod format;
mod pages;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use components::layout::Sidebar;
use pages::{
    dashboard::Dashboard, events::Events, hosts::Hosts, not_found::NotFound, proxy::Proxy,
    services::Services, settings::Settings,
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
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: sidebar navigation and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, so this flips once hydration is done; tests
    // and people can both tell a live page from a server-rendered one.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="berth" href="/pkg/berth.css"/>
        <Link rel="icon" href="data:,"/>
        <Meta name="description" content="Berth: run services across Docker hosts"/>
        <Title formatter=|page: String| if page.is_empty() { "Berth".to_string() } else { format!("{page} · Berth") }/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <div class="layout" data-hydrated=move || if hydrated.get() { "true" } else { "false" }>
                <Sidebar/>
                <main id="main" class="content" tabindex="-1">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Dashboard/>
                        <Route path=path!("/services") view=Services/>
                        <Route path=path!("/hosts") view=Hosts/>
                        <Route path=path!("/proxy") view=Proxy/>
                        <Route path=path!("/events") view=Events/>
                        <Route path=path!("/settings") view=Settings/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// The WASM entry point: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
