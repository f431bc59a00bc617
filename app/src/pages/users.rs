//! Users (admins only): who has an account, their role and teams; create, change
//! role, set a password, end sessions, delete.

use crate::components::widgets::{Col, DataTable};
use leptos::prelude::*;

use crate::api::{create_user, delete_user, list_users, update_user};
use crate::components::layout::PageHeader;
use crate::components::widgets::{ActionStatus, Badge, ConfirmButton, ErrorBox};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{CreateUserInput, UpdateUserInput, UserRole, UserView};

/// What the page can do to users; each ends in a sentence for the status line.
#[derive(Clone, Debug)]
enum Op {
    Create(CreateUserInput),
    Update(i64, String, UpdateUserInput),
    Delete(i64, String),
}

async fn run(op: Op) -> Result<String, AppError> {
    match op {
        Op::Create(input) => create_user(input)
            .await
            .map(|u| format!("Created {} ({}).", u.username, u.role.as_str())),
        Op::Update(id, name, input) => {
            let what = match (&input.role, &input.password) {
                (Some(role), _) => format!("{name} is now {}.", role.as_str()),
                (None, Some(_)) => format!("Set a new password for {name}; their sessions ended."),
                (None, None) => String::new(),
            };
            update_user(id, input).await.map(|_| what)
        }
        Op::Delete(id, name) => delete_user(id).await.map(|_| format!("Deleted {name}.")),
    }
}

#[component]
pub fn Users() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    let act = Action::new(move |op: &Op| {
        let op = op.clone();
        async move {
            let result = run(op).await;
            users.refetch();
            result
        }
    });
    view! {
        <PageHeader title="Users" subtitle="Accounts, their cluster role and their teams."/>
        <NewUserForm act/>
        <ActionStatus action=act pending="Saving…"/>
        <section class="panel">
            <h2>"All users"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable list act/> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn NewUserForm(act: Action<Op, Result<String, AppError>>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("member".to_string());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = username.get_untracked().trim().to_string();
        let pw = password.get_untracked();
        match validate::username(&name).and_then(|_| validate::password(&pw)) {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                act.dispatch(Op::Create(CreateUserInput {
                    username: name,
                    password: pw,
                    role: UserRole::parse(&role.get_untracked()).unwrap_or(UserRole::Member),
                }));
                username.set(String::new());
                password.set(String::new());
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"New user"</h2>
            <form class="form form-row" on:submit=submit novalidate aria-label="New user">
                <label class="field">
                    <span class="field-label">"User name"</span>
                    <input type="text" name="new-username" autocomplete="off" required bind:value=username/>
                </label>
                <label class="field">
                    <span class="field-label">"Password"</span>
                    <input type="password" name="new-password" autocomplete="new-password" required bind:value=password/>
                </label>
                <label class="field">
                    <span class="field-label">"Role"</span>
                    <select name="new-role" bind:value=role>
                        <option value="member">"member"</option>
                        <option value="admin">"admin"</option>
                    </select>
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>
                    "Create user"
                </button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
}

#[component]
fn UserTable(list: Vec<UserView>, act: Action<Op, Result<String, AppError>>) -> impl IntoView {
    view! {
        <DataTable class="users" caption="Users" cols=vec![
            Col::text("User"),
            Col::text("Role"),
            Col::text("Teams"),
            Col::num("Sessions"),
            Col::text("Created"),
            Col::text("Actions"),
        ]>
            {list.into_iter().map(|u| view! { <UserRow u act/> }).collect_view()}
        </DataTable>
    }
}

#[component]
fn UserRow(u: UserView, act: Action<Op, Result<String, AppError>>) -> impl IntoView {
    let setting_password = RwSignal::new(false);
    let new_password = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let (id, name) = (u.id, u.username.clone());
    let other_role = match u.role {
        UserRole::Admin => UserRole::Member,
        UserRole::Member => UserRole::Admin,
    };
    let teams = if u.teams.is_empty() {
        "—".to_string()
    } else {
        u.teams
            .iter()
            .map(|t| format!("{} ({})", t.name, t.role.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tone = if u.role == UserRole::Admin {
        "warn"
    } else {
        "muted"
    };
    let save_password = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let pw = new_password.get_untracked();
            match validate::password(&pw) {
                Err(why) => problem.set(Some(why)),
                Ok(()) => {
                    problem.set(None);
                    act.dispatch(Op::Update(
                        id,
                        name.clone(),
                        UpdateUserInput {
                            role: None,
                            password: Some(pw),
                        },
                    ));
                    setting_password.set(false);
                    new_password.set(String::new());
                }
            }
        }
    };
    let delete_name = name.clone();
    let role_name = name.clone();
    view! {
        <tr data-user=name.clone()>
            <th scope="row" class="cell-title">{name.clone()}</th>
            <td><Badge tone=tone label=u.role.as_str()/></td>
            <td>{teams}</td>
            <td class="num">{u.active_sessions}</td>
            <td class="small">{format::utc_datetime(u.created_at_ms)}</td>
            <td class="row-actions">
                <button
                    type="button"
                    class="btn btn-small"
                    on:click=move |_| {
                        act.dispatch(Op::Update(
                            id,
                            role_name.clone(),
                            UpdateUserInput { role: Some(other_role), password: None },
                        ));
                    }
                >
                    {format!("Make {}", other_role.as_str())}
                </button>
                <button type="button" class="btn btn-small" on:click=move |_| setting_password.update(|s| *s = !*s)>
                    "Set password"
                </button>
                <ConfirmButton
                    label="Delete"
                    question=format!("Delete {name}?")
                    on_confirm=move || {
                        act.dispatch(Op::Delete(id, delete_name.clone()));
                    }
                />
                <Show when=move || setting_password.get()>
                    <form class="inline-form" on:submit=save_password.clone() novalidate>
                        <label class="field">
                            <span class="visually-hidden">"New password"</span>
                            <input type="password" placeholder="New password" autocomplete="new-password" bind:value=new_password/>
                        </label>
                        <button type="submit" class="btn btn-small btn-primary">"Save"</button>
                    </form>
                    {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
                </Show>
            </td>
        </tr>
    }
}
