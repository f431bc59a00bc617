//! Settings: the caller's account (password, API tokens, sessions) and facts about
//! this Berth server.

use leptos::prelude::*;

use crate::api::{
    change_password, create_token, get_about, list_sessions, list_tokens, revoke_session,
    revoke_token,
};
use crate::components::layout::PageHeader;
use crate::components::widgets::{every, go, ActionStatus, Badge, ConfirmButton, ErrorBox};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{
    About, ChangePasswordInput, CreateTokenInput, DatabaseEngine, NewToken, SessionView, TokenView,
};
use crate::MeResource;

#[component]
pub fn Settings() -> impl IntoView {
    view! {
        <PageHeader title="Settings" subtitle="Your account, your API tokens, and this server."/>
        <Account/>
        <Tokens/>
        <Sessions/>
        <AboutServer/>
    }
}

#[component]
fn Account() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let save = Action::new(|input: &ChangePasswordInput| {
        let input = input.clone();
        async move {
            change_password(input)
                .await
                .map(|_| "Password changed; your other sessions ended.".to_string())
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pw = new.get_untracked();
        let check = validate::password(&pw).and_then(|_| {
            if pw == again.get_untracked() {
                Ok(())
            } else {
                Err("the two new passwords differ".to_string())
            }
        });
        match check {
            Err(why) => problem.set(Some(why)),
            Ok(()) => {
                problem.set(None);
                save.dispatch(ChangePasswordInput {
                    current_password: current.get_untracked(),
                    new_password: pw,
                });
                current.set(String::new());
                new.set(String::new());
                again.set(String::new());
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"Your account"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { me.await.ok().flatten().map(|m| view! {
                    <dl class="facts">
                        <dt>"User"</dt><dd>{m.username.clone()}</dd>
                        <dt>"Role"</dt><dd>{m.role.as_str()}</dd>
                        <dt>"Teams"</dt>
                        <dd>{if m.teams.is_empty() {
                            "none".to_string()
                        } else {
                            m.teams.iter().map(|t| format!("{} ({})", t.name, t.role.as_str())).collect::<Vec<_>>().join(", ")
                        }}</dd>
                    </dl>
                })})}
            </Transition>
            <h3 class="subhead">"Change password"</h3>
            <form class="form form-row" on:submit=submit novalidate aria-label="Change password">
                <label class="field">
                    <span class="field-label">"Current password"</span>
                    <input type="password" autocomplete="current-password" bind:value=current/>
                </label>
                <label class="field">
                    <span class="field-label">"New password"</span>
                    <input type="password" autocomplete="new-password" bind:value=new/>
                </label>
                <label class="field">
                    <span class="field-label">"New password again"</span>
                    <input type="password" autocomplete="new-password" bind:value=again/>
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>"Change password"</button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <ActionStatus action=save pending="Changing…"/>
        </section>
    }
}

#[derive(Clone, Debug)]
enum TokenOp {
    Create(CreateTokenInput),
    Revoke(i64, String),
}

#[component]
fn Tokens() -> impl IntoView {
    let tokens = Resource::new(|| (), |_| list_tokens());
    let name = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    let read_only = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<NewToken>);
    let act = Action::new(move |op: &TokenOp| {
        let op = op.clone();
        async move {
            let result = match op {
                TokenOp::Create(input) => create_token(input).await.map(|t| {
                    let line = format!(
                        "Created token {}. Copy it now: it is not shown again.",
                        t.info.name
                    );
                    created.set(Some(t));
                    line
                }),
                TokenOp::Revoke(id, name) => revoke_token(id)
                    .await
                    .map(|_| format!("Revoked token {name}.")),
            };
            tokens.refetch();
            result
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked().trim().to_string();
        let d = days.get_untracked().trim().to_string();
        let expires: Result<Option<u32>, String> = if d.is_empty() {
            Ok(None)
        } else {
            d.parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .map(Some)
                .ok_or_else(|| {
                    "expiry: a number of days from 1 to 3650, or empty for none".to_string()
                })
        };
        match (validate::token_name(&n), expires) {
            (Err(why), _) | (_, Err(why)) => problem.set(Some(why)),
            (Ok(()), Ok(expires_in_days)) => {
                problem.set(None);
                act.dispatch(TokenOp::Create(CreateTokenInput {
                    name: n,
                    expires_in_days,
                    read_only: read_only.get_untracked(),
                }));
                name.set(String::new());
            }
        }
    };
    view! {
        <section class="panel">
            <h2>"API tokens"</h2>
            <p class="muted small">"Programs send a token as " <code>"Authorization: Bearer <token>"</code> "; it acts as you (read-only tokens only read)."</p>
            <form class="form form-row" on:submit=submit novalidate aria-label="New API token">
                <label class="field">
                    <span class="field-label">"Token name"</span>
                    <input type="text" name="token-name" placeholder="ci deploy" autocomplete="off" bind:value=name/>
                </label>
                <label class="field">
                    <span class="field-label">"Expires in (days)"</span>
                    <input type="number" name="token-days" min="1" max="3650" placeholder="never" bind:value=days/>
                </label>
                <label class="field field-check">
                    <input type="checkbox" name="token-read-only" bind:checked=read_only/>
                    <span>"Read-only"</span>
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || act.pending().get()>"Create token"</button>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
            <ActionStatus action=act pending="Saving…"/>
            {move || created.get().map(|t| view! {
                <div class="secret" role="status">
                    <span class="field-label">"Your new token"</span>
                    <code class="secret-value" data-testid="new-token">{t.token}</code>
                </div>
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens."</p> }.into_any(),
                        Ok(list) => view! { <TokenTable list act/> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TokenTable(
    list: Vec<TokenView>,
    act: Action<TokenOp, Result<String, AppError>>,
) -> impl IntoView {
    let when = |ms: Option<i64>, none: &str| {
        ms.map(format::utc_datetime)
            .unwrap_or_else(|| none.to_string())
    };
    view! {
        <table class="table tokens">
            <caption class="visually-hidden">"Your API tokens"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Access"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let (id, name) = (t.id, t.name.clone());
                    view! {
                        <tr data-token=t.name.clone()>
                            <th scope="row">{t.name.clone()}</th>
                            <td class="mono small">{format!("{}…", t.prefix)}</td>
                            <td>{if t.read_only {
                                view! { <Badge tone="muted" label="read-only"/> }.into_any()
                            } else {
                                view! { <Badge tone="warn" label="read-write"/> }.into_any()
                            }}</td>
                            <td class="small">{format::utc_datetime(t.created_at_ms)}</td>
                            <td class="small">{when(t.expires_at_ms, "never")}</td>
                            <td class="small">{when(t.last_used_at_ms, "never")}</td>
                            <td>
                                <ConfirmButton
                                    label="Revoke"
                                    question=format!("Revoke {name}?")
                                    on_confirm=move || { act.dispatch(TokenOp::Revoke(id, name.clone())); }
                                />
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let sessions = Resource::new(|| (), |_| list_sessions());
    let act = Action::new(move |s: &SessionView| {
        let s = s.clone();
        async move {
            let result = revoke_session(s.id)
                .await
                .map(|_| "Session ended.".to_string());
            if result.is_ok() && s.current {
                go("/login");
            }
            sessions.refetch();
            result
        }
    });
    view! {
        <section class="panel">
            <h2>"Your sessions"</h2>
            <ActionStatus action=act pending="Ending…"/>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! {
                            <table class="table sessions">
                                <caption class="visually-hidden">"Your sessions"</caption>
                                <thead>
                                    <tr>
                                        <th scope="col">"Started"</th>
                                        <th scope="col">"Last seen"</th>
                                        <th scope="col">"Expires"</th>
                                        <th scope="col">"From"</th>
                                        <th scope="col">"Browser"</th>
                                        <th scope="col">"Actions"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|s| {
                                        let current = s.current;
                                        let s2 = s.clone();
                                        view! {
                                            <tr>
                                                <td class="small">
                                                    {format::utc_datetime(s.created_at_ms)}
                                                    {current.then(|| view! { " " <Badge tone="ok" label="this one"/> })}
                                                </td>
                                                <td class="small">{format::utc_datetime(s.last_seen_at_ms)}</td>
                                                <td class="small">{format::utc_datetime(s.expires_at_ms)}</td>
                                                <td class="mono small">{s.client_addr.clone()}</td>
                                                <td class="small ellipsis" title=s.user_agent.clone()>{s.user_agent.clone()}</td>
                                                <td>
                                                    <ConfirmButton
                                                        label="End"
                                                        question=if current { "End this session and log out?".to_string() } else { "End this session?".to_string() }
                                                        on_confirm=move || { act.dispatch(s2.clone()); }
                                                    />
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
                        .into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AboutServer() -> impl IntoView {
    let about = Resource::new(|| (), |_| get_about());
    // Instances come and go and the lead changes hands: kept true without a reload.
    every(std::time::Duration::from_secs(5), move || about.refetch());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match about.await {
                    Ok(a) => view! {
                        <section class="panel">
                            <h2>"About this server"</h2>
                            <dl class="facts">
                                <dt>"Version"</dt><dd>{a.version.clone()}</dd>
                                <dt>"Cluster id"</dt><dd class="mono">{a.instance_id.clone()}</dd>
                                <dt>"This instance"</dt><dd class="mono">{a.this_instance.clone()}
                                    " "{if a.leads {
                                        view! { <Badge tone="ok" label="leader"/> }.into_any()
                                    } else {
                                        view! { <Badge tone="muted" label="follower"/> }.into_any()
                                    }}
                                </dd>
                                <dt>"Dashboard"</dt><dd class="mono">{format!("http://{}", a.listen)}</dd>
                                <dt>"Database"</dt><dd class="mono">{a.database.clone()}</dd>
                                <dt>"Engine"</dt><dd>{a.engine.to_string()}</dd>
                                {(a.engine == DatabaseEngine::Sqlite).then(|| view! {
                                    <dt>"Journal mode"</dt><dd>{a.journal_mode.clone()}</dd>
                                })}
                                <dt>"Schema version"</dt><dd>{a.schema_version}</dd>
                                <dt>"Started"</dt><dd>{format::utc_datetime(a.started_at_ms)}</dd>
                            </dl>
                        </section>
                        <Instances about=a/>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The Berth instances on this database: which leads, and when each was last seen.
#[component]
fn Instances(about: About) -> impl IntoView {
    let this = about.this_instance.clone();
    view! {
        <section class="panel">
            <h2>"Instances"</h2>
            <p class="muted small">{format!(
                "Every instance serves the dashboard, the API and the proxy; the leader (term {}) also runs the reconciler, the host pools and the certificates.",
                about.term
            )}</p>
            <table class="table instances">
                <thead>
                    <tr>
                        <th scope="col">"Instance"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Last seen"</th>
                    </tr>
                </thead>
                <tbody>
                    {about.instances.into_iter().map(|i| {
                        let role = if i.leader {
                            view! { <Badge tone="ok" label="leader"/> }.into_any()
                        } else if i.stopped {
                            view! { <Badge tone="warn" label="stopped"/> }.into_any()
                        } else {
                            view! { <Badge tone="muted" label="follower"/> }.into_any()
                        };
                        let mine = i.id == this;
                        view! {
                            <tr>
                                <td class="mono small">{i.id.clone()}
                                    {mine.then(|| view! { " " <Badge tone="muted" label="this one"/> })}
                                </td>
                                <td>{role}</td>
                                <td class="mono small">{i.address.clone()}</td>
                                <td class="small">{i.version.clone()}</td>
                                <td class="small">{format::utc_datetime(i.started_at_ms)}</td>
                                <td class="small" title=format::utc_datetime(i.last_seen_ms)>
                                    {format::ago(i.seen_ms_ago)}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
