//! A team's secrets (`/secrets?team=ID`): names, versions, who set them last and
//! which services use them; operators add and replace values (write-only: a value
//! is never shown back) and delete secrets nothing uses. Replacing a secret rolls
//! out the services that use it.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{delete_secret, list_secrets, list_teams, set_secret};
use crate::components::layout::PageHeader;
use crate::components::widgets::{ActionStatus, Badge, ConfirmButton, EmptyState, ErrorBox};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{SecretView, TeamRole, TeamView};
use crate::MeResource;

#[derive(Clone, Debug)]
enum Op {
    Set {
        team: i64,
        name: String,
        value: String,
    },
    Delete {
        team: i64,
        name: String,
    },
}

type SecretAction = Action<Op, Result<String, AppError>>;

async fn run(op: Op) -> Result<String, AppError> {
    match op {
        Op::Set { team, name, value } => set_secret(team, name.clone(), value).await.map(|s| {
            let rolled = if s.rolled_out.is_empty() {
                String::new()
            } else {
                format!("; rolling out {}", s.rolled_out.join(", "))
            };
            let not = if s.not_rolled_out.is_empty() {
                String::new()
            } else {
                format!(" Not rolled out: {}.", s.not_rolled_out.join("; "))
            };
            format!(
                "Secret {name} is at version {}{rolled}.{not}",
                s.secret.version
            )
        }),
        Op::Delete { team, name } => delete_secret(team, name.clone())
            .await
            .map(|_| format!("Deleted secret {name}.")),
    }
}

#[component]
pub fn Secrets() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let query = use_query_map();
    let teams = Resource::new(|| (), |_| list_teams());
    let chosen = move || query.get().get("team").and_then(|t| t.parse::<i64>().ok());
    view! {
        <PageHeader title="Secrets" subtitle="Values a team's services take as environment variables: kept encrypted, never shown again."/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                let list = match teams.await {
                    Ok(l) => l,
                    Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                };
                if list.is_empty() {
                    return view! {
                        <EmptyState title="No team">
                            <p>"Secrets belong to a team; you are in none yet. An admin can add you on the Teams page."</p>
                        </EmptyState>
                    }
                    .into_any();
                }
                let team = chosen()
                    .and_then(|id| list.iter().find(|t| t.id == id).cloned())
                    .unwrap_or_else(|| list[0].clone());
                let can_write = me.as_ref().is_some_and(|m| {
                    m.is_admin()
                        || m.teams.iter().any(|t| t.id == team.id && t.role == TeamRole::Operator)
                }) && !me.as_ref().is_some_and(|m| m.read_only);
                view! {
                    <TeamPicker teams=list current=team.id/>
                    <TeamSecrets team can_write/>
                }
                .into_any()
            })}
        </Transition>
    }
}

/// Which team's secrets are shown: a menu that changes the page's address.
#[component]
fn TeamPicker(teams: Vec<TeamView>, current: i64) -> impl IntoView {
    let navigate = use_navigate();
    let pick = RwSignal::new(current.to_string());
    Effect::new(move |first: Option<()>| {
        let id = pick.get();
        if first.is_some() && id != current.to_string() {
            navigate(&format!("/secrets?team={id}"), Default::default());
        }
    });
    view! {
        <div class="row-actions">
            <label class="field field-inline">
                <span class="field-label">"Team"</span>
                <select name="team" bind:value=pick>
                    {teams.into_iter().map(|t| view! {
                        <option value=t.id.to_string() selected=t.id == current>{t.name}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
    }
}

#[component]
fn TeamSecrets(team: TeamView, can_write: bool) -> impl IntoView {
    let team_id = team.id;
    let secrets = Resource::new(move || team_id, list_secrets);
    let act: SecretAction = Action::new(move |op: &Op| {
        let op = op.clone();
        async move {
            let r = run(op).await;
            secrets.refetch();
            r
        }
    });
    view! {
        <section class="panel" aria-label=format!("Secrets of team {}", team.name) data-team=team.name.clone()>
            <div class="panel-head">
                <h2>{format!("Team {}", team.name)}</h2>
                <span class="muted small">"In a service's environment: " <code>"KEY=${secret:NAME}"</code>", or "<code>"{\"secret\": \"NAME\"}"</code>" in the API."</span>
            </div>
            {can_write.then(|| view! { <SecretForm team_id act/> })}
            <ActionStatus action=act pending="Saving…"/>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match secrets.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No secrets yet">
                                <p>{if can_write {
                                    "Add one above: a database password, an API key. Its value is encrypted and never shown again."
                                } else {
                                    "An operator of this team adds them."
                                }}</p>
                            </EmptyState>
                        }.into_any(),
                        Ok(list) => view! { <SecretTable list team_id can_write act/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Add a secret, or replace one's value: name and value, checked before they go.
#[component]
fn SecretForm(team_id: i64, act: SecretAction) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        let v = value.get_untracked();
        match validate::secret_name(&n).and_then(|_| validate::secret_value(&v)) {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                act.dispatch(Op::Set {
                    team: team_id,
                    name: n,
                    value: v,
                });
                // The value leaves the page at once.
                value.set(String::new());
            }
        }
    };
    view! {
        <form class="form form-row secret-form" on:submit=submit novalidate aria-label="Add or replace a secret">
            <label class="field">
                <span class="field-label">"Name"</span>
                <input type="text" name="secret-name" placeholder="db-password" autocomplete="off" bind:value=name/>
            </label>
            <label class="field field-grow">
                <span class="field-label">"Value"</span>
                <input type="password" name="secret-value" autocomplete="new-password" bind:value=value/>
            </label>
            <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>
                "Save secret"
            </button>
        </form>
        {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
    }
}

#[component]
fn SecretTable(
    list: Vec<SecretView>,
    team_id: i64,
    can_write: bool,
    act: SecretAction,
) -> impl IntoView {
    view! {
        <table class="table">
            <caption class="visually-hidden">"Secrets"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Version"</th>
                    <th scope="col">"Set"</th>
                    <th scope="col">"Used by"</th>
                    {can_write.then(|| view! { <th scope="col">"Actions"</th> })}
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|s| {
                    let name = s.name.clone();
                    let used = !s.used_by.is_empty();
                    view! {
                        <tr data-secret=s.name.clone()>
                            <th scope="row"><code>{s.name.clone()}</code></th>
                            <td><Badge tone="muted" label=format!("v{}", s.version)/></td>
                            <td>
                                <span title=format::utc_datetime(s.updated_at_ms)>{format::utc_datetime(s.updated_at_ms)}</span>
                                <span class="muted">{format!(" by {}", s.updated_by)}</span>
                            </td>
                            <td>
                                <div class="used-by">
                                    {if used {
                                        s.used_by.clone().into_iter().map(|svc| view! {
                                            <A href=format!("/services/{svc}") attr:class="chip">{svc.clone()}</A>
                                        }).collect_view().into_any()
                                    } else {
                                        view! { <span class="muted">"nothing"</span> }.into_any()
                                    }}
                                </div>
                            </td>
                            {can_write.then(|| view! {
                                <td><div class="row-actions">
                                    {if used {
                                        view! { <span class="muted small">"in use: deploy without it to delete"</span> }.into_any()
                                    } else {
                                        view! {
                                            <ConfirmButton
                                                label="Delete"
                                                question=format!("Delete secret {name} and every version of it?")
                                                on_confirm=move || {
                                                    act.dispatch(Op::Delete { team: team_id, name: name.clone() });
                                                }
                                            />
                                        }.into_any()
                                    }}
                                </div></td>
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
