//! Volume classes on the volumes page: the drivers, options and scopes admins
//! offer to teams (a global class's volume follows its replica to any host), how
//! many hosts have each driver, who uses each; admins add, change and delete them.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::{delete_volume_class, list_volume_classes, save_volume_class};
use crate::components::widgets::{every, ActionStatus, Badge, ConfirmButton, ErrorBox};
use crate::errors::AppError;
use crate::validate;
use crate::wire::{ClassScope, VolumeClassInput, VolumeClassView};

#[derive(Clone)]
enum Change {
    Save { input: VolumeClassInput, new: bool },
    Delete(String),
}

async fn run(c: Change) -> Result<String, AppError> {
    match c {
        Change::Save { input, new } => save_volume_class(input, new).await.map(|c| {
            format!(
                "Volume class {} {}.",
                c.name,
                if new { "added" } else { "saved" }
            )
        }),
        Change::Delete(name) => delete_volume_class(name.clone())
            .await
            .map(|_| format!("Volume class {name} deleted.")),
    }
}

/// The classes panel: every class the caller may use, and for admins the form.
#[component]
pub fn VolumeClasses(admin: bool) -> impl IntoView {
    let classes = LocalResource::new(list_volume_classes);
    every(Duration::from_secs(5), move || classes.refetch());
    let editing = RwSignal::new(None::<VolumeClassInput>);
    let change = Action::new(move |c: &Change| {
        let c = c.clone();
        async move {
            let r = run(c).await;
            classes.refetch();
            r
        }
    });
    view! {
        <section class="panel" aria-labelledby="classes-title">
            <div class="panel-head">
                <h2 id="classes-title">"Volume classes"</h2>
                <span class="muted small">"A service's volume names a class as NAME:/PATH class=CLASS; the class gives its driver and options."</span>
            </div>
            <ActionStatus action=change pending="Working…"/>
            {move || match classes.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted">{if admin {
                        "No classes yet: add one below (rclone, NFS, a cloud disk's plugin)."
                    } else {
                        "No class is open to your teams: volumes stay on the host that made them."
                    }}</p>
                }.into_any(),
                Some(Ok(list)) => view! { <ClassTable list admin change editing/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            }}
            {admin.then(|| view! { <ClassForm change editing/> })}
        </section>
    }
}

#[component]
fn ClassTable(
    list: Vec<VolumeClassView>,
    admin: bool,
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<VolumeClassInput>>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table classes">
                <caption class="visually-hidden">"Volume classes"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Class"</th>
                        <th scope="col">"Driver"</th>
                        <th scope="col">"Scope"</th>
                        <th scope="col">"Hosts with the driver"</th>
                        <th scope="col">"Teams"</th>
                        <th scope="col">"Used by"</th>
                        {admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|c| class_row(c, admin, change, editing)).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn class_row(
    c: VolumeClassView,
    admin: bool,
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<VolumeClassInput>>,
) -> impl IntoView {
    let (tone, scope) = match c.scope {
        ClassScope::Global => ("ok", "global: follows its replica"),
        ClassScope::Host => ("muted", "host: stays on one host"),
    };
    let options = c
        .options
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let input = VolumeClassInput {
        name: c.name.clone(),
        driver: c.driver.clone(),
        options: c.options.clone().unwrap_or_default(),
        scope: c.scope,
        teams: c.teams.clone(),
    };
    let name = c.name.clone();
    let with = c.hosts_with_driver;
    view! {
        <tr data-class=c.name.clone()>
            <td><strong>{c.name.clone()}</strong>
                {(!options.is_empty()).then(|| view! { <div class="mono small muted">{options.clone()}</div> })}
            </td>
            <td class="mono">{c.driver.clone()}</td>
            <td><Badge tone=tone label=scope/></td>
            <td>
                <Badge tone=match (with, c.hosts) { (0, _) => "bad", (w, h) if w == h => "ok", _ => "warn" }
                    label=format!("{with} of {} host{}", c.hosts, if c.hosts == 1 { "" } else { "s" })/>
                {(with == 0).then(|| view! { <div class="warn-text small">"no host has it: nothing can use it"</div> })}
            </td>
            <td class="small">{if c.teams.is_empty() { "none".to_string() } else { c.teams.join(", ") }}</td>
            <td class="small">{if c.used_by.is_empty() { "nothing".to_string() } else { c.used_by.join(", ") }}</td>
            {admin.then(|| view! {
                <td class="nowrap">
                    <button type="button" class="btn btn-small" on:click=move |_| editing.set(Some(input.clone()))>"Edit"</button>
                    " "
                    <ConfirmButton label="Delete" question=format!("Delete volume class {name}? Volumes made from it stay.")
                        on_confirm=move || { change.dispatch(Change::Delete(name.clone())); }/>
                </td>
            })}
        </tr>
    }
}

/// The form's text fields.
#[derive(Clone, Copy)]
struct Fields {
    name: RwSignal<String>,
    driver: RwSignal<String>,
    scope: RwSignal<String>,
    options: RwSignal<String>,
    teams: RwSignal<String>,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            name: RwSignal::new(String::new()),
            driver: RwSignal::new("rclone".into()),
            scope: RwSignal::new("global".into()),
            options: RwSignal::new(String::new()),
            teams: RwSignal::new(String::new()),
        }
    }

    fn fill(&self, c: &VolumeClassInput) {
        self.name.set(c.name.clone());
        self.driver.set(c.driver.clone());
        self.scope.set(c.scope.as_str().into());
        let lines: Vec<String> = c.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.options.set(lines.join("\n"));
        self.teams.set(c.teams.join(", "));
    }

    /// The class the form describes, checked as the server will check it.
    fn read(&self) -> Result<VolumeClassInput, String> {
        let mut options = std::collections::BTreeMap::new();
        for line in self
            .options
            .get_untracked()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("option {line:?}: write KEY=VALUE, one per line"))?;
            options.insert(k.trim().to_string(), v.trim().to_string());
        }
        let input = VolumeClassInput {
            name: self.name.get_untracked().trim().to_string(),
            driver: self.driver.get_untracked().trim().to_string(),
            options,
            scope: if self.scope.get_untracked() == "host" {
                ClassScope::Host
            } else {
                ClassScope::Global
            },
            teams: self
                .teams
                .get_untracked()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        };
        validate::volume_class(&input)?;
        Ok(input)
    }
}

#[component]
fn ClassForm(
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<VolumeClassInput>>,
) -> impl IntoView {
    let f = Fields::new();
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(c) = editing.get() {
            f.fill(&c);
        }
    });
    let new = move || editing.with(|e| e.is_none());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match f.read() {
            Err(why) => problem.set(Some(why)),
            Ok(input) => {
                problem.set(None);
                change.dispatch(Change::Save { input, new: new() });
            }
        }
    };
    view! {
        <h3 class="form-title">{move || if new() { "Add a class".to_string() } else { format!("Change class {}", f.name.get()) }}</h3>
        <form class="form" on:submit=submit novalidate aria-label="Volume class">
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Name"</span>
                    <input type="text" name="class-name" placeholder="shared-disk" autocomplete="off" bind:value=f.name disabled=move || !new()/>
                </label>
                <label class="field">
                    <span class="field-label">"Driver"</span>
                    <input type="text" name="class-driver" placeholder="rclone" autocomplete="off" bind:value=f.driver/>
                </label>
                <label class="field">
                    <span class="field-label">"Scope"</span>
                    <select name="class-scope" bind:value=f.scope>
                        <option value="global">"global: the driver attaches it on any host (follows its replica)"</option>
                        <option value="host">"host: the data stays on the host that made it"</option>
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Teams that may use it"</span>
                    <input type="text" name="class-teams" placeholder="shop, data" autocomplete="off" bind:value=f.teams/>
                </label>
            </div>
            <div class="form-row">
                <label class="field field-wide">
                    <span class="field-label">"Driver options (KEY=VALUE, one per line; {volume} is each volume's name)"</span>
                    <textarea name="class-options" rows="2" placeholder="remote=:sftp,host=files.internal:/volumes/{volume}" bind:value=f.options></textarea>
                </label>
            </div>
            <div class="row-actions">
                <button type="submit" class="btn btn-primary" disabled=move || change.pending().get()>
                    {move || match (change.pending().get(), new()) {
                        (true, _) => "Saving…",
                        (false, true) => "Add class",
                        (false, false) => "Save class",
                    }}
                </button>
                <Show when=move || !new()>
                    <button type="button" class="btn" on:click=move |_| { editing.set(None); f.fill(&VolumeClassInput {
                        name: String::new(), driver: "rclone".into(), options: Default::default(),
                        scope: ClassScope::Global, teams: vec![],
                    }); }>"Cancel"</button>
                </Show>
            </div>
        </form>
        {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
    }
}
