//! The hosts page: every Docker host with its state and capacity; admins add hosts.

use std::time::Duration;

use leptos::prelude::*;

use super::dashboard::RefreshButton;
use crate::api::{add_host, list_hosts};
use crate::components::hosts::HostTable;
use crate::components::layout::PageHeader;
use crate::components::widgets::{every, ActionStatus, ErrorBox};
use crate::errors::AppError;
use crate::validate;
use crate::wire::{AddHostInput, TlsInput};
use crate::MeResource;

#[component]
pub fn Hosts() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let hosts = Resource::new(|| (), |_| list_hosts());
    let (pending, set_pending) = signal(false);
    every(Duration::from_secs(2), move || hosts.refetch());
    let add = Action::new(move |input: &AddHostInput| {
        let input = input.clone();
        async move {
            let result = add_host(input).await.map(|h| {
                let state = h.state.as_str();
                format!("Added host {} ({state}).", h.name)
            });
            hosts.refetch();
            result
        }
    });
    view! {
        <PageHeader title="Hosts" subtitle="Docker engines Berth runs containers on, their health and capacity.">
            <RefreshButton pending on_refresh=move || hosts.refetch()/>
        </PageHeader>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                admin.then(|| view! { <AddHostForm add/> })
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> } set_pending>
            {move || Suspend::new(async move {
                match hosts.await {
                    Ok(list) => view! { <section class="panel"><HostTable hosts=list/></section> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AddHostForm(add: Action<AddHostInput, Result<String, AppError>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let endpoint = RwSignal::new(String::new());
    let address = RwSignal::new(String::new());
    let labels = RwSignal::new(String::new());
    let use_tls = RwSignal::new(false);
    let ca = RwSignal::new(String::new());
    let cert = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        let e = endpoint.get_untracked().trim().to_string();
        let a = address.get_untracked().trim().to_string();
        let checked = validate::host_name(&n)
            .and_then(|_| validate::endpoint(&e))
            .and_then(|_| {
                if a.is_empty() {
                    Ok(())
                } else {
                    validate::address(&a)
                }
            })
            .and_then(|_| validate::parse_labels(&labels.get_untracked()))
            .and_then(|l| {
                if use_tls.get_untracked() && !e.starts_with("tcp://") {
                    Err("TLS is for tcp:// endpoints".to_string())
                } else {
                    Ok(l)
                }
            });
        match checked {
            Err(why) => problem.set(Some(why)),
            Ok(parsed) => {
                problem.set(None);
                add.dispatch(AddHostInput {
                    name: n,
                    endpoint: e,
                    address: (!a.is_empty()).then_some(a),
                    labels: parsed,
                    tls: use_tls.get_untracked().then(|| TlsInput {
                        ca: ca.get_untracked(),
                        cert: cert.get_untracked(),
                        key: key.get_untracked(),
                    }),
                });
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"Add a host"</h2>
            <p class="muted small">"Berth connects before it saves: a host that does not answer, whose TLS fails, or whose engine is older than API 1.41 is refused."</p>
            <form class="form" on:submit=submit novalidate aria-label="Add a host">
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Name"</span>
                        <input type="text" name="host-name" placeholder="web-1" autocomplete="off" bind:value=name/>
                    </label>
                    <label class="field field-wide">
                        <span class="field-label">"Docker endpoint"</span>
                        <input type="text" name="host-endpoint" placeholder="unix:///var/run/docker.sock or tcp://10.0.0.5:2376" autocomplete="off" bind:value=endpoint/>
                    </label>
                    <label class="field">
                        <span class="field-label">"Address of published ports"</span>
                        <input type="text" name="host-address" placeholder="127.0.0.1" autocomplete="off" bind:value=address/>
                    </label>
                    <label class="field">
                        <span class="field-label">"Labels"</span>
                        <input type="text" name="host-labels" placeholder="zone=a, ssd=true" autocomplete="off" bind:value=labels/>
                    </label>
                </div>
                <label class="field field-check">
                    <input type="checkbox" name="host-tls" bind:checked=use_tls/>
                    <span>"TLS with a client certificate"</span>
                </label>
                <Show when=move || use_tls.get()>
                    <div class="form-row">
                        <label class="field field-wide">
                            <span class="field-label">"CA certificate (PEM)"</span>
                            <textarea name="host-tls-ca" rows="4" bind:value=ca></textarea>
                        </label>
                        <label class="field field-wide">
                            <span class="field-label">"Client certificate (PEM)"</span>
                            <textarea name="host-tls-cert" rows="4" bind:value=cert></textarea>
                        </label>
                        <label class="field field-wide">
                            <span class="field-label">"Client key (PEM)"</span>
                            <textarea name="host-tls-key" rows="4" bind:value=key></textarea>
                        </label>
                    </div>
                </Show>
                <div>
                    <button type="submit" class="btn btn-primary" disabled=move || add.pending().get()>
                        {move || if add.pending().get() { "Connecting…" } else { "Add host" }}
                    </button>
                </div>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <ActionStatus action=add pending="Connecting to the host…"/>
        </section>
    }
}
