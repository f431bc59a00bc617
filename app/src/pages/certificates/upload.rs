//! The upload form: a host, the team the certificate belongs to, the chain and
//! the key in PEM (pasted, or read from chosen files), checked before they go.

use leptos::prelude::*;

use super::words;
use crate::api::{list_teams, upload_certificate};
use crate::components::widgets::ActionStatus;
use crate::errors::AppError;
use crate::wire::{CertificateUpload, Me, TeamRole};

pub type Upload = Action<CertificateUpload, Result<String, AppError>>;

/// The form's fields.
#[derive(Clone, Copy)]
pub struct Fields {
    host: RwSignal<String>,
    team: RwSignal<String>,
    chain: RwSignal<String>,
    key: RwSignal<String>,
    /// Counts the clears: the file inputs are made anew, without a file.
    cleared: RwSignal<u32>,
}

impl Fields {
    pub fn new() -> Fields {
        Fields {
            host: RwSignal::new(String::new()),
            team: RwSignal::new(String::new()),
            chain: RwSignal::new(String::new()),
            key: RwSignal::new(String::new()),
            cleared: RwSignal::new(0),
        }
    }

    /// After an upload: the key leaves the page, and the rest with it.
    pub fn clear(&self) {
        self.host.set(String::new());
        self.chain.set(String::new());
        self.key.set(String::new());
        self.cleared.update(|n| *n += 1);
    }
}

/// The uploaded certificate, in a sentence.
pub async fn run(input: CertificateUpload, fields: Fields) -> Result<String, AppError> {
    let c = upload_certificate(input).await?;
    fields.clear();
    let until = c
        .not_after_ms
        .map(|t| format!(", valid until {}", words::date(t)))
        .unwrap_or_default();
    Ok(format!("Uploaded the certificate for {}{until}.", c.host))
}

#[component]
pub fn UploadForm(me: Me, upload: Upload, fields: Fields) -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match words::upload(
            &fields.host.get_untracked(),
            &fields.team.get_untracked(),
            fields.chain.get_untracked(),
            fields.key.get_untracked(),
        ) {
            Err(why) => problem.set(Some(why)),
            Ok(input) => {
                problem.set(None);
                upload.dispatch(input);
            }
        }
    };
    view! {
        <section class="panel cert-upload" aria-labelledby="upload-title">
            <h2 id="upload-title">"Upload a certificate"</h2>
            <p class="muted small">"For a host or a wildcard in your team's domains. The key is kept encrypted and never shown again; Berth does not renew an uploaded certificate."</p>
            <form class="form" on:submit=submit novalidate aria-label="Upload certificate">
                <div class="form-row">
                    <label class="field field-wide">
                        <span class="field-label">"Host"</span>
                        <input type="text" name="cert-host" placeholder="shop.example.com or *.example.com"
                            autocomplete="off" spellcheck="false" bind:value=fields.host/>
                    </label>
                    <div class="field">
                        <label class="field-label" for="cert-team">"Team"</label>
                        <TeamSelect me team=fields.team/>
                    </div>
                </div>
                <div class="form-row">
                    <PemField id="cert-chain" label="Certificate chain (PEM)" file_label="Certificate file"
                        hint="The certificate first, then its intermediates"
                        placeholder="-----BEGIN CERTIFICATE-----" accept=".pem,.crt,.cer,.txt" text=fields.chain problem cleared=fields.cleared/>
                    <PemField id="cert-key" label="Private key (PEM)" file_label="Key file"
                        hint="An RSA, ECDSA (P-256, P-384) or Ed25519 key"
                        placeholder="-----BEGIN PRIVATE KEY-----" accept=".pem,.key,.txt" text=fields.key problem cleared=fields.cleared/>
                </div>
                {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
                <div class="row-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || upload.pending().get()>
                        {move || if upload.pending().get() { "Uploading…" } else { "Upload certificate" }}
                    </button>
                </div>
            </form>
            <ActionStatus action=upload pending="Uploading…"/>
        </section>
    }
}

/// A PEM textarea with a file input that fills it.
#[component]
fn PemField(
    id: &'static str,
    label: &'static str,
    file_label: &'static str,
    hint: &'static str,
    placeholder: &'static str,
    accept: &'static str,
    text: RwSignal<String>,
    problem: RwSignal<Option<String>>,
    cleared: RwSignal<u32>,
) -> impl IntoView {
    let file_id = format!("{id}-file");
    let hint_id = format!("{id}-hint");
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        read_file(&ev, text, problem);
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, problem);
    };
    view! {
        <div class="field field-wide pem-field">
            <label class="field-label" for=id>{label}</label>
            <textarea id=id name=id rows="7" spellcheck="false" autocomplete="off" class="pem"
                placeholder=placeholder aria-describedby=hint_id.clone() bind:value=text></textarea>
            <span class="field-hint" id=hint_id>{hint}</span>
            <span class="pem-file">
                <label class="small" for=file_id.clone()>{file_label}</label>
                {move || {
                    cleared.track();
                    view! { <input type="file" id=file_id.clone() accept=accept on:change=on_file/> }
                }}
            </span>
        </div>
    }
}

/// Reads the file chosen in a file input into `into`, in the browser.
#[cfg(feature = "hydrate")]
fn read_file(ev: &leptos::ev::Event, into: RwSignal<String>, problem: RwSignal<Option<String>>) {
    use wasm_bindgen::JsCast;

    let input: web_sys::HtmlInputElement = event_target(ev);
    let Some(file) = input.files().and_then(|list| list.item(0)) else {
        return;
    };
    let Ok(reader) = web_sys::FileReader::new() else {
        return;
    };
    let name = file.name();
    let r = reader.clone();
    let on_end = wasm_bindgen::closure::Closure::once_into_js(move |_: wasm_bindgen::JsValue| {
        match r.result().ok().and_then(|v| v.as_string()) {
            Some(text) => {
                problem.set(None);
                into.set(text);
            }
            None => problem.set(Some(format!("{name} could not be read as text"))),
        }
    });
    reader.set_onloadend(Some(on_end.unchecked_ref()));
    let _ = reader.read_as_text(&file);
}

/// The teams the caller may upload for (admins: every team, and "every team").
#[component]
fn TeamSelect(me: Me, team: RwSignal<String>) -> impl IntoView {
    let teams = Resource::new(|| (), |_| list_teams());
    let admin = me.is_admin();
    let mine: Vec<String> = me
        .teams
        .iter()
        .filter(|t| t.role == TeamRole::Operator)
        .map(|t| t.name.clone())
        .collect();
    view! {
        <Transition fallback=|| view! { <select id="cert-team" disabled=true><option>"…"</option></select> }>
            {move || {
                let mine = mine.clone();
                Suspend::new(async move {
                    let names: Vec<String> = teams
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| t.name)
                        .filter(|n| admin || mine.contains(n))
                        .collect();
                    if !admin && team.get_untracked().is_empty() {
                        if let Some(first) = names.first() {
                            team.set(first.clone());
                        }
                    }
                    view! {
                        <select id="cert-team" name="cert-team" bind:value=team>
                            {admin.then(|| view! { <option value="">"every team (admins)"</option> })}
                            {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                        </select>
                    }
                })
            }}
        </Transition>
    }
}
