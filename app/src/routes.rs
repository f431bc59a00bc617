//! The pages as lazily loaded routes: each group of pages is a WASM chunk of its
//! own, fetched the first time one of its pages is shown, so the first page a
//! browser opens costs the shell's code and its group's, not the whole dashboard's.
//! The server names the chunks of the page it renders (`<link rel=preload>`), so
//! they load beside the main module rather than after it. The login page and the
//! "not found" page stay in the main module: they are small, and where a new
//! visitor lands.
//!
//! Pages are split by group rather than one by one: the splitter puts the code that
//! several splits share into chunks of its own, one per set of splits sharing it,
//! and sixteen pages made three hundred chunks (a hundred and fifty requests to
//! open the dashboard); five groups make a handful.
//!
//! A build must split the WASM (`cargo leptos build --split`, as every target of
//! the Makefile does): without it the main module imports chunk loaders that do not
//! exist and no page comes alive.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use crate::pages::{
    audit::Audit, certificates::Certificates, dashboard::Dashboard, events::Events, host::Host,
    hosts::Hosts, pools::Pools, proxy::Proxy, secrets::Secrets, service::Service,
    services::Services, settings::Settings, setup::Setup, teams::Teams, users::Users,
    volumes::Volumes,
};

/// One group of pages: an enum of its pages; a module `$group` with one lazily
/// loaded function, `render`, that draws any of them (the group's chunk, named
/// after the group); and one route per page whose view calls it. A route's data
/// half is empty: each page loads its own data, as it did when it was eager.
macro_rules! page_group {
    ($group:ident, $pages:ident { $($route:ident => $page:ident),* $(,)? }) => {
        #[derive(Clone, Copy)]
        enum $pages {
            $($page),*
        }

        mod $group {
            // `#[lazy]` (through wasm_split) declares the chunk's loader as an
            // imported `extern` function and exports `render` under an unmangled
            // name: the crate's only unsafe code, all of it written by that macro,
            // and allowed in this module alone.
            #![allow(unsafe_code)]
            use super::*;

            #[leptos::lazy($group)]
            pub(super) fn render(page: $pages) -> AnyView {
                match page {
                    $($pages::$page => view! { <$page/> }.into_any()),*
                }
            }
        }

        $(
            #[doc = concat!("The ", stringify!($page), " page, loaded with its group.")]
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                async fn view(_this: Self) -> AnyView {
                    $group::render($pages::$page).await
                }

                // `#[lazy]` writes `__preload_render` beside `render` in the
                // browser's build: the router awaits this before it hydrates or
                // shows the page, so the page's code is there by then.
                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $group::__preload_render().await;
                }
            }
        )*
    };
}

// What an operator opens first.
page_group!(overview_pages, OverviewPages { DashboardPage => Dashboard });
page_group!(service_pages, ServicePages {
    ServicesPage => Services,
    ServicePage => Service,
});
page_group!(host_pages, HostPages {
    HostsPage => Hosts,
    HostPage => Host,
    EventsPage => Events,
});
page_group!(platform_pages, PlatformPages {
    PoolsPage => Pools,
    ProxyPage => Proxy,
    CertificatesPage => Certificates,
    VolumesPage => Volumes,
});
page_group!(admin_pages, AdminPages {
    TeamsPage => Teams,
    UsersPage => Users,
    SecretsPage => Secrets,
    AuditPage => Audit,
    SettingsPage => Settings,
    SetupPage => Setup,
});
