//! A service's rollout under way, its revisions (compared two by two) and its
//! past rollouts.

use super::*;
use crate::components::tone::Tone;

/// The rollout under way (or the last one): how far, what it does now, and its
/// controls. Re-rendered when the rollout or its state changes; its progress
/// follows in place, so a question being asked (abort?) stays.
#[component]
pub(super) fn RolloutPanel(
    r: Memo<Option<RolloutView>>,
    operator: bool,
    act: Action<Op, Result<String, AppError>>,
) -> impl IntoView {
    let Some(first) = r.get_untracked() else {
        return ().into_any();
    };
    let active = first.state.active();
    let title = match first.kind {
        RolloutKind::Deploy => format!("Rollout to revision {}", first.to_revision),
        RolloutKind::Rollback => format!("Rollback to revision {}", first.to_revision),
        RolloutKind::AutoRollback => {
            format!("Automatic rollback to revision {}", first.to_revision)
        }
    };
    let failed = matches!(first.state, RolloutState::RolledBack)
        || (first.state == RolloutState::Paused && first.reason.starts_with("paused: "));
    let now = move |f: fn(&RolloutView) -> String| {
        move || r.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let progress = now(|r| format!("{}/{}", r.new_ready, r.wanted));
    let old_remaining = now(|r| r.old_remaining.to_string());
    let phase = now(|r| {
        format!(
            "{} · by {} · started {}{}",
            r.phase,
            r.author,
            format::utc_time(r.started_at_ms),
            r.finished_at_ms
                .map(|t| format!(" · ended {}", format::utc_time(t)))
                .unwrap_or_default()
        )
    });
    let reason = now(|r| r.reason.clone());
    let why = first.message.clone();
    view! {
        <section class="panel" data-rollout-state=first.state.as_str() data-progress=progress>
            <div class="panel-head">
                <h2>{title}</h2>
                <Badge tone=first.state.tone() label=first.state.as_str().replace('_', " ")/>
            </div>
            {(!why.is_empty()).then(|| view! { <p class="small" data-rollout-why="">{why}</p> })}
            {failed.then(|| view! { <div class="alert alert-bad" role="status">{reason}</div> })}
            {active.then(|| view! {
                <div class="summary-row">
                    <div>
                        <div class="field-label">"New revision, healthy"</div>
                        {move || r.with(|r| r.as_ref().map(|r| view! { <ReadyBar healthy=r.new_ready wanted=r.wanted/> }))}
                    </div>
                    <div>
                        <div class="field-label">"Old replicas left"</div>
                        <div class="stat-value small-value">{old_remaining}</div>
                    </div>
                </div>
            })}
            {active.then(|| view! { <CanarySplit r operator act/> })}
            <p class="muted small" data-phase-text="">{phase}</p>
            {(operator && active).then(|| view! {
                <div class="row-actions">
                    {if first.state == RolloutState::Paused {
                        view! { <button type="button" class="btn" on:click=move |_| { act.dispatch(Op::Control("resume")); }>"Resume"</button> }.into_any()
                    } else {
                        view! { <button type="button" class="btn" on:click=move |_| { act.dispatch(Op::Control("pause")); }>"Pause"</button> }.into_any()
                    }}
                    <ConfirmButton label="Abort" class="btn" question=format!("Stop and take every replica back to revision {}?", first.from_revision)
                        on_confirm=move || { act.dispatch(Op::Control("abort")); }/>
                </div>
            })}
        </section>
    }
    .into_any()
}

/// A canary step's share of the requests, as a bar split between the old
/// replicas and the new, and its promote buttons; nothing while no step holds.
#[component]
fn CanarySplit(
    r: Memo<Option<RolloutView>>,
    operator: bool,
    act: Action<Op, Result<String, AppError>>,
) -> impl IntoView {
    let canary = Memo::new(move |_| r.with(|r| r.as_ref().and_then(|r| r.canary.clone())));
    move || {
        let c = canary.get()?;
        let weight = u32::from(c.weight);
        let then = match c.next_at_ms {
            Some(at) => format!("next step at {}", format::utc_time(at)),
            None if c.until_promoted => "holds until promoted".to_string(),
            None => "its pause begins once its replicas are ready".to_string(),
        };
        let last = c.step == c.steps;
        Some(view! {
            <div class="canary" data-canary-weight=weight data-canary-step=c.step>
                <div class="field-label">{format!("Canary · step {} of {}", c.step, c.steps)}</div>
                <div class="split-bar" role="img"
                    aria-label=format!("{}% of requests to the old replicas, {weight}% to the new", 100 - weight)>
                    <div class="split-old" style=format!("width:{}%", 100 - weight)></div>
                    <div class="split-new" style=format!("width:{weight}%")></div>
                </div>
                <div class="split-legend">
                    <span><span class="dot split-old"></span>{format!("old revision {}%", 100 - weight)}</span>
                    <span><span class="dot split-new"></span>
                        {format!("new revision {weight}% · {} of {} replica{} ready · {then}",
                            c.ready, c.replicas, if c.replicas == 1 { "" } else { "s" })}
                    </span>
                </div>
                {operator.then(|| view! {
                    <div class="row-actions">
                        {(!last).then(|| view! {
                            <button type="button" class="btn btn-primary" on:click=move |_| { act.dispatch(Op::Promote { full: false }); }>
                                "Promote to next step"
                            </button>
                        })}
                        <ConfirmButton label=if last { "Promote" } else { "Promote fully" } class="btn"
                            question="Send every request to the new revision and replace the old replicas?".to_string()
                            on_confirm=move || { act.dispatch(Op::Promote { full: true }); }/>
                    </div>
                })}
            </div>
        })
    }
}

#[component]
pub(super) fn Revisions(
    service: String,
    list: Vec<RevisionView>,
    current: i64,
    operator: bool,
    act: Action<Op, Result<String, AppError>>,
) -> impl IntoView {
    let numbers: Vec<i64> = list.iter().map(|r| r.number).collect();
    view! {
        {(numbers.len() >= 2).then(|| view! { <CompareRevisions service=service.clone() numbers current/> })}
        <ol class="timeline">
            {list.into_iter().map(|r| {
                let number = r.number;
                let is_current = number == current;
                let shown = RwSignal::new(false);
                let svc = service.clone();
                let diff = Resource::new(
                    move || shown.get(),
                    move |open| {
                        let svc = svc.clone();
                        async move {
                            if open { Some(get_revision_diff(svc, current, number).await) } else { None }
                        }
                    },
                );
                view! {
                    <li class="timeline-item" data-revision=number>
                        <span class="timeline-time small muted">{format::utc_datetime(r.created_at_ms)}</span>
                        <span class="timeline-text">
                            <strong>{format!("revision {number}")}</strong>
                            {is_current.then_some(" (current)")}
                            {format!(" · {} · {}", r.author, r.spec.image)}
                            {(!r.message.is_empty()).then(|| view! { <div class="small muted">{r.message.clone()}</div> })}
                            {(!is_current).then(|| view! {
                                <div class="row-actions">
                                    <button type="button" class="btn btn-small" aria-expanded=move || shown.get().to_string()
                                        on:click=move |_| shown.update(|s| *s = !*s)>
                                        {move || if shown.get() { "Hide changes" } else { "Changes from current" }}
                                    </button>
                                    {operator.then(|| view! {
                                        <ConfirmButton label=format!("Roll back to {number}") class="btn btn-small"
                                            question=format!("Roll every replica back to revision {number}?")
                                            on_confirm=move || { act.dispatch(Op::Rollback(number)); }/>
                                    })}
                                </div>
                            })}
                            <Transition fallback=|| ()>
                                {move || Suspend::new(async move {
                                    match diff.await {
                                        Some(Ok(d)) if d.changes.is_empty() => view! { <p class="small muted">"Same as the current revision."</p> }.into_any(),
                                        Some(Ok(d)) => view! {
                                            <ul class="diff mono small" aria-label=format!("Changes from revision {} to {}", d.from, d.to)>
                                                {d.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                                            </ul>
                                        }.into_any(),
                                        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                                        None => ().into_any(),
                                    }
                                })}
                            </Transition>
                        </span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

/// Any two revisions side by side: what differs from one to the other.
#[component]
pub(super) fn CompareRevisions(service: String, numbers: Vec<i64>, current: i64) -> impl IntoView {
    let oldest = numbers.iter().copied().min().unwrap_or(1);
    let from = RwSignal::new(oldest.to_string());
    let to = RwSignal::new(current.to_string());
    let compare =
        Action::new(move |(a, b): &(i64, i64)| get_revision_diff(service.clone(), *a, *b));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let a = from.get_untracked().parse().unwrap_or(oldest);
        let b = to.get_untracked().parse().unwrap_or(current);
        compare.dispatch((a, b));
    };
    // Each option says whether it is the chosen one, so the choice shows at once.
    let options = move |chosen: RwSignal<String>| {
        numbers
            .iter()
            .map(|n| {
                let value = n.to_string();
                let v = value.clone();
                view! { <option value=value selected=move || chosen.get() == v>{format!("revision {n}")}</option> }
            })
            .collect_view()
    };
    let options2 = options.clone();
    view! {
        <form class="form-row compare" aria-label="Compare revisions" on:submit=submit>
            <label class="field field-inline">
                <span class="field-label">"Compare"</span>
                <select name="from" bind:value=from>{options(from)}</select>
            </label>
            <label class="field field-inline">
                <span class="field-label">"with"</span>
                <select name="to" bind:value=to>{options2(to)}</select>
            </label>
            <button type="submit" class="btn btn-small" disabled=move || compare.pending().get()>"Show changes"</button>
        </form>
        {move || compare.value().get().map(|r| match r {
            Ok(d) if d.changes.is_empty() => view! { <p class="small muted">{format!("Revisions {} and {} have the same spec.", d.from, d.to)}</p> }.into_any(),
            Ok(d) => view! {
                <ul class="diff mono small" aria-label=format!("Changes from revision {} to {}", d.from, d.to)>
                    {d.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                </ul>
            }.into_any(),
            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
        })}
    }
    .into_any()
}

#[component]
pub(super) fn RolloutHistory(list: Vec<RolloutView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="muted small">"None yet: a deploy or a rollback starts one."</p> }
            .into_any();
    }
    view! {
        <ol class="timeline">
            {list.into_iter().map(|r| {
                let tone = match r.state { RolloutState::Succeeded => "ok", RolloutState::RolledBack => "bad", _ => "warn" };
                view! {
                    <li class=format!("timeline-item timeline-{tone}") data-rollout=r.id>
                        <span class="timeline-time small muted">{format::utc_datetime(r.started_at_ms)}</span>
                        <span class="timeline-text">
                            {format!("{} {} → {}: {}", r.kind.as_str().replace('_', " "), r.from_revision, r.to_revision, r.state.as_str().replace('_', " "))}
                            {(!r.message.is_empty()).then(|| view! { <div class="small">{r.message.clone()}</div> })}
                            {(!r.reason.is_empty()).then(|| view! { <div class="small muted">{r.reason.clone()}</div> })}
                        </span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}
