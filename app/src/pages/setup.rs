//! The one-time page that creates the first admin, shown while no user exists.

use leptos::prelude::*;

use crate::api::setup_admin;
use crate::components::widgets::{go, ErrorBox};
use crate::validate;
use crate::wire::SetupInput;

#[component]
pub fn Setup() -> impl IntoView {
    let username = RwSignal::new("admin".to_string());
    let password = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let create = Action::new(|input: &SetupInput| {
        let input = input.clone();
        async move {
            let result = setup_admin(input).await;
            if result.is_ok() {
                go("/");
            }
            result
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = username.get_untracked().trim().to_string();
        let pw = password.get_untracked();
        let check = validate::username(&name)
            .and_then(|_| validate::password(&pw))
            .and_then(|_| {
                if pw == again.get_untracked() {
                    Ok(())
                } else {
                    Err("the two passwords differ".into())
                }
            });
        match check {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                create.dispatch(SetupInput {
                    username: name,
                    password: pw,
                });
            }
        }
    };
    view! {
        <leptos_meta::Title text="Create the first admin"/>
        <section class="auth-card" aria-labelledby="setup-title">
            <div class="auth-brand" aria-hidden="true">"Berth"</div>
            <h1 id="setup-title">"Create the first admin"</h1>
            <p class="muted">"Nobody has an account yet. The first one manages users, teams and hosts."</p>
            <form class="form" on:submit=submit novalidate>
                <label class="field">
                    <span class="field-label">"User name"</span>
                    <input type="text" name="username" autocomplete="username" required bind:value=username/>
                </label>
                <div class="field">
                    <label class="field-label" for="setup-password">"Password"</label>
                    <input
                        id="setup-password"
                        type="password"
                        name="password"
                        autocomplete="new-password"
                        required
                        minlength=validate::PASSWORD_MIN
                        aria-describedby="pw-hint"
                        bind:value=password
                    />
                    <span class="field-hint" id="pw-hint">
                        {format!("At least {} characters.", validate::PASSWORD_MIN)}
                    </span>
                </div>
                <label class="field">
                    <span class="field-label">"Password again"</span>
                    <input type="password" name="password2" autocomplete="new-password" required bind:value=again/>
                </label>
                {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
                {move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e/> })}
                <button type="submit" class="btn btn-primary btn-block" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create admin and log in" }}
                </button>
            </form>
        </section>
    }
}
