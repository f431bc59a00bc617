//! The host pools page (admins): each pool with its provider, bounds and machines
//! (being made, with the time it takes; ready; draining; being destroyed), the
//! replicas waiting for it and its provider's failures; add or change a pool; retire
//! a host.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;

use super::dashboard::RefreshButton;
use crate::api::{create_pool, delete_pool, list_pools, retire_pool_host, update_pool};
use crate::components::layout::PageHeader;
use crate::components::tone::Tone;
use crate::components::widgets::{
    every, ActionStatus, Badge, CapacityBar, Col, ConfirmButton, DataTable, EmptyState, ErrorBox,
    Stat,
};
use crate::errors::AppError;
use crate::format;
use crate::validate;
use crate::wire::{PoolHostState, PoolHostView, PoolInput, PoolView, Provider};

/// A change to a pool or one of its hosts, with the sentence it ends in.
#[derive(Clone)]
enum Change {
    Save { input: PoolInput, new: bool },
    Delete(String),
    Retire { pool: String, host: String },
}

#[component]
pub fn Pools() -> impl IntoView {
    let pools = Resource::new(|| (), |_| list_pools());
    let (pending, set_pending) = signal(false);
    every(Duration::from_secs(2), move || pools.refetch());
    let editing = RwSignal::new(None::<PoolInput>);
    let change = Action::new(move |c: &Change| {
        let c = c.clone();
        async move {
            let result = run(c).await;
            pools.refetch();
            result
        }
    });
    view! {
        <PageHeader title="Host pools" subtitle="Where Berth gets a new host when no host has room for a waiting replica, and gives it back when it is idle.">
            <RefreshButton pending on_refresh=move || pools.refetch()/>
        </PageHeader>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> } set_pending>
            {move || Suspend::new(async move {
                match pools.await {
                    Ok(list) => view! { <PoolList list change editing/> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
        <ActionStatus action=change pending="Working…"/>
        <PoolForm change editing/>
    }
}

async fn run(c: Change) -> Result<String, AppError> {
    match c {
        Change::Save { input, new: true } => create_pool(input)
            .await
            .map(|p| format!("Pool {} added.", p.name)),
        Change::Save { input, new: false } => update_pool(input)
            .await
            .map(|p| format!("Pool {} saved.", p.name)),
        Change::Delete(name) => delete_pool(name.clone())
            .await
            .map(|_| format!("Pool {name} deleted.")),
        Change::Retire { pool, host } => retire_pool_host(pool, host.clone())
            .await
            .map(|_| format!("Host {host} retired: its replicas move, then it is destroyed.")),
    }
}

#[component]
fn PoolList(
    list: Vec<PoolView>,
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<PoolInput>>,
) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <EmptyState title="No host pool yet">
                <p>"A pool names a provider command that makes a Docker host (a cloud CLI, terraform, or "<code>"scripts/pool-provider"</code>" on this machine). When a replica fits no host, Berth asks the pool for one."</p>
            </EmptyState>
        }
        .into_any();
    }
    let hosts = || list.iter().flat_map(|p| p.hosts.iter());
    let making = hosts().filter(|h| h.state.in_flight()).count();
    let ready = hosts().filter(|h| h.state == PoolHostState::Ready).count();
    let waiting: u32 = list.iter().map(|p| p.waiting).sum();
    let failing = list.iter().filter(|p| p.failures > 0).count();
    let failing = if failing > 0 {
        format!("{failing} pool(s) failing")
    } else {
        "no pool failing".to_string()
    };
    view! {
        <div class="stats" role="group" aria-label="Pools at a glance">
            <Stat label="Pools" value=list.len().to_string()/>
            <Stat label="Hosts being made" value=making.to_string()/>
            <Stat label="Pool hosts ready" value=ready.to_string()/>
            <Stat label="Replicas waiting" value=waiting.to_string()
                detail=failing/>
        </div>
        {list.into_iter().map(|p| view! { <PoolPanel p change editing/> }).collect_view()}
    }
    .into_any()
}

#[component]
fn PoolPanel(
    p: PoolView,
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<PoolInput>>,
) -> impl IntoView {
    let Provider::Command { command, args } = &p.provider;
    let provider = std::iter::once(command.clone())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    // Every machine counts towards the max until it is gone.
    let alive = p.hosts.len();
    let leaving = p
        .hosts
        .iter()
        .filter(|h| h.state == PoolHostState::Destroying)
        .count();
    let (tone, status) = if p.failures > 0 {
        ("bad", "failing")
    } else if alive as u32 >= p.max_hosts && p.waiting > 0 {
        ("warn", "at its max")
    } else if p.hosts.iter().any(|h| h.state.in_flight()) {
        ("warn", "making hosts")
    } else {
        ("ok", "steady")
    };
    let input = input_of(&p);
    let name = p.name.clone();
    let delete_name = p.name.clone();
    let labels = if p.labels.is_empty() {
        "none".to_string()
    } else {
        validate::format_labels(&p.labels)
    };
    view! {
        <section class="panel pool" data-pool=p.name.clone() aria-label=format!("Pool {}", p.name)>
            <div class="panel-head">
                <h2>{p.name.clone()} " " <Badge tone=tone label=status/></h2>
                <div class="row-actions">
                    <button type="button" class="btn btn-small" on:click=move |_| editing.set(Some(input.clone()))>"Edit"</button>
                    <ConfirmButton label="Delete" question=format!("Delete pool {name}?")
                        on_confirm=move || { change.dispatch(Change::Delete(delete_name.clone())); }/>
                </div>
            </div>
            {p.last_error.clone().map(|e| {
                let retry = p.retry_at_ms.map(|t| format!(" It asks again at {} UTC.", format::utc_time(t))).unwrap_or_default();
                view! { <div class="alert alert-bad" role="alert">{format!("{} failure(s) in a row; the last: {e}.{retry}", p.failures)}</div> }
            })}
            <div class="pool-facts">
                <dl class="facts">
                    <dt>"Provider"</dt><dd><code class="mono">{provider}</code></dd>
                    <dt>"Labels of its hosts"</dt><dd>{labels}</dd>
                    <dt>"One new host"</dt><dd>{format!("{} CPUs, {}", format::cpus(p.cpu_millis as i64), format::bytes(p.memory_bytes as i64))}</dd>
                    <dt>"Retired after"</dt><dd>{format!("{} s idle", p.idle_secs)}</dd>
                    <dt>"A new host may take"</dt><dd>{format!("{} s to answer", p.boot_timeout_secs)}</dd>
                </dl>
                <div>
                    <div class="field-label">{format!("Hosts: {alive} (min {}, max {})", p.min_hosts, p.max_hosts)}
                        {(leaving > 0).then(|| format!(" · {leaving} being destroyed"))}</div>
                    <CapacityBar label=format!("Hosts of pool {} against its max", p.name) used=alive as f64 total=p.max_hosts as f64
                        text=format!("{alive} of {}", p.max_hosts)/>
                    <p class="muted small">{format!("{} replica(s) waiting for this pool", p.waiting)}</p>
                </div>
            </div>
            <PoolHosts pool=p.name.clone() hosts=p.hosts.clone() change/>
        </section>
    }
}

#[component]
fn PoolHosts(
    pool: String,
    hosts: Vec<PoolHostView>,
    change: Action<Change, Result<String, AppError>>,
) -> impl IntoView {
    if hosts.is_empty() {
        return view! { <p class="muted">"No host now: one is made when a replica waits for this pool."</p> }.into_any();
    }
    view! {
        <DataTable class="pool-hosts" caption=format!("Hosts of pool {pool}") cols=vec![
            Col::text("Host"),
            Col::text("State"),
            Col::num("Replicas"),
            Col::text("Requested"),
            Col::text(""),
        ]>
            {hosts.into_iter().map(|h| view! { <PoolHostRow pool=pool.clone() h change/> }).collect_view()}
        </DataTable>
    }
    .into_any()
}

#[component]
fn PoolHostRow(
    pool: String,
    h: PoolHostView,
    change: Action<Change, Result<String, AppError>>,
) -> impl IntoView {
    let secs = h.state_for_ms / 1000;
    let state_words = match h.state {
        PoolHostState::Ready => match h.idle_for_ms {
            Some(ms) if h.replicas == 0 => format!("idle for {} s", ms / 1000),
            Some(ms) => format!("its replicas fit elsewhere ({} s)", ms / 1000),
            None => format!("up {}", format::duration_words(h.state_for_ms)),
        },
        s => format!("{s} ({secs} s)"),
    };
    let name = h.name.clone();
    let row_name = h.name.clone();
    let host = if h.registered {
        view! { <A href=format!("/hosts/{}", h.name) attr:class="cell-title">{h.name.clone()}</A> }
            .into_any()
    } else {
        view! { <span class="cell-title">{h.name.clone()}</span> }.into_any()
    };
    let retire = (h.state == PoolHostState::Ready).then(|| {
        let (pool, host) = (pool.clone(), name.clone());
        view! {
            <ConfirmButton label="Retire" question=format!("Retire {name}? Its replicas move, then it is destroyed.")
                on_confirm=move || { change.dispatch(Change::Retire { pool: pool.clone(), host: host.clone() }); }/>
        }
    });
    view! {
        <tr data-pool-host=row_name data-state=h.state.as_str()>
            <th scope="row">
                {host}
                {h.endpoint.clone().map(|e| view! { <div class="muted small mono">{e}</div> })}
            </th>
            <td>
                <Badge tone=h.state.tone() label=h.state.as_str()/>
                <div class="small muted">{state_words}</div>
                {h.last_error.clone().map(|e| view! { <div class="host-error small">{e}</div> })}
            </td>
            <td class="num">{h.replicas}</td>
            <td class="nowrap">{format!("{} UTC", format::utc_time(h.requested_at_ms))}</td>
            <td>{retire}</td>
        </tr>
    }
}

fn input_of(p: &PoolView) -> PoolInput {
    PoolInput {
        name: p.name.clone(),
        provider: p.provider.clone(),
        labels: p.labels.clone(),
        cpu_millis: p.cpu_millis,
        memory_bytes: p.memory_bytes,
        min_hosts: p.min_hosts,
        max_hosts: p.max_hosts,
        idle_secs: p.idle_secs,
        boot_timeout_secs: p.boot_timeout_secs,
    }
}

/// The fields of the pool form, as typed.
#[derive(Clone, Copy)]
struct Fields {
    name: RwSignal<String>,
    command: RwSignal<String>,
    args: RwSignal<String>,
    labels: RwSignal<String>,
    cpus: RwSignal<String>,
    memory: RwSignal<String>,
    min: RwSignal<String>,
    max: RwSignal<String>,
    idle: RwSignal<String>,
    boot: RwSignal<String>,
}

impl Fields {
    fn new() -> Fields {
        let s = |v: &str| RwSignal::new(v.to_string());
        Fields {
            name: s(""),
            command: s(""),
            args: s(""),
            labels: s(""),
            cpus: s("2"),
            memory: s("4GiB"),
            min: s("0"),
            max: s("5"),
            idle: s("600"),
            boot: s("600"),
        }
    }

    fn fill(&self, p: &PoolInput) {
        let Provider::Command { command, args } = &p.provider;
        self.name.set(p.name.clone());
        self.command.set(command.clone());
        self.args.set(args_words(args));
        self.labels.set(validate::format_labels(&p.labels));
        self.cpus.set(format::cpus(p.cpu_millis as i64));
        self.memory.set(memory_words(p.memory_bytes));
        self.min.set(p.min_hosts.to_string());
        self.max.set(p.max_hosts.to_string());
        self.idle.set(p.idle_secs.to_string());
        self.boot.set(p.boot_timeout_secs.to_string());
    }

    /// The pool as typed, checked by the same rules as the server's.
    fn read(&self) -> Result<PoolInput, String> {
        let number = |what: &str, s: RwSignal<String>| {
            s.get_untracked()
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{what} must be a whole number"))
        };
        let input = PoolInput {
            name: self.name.get_untracked().trim().to_string(),
            provider: Provider::Command {
                command: self.command.get_untracked().trim().to_string(),
                args: parse_args(&self.args.get_untracked())?,
            },
            labels: validate::parse_labels(&self.labels.get_untracked())?,
            cpu_millis: u64::from(validate::parse_cpus(&self.cpus.get_untracked())?),
            memory_bytes: validate::parse_bytes(&self.memory.get_untracked())?,
            min_hosts: number("Min hosts", self.min)?.min(u64::from(u32::MAX)) as u32,
            max_hosts: number("Max hosts", self.max)?.min(u64::from(u32::MAX)) as u32,
            idle_secs: number("Idle time", self.idle)?,
            boot_timeout_secs: number("Time to answer", self.boot)?,
        };
        validate::pool(&input)?;
        Ok(input)
    }
}

#[component]
fn PoolForm(
    change: Action<Change, Result<String, AppError>>,
    editing: RwSignal<Option<PoolInput>>,
) -> impl IntoView {
    let f = Fields::new();
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(p) = editing.get() {
            f.fill(&p);
        }
    });
    let new = move || editing.with(|e| e.is_none());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match f.read() {
            Err(why) => problem.set(Some(why)),
            Ok(input) => {
                problem.set(None);
                change.dispatch(Change::Save { input, new: new() });
            }
        }
    };
    let field = |label: &'static str,
                 name: &'static str,
                 hint: &'static str,
                 value: RwSignal<String>| {
        view! {
            <label class="field">
                <span class="field-label">{label}</span>
                <input type="text" name=name placeholder=hint autocomplete="off" bind:value=value/>
            </label>
        }
    };
    view! {
        <section class="panel">
            <h2>{move || if new() { "Add a pool".to_string() } else { format!("Change pool {}", f.name.get()) }}</h2>
            <p class="muted small">"Berth runs the provider command directly (no shell) with a JSON request on stdin: "<code>"{\"action\":\"create\",\"pool\":…,\"name\":…}"</code>" answered by "<code>"{\"endpoint\":\"tcp://…\",\"address\":\"…\",\"tls\":{…}}"</code>", and "<code>"{\"action\":\"destroy\",…}"</code>". Its environment is clean: credentials belong in its own files."</p>
            <form class="form" on:submit=submit novalidate aria-label="Pool">
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Name"</span>
                        <input type="text" name="pool-name" placeholder="burst" autocomplete="off" bind:value=f.name disabled=move || !new()/>
                    </label>
                    <label class="field field-wide">
                        <span class="field-label">"Provider command (absolute path)"</span>
                        <input type="text" name="pool-command" placeholder="/usr/local/bin/make-host" autocomplete="off" bind:value=f.command/>
                    </label>
                    {field("Arguments", "pool-args", "--zone a  (or [\"a b\", \"c\"])", f.args)}
                    {field("Labels of its hosts", "pool-labels", "pool=burst, zone=a", f.labels)}
                </div>
                <div class="form-row">
                    {field("CPUs of one host", "pool-cpus", "2", f.cpus)}
                    {field("Memory of one host", "pool-memory", "4GiB", f.memory)}
                    {field("Min hosts", "pool-min", "0", f.min)}
                    {field("Max hosts", "pool-max", "5", f.max)}
                    {field("Retire after idle (s)", "pool-idle", "600", f.idle)}
                    {field("Time to answer (s)", "pool-boot", "600", f.boot)}
                </div>
                <div class="row-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || change.pending().get()>
                        {move || match (change.pending().get(), new()) {
                            (true, _) => "Saving…",
                            (false, true) => "Add pool",
                            (false, false) => "Save pool",
                        }}
                    </button>
                    <Show when=move || !new()>
                        <button type="button" class="btn" on:click=move |_| { editing.set(None); f.fill(&blank()); }>"Cancel"</button>
                    </Show>
                </div>
            </form>
            {move || problem.get().map(|p| view! { <div class="alert alert-bad" role="alert">{p}</div> })}
        </section>
    }
}

/// Arguments as the form shows them: words, or a JSON array when one holds a space
/// or is empty (so that saving the form again keeps them as they were).
fn args_words(args: &[String]) -> String {
    if args
        .iter()
        .any(|a| a.is_empty() || a.contains(char::is_whitespace))
    {
        serde_json::to_string(args).unwrap_or_default()
    } else {
        args.join(" ")
    }
}

/// Words, or a JSON array of strings.
fn parse_args(text: &str) -> Result<Vec<String>, String> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .map_err(|e| format!("arguments: write words, or a JSON array of strings ({e})"))
    } else {
        validate::parse_words(text)
    }
}

/// Memory as the form shows it, exactly: `4GiB`, `1536MiB`, or bytes.
fn memory_words(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match bytes {
        b if b % GIB == 0 => format!("{}GiB", b / GIB),
        b if b % MIB == 0 => format!("{}MiB", b / MIB),
        b => b.to_string(),
    }
}

/// The form's values for a new pool.
fn blank() -> PoolInput {
    PoolInput {
        name: String::new(),
        provider: Provider::Command {
            command: String::new(),
            args: vec![],
        },
        labels: Default::default(),
        cpu_millis: 2000,
        memory_bytes: 4 << 30,
        min_hosts: 0,
        max_hosts: 5,
        idle_secs: 600,
        boot_timeout_secs: 600,
    }
}
