//! The certificates page: what the proxy serves over HTTPS, per host — ordered
//! from ACME for routes marked `https`, or uploaded — with its state, issuer,
//! expiry and life used, why the last order failed, when Berth orders next and
//! the services whose routes use it; "order again" and delete per row, and the
//! upload form. Live: polled, and refreshed after each change.

mod upload;
mod words;

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{delete_certificate, list_certificates, renew_certificate};
use crate::components::layout::PageHeader;
use crate::components::widgets::{
    every, now_ms, ActionStatus, Badge, CapacityBar, Col, ConfirmButton, DataTable, EmptyState,
    ErrorBox,
};
use crate::errors::AppError;
use crate::wire::{CertSource, CertState, CertificateView, Me, TeamRole};
use crate::MeResource;

use upload::{Fields, Upload, UploadForm};

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Renew(String),
    Delete(String),
}

type RowAction = Action<Op, Result<String, AppError>>;

async fn run(op: Op) -> Result<String, AppError> {
    match op {
        Op::Renew(host) => renew_certificate(host.clone()).await.map(|_| {
            format!("Ordering the certificate for {host} again; its state shows here in a moment.")
        }),
        Op::Delete(host) => delete_certificate(host.clone())
            .await
            .map(|_| format!("Deleted the certificate for {host}.")),
    }
}

fn tone(s: CertState) -> &'static str {
    match s {
        CertState::Valid => "ok",
        CertState::Ordering | CertState::Renewing => "warn",
        CertState::Failed | CertState::Expired => "bad",
    }
}

/// Admins change every certificate; a team's operators their team's.
fn may_change(me: &Me, c: &CertificateView) -> bool {
    !me.read_only
        && (me.is_admin()
            || c.team.as_ref().is_some_and(|team| {
                me.teams
                    .iter()
                    .any(|t| &t.name == team && t.role == TeamRole::Operator)
            }))
}

fn may_upload(me: &Me) -> bool {
    !me.read_only && (me.is_admin() || me.teams.iter().any(|t| t.role == TeamRole::Operator))
}

#[component]
pub fn Certificates() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <PageHeader title="Certificates" subtitle="What the proxy serves over HTTPS, per host: ordered from ACME for routes marked https, or uploaded."/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! { <Body me/> }.into_any(),
                    Ok(None) => view! { <ErrorBox error=AppError::new("unauthenticated", "You are not logged in.")/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the list is, without the rows: the table stays while rows change.
#[derive(Clone, PartialEq)]
enum Shape {
    Loading,
    Failed(AppError),
    Empty,
    Rows,
}

#[component]
fn Body(me: Me) -> impl IntoView {
    let list = LocalResource::new(list_certificates);
    let now = RwSignal::new(now_ms());
    every(Duration::from_secs(4), move || {
        now.set(now_ms());
        list.refetch();
    });
    let act: RowAction = Action::new(move |op: &Op| {
        let op = op.clone();
        async move {
            let r = run(op).await;
            list.refetch();
            r
        }
    });
    let fields = Fields::new();
    let upload: Upload = Action::new(move |input: &crate::wire::CertificateUpload| {
        let input = input.clone();
        async move {
            let r = upload::run(input, fields).await;
            list.refetch();
            r
        }
    });
    let shape = Memo::new(move |_| match list.get() {
        None => Shape::Loading,
        Some(Err(e)) => Shape::Failed(e),
        Some(Ok(v)) if v.certificates.is_empty() => Shape::Empty,
        Some(Ok(_)) => Shape::Rows,
    });
    let setup = Memo::new(move |_| {
        list.get()
            .and_then(|r| r.ok())
            .map(|v| (v.tls_listen, v.acme_directory))
    });
    let acme_on = move || setup.get().is_some_and(|(_, acme)| acme.is_some());
    let can_upload = may_upload(&me);
    let rows = move || {
        list.get()
            .and_then(|r| r.ok())
            .map(|v| v.certificates)
            .unwrap_or_default()
    };
    let me_rows = me.clone();
    view! {
        <p class="cert-setup muted" data-cert-setup="">
            {move || setup.get().map(|(tls, acme)| view! {
                {match tls {
                    Some(addr) => view! { "The proxy serves HTTPS on " <code>{addr}</code> "; " }.into_any(),
                    None => view! { "The proxy does not listen for HTTPS (started with --proxy-tls-listen off): certificates are kept, not served; " }.into_any(),
                }}
                {match acme {
                    Some(dir) => view! { "certificates for " <code>"https"</code> " routes are ordered from " <code>{dir}</code> "." }.into_any(),
                    None => view! { "ACME is off: only uploaded certificates are served." }.into_any(),
                }}
            })}
        </p>
        <section class="panel" aria-labelledby="certs-title">
            <div class="panel-head">
                <h2 id="certs-title">"Served certificates"</h2>
                <span class="muted small">"An ACME certificate is renewed when two thirds of its life have passed."</span>
            </div>
            <ActionStatus action=act pending="Working…"/>
            {move || match shape.get() {
                Shape::Loading => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Shape::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                Shape::Empty => view! {
                    <EmptyState title="No certificates yet">
                        <p>
                            {if acme_on() {
                                view! { "Add " <code>"https"</code> " to a route on a service's page (" <code>"shop.example.com https redirect"</code> ") and Berth orders a certificate from ACME for it" }.into_any()
                            } else {
                                view! { "ACME is off on this Berth: the proxy serves only uploaded certificates" }.into_any()
                            }}
                            {match (acme_on(), can_upload) {
                                (true, true) => "; or upload a certificate and its key below.",
                                (false, true) => "; upload a certificate and its key below.",
                                (_, false) => "; an operator of your team uploads certificates here.",
                            }}
                        </p>
                    </EmptyState>
                }.into_any(),
                Shape::Rows => {
                    let me = me_rows.clone();
                    view! {
                        <DataTable class="certs" caption="Certificates the proxy serves" cols=vec![
                            Col::text("Host · team"), Col::text("State").titled("Where it stands, and where it comes from"),
                            Col::text("Issuer"), Col::text("Expires"), Col::text("Orders"), Col::text("Used by"),
                            Col::text("Actions"),
                        ]>
                            <For each=rows key=|c| format!("{c:?}") let:c>
                                {row(c, &me, now, act, acme_on())}
                            </For>
                        </DataTable>
                    }.into_any()
                }
            }}
        </section>
        {can_upload.then(|| view! { <UploadForm me upload fields/> })}
    }
}

/// A certificate's row, and under it the problem of a failed order.
fn row(
    c: CertificateView,
    me: &Me,
    now: RwSignal<i64>,
    act: RowAction,
    acme_on: bool,
) -> impl IntoView {
    let host = c.host.clone();
    let others: Vec<String> = c.names.iter().filter(|n| **n != c.host).cloned().collect();
    let problem = c.problem.clone().filter(|_| c.state == CertState::Failed);
    let source = match c.source {
        CertSource::Acme => "ACME",
        CertSource::Uploaded => "uploaded",
    };
    let expires = c.not_after_ms.map(|end| {
        let cert = c.clone();
        view! {
            <div title=crate::format::utc_datetime(end)>{words::date(end)}</div>
            {move || {
                let now = now.get();
                let left = words::ends(end, now);
                words::life_used(&cert, now).map(|(used, total)| view! {
                    <CapacityBar label=format!("life used of the certificate for {}", cert.host) used total text=left/>
                })
            }}
        }
        .into_any()
    });
    let orders = {
        let cert = c.clone();
        move || {
            let now = now.get();
            match (words::last_order(&cert, now), words::next_order(&cert, now)) {
                (None, None) => {
                    view! { <span class="muted">"not renewed by Berth"</span> }.into_any()
                }
                (last, next) => view! {
                    {last.map(|l| view! { <div>{l}</div> })}
                    {next.map(|n| view! { <div class="muted">{n}</div> })}
                }
                .into_any(),
            }
        }
    };
    let changeable = may_change(me, &c);
    let renewable = changeable && acme_on && c.source == CertSource::Acme;
    let busy = move |op: Op| act.input().with(|i| i.as_ref() == Some(&op));
    let (renew_host, delete_host) = (host.clone(), host.clone());
    let question = match c.source {
        CertSource::Acme if !c.services.is_empty() => format!("Delete the certificate for {host}? Its routes still ask for https, so Berth orders a new one."),
        _ => format!("Delete the certificate for {host}? The proxy stops serving it."),
    };
    let span = "7";
    view! {
        <tr data-cert=host.clone() data-state=c.state.as_str() data-source=c.source.as_str() class:has-problem=problem.is_some()>
            <th scope="row">
                <span class="mono">{host.clone()}</span>
                {(!others.is_empty()).then(|| view! { <div class="small muted">"also " {others.join(", ")}</div> })}
                <div class="small team">{match c.team.clone() {
                    Some(t) => view! { "team " <span>{t}</span> }.into_any(),
                    None => view! { <span class="muted">"every team"</span> }.into_any(),
                }}</div>
            </th>
            <td>
                <div class="badges">
                    <Badge tone=tone(c.state) label=c.state.as_str()/>
                    <Badge tone="muted" label=source/>
                </div>
            </td>
            <td>{match c.issuer.clone() {
                Some(i) => view! { <span>{i}</span> }.into_any(),
                None => view! { <span class="muted" title="not issued yet">"—"</span> }.into_any(),
            }}</td>
            <td class="cell-bar">{expires.unwrap_or_else(|| view! { <span class="muted">"—"</span> }.into_any())}</td>
            <td class="small orders">{orders}</td>
            <td>
                <div class="used-by">
                    {if c.services.is_empty() {
                        view! { <span class="muted">"no route"</span> }.into_any()
                    } else {
                        c.services.clone().into_iter().map(|s| view! {
                            <A href=format!("/services/{s}") attr:class="chip">{s.clone()}</A>
                        }).collect_view().into_any()
                    }}
                </div>
            </td>
            <td><div class="cert-actions">
                {renewable.then(|| {
                    let op = Op::Renew(renew_host.clone());
                    let again = op.clone();
                    view! {
                        <button type="button" class="btn btn-small" disabled=move || busy(op.clone())
                            on:click=move |_| { act.dispatch(again.clone()); }>
                            {let op = Op::Renew(renew_host.clone()); move || if busy(op.clone()) { "Ordering…" } else { "Order again" }}
                        </button>
                    }
                })}
                {changeable.then(|| view! {
                    <ConfirmButton label="Delete" question
                        on_confirm=move || { act.dispatch(Op::Delete(delete_host.clone())); }/>
                })}
            </div></td>
        </tr>
        {problem.map(|p| view! {
            <tr class="cert-problem" data-problem-of=host.clone()>
                <td colspan=span>
                    <strong>"Why the last order failed: "</strong>{p}
                </td>
            </tr>
        })}
    }
}
