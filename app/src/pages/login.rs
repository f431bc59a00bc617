//! The login page: user name and password; too many failures are refused for a
//! while, and the page says how long.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::login;
use crate::components::widgets::go;
use crate::wire::LoginInput;

/// Where to go after login: a path on this site, never another site.
fn safe_next(next: Option<String>) -> String {
    next.filter(|n| crate::validate::local_path(n))
        .unwrap_or_else(|| "/".into())
}

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let attempt = Action::new(move |input: &LoginInput| {
        let input = input.clone();
        let next = safe_next(query.get_untracked().get("next"));
        async move {
            let result = login(input).await;
            if result.is_ok() {
                go(&next);
            }
            result
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        attempt.dispatch(LoginInput {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
        });
    };
    view! {
        <leptos_meta::Title text="Log in"/>
        <section class="auth-card" aria-labelledby="login-title">
            <div class="auth-brand" aria-hidden="true">"Berth"</div>
            <h1 id="login-title">"Log in"</h1>
            <form class="form" on:submit=submit>
                <label class="field">
                    <span class="field-label">"User name"</span>
                    <input
                        type="text"
                        name="username"
                        autocomplete="username"
                        required
                        autofocus
                        bind:value=username
                    />
                </label>
                <label class="field">
                    <span class="field-label">"Password"</span>
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        bind:value=password
                    />
                </label>
                {move || {
                    attempt
                        .value()
                        .get()
                        .and_then(|r| r.err())
                        .map(|e| view! { <div class="alert alert-bad" role="alert">{e.message}</div> })
                }}
                <button type="submit" class="btn btn-primary btn-block" disabled=move || attempt.pending().get()>
                    {move || if attempt.pending().get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for (next, want) in [
            (None, "/"),
            (Some("/hosts"), "/hosts"),
            (Some("/users?x=1"), "/users?x=1"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example"), "/"),
            // Browsers drop tabs and new lines from URLs: /<TAB>/evil is //evil.
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/ /evil.example"), "/"),
            (Some("/%09/x"), "/%09/x"),
        ] {
            assert_eq!(safe_next(next.map(String::from)), want, "{next:?}");
        }
    }
}
