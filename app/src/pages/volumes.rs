//! The volumes page: every volume Berth made for services, per service and per
//! host, with its class, the space it uses, the replica using it (and where a
//! volume that follows its replica is mounted now) and when it was made; admins
//! delete the ones nothing needs and move replicas off a lost host. The volume
//! classes panel is below.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{delete_volume, list_volumes, move_replica};
use crate::components::layout::PageHeader;
use crate::components::widgets::{every, ActionStatus, Badge, ConfirmButton, EmptyState, ErrorBox};
use crate::errors::AppError;
use crate::format;
use crate::wire::{ClassScope, VolumeView};
use crate::MeResource;

#[derive(Clone, Debug)]
pub enum VolumeOp {
    Delete { host: String, name: String },
    Move { service: String, slot: u32 },
}

/// The action behind the volume tables' buttons; `done` runs after each.
pub fn volume_action(
    done: impl Fn() + Send + Sync + 'static,
) -> Action<VolumeOp, Result<String, AppError>> {
    let done = std::sync::Arc::new(done);
    Action::new(move |op: &VolumeOp| {
        let op = op.clone();
        let done = done.clone();
        async move {
            let r = match op {
                VolumeOp::Delete { host, name } => delete_volume(host.clone(), name.clone())
                    .await
                    .map(|_| format!("Deleted volume {name} on {host}.")),
                VolumeOp::Move { service, slot } => move_replica(service, slot).await,
            };
            done();
            r
        }
    })
}

#[component]
pub fn Volumes() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let service = RwSignal::new(String::new());
    let host = RwSignal::new(String::new());
    let list = LocalResource::new(|| list_volumes(None, None));
    // Fetched again every few seconds, but shown again only when it (or the
    // filter) changed: a question being asked (delete?) stays. The filters match
    // parts of names, as typed.
    let data = Memo::new(move |_| {
        let (s, h) = (service.get(), host.get());
        list.get().map(|r| {
            r.map(|l| {
                l.into_iter()
                    .filter(|v| {
                        v.service
                            .as_deref()
                            .unwrap_or("(deleted)")
                            .contains(s.trim())
                            && v.host.contains(h.trim())
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    every(Duration::from_secs(5), move || list.refetch());
    let act = volume_action(move || list.refetch());
    view! {
        <PageHeader title="Volumes" subtitle="Storage Berth made for services on the hosts: what uses it, how big it is, and what may go."/>
        <ActionStatus action=act pending="Working…"/>
        <section class="panel">
            <div class="panel-head">
                <div class="row-actions">
                    <label class="field field-inline">
                        <span class="field-label">"Service"</span>
                        <input type="text" name="service" placeholder="all" autocomplete="off" bind:value=service/>
                    </label>
                    <label class="field field-inline">
                        <span class="field-label">"Host"</span>
                        <input type="text" name="host" placeholder="all" autocomplete="off" bind:value=host/>
                    </label>
                </div>
                <span class="muted small">"Hosts that do not answer cannot be asked; their replicas' volumes show as waiting."</span>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                    move || match data.get() {
                        None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                        Some(Ok(l)) if l.is_empty() => view! {
                            <EmptyState title="No volumes">
                                <p>"A service that declares volumes (NAME:/PATH in its form) gets them on the hosts its replicas run on."</p>
                            </EmptyState>
                        }.into_any(),
                        Some(Ok(l)) => view! { <HostTotals list=l.clone()/><VolumeTable list=l admin act show_service=true/> }.into_any(),
                        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = me.await.ok().flatten().is_some_and(|m| m.is_admin());
                view! { <super::volume_classes::VolumeClasses admin/> }
            })}
        </Transition>
    }
}

/// Per host: how many volumes, and the space they use.
#[component]
fn HostTotals(list: Vec<VolumeView>) -> impl IntoView {
    let mut hosts: std::collections::BTreeMap<String, (usize, i64)> = Default::default();
    for v in &list {
        let e = hosts.entry(v.host.clone()).or_default();
        e.0 += 1;
        e.1 += v.size_bytes.unwrap_or(0);
    }
    view! {
        <ul class="chips" aria-label="Volumes per host">
            {hosts.into_iter().map(|(h, (n, size))| view! {
                <li class="chip" data-host=h.clone()>
                    <strong>{h.clone()}</strong>
                    {format!(" · {n} volume{} · {}", if n == 1 { "" } else { "s" }, format::bytes(size))}
                </li>
            }).collect_view()}
        </ul>
    }
}

/// Volumes as a table; admins get the delete and move buttons.
#[component]
pub fn VolumeTable(
    list: Vec<VolumeView>,
    admin: bool,
    act: Action<VolumeOp, Result<String, AppError>>,
    show_service: bool,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table volumes">
                <caption class="visually-hidden">"Volumes"</caption>
                <thead>
                    <tr>
                        {show_service.then(|| view! { <th scope="col">"Service"</th> })}
                        <th scope="col">"Volume"</th>
                        <th scope="col">"Class · driver"</th>
                        <th scope="col" class="num">"Slot"</th>
                        <th scope="col">"Host"</th>
                        <th scope="col">"Mounted at"</th>
                        <th scope="col" class="num">"Size"</th>
                        <th scope="col">"Used by"</th>
                        <th scope="col">"Created"</th>
                        {admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|v| {
                        let (host, name) = (v.host.clone(), v.name.clone());
                        let service = v.service.clone().unwrap_or_default();
                        let slot = v.slot.unwrap_or(0);
                        view! {
                            <tr data-volume=v.name.clone() data-host=v.host.clone() data-deletable=v.deletable.to_string()>
                                {show_service.then(|| view! {
                                    <td>{match v.service.clone() {
                                        Some(s) => view! { <A href=format!("/services/{s}")>{s.clone()}</A> }.into_any(),
                                        None => view! { <span class="muted">"(deleted)"</span> }.into_any(),
                                    }}</td>
                                })}
                                <td>
                                    <strong>{v.volume.clone()}</strong>
                                    {" "}<Badge tone="muted" label=v.scope.as_str()/>
                                    <div class="mono small muted">{v.name.clone()}</div>
                                </td>
                                <td class="small">
                                    {match v.class.clone() {
                                        Some(c) => view! {
                                            <span>{c}</span>
                                            {v.class_scope.map(|s| view! { " "<Badge tone=if s == ClassScope::Global { "ok" } else { "muted" } label=s.as_str()/> })}
                                        }.into_any(),
                                        None => view! { <span class="muted">"on the host"</span> }.into_any(),
                                    }}
                                    <div class="mono small muted">{v.driver.clone()}</div>
                                </td>
                                <td class="num">{v.slot.map(|s| s.to_string()).unwrap_or_else(|| "all".into())}</td>
                                <td>
                                    {v.host.clone()}
                                    {v.attached_on.clone().filter(|on| *on != v.host).map(|on| view! {
                                        <div class="small muted">{format!("attached on {on} now")}</div>
                                    })}
                                </td>
                                <td class="mono small">{v.path.clone().unwrap_or_else(|| "—".into())}</td>
                                <td class="num nowrap">{v.size_bytes.map(format::bytes).unwrap_or_else(|| "unknown".into())}</td>
                                <td class="small">
                                    {match (v.used_by.clone(), v.note.clone()) {
                                        (Some(u), _) => view! { <span>{u}</span> }.into_any(),
                                        (None, Some(n)) => view! { <span class=if v.stranded { "warn-text" } else { "muted" }>{n}</span> }.into_any(),
                                        (None, None) => view! { <span class="muted">"nothing"</span> }.into_any(),
                                    }}
                                </td>
                                <td class="small nowrap">{v.created_at.get(..19).map(|t| t.replace('T', " ")).unwrap_or_else(|| "unknown".into())}</td>
                                {admin.then(|| {
                                    if v.stranded {
                                        view! {
                                            <td>
                                                <ConfirmButton label=format!("Move replica {slot} elsewhere")
                                                    question=format!("Start replica {slot} on another host with EMPTY volumes? Its data stays behind on {host}.")
                                                    on_confirm=move || { act.dispatch(VolumeOp::Move { service: service.clone(), slot }); }/>
                                            </td>
                                        }.into_any()
                                    } else if v.deletable {
                                        view! {
                                            <td>
                                                <ConfirmButton label="Delete" question=format!("Delete {name} on {host}? Its data is lost.")
                                                    on_confirm=move || { act.dispatch(VolumeOp::Delete { host: host.clone(), name: name.clone() }); }/>
                                            </td>
                                        }.into_any()
                                    } else {
                                        view! { <td></td> }.into_any()
                                    }
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
