//! A service's replicas with their usage, and the log of one of them.

use super::*;
use crate::components::tone::Tone;
use crate::components::widgets::{Col, DataTable};

#[component]
pub(super) fn ReplicaTable(
    list: Vec<ReplicaView>,
    revision: i64,
    stats: LocalResource<Result<Vec<ReplicaStats>, AppError>>,
) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="muted">"No replica: the service is scaled to zero."</p> }
            .into_any();
    }
    view! {
        <DataTable class="replicas" caption="Replicas" cols=vec![
            Col::num("Slot"),
            Col::text("State"),
            Col::text("Health"),
            Col::text("Host"),
            Col::text("Endpoint"),
            Col::num("Rev."),
            Col::num("Restarts"),
            Col::text("CPU"),
            Col::text("Memory"),
            Col::text("Started"),
        ]>
            {list.into_iter().map(|r| {
                let tone = replica_tone(&r);
                let id = r.container_id.clone();
                // `try_get`: a server render can outlive the page's owner
                // (the browser went away mid-stream); reading a disposed
                // resource with `get` would panic the render.
                let usage = move || {
                    stats.try_get().flatten().and_then(|s| s.ok()).and_then(|all| {
                        let by_id: HashMap<String, ReplicaStats> = all.into_iter().map(|s| (s.container_id.clone(), s)).collect();
                        by_id.get(&id).cloned()
                    })
                };
                let usage2 = usage.clone();
                let old = r.revision != revision;
                view! {
                    <tr data-slot=r.slot data-revision=r.revision data-state=r.state.as_str() data-health=r.health.as_str()>
                        <th scope="row" class="num">{r.slot}</th>
                        <td>
                            <Badge tone=tone label=r.state.as_str()/>
                            {r.note.clone().map(|n| view! { <div class="small muted note">{n}</div> })}
                        </td>
                        <td><Badge tone=r.health.tone() label=r.health.as_str()/></td>
                        <td>{r.host.clone()}<div class="mono small muted">{r.container_id.clone()}</div></td>
                        <td class="mono small">{r.endpoint.clone().unwrap_or_default()}</td>
                        <td class="num">{r.revision}{old.then_some(" (old)")}</td>
                        <td class="num">
                            {r.restarts}
                            {r.last_exit.clone().map(|e| view! { <div class="small muted">{e}</div> })}
                        </td>
                        <td class="small nowrap">{move || usage().map(|u| format!("{:.1} %", u.cpu_percent)).unwrap_or_default()}</td>
                        <td class="cell-bar">{move || usage2().map(|u| {
                            let text = format::bytes(u.memory_bytes as i64);
                            view! { <CapacityBar label="Memory used" used=u.memory_bytes as f64 total=u.memory_limit_bytes.max(1) as f64 text/> }
                        })}</td>
                        <td class="small nowrap">{if r.created_at_ms > 0 { format::utc_time(r.created_at_ms) } else { String::new() }}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}

#[component]
pub(super) fn Logs(service: String, slots: Vec<u32>) -> impl IntoView {
    let first = slots.first().copied().unwrap_or(1);
    let slot = RwSignal::new(first.to_string());
    let follow = RwSignal::new(false);
    let svc = service.clone();
    let logs = Resource::new(
        move || slot.get(),
        move |slot| {
            let svc = svc.clone();
            async move { get_service_logs(svc, slot.parse().unwrap_or(1), Some(200)).await }
        },
    );
    every(Duration::from_secs(1), move || {
        if follow.get_untracked() {
            logs.refetch();
        }
    });
    view! {
        <section class="panel">
            <div class="panel-head">
                <h2>"Logs"</h2>
                <div class="row-actions">
                    <label class="field field-inline">
                        <span class="field-label">"Replica"</span>
                        <select name="log-slot" bind:value=slot>
                            {slots.iter().map(|s| view! { <option value=s.to_string()>{s.to_string()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="field field-check">
                        <input type="checkbox" name="log-follow" bind:checked=follow/>
                        <span>"Follow"</span>
                    </label>
                    <button type="button" class="btn btn-small" on:click=move |_| logs.refetch()>"Reload"</button>
                </div>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match logs.await {
                        Ok(l) if l.lines.is_empty() => view! { <p class="muted">{format!("Replica {} on {} has written nothing yet.", l.slot, l.host)}</p> }.into_any(),
                        Ok(l) => view! {
                            <pre class="logs" tabindex="0" aria-label=format!("Log of replica {}", l.slot)>{l.lines.join("\n")}</pre>
                        }.into_any(),
                        Err(e) => view! { <p class="muted">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}
