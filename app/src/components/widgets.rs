//! Small widgets: status badges, capacity bars, stat cards, empty and error states.

use leptos::prelude::*;

/// A coloured pill for a state word; `tone` picks the colour (ok, warn, bad, muted).
#[component]
pub fn Badge(#[prop(into)] tone: String, #[prop(into)] label: String) -> impl IntoView {
    view! { <span class=format!("badge badge-{tone}")>{label}</span> }
}

/// A horizontal bar for "used of total", with the numbers spelled out for screen
/// readers through the `meter` role.
#[component]
pub fn CapacityBar(
    #[prop(into)] label: String,
    used: f64,
    total: f64,
    #[prop(into)] text: String,
) -> impl IntoView {
    let pct = if total > 0.0 {
        (used / total * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    let tone = if pct >= 90.0 {
        "bad"
    } else if pct >= 70.0 {
        "warn"
    } else {
        "ok"
    };
    view! {
        <div class="capacity">
            <div
                class="bar"
                role="meter"
                aria-label=label
                aria-valuemin="0"
                aria-valuemax=total.to_string()
                aria-valuenow=used.to_string()
                aria-valuetext=text.clone()
            >
                <div class=format!("bar-fill bar-{tone}") style=format!("width:{pct:.1}%")></div>
            </div>
            <span class="capacity-text">{text}</span>
        </div>
    }
}

/// A figure with a caption, for the top of overview pages.
#[component]
pub fn Stat(
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    #[prop(into, optional)] detail: Option<String>,
) -> impl IntoView {
    view! {
        <div class="stat">
            <div class="stat-label">{label}</div>
            <div class="stat-value">{value}</div>
            {detail.map(|d| view! { <div class="stat-detail">{d}</div> })}
        </div>
    }
}

/// What a page shows when it has nothing to list yet.
#[component]
pub fn EmptyState(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <section class="empty">
            <h2>{title}</h2>
            <div class="empty-body">{children()}</div>
        </section>
    }
}

/// A readable error, announced to screen readers.
#[component]
pub fn ErrorBox(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="alert alert-bad" role="alert">
            {message}
        </div>
    }
}

/// Turns a server function error into the sentence it carries.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(msg) => msg.clone(),
        other => other.to_string(),
    }
}
