//! The plan of a stack or Compose file as the import shows it: a summary line,
//! each service with its action, changes, field diff and placement, and the keys
//! Berth ignores, adapts or refuses with the reason.

use leptos::prelude::*;

use crate::components::widgets::{Badge, Col, DataTable};
use crate::wire::{
    KeyNote, KeyVerdict, PlacementPreview, PlanAction, PlanChange, ServicePlan, StackPlan,
};

/// "3 services: 2 to create, 1 new revision, 0 unchanged".
pub fn summary(plan: &StackPlan) -> String {
    let count = |f: &dyn Fn(&ServicePlan) -> bool| plan.services.iter().filter(|s| f(s)).count();
    let create = count(&|s| s.action == PlanAction::Create);
    let revision = count(&|s| {
        s.action == PlanAction::Update
            && s.changes
                .iter()
                .any(|c| matches!(c, PlanChange::Revision { .. } | PlanChange::Policy { .. }))
    });
    let in_place = count(&|s| s.action == PlanAction::Update) - revision;
    let same = count(&|s| s.action == PlanAction::Unchanged);
    let n = plan.services.len();
    let mut parts = vec![
        format!("{create} to create"),
        format!("{revision} new revision{}", plural(revision)),
    ];
    if in_place > 0 {
        parts.push(format!("{in_place} changed in place"));
    }
    parts.push(format!("{same} unchanged"));
    format!("{n} service{}: {}", plural(n), parts.join(", "))
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The plan: its services, then the keys Berth does not take as they are.
#[component]
pub fn PlanView(plan: StackPlan) -> impl IntoView {
    let notes = plan.notes.clone();
    view! {
        <DataTable class="plan" caption="What applying the file would do, per service"
            cols=vec![Col::text("Service"), Col::text("Action"), Col::text("Changes"), Col::text("Placement")]>
            {plan.services.into_iter().map(service_row).collect_view()}
        </DataTable>
        {(!notes.is_empty()).then(|| view! {
            <h3 class="form-title">"Keys Berth does not take as they are"</h3>
            <DataTable class="notes" caption="Keys ignored, adapted or refused" cols=vec![Col::text("Key"), Col::text("Verdict"), Col::text("Why")]>
                {notes.into_iter().map(note_row).collect_view()}
            </DataTable>
        })}
    }
}

fn service_row(s: ServicePlan) -> impl IntoView {
    let tone = match s.action {
        PlanAction::Create => "ok",
        PlanAction::Update => "warn",
        PlanAction::Unchanged => "muted",
    };
    let changes: Vec<String> = s.changes.iter().map(|c| c.to_string()).collect();
    view! {
        <tr data-plan-service=s.name.clone() data-action=s.action.as_str()>
            <th scope="row">
                <span class="cell-title">{s.name.clone()}</span>
                <div class="small muted">
                    {s.team.clone()}
                    {s.revision.map(|r| format!(" · revision {r}"))}
                </div>
            </th>
            <td><Badge tone=tone label=s.action.as_str()/></td>
            <td>
                {if changes.is_empty() {
                    view! { <span class="muted">"as the file says"</span> }.into_any()
                } else {
                    view! { <ul class="plain">{changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul> }.into_any()
                }}
                {(!s.diff.is_empty()).then(|| view! {
                    <ul class="diff mono small" aria-label=format!("Fields of {} that change", s.name)>
                        {s.diff.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
                    </ul>
                })}
            </td>
            <td>{placement(s.placement)}</td>
        </tr>
    }
}

/// "h1 ×2, h2 ×1", and what cannot be placed with the reason.
fn placement(p: Option<PlacementPreview>) -> impl IntoView {
    let Some(p) = p.filter(|p| !p.hosts.is_empty() || p.unplaced > 0) else {
        return view! { <span class="muted">"no new replica"</span> }.into_any();
    };
    let hosts = p
        .hosts
        .iter()
        .map(|h| format!("{} ×{}", h.host, h.replicas))
        .collect::<Vec<_>>()
        .join(", ");
    let unplaced = (p.unplaced > 0).then(|| {
        let why = p.reason.clone().unwrap_or_else(|| "no host takes them".into());
        view! { <div class="bad-text small">{format!("{} cannot be placed: {why}", p.unplaced)}</div> }
    });
    view! {
        {(!hosts.is_empty()).then(|| view! { <span class="mono small">{hosts}</span> })}
        {unplaced}
    }
    .into_any()
}

fn note_row(n: KeyNote) -> impl IntoView {
    let tone = match n.verdict {
        KeyVerdict::Ignored => "muted",
        KeyVerdict::Adapted => "warn",
        KeyVerdict::Refused => "bad",
    };
    let key = n.key.clone();
    view! {
        <tr data-note=key data-verdict=n.verdict.as_str()>
            <td class="mono small">{n.key}</td>
            <td><Badge tone=tone label=n.verdict.as_str()/></td>
            <td class="small">{n.reason}</td>
        </tr>
    }
}
