//! The frame of every page: the sidebar with the navigation and the caller, and the
//! page header.

use leptos::prelude::*;
use leptos_router::components::A;

use super::widgets::go;
use crate::api::logout;
use crate::MeResource;

/// One entry of the navigation: where it goes, its label and its icon's SVG path.
struct NavItem {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
}

const NAV: [NavItem; 10] = [
    NavItem {
        href: "/",
        label: "Dashboard",
        icon: "M3 13h8V3H3zm10 8h8V11h-8zM3 21h8v-6H3zm10-18v6h8V3z",
    },
    NavItem {
        href: "/services",
        label: "Services",
        icon: "M4 6h16M4 12h16M4 18h16M7 4v4m0 2v4m0 2v4",
    },
    NavItem {
        href: "/hosts",
        label: "Hosts",
        icon: "M4 4h16v6H4zM4 14h16v6H4zM8 7h.01M8 17h.01",
    },
    NavItem {
        href: "/proxy",
        label: "Proxy",
        icon: "M4 12h6m4 0h6M10 12a2 2 0 1 0 4 0a2 2 0 1 0-4 0M17 9l3 3l-3 3M7 9l-3 3l3 3",
    },
    NavItem {
        href: "/certificates",
        label: "Certificates",
        icon: "M12 3l7 3v5c0 4.5-3 8.5-7 10c-4-1.5-7-5.5-7-10V6zM9 12l2 2l4-4",
    },
    NavItem {
        href: "/volumes",
        label: "Volumes",
        icon: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3v12c0 1.7-3.6 3-8 3s-8-1.3-8-3zM4 6c0 1.7 3.6 3 8 3s8-1.3 8-3M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
    },
    NavItem {
        href: "/events",
        label: "Events",
        icon: "M3 12h4l3-8l4 16l3-8h4",
    },
    NavItem {
        href: "/teams",
        label: "Teams",
        icon: "M8 11a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM16 11a3 3 0 1 0 0-6M2 20c0-3 3-5 6-5s6 2 6 5M16 15c3 0 6 2 6 5",
    },
    NavItem {
        href: "/secrets",
        label: "Secrets",
        icon: "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4M12 15v2",
    },
    NavItem {
        href: "/settings",
        label: "Settings",
        icon: "M12 15a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM19 12h2M3 12h2M12 3v2M12 19v2M17 7l1.5-1.5M5.5 18.5L7 17M17 17l1.5 1.5M5.5 5.5L7 7",
    },
];

const ADMIN: [NavItem; 3] = [
    NavItem {
        href: "/pools",
        label: "Pools",
        icon: "M4 14h16v6H4zM8 17h.01M12 4v7M8.5 7.5L12 11l3.5-3.5",
    },
    NavItem {
        href: "/users",
        label: "Users",
        icon: "M12 12a4 4 0 1 0 0-8a4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6",
    },
    NavItem {
        href: "/audit",
        label: "Audit log",
        icon: "M6 3h9l4 4v14H6zM14 3v5h5M9 13h7M9 17h7",
    },
];

fn nav_link(item: &'static NavItem) -> impl IntoView {
    view! {
        <li>
            <A href=item.href exact=item.href == "/" attr:class="nav-link">
                <svg class="nav-icon" viewBox="0 0 24 24" aria-hidden="true">
                    <path d=item.icon/>
                </svg>
                <span>{item.label}</span>
            </A>
        </li>
    }
}

/// The left-hand navigation. `A` marks the current page with `aria-current="page"`.
#[component]
pub fn Sidebar() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <nav class="sidebar" aria-label="Main">
            <A href="/" attr:class="brand">
                <svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
                    <path d="M3 15l2 5h14l2-5zM6 15V9h12v6M9 9V5h6v4"/>
                </svg>
                <span>"Berth"</span>
            </A>
            <ul class="nav">
                {NAV.iter().map(nav_link).collect_view()}
            </ul>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                    admin.then(|| view! {
                        <p class="nav-heading" id="nav-admin">"Administration"</p>
                        <ul class="nav" aria-labelledby="nav-admin">
                            {ADMIN.iter().map(nav_link).collect_view()}
                        </ul>
                    })
                })}
            </Transition>
            <div class="sidebar-foot">
                <Transition fallback=|| ()>
                    <UserBox/>
                </Transition>
                <p class="version">"Berth v" {env!("CARGO_PKG_VERSION")}</p>
            </div>
        </nav>
    }
}

/// Who is logged in, with the way out.
#[component]
fn UserBox() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let out = Action::new(|_: &()| async move {
        let result = logout().await;
        if result.is_ok() {
            go("/login");
        }
        result
    });
    move || {
        Suspend::new(async move {
            me.await.ok().flatten().map(|m| view! {
                <div class="userbox">
                    <div class="userbox-name" data-testid="current-user">{m.username.clone()}</div>
                    <div class="userbox-role">{m.role.as_str()}</div>
                    <button
                        type="button"
                        class="btn btn-small btn-ghost"
                        on:click=move |_| {
                            out.dispatch(());
                        }
                        disabled=move || out.pending().get()
                    >
                        {move || if out.pending().get() { "Logging out…" } else { "Log out" }}
                    </button>
                </div>
            })
        })
    }
}

/// The title row of a page, with optional actions on the right.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(into, optional)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <div>
                <h1>{title.clone()}</h1>
                {subtitle.map(|s| view! { <p class="page-subtitle">{s}</p> })}
            </div>
            <div class="page-actions">{children.map(|c| c())}</div>
        </header>
        <leptos_meta::Title text=title/>
    }
}
