//! Small widgets: status badges, capacity bars, stat cards, empty and error states,
//! and the helpers that keep pages true without a reload (polling, server-sent
//! events).

use leptos::prelude::*;

use crate::errors::AppError;

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

/// A readable error, announced to screen readers; with a way back in when the
/// session ended.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let login = error.is("unauthenticated");
    view! {
        <div class="alert alert-bad" role="alert">
            {error.message}
            {login.then(|| view! { " " <a href="/login">"Log in"</a> })}
        </div>
    }
}

/// The outcome of the last submission of a form: nothing, pending, done or why not.
#[component]
pub fn ActionStatus<T>(
    action: Action<T, Result<String, AppError>>,
    #[prop(into)] pending: String,
) -> impl IntoView
where
    T: Send + Sync + 'static,
{
    view! {
        <div class="action-status" aria-live="polite">
            // `try_get`: a render can outlive the page's owner (a server render
            // whose browser went away, a page drawn again as it hydrates), and
            // `get` on a disposed action panics (seen on the certificates page).
            {move || {
                if action.pending().try_get().unwrap_or(false) {
                    view! { <span class="muted">{pending.clone()}</span> }.into_any()
                } else {
                    match action.value().try_get().flatten() {
                        Some(Ok(done)) => view! { <span class="ok-text">{done}</span> }.into_any(),
                        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                        None => ().into_any(),
                    }
                }
            }}
        </div>
    }
}

/// A button that asks once more before it acts.
#[component]
pub fn ConfirmButton(
    #[prop(into)] label: String,
    #[prop(into)] question: String,
    #[prop(into, optional)] class: Option<String>,
    on_confirm: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let class = class.unwrap_or_else(|| "btn btn-small".into());
    let on_confirm = std::sync::Arc::new(on_confirm);
    move || {
        if asking.get() {
            let on_confirm = on_confirm.clone();
            view! {
                <span class="confirm" role="group" aria-label=question.clone()>
                    <span class="confirm-question">{question.clone()}</span>
                    <button
                        type="button"
                        class="btn btn-small btn-danger"
                        on:click=move |_| {
                            asking.set(false);
                            on_confirm();
                        }
                    >
                        {label.clone()}
                    </button>
                    <button type="button" class="btn btn-small" on:click=move |_| asking.set(false)>
                        "Cancel"
                    </button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <button type="button" class=class.clone() on:click=move |_| asking.set(true)>
                    {label.clone()}
                </button>
            }
            .into_any()
        }
    }
}

/// Milliseconds since the Unix epoch, where the page runs.
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        web_sys::js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Calls `f` every `period`, in the browser only, for as long as the calling
/// component lives: how pages stay true without a reload.
pub fn every(period: std::time::Duration, f: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        let f = f.clone();
        if let Ok(handle) = set_interval_with_handle(f, period) {
            on_cleanup(move || handle.clear());
        }
    });
}

/// Calls `f` soon after the server says that a service changed (server-sent events
/// from `/api/v1/watch/services`, for one service when `name` is given), in the
/// browser only, for as long as the calling component lives. A burst of changes
/// makes one call.
pub fn on_service_change(name: Option<String>, f: impl Fn() + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use std::cell::Cell;
        use std::rc::Rc;
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        let url = match &name {
            Some(n) => format!("/api/v1/watch/services?name={n}"),
            None => "/api/v1/watch/services".to_string(),
        };
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let f = f.clone();
        let scheduled = Rc::new(Cell::new(false));
        let callback = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
            if scheduled.replace(true) {
                return;
            }
            let f = f.clone();
            let scheduled = scheduled.clone();
            set_timeout(
                move || {
                    scheduled.set(false);
                    f();
                },
                std::time::Duration::from_millis(150),
            );
        });
        let _ =
            source.add_event_listener_with_callback("service", callback.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, callback));
        on_cleanup(move || held.0.close());
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, f);
}

/// Loads a page in full: after login and logout the whole page must change.
pub fn go(href: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = leptos::prelude::window().location().set_href(href);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}

/// A column of a [`DataTable`]: its header, whether it holds numbers (right
/// aligned), and a longer explanation on hover.
#[derive(Clone, Copy)]
pub struct Col {
    label: &'static str,
    num: bool,
    title: Option<&'static str>,
}

impl Col {
    pub const fn text(label: &'static str) -> Col {
        Col {
            label,
            num: false,
            title: None,
        }
    }

    pub const fn num(label: &'static str) -> Col {
        Col {
            label,
            num: true,
            title: None,
        }
    }

    pub const fn titled(self, title: &'static str) -> Col {
        Col {
            title: Some(title),
            ..self
        }
    }
}

/// A table in the one style: scrolls sideways on narrow screens, a caption for
/// screen readers, a header row of `cols`, and the rows the caller renders.
#[component]
pub fn DataTable(
    /// The table's own class beside `table` (its column widths in the stylesheet).
    #[prop(into)]
    class: String,
    /// What the table lists, said by screen readers.
    #[prop(into)]
    caption: String,
    cols: Vec<Col>,
    children: Children,
) -> impl IntoView {
    let head = cols
        .into_iter()
        .map(|c| {
            view! {
                <th scope="col" class=c.num.then_some("num") title=c.title>{c.label}</th>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class=format!("table {class}")>
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>{head}</tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}
