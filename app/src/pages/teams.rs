//! Teams: who works on which services, and in which role, and which host names
//! their routes may use. Admins create teams, set members and give domains;
//! members see their own teams.

use leptos::prelude::*;

use leptos_router::components::A;

use crate::api::{
    add_domain, create_team, delete_team, list_teams, list_users, remove_domain, remove_member,
    set_member,
};
use crate::components::layout::PageHeader;
use crate::components::widgets::{ActionStatus, Badge, ConfirmButton, EmptyState, ErrorBox};
use crate::errors::AppError;
use crate::validate;
use crate::wire::{CreateTeamInput, TeamRole, TeamView, UserView};
use crate::MeResource;

#[derive(Clone, Debug)]
enum Op {
    Create(String),
    Delete(i64, String),
    SetMember {
        team: i64,
        user: i64,
        who: String,
        role: TeamRole,
    },
    RemoveMember {
        team: i64,
        user: i64,
        who: String,
    },
    AddDomain {
        team: i64,
        domain: String,
    },
    RemoveDomain {
        team: i64,
        domain: String,
    },
}

async fn run(op: Op) -> Result<String, AppError> {
    match op {
        Op::Create(name) => create_team(CreateTeamInput { name })
            .await
            .map(|t| format!("Created team {}.", t.name)),
        Op::Delete(id, name) => delete_team(id)
            .await
            .map(|_| format!("Deleted team {name}.")),
        Op::SetMember {
            team,
            user,
            who,
            role,
        } => set_member(team, user, role)
            .await
            .map(|t| format!("{who} is {} in {}.", role.as_str(), t.name)),
        Op::RemoveMember { team, user, who } => remove_member(team, user)
            .await
            .map(|t| format!("Removed {who} from {}.", t.name)),
        Op::AddDomain { team, domain } => add_domain(team, domain.clone())
            .await
            .map(|t| format!("Team {}'s routes may use {domain}.", t.name)),
        Op::RemoveDomain { team, domain } => remove_domain(team, domain.clone())
            .await
            .map(|t| format!("Took {domain} from team {}.", t.name)),
    }
}

type TeamAction = Action<Op, Result<String, AppError>>;

#[component]
pub fn Teams() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let teams = Resource::new(|| (), |_| list_teams());
    // Only admins may list users (to add them to teams); for others this is empty.
    let users = Resource::new(|| (), |_| list_users());
    let act: TeamAction = Action::new(move |op: &Op| {
        let op = op.clone();
        async move {
            let result = run(op).await;
            teams.refetch();
            result
        }
    });
    view! {
        <PageHeader title="Teams" subtitle="Services belong to a team; operators change them, viewers read them."/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                let list = match teams.await {
                    Ok(list) => list,
                    Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                };
                let everyone = users.await.unwrap_or_default();
                let form = admin.then(|| view! { <NewTeamForm act/> });
                if list.is_empty() {
                    return view! {
                        {form}
                        <ActionStatus action=act pending="Saving…"/>
                        <EmptyState title="No teams yet">
                            <p>{if admin {
                                "Create a team above, then add people to it."
                            } else {
                                "You are not in any team yet; an admin can add you."
                            }}</p>
                        </EmptyState>
                    }
                    .into_any();
                }
                view! {
                    {form}
                    <ActionStatus action=act pending="Saving…"/>
                    {list.into_iter()
                        .map(|t| view! { <TeamPanel team=t users=everyone.clone() admin act/> })
                        .collect_view()}
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
fn NewTeamForm(act: TeamAction) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        match validate::team_name(&n) {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                act.dispatch(Op::Create(n));
                name.set(String::new());
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"New team"</h2>
            <form class="form form-row" on:submit=submit novalidate aria-label="New team">
                <label class="field">
                    <span class="field-label">"Team name"</span>
                    <input type="text" name="team-name" placeholder="web" autocomplete="off" bind:value=name/>
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>"Create team"</button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
}

#[component]
fn TeamPanel(team: TeamView, users: Vec<UserView>, admin: bool, act: TeamAction) -> impl IntoView {
    let team_id = team.id;
    let team_name = team.name.clone();
    let candidates: Vec<UserView> = users
        .into_iter()
        .filter(|u| !team.members.iter().any(|m| m.user_id == u.id))
        .collect();
    let pick = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let pick_role = RwSignal::new("viewer".to_string());
    let names: Vec<(i64, String)> = candidates
        .iter()
        .map(|u| (u.id, u.username.clone()))
        .collect();
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(user) = pick.get_untracked().parse::<i64>() else {
            problem.set(Some("choose a user to add".into()));
            return;
        };
        problem.set(None);
        let who = names
            .iter()
            .find(|(id, _)| *id == user)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        act.dispatch(Op::SetMember {
            team: team_id,
            user,
            who,
            role: TeamRole::parse(&pick_role.get_untracked()).unwrap_or(TeamRole::Viewer),
        });
    };
    let delete_name = team_name.clone();
    view! {
        <section class="panel" data-team=team.name.clone() aria-label=format!("Team {}", team.name)>
            <div class="panel-head">
                <h2>{team.name.clone()}</h2>
                <div class="row-actions">
                <A href=format!("/secrets?team={team_id}") attr:class="btn btn-small">"Secrets"</A>
                {admin.then(|| view! {
                    <ConfirmButton
                        label="Delete team"
                        question=format!("Delete team {team_name}?")
                        on_confirm=move || {
                            act.dispatch(Op::Delete(team_id, delete_name.clone()));
                        }
                    />
                })}
                </div>
            </div>
            {if team.members.is_empty() {
                view! { <p class="muted">"No members yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <caption class="visually-hidden">{format!("Members of {}", team.name)}</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Member"</th>
                                <th scope="col">"Role"</th>
                                {admin.then(|| view! { <th scope="col">"Actions"</th> })}
                            </tr>
                        </thead>
                        <tbody>
                            {team.members.iter().map(|m| {
                                let (user, who, role) = (m.user_id, m.username.clone(), m.role);
                                let other = match role {
                                    TeamRole::Operator => TeamRole::Viewer,
                                    TeamRole::Viewer => TeamRole::Operator,
                                };
                                let tone = if role == TeamRole::Operator { "ok" } else { "muted" };
                                let who2 = who.clone();
                                view! {
                                    <tr data-member=who.clone()>
                                        <th scope="row">{who.clone()}</th>
                                        <td><Badge tone=tone label=role.as_str()/></td>
                                        {admin.then(|| view! {
                                            <td class="row-actions">
                                                <button type="button" class="btn btn-small" on:click={
                                                    let who = who.clone();
                                                    move |_| {
                                                        act.dispatch(Op::SetMember { team: team_id, user, who: who.clone(), role: other });
                                                    }
                                                }>{format!("Make {}", other.as_str())}</button>
                                                <button type="button" class="btn btn-small" on:click=move |_| {
                                                    act.dispatch(Op::RemoveMember { team: team_id, user, who: who2.clone() });
                                                }>"Remove"</button>
                                            </td>
                                        })}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
            {(admin && !candidates.is_empty()).then(|| view! {
                <form class="form form-row" on:submit=add aria-label=format!("Add a member to {}", team.name)>
                    <label class="field">
                        <span class="field-label">"User"</span>
                        <select name="member-user" bind:value=pick>
                            <option value="">"Choose…"</option>
                            {candidates.iter().map(|u| view! { <option value=u.id.to_string()>{u.username.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="field">
                        <span class="field-label">"Role"</span>
                        <select name="member-role" bind:value=pick_role>
                            <option value="viewer">"viewer"</option>
                            <option value="operator">"operator"</option>
                        </select>
                    </label>
                    <button type="submit" class="btn">"Add member"</button>
                </form>
                {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            })}
            <Domains team=team.clone() admin act/>
        </section>
    }
}

/// The host names a team's routes may use; admins add and take them.
#[component]
fn Domains(team: TeamView, admin: bool, act: TeamAction) -> impl IntoView {
    let team_id = team.id;
    let domain = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let d = domain.get_untracked().trim().to_ascii_lowercase();
        match validate::domain(&d) {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                act.dispatch(Op::AddDomain {
                    team: team_id,
                    domain: d,
                });
                domain.set(String::new());
            }
        }
    };
    view! {
        <div class="domains" aria-label=format!("Domains of {}", team.name)>
            <h3 class="small-heading">"Domains"</h3>
            {if team.domains.is_empty() {
                view! {
                    <p class="muted small">{if admin {
                        "None yet: its routes can use no host name. Give it one below (shop.example.com, or *.shop.example.com for every name under it)."
                    } else {
                        "None yet: its services are reachable by their own names only; an admin gives teams their domains."
                    }}</p>
                }.into_any()
            } else {
                view! {
                    <ul class="chips">
                        {team.domains.iter().map(|d| {
                            let d2 = d.clone();
                            view! {
                                <li class="chip" data-domain=d.clone()>
                                    <code>{d.clone()}</code>
                                    {admin.then(|| view! {
                                        <button type="button" class="chip-x" aria-label=format!("Take {d2} from the team")
                                            on:click={
                                                let d = d2.clone();
                                                move |_| { act.dispatch(Op::RemoveDomain { team: team_id, domain: d.clone() }); }
                                            }>"×"</button>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {admin.then(|| view! {
                <form class="form form-row" on:submit=add novalidate aria-label=format!("Add a domain to {}", team.name)>
                    <label class="field">
                        <span class="field-label">"Domain"</span>
                        <input type="text" name="domain" placeholder="shop.example.com" autocomplete="off" bind:value=domain/>
                    </label>
                    <button type="submit" class="btn">"Add domain"</button>
                </form>
                {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            })}
        </div>
    }
}
