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
//! - `pages`: one module per page; `routes`: the pages as lazily loaded routes,
//!   each a WASM chunk of its own.
//! - `components::tone`: the colour of each state's badge.
// Denied rather than forbidden: `routes` allows the unsafe code that the lazy
// routes' macro writes (chunk loaders as `extern` imports), and nothing else may.
#![deny(unsafe_code)]
// The typed view trees of the bigger pages are deep: a build that keeps the
// component types (one whose own RUSTFLAGS replace .cargo/config.toml's
// `erase_components`) needs more room to compute their layouts.
#![recursion_limit = "256"]

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod errors;
mod pages;
mod routes;

pub use domain::{format, validate, wire};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy,
};

use components::layout::Sidebar;
use pages::{login::Login, not_found::NotFound};
use routes::{
    AuditPage, CertificatesPage, DashboardPage, EventsPage, HostPage, HostsPage, PoolsPage,
    ProxyPage, SecretsPage, ServicePage, ServicesPage, SettingsPage, SetupPage, TeamsPage,
    UsersPage, VolumesPage,
};

/// Where the page loads the dashboard's files from (`/pkg/<hash>`, a folder named
/// after the build's content), provided by the server; without it, plain names.
#[derive(Clone, Debug)]
pub struct AssetRoot(pub String);

/// The HTML document around the app; the server renders it once per page load.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let root = use_context::<AssetRoot>().map(|r| r.0).unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                // The stylesheet and scripts from the build's hashed folder.
                <HashedStylesheet options=options.clone() id="berth" root=root.clone()/>
                <HydrationScripts options root/>
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

/// Whether the WASM has taken the page over, its lazily loaded page too: set by
/// `hydrate` once hydration is done, shown as `data-hydrated` so that tests and
/// people can tell a live page from a server-rendered one. Absent on the server.
#[derive(Clone)]
pub struct Hydrated(pub ArcRwSignal<bool>);

/// The application: sidebar navigation and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let hydrated = use_context::<Hydrated>()
        .map(|h| h.0)
        .unwrap_or_else(|| ArcRwSignal::new(false));
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
fn Frame(hydrated: ArcRwSignal<bool>) -> impl IntoView {
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
                    <Route path=path!("/") view={Lazy::<DashboardPage>::new()}/>
                    <Route path=path!("/services") view={Lazy::<ServicesPage>::new()}/>
                    <Route path=path!("/services/:name") view={Lazy::<ServicePage>::new()}/>
                    <Route path=path!("/hosts") view={Lazy::<HostsPage>::new()}/>
                    <Route path=path!("/hosts/:name") view={Lazy::<HostPage>::new()}/>
                    <Route path=path!("/pools") view={Lazy::<PoolsPage>::new()}/>
                    <Route path=path!("/proxy") view={Lazy::<ProxyPage>::new()}/>
                    <Route path=path!("/certificates") view={Lazy::<CertificatesPage>::new()}/>
                    <Route path=path!("/volumes") view={Lazy::<VolumesPage>::new()}/>
                    <Route path=path!("/events") view={Lazy::<EventsPage>::new()}/>
                    <Route path=path!("/teams") view={Lazy::<TeamsPage>::new()}/>
                    <Route path=path!("/secrets") view={Lazy::<SecretsPage>::new()}/>
                    <Route path=path!("/users") view={Lazy::<UsersPage>::new()}/>
                    <Route path=path!("/audit") view={Lazy::<AuditPage>::new()}/>
                    <Route path=path!("/settings") view={Lazy::<SettingsPage>::new()}/>
                    <Route path=path!("/login") view=Login/>
                    <Route path=path!("/setup") view={Lazy::<SetupPage>::new()}/>
                </Routes>
            </main>
        </div>
    }
}

/// The WASM entry point: takes over the server-rendered page once the chunk of the
/// page's own code is loaded (the lazy routes need the asynchronous hydration),
/// then marks the page live.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    reload_after_panic();
    let hydrated = ArcRwSignal::new(false);
    let live = hydrated.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let body = leptos::tachys::dom::body();
        let app = leptos::mount::hydrate_from_async(body, move || {
            provide_context(Hydrated(hydrated));
            view! { <App/> }
        })
        .await;
        app.forget();
        live.set(true);
    });
}

/// A panic stops the WASM for good, and the likeliest one is a chunk of a page that
/// did not load (the page was opened before a new build, whose files replaced the
/// old ones, or the network failed): the page reloads, from the current build,
/// unless it reloaded for a panic in the last 30 s, or the time of this reload
/// cannot be kept (sessionStorage refused): a panic at every load would otherwise
/// reload it forever. The panic is logged to the console either way.
#[cfg(feature = "hydrate")]
fn reload_after_panic() {
    const KEY: &str = "berth-reloaded-after-panic";
    const QUIET_MS: f64 = 30_000.0;
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let Some(window) = web_sys::window() else {
            return;
        };
        let Some(storage) = window.session_storage().ok().flatten() else {
            return;
        };
        let now = js_sys::Date::now();
        let last = storage
            .get_item(KEY)
            .ok()
            .flatten()
            .and_then(|v| v.parse::<f64>().ok());
        let recent = last.is_some_and(|t| now - t < QUIET_MS);
        if !recent && storage.set_item(KEY, &now.to_string()).is_ok() {
            let _ = window.location().reload();
        }
    }));
}
