//! The frame of every page: the sidebar with the navigation and the page header.

use leptos::prelude::*;
use leptos_router::components::A;

/// One entry of the navigation: where it goes, its label and its icon's SVG path.
struct NavItem {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
}

const NAV: [NavItem; 6] = [
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
        href: "/events",
        label: "Events",
        icon: "M3 12h4l3-8l4 16l3-8h4",
    },
    NavItem {
        href: "/settings",
        label: "Settings",
        icon: "M12 15a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM19 12h2M3 12h2M12 3v2M12 19v2M17 7l1.5-1.5M5.5 18.5L7 17M17 17l1.5 1.5M5.5 5.5L7 7",
    },
];

/// The left-hand navigation. `A` marks the current page with `aria-current="page"`.
#[component]
pub fn Sidebar() -> impl IntoView {
    view! {
        <nav class="sidebar" aria-label="Main">
            <A href="/" attr:class="brand">
                <svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
                    <path d="M3 15l2 5h14l2-5zM6 15V9h12v6M9 9V5h6v4"/>
                </svg>
                <span>"Berth"</span>
            </A>
            <ul class="nav">
                {NAV
                    .iter()
                    .map(|item| {
                        view! {
                            <li>
                                <A href=item.href exact=true attr:class="nav-link">
                                    <svg class="nav-icon" viewBox="0 0 24 24" aria-hidden="true">
                                        <path d=item.icon/>
                                    </svg>
                                    <span>{item.label}</span>
                                </A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="sidebar-foot">"v" {env!("CARGO_PKG_VERSION")}</p>
        </nav>
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
