//! Import on the services page: a stack or Compose file pasted or uploaded, its
//! plan (per service: what changes, the field diff, where new replicas would go;
//! every key Berth ignores, adapts or refuses, and why), and the one click that
//! applies exactly the planned text under the plan's guard.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{apply_stack, list_teams, plan_stack};
use crate::components::widgets::ErrorBox;
use crate::errors::AppError;
use crate::wire::{
    PlanAction, StackApplied, StackApplyInput, StackFormat, StackPlan, StackPlanInput, TeamRole,
    STACK_KIND,
};
use crate::MeResource;

mod plan;
mod upload;

use plan::{plural, summary, PlanView};
#[cfg(feature = "hydrate")]
use upload::{read_chosen, take_upload};

/// The plan action keeps the input it planned: Apply sends that text, not what
/// the textarea holds by then.
type Planning = Action<StackPlanInput, (StackPlanInput, Result<StackPlan, AppError>)>;
type Applying = Action<StackApplyInput, Result<StackApplied, AppError>>;

/// What the form holds: the team, the file's text and the files sent with it.
#[derive(Clone, Copy)]
struct Draft {
    team: RwSignal<String>,
    text: RwSignal<String>,
    files: RwSignal<BTreeMap<String, String>>,
}

impl Draft {
    fn new() -> Draft {
        Draft {
            team: RwSignal::new(String::new()),
            text: RwSignal::new(String::new()),
            files: RwSignal::new(BTreeMap::new()),
        }
    }

    /// The request the form describes now (tracked, so a plan can tell it is stale).
    fn input(&self) -> StackPlanInput {
        let team = self.team.get();
        StackPlanInput {
            file: self.text.get(),
            format: StackFormat::Auto,
            team: (!team.is_empty()).then_some(team),
            files: self.files.get(),
        }
    }

    /// The request, or why it cannot be sent yet.
    fn check(&self) -> Result<StackPlanInput, String> {
        let input = self.input();
        if input.file.trim().is_empty() {
            return Err("paste a stack or Compose file, or upload one".into());
        }
        // A Berth stack file names its team; a Compose file has none to name.
        let stack = input.file.lines().any(|l| {
            l.trim()
                .trim_start_matches("kind:")
                .trim()
                .trim_matches(['"', '\''])
                == STACK_KIND
        });
        if input.team.is_none() && !stack {
            return Err("choose the team for the Compose file's services".into());
        }
        Ok(input)
    }
}

/// The import section: the form, the plan, and Apply.
#[component]
pub fn StackImport(#[prop(into)] on_applied: Callback<()>) -> impl IntoView {
    let draft = Draft::new();
    let planning: Planning = Action::new(|input: &StackPlanInput| {
        let input = input.clone();
        async move { (input.clone(), plan_stack(input).await) }
    });
    let applying: Applying = Action::new(move |input: &StackApplyInput| {
        let input = input.clone();
        async move {
            let r = apply_stack(input).await;
            if r.is_ok() {
                on_applied.run(());
            }
            r
        }
    });
    let problem = RwSignal::new(None::<String>);
    let replan = Callback::new(move |()| match draft.check() {
        Ok(input) => {
            problem.set(None);
            // What the last apply said belongs to the plan before this one.
            applying.value().set(None);
            planning.dispatch(input);
        }
        Err(why) => problem.set(Some(why)),
    });
    // Opened from the header's button: the keyboard lands in the section.
    let heading = NodeRef::<leptos::html::H2>::new();
    Effect::new(move |_| {
        if let Some(h) = heading.get() {
            let _ = h.focus();
        }
    });
    let plan = move || planning.value().get().and_then(|(_, r)| r.ok());
    view! {
        <section class="panel import" id="stack-import" aria-labelledby="import-title">
            <div class="panel-head">
                <h2 id="import-title" tabindex="-1" node_ref=heading>"Import a stack or Compose file"</h2>
                <span class="muted small">"The plan shows what applying it would change; nothing is written until you apply."</span>
            </div>
            <ImportForm draft planning replan/>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <p class="plan-summary" aria-live="polite" data-plan-summary="">
                {move || if planning.pending().get() { "Planning…".to_string() } else { plan().map(|p| summary(&p)).unwrap_or_default() }}
            </p>
            {move || match planning.value().get() {
                Some((_, Err(e))) => view! { <ErrorBox error=e/> }.into_any(),
                Some((_, Ok(p))) => view! { <PlanView plan=p/> }.into_any(),
                None => ().into_any(),
            }}
            <Show when=move || plan().is_some()>
                <ApplyBar draft planning applying replan/>
            </Show>
        </section>
    }
}

#[component]
fn ImportForm(draft: Draft, planning: Planning, replan: Callback<()>) -> impl IntoView {
    let upload_problem = RwSignal::new(None::<String>);
    let on_files = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        read_chosen(&ev, move |read| {
            match take_upload(read, !draft.text.get_untracked().trim().is_empty()) {
                Ok((main, files)) => {
                    upload_problem.set(None);
                    if let Some(text) = main {
                        draft.text.set(text);
                    }
                    draft.files.set(files);
                }
                Err(why) => upload_problem.set(Some(why)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, upload_problem);
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        replan.run(());
    };
    let extra = move || {
        draft.files.with(|f| {
            f.keys()
                .filter(|k| !k.starts_with("./"))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <form class="form" on:submit=submit novalidate aria-label="Import">
            <div class="form-row">
                <div class="field">
                    <label class="field-label" for="import-team">"Team"</label>
                    <TeamSelect team=draft.team/>
                    <span class="field-hint" id="import-team-hint">"Owns a Compose file's services"</span>
                </div>
                <div class="field field-wide">
                    <label class="field-label" for="import-files">"Upload"</label>
                    <input type="file" id="import-files" name="import-files" accept=".yml,.yaml,.json,.env,.txt" multiple
                        aria-describedby="import-files-hint" on:change=on_files/>
                    <span class="field-hint" id="import-files-hint">"The .yml or .yaml file, and the files its env_file names"</span>
                </div>
            </div>
            {move || upload_problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <Show when=move || !extra().is_empty()>
                <div class="row-actions small">
                    <span>"Sent with it:"</span>
                    <ul class="chips" aria-label="Files sent with it">
                        {move || extra().into_iter().map(|n| view! { <li class="chip">{n}</li> }).collect_view()}
                    </ul>
                    <button type="button" class="btn btn-small" on:click=move |_| draft.files.set(BTreeMap::new())>"Leave them out"</button>
                </div>
            </Show>
            <label class="field">
                <span class="field-label">"File"</span>
                <textarea name="import-file" class="import-text" spellcheck="false" autocomplete="off"
                    rows=move || draft.text.with(|t| t.lines().count() + 1).clamp(12, 30).to_string()
                    placeholder="services:\n  web:\n    image: registry.example.com/web:1.4\n    deploy:\n      replicas: 2"
                    bind:value=draft.text></textarea>
            </label>
            <div>
                <button type="submit" class="btn btn-primary" disabled=move || planning.pending().get()>
                    {move || if planning.pending().get() { "Planning…" } else { "Plan" }}
                </button>
            </div>
        </form>
    }
}

/// The teams the caller may write services for, and "as the file says" for a
/// Berth stack file that names its own.
#[component]
fn TeamSelect(team: RwSignal<String>) -> impl IntoView {
    let me = expect_context::<MeResource>();
    let teams = Resource::new(|| (), |_| list_teams());
    view! {
        <Transition fallback=|| view! { <select id="import-team" name="import-team" disabled=true><option>"…"</option></select> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                let admin = me.as_ref().is_some_and(|m| m.is_admin());
                let mine: Vec<String> = me
                    .map(|m| m.teams.into_iter().filter(|t| t.role == TeamRole::Operator).map(|t| t.name).collect())
                    .unwrap_or_default();
                let names: Vec<String> = teams.await.unwrap_or_default().into_iter()
                    .map(|t| t.name)
                    .filter(|n| admin || mine.contains(n))
                    .collect();
                if team.get_untracked().is_empty() {
                    if let Some(first) = names.first() {
                        team.set(first.clone());
                    }
                }
                view! {
                    <select id="import-team" name="import-team" aria-describedby="import-team-hint" bind:value=team>
                        {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                        <option value="">"as the file says (a Berth stack file)"</option>
                    </select>
                }
            })}
        </Transition>
    }
}

/// Why Apply is off for this plan, if it is.
fn why_not(plan: &StackPlan, same_text: bool, applied: bool) -> Option<&'static str> {
    if applied {
        Some("Applied. Plan again to compare the file with what runs now.")
    } else if !same_text {
        Some("The form changed since this plan: plan again before applying.")
    } else if !plan.appliable {
        Some("A key is refused (see above): change the file and plan again.")
    } else if plan.changes == 0 {
        Some("No changes: everything runs as the file says.")
    } else {
        None
    }
}

#[component]
fn ApplyBar(
    draft: Draft,
    planning: Planning,
    applying: Applying,
    replan: Callback<()>,
) -> impl IntoView {
    let planned = move || {
        planning
            .value()
            .get()
            .and_then(|(i, r)| r.ok().map(|p| (i, p)))
    };
    let blocked = move || {
        let applied = applying.value().with(|v| matches!(v, Some(Ok(_))));
        planned().and_then(|(input, plan)| why_not(&plan, input == draft.input(), applied))
    };
    let apply = move |_| {
        if let (Some((input, plan)), None) = (planned(), blocked()) {
            applying.dispatch(StackApplyInput {
                file: input.file,
                format: input.format,
                team: input.team,
                files: input.files,
                guard: plan.guard,
                message: None,
            });
        }
    };
    view! {
        <div class="apply-bar">
            <button type="button" class="btn btn-primary" on:click=apply aria-describedby="apply-why"
                disabled=move || blocked().is_some() || applying.pending().get() || planning.pending().get()>
                {move || if applying.pending().get() { "Applying…" } else { "Apply" }}
            </button>
            <span id="apply-why" class="muted small">{blocked}</span>
        </div>
        <div class="action-status" aria-live="polite">
            {move || if applying.pending().get() {
                view! { <span class="muted">"Applying…"</span> }.into_any()
            } else {
                match applying.value().get() {
                    Some(Ok(done)) => view! { <Applied done/> }.into_any(),
                    Some(Err(e)) => {
                        let stale = e.is("conflict");
                        view! {
                            <ErrorBox error=e/>
                            {stale.then(|| view! {
                                <button type="button" class="btn btn-small" on:click=move |_| replan.run(())>"Plan again"</button>
                            })}
                        }.into_any()
                    }
                    None => ().into_any(),
                }
            }}
        </div>
    }
}

/// "Applied: 3 services changed", with a link to each.
#[component]
fn Applied(done: StackApplied) -> impl IntoView {
    let n = done.changes as usize;
    let changed: Vec<String> = done
        .services
        .into_iter()
        .filter(|s| s.action != PlanAction::Unchanged)
        .map(|s| s.name)
        .collect();
    view! {
        <span class="ok-text">{format!("Applied: {n} service{} changed", plural(n))}</span>
        <ul class="chips applied" aria-label="Services applied">
            {changed.into_iter().map(|name| view! {
                <li><A href=format!("/services/{name}") attr:class="chip">{name.clone()}</A></li>
            }).collect_view()}
        </ul>
    }
}
