//! Services at a glance: the table (shared by the dashboard and the services page),
//! the replica strip (one square per wanted replica, coloured by how it stands),
//! and the spec fields that the create and deploy forms share.

use crate::components::tone::Tone;
use crate::components::widgets::{Col, DataTable};
use leptos::prelude::*;
use leptos_router::components::A;

use super::widgets::Badge;
use crate::validate;
use crate::wire::{
    EnvValue, FailureAction, Gates, HealthCheck, HealthProbe, ReplicaView, ServicePhase,
    ServiceSpec, ServiceView, Strategy, UpdateOrder,
};

/// How a replica looks in the strip and its badge: ok, warn, bad or muted.
pub fn replica_tone(r: &ReplicaView) -> &'static str {
    use crate::wire::{Health, ReplicaState as S};
    match r.state {
        S::Running => match r.health {
            Health::Unhealthy => "bad",
            Health::Starting => "warn",
            _ => "ok",
        },
        S::Pulling | S::Starting | S::Created | S::Restarting => "warn",
        S::Waiting | S::Unknown | S::Paused => "muted",
        S::Exited | S::Dead | S::Removing | S::Failed => "bad",
    }
}

/// One square per replica slot, coloured by how it stands, with a text equivalent.
#[component]
pub fn ReplicaStrip(service: ServiceView) -> impl IntoView {
    // The replica a slot shows: the newest of the current revision, else the newest.
    let mut by_slot: std::collections::BTreeMap<u32, &ReplicaView> = Default::default();
    for r in &service.instances {
        let better = by_slot.get(&r.slot).is_none_or(|old| {
            (r.revision == service.revision, r.created_at_ms)
                > (old.revision == service.revision, old.created_at_ms)
        });
        if better {
            by_slot.insert(r.slot, r);
        }
    }
    let cells: Vec<(u32, &'static str, String)> = by_slot
        .values()
        .map(|r| {
            (
                r.slot,
                replica_tone(r),
                format!("replica {}: {} ({})", r.slot, r.state, r.health.as_str()),
            )
        })
        .collect();
    let size = 12;
    let gap = 3;
    let per_row = 25usize;
    let rows = cells.len().div_ceil(per_row).max(1);
    let width = (cells.len().clamp(1, per_row) * (size + gap)) as i32;
    let height = (rows * (size + gap)) as i32;
    let label = format!("{} of {} replicas ready", service.healthy, service.replicas);
    view! {
        <svg class="strip" width=width height=height viewBox=format!("0 0 {width} {height}") role="img" aria-label=label>
            {cells
                .into_iter()
                .enumerate()
                .map(|(i, (slot, tone, title))| {
                    let x = (i % per_row) * (size + gap);
                    let y = (i / per_row) * (size + gap);
                    view! {
                        <rect class=format!("strip-{tone}") x=x y=y width=size height=size rx="2" data-slot=slot>
                            <title>{title}</title>
                        </rect>
                    }
                })
                .collect_view()}
        </svg>
    }
}

/// Ready of wanted, as a bar.
#[component]
pub fn ReadyBar(healthy: u32, wanted: u32) -> impl IntoView {
    let pct = if wanted == 0 {
        100.0
    } else {
        (f64::from(healthy) / f64::from(wanted) * 100.0).clamp(0.0, 100.0)
    };
    let tone = if healthy >= wanted {
        "ok"
    } else if healthy == 0 {
        "bad"
    } else {
        "warn"
    };
    let text = format!("{healthy} / {wanted}");
    let shown = text.clone();
    view! {
        <div class="capacity">
            <div class="bar" role="meter" aria-label="Replicas ready" aria-valuemin="0"
                aria-valuemax=wanted.to_string() aria-valuenow=healthy.to_string() aria-valuetext=format!("{healthy} of {wanted} ready")>
                <div class=format!("bar-fill bar-{tone}") style=format!("width:{pct:.1}%")></div>
            </div>
            <span class="capacity-text" data-ready=text>{shown}</span>
        </div>
    }
}

pub fn phase_badge(phase: ServicePhase) -> impl IntoView {
    view! { <Badge tone=phase.tone() label=phase.as_str()/> }
}

/// One row per service.
#[component]
pub fn ServiceTable(services: Vec<ServiceView>) -> impl IntoView {
    if services.is_empty() {
        return view! { <p class="muted">"No service yet."</p> }.into_any();
    }
    view! {
        <DataTable class="services" caption="Services" cols=vec![
            Col::text("Service"),
            Col::text("State"),
            Col::text("Ready"),
            Col::text("Replicas"),
            Col::text("Image"),
            Col::text("Team"),
            Col::num("Revision"),
        ]>
            {services.into_iter().map(|s| {
                let href = format!("/services/{}", s.name);
                let problem = s.problems.first().cloned().or(s.last_error.clone());
                let name = s.name.clone();
                let title = s.name.clone();
                view! {
                    <tr data-service=name data-phase=s.phase.as_str()>
                        <th scope="row">
                            <A href=href attr:class="cell-title">{title}</A>
                            {problem.map(|p| view! { <div class="small bad-text">{p}</div> })}
                        </th>
                        <td>{phase_badge(s.phase)}</td>
                        <td class="cell-bar"><ReadyBar healthy=s.healthy wanted=s.replicas/></td>
                        <td><ReplicaStrip service=s.clone()/></td>
                        <td class="mono small">{s.spec.image.clone()}</td>
                        <td>{s.team.clone()}</td>
                        <td class="num">{s.revision}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}

/// The spec as a form edits it: text as typed, turned into a spec on submit.
#[derive(Clone, Copy)]
pub struct SpecForm {
    pub image: RwSignal<String>,
    pub port: RwSignal<String>,
    pub args: RwSignal<String>,
    pub env: RwSignal<String>,
    pub health_path: RwSignal<String>,
    pub cpu: RwSignal<String>,
    pub memory: RwSignal<String>,
    pub memory_limit: RwSignal<String>,
    pub constraints: RwSignal<String>,
    pub strategy: RwSignal<String>,
    pub surge: RwSignal<String>,
    pub unavailable: RwSignal<String>,
    pub batch: RwSignal<String>,
    pub delay: RwSignal<String>,
    pub order: RwSignal<String>,
    pub monitor: RwSignal<String>,
    pub failure: RwSignal<String>,
    pub deadline: RwSignal<String>,
    pub gate_errors: RwSignal<String>,
    pub gate_p99: RwSignal<String>,
    pub gate_window: RwSignal<String>,
    pub canary: RwSignal<String>,
    pub volumes: RwSignal<String>,
}

impl SpecForm {
    /// A form filled from `spec`.
    pub fn from_spec(spec: &ServiceSpec) -> SpecForm {
        let bytes = |b: u64| match b {
            0 => String::new(),
            b if b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
            b if b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
            b => b.to_string(),
        };
        let gates = spec.update.gates.as_ref();
        SpecForm {
            image: RwSignal::new(spec.image.clone()),
            port: RwSignal::new(spec.port.map(|p| p.to_string()).unwrap_or_default()),
            args: RwSignal::new(spec.args.join(" ")),
            env: RwSignal::new(
                spec.env
                    .iter()
                    .map(|(k, v)| validate::format_env(k, v))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            health_path: RwSignal::new(match spec.health.as_ref().map(|h| &h.probe) {
                Some(HealthProbe::Http { path }) => path.clone(),
                _ => String::new(),
            }),
            cpu: RwSignal::new(if spec.resources.cpu_millis == 0 {
                String::new()
            } else {
                crate::format::cpus(i64::from(spec.resources.cpu_millis))
            }),
            memory: RwSignal::new(bytes(spec.resources.memory_bytes)),
            memory_limit: RwSignal::new(bytes(spec.resources.memory_limit_bytes)),
            constraints: RwSignal::new(validate::format_constraints(&spec.placement.constraints)),
            strategy: RwSignal::new(match spec.placement.strategy {
                Strategy::Spread => "spread".into(),
                Strategy::Binpack => "binpack".into(),
            }),
            surge: RwSignal::new(spec.update.max_surge.to_string()),
            unavailable: RwSignal::new(spec.update.max_unavailable.to_string()),
            batch: RwSignal::new(
                spec.update
                    .batch_size
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
            ),
            delay: RwSignal::new(validate::format_duration_ms(spec.update.delay_ms)),
            order: RwSignal::new(
                spec.update
                    .order
                    .map(|o| o.as_str().to_string())
                    .unwrap_or_default(),
            ),
            monitor: RwSignal::new(validate::format_duration_ms(spec.update.monitor_ms)),
            failure: RwSignal::new(spec.update.failure_action.as_str().into()),
            deadline: RwSignal::new(validate::format_duration_ms(spec.update.deadline_ms)),
            gate_errors: RwSignal::new(
                gates
                    .and_then(|g| g.max_error_rate)
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            ),
            gate_p99: RwSignal::new(
                gates
                    .and_then(|g| g.max_p99_ms)
                    .map(validate::format_duration_ms)
                    .unwrap_or_default(),
            ),
            gate_window: RwSignal::new(
                gates
                    .map(|g| validate::format_duration_ms(g.window_ms))
                    .unwrap_or_default(),
            ),
            canary: RwSignal::new(
                spec.update
                    .canary
                    .as_ref()
                    .map(validate::format_canary)
                    .unwrap_or_default(),
            ),
            volumes: RwSignal::new(
                spec.volumes
                    .iter()
                    .map(validate::format_volume)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }

    /// `base` with what the form holds, checked as the server checks it.
    pub fn to_spec(self, base: &ServiceSpec) -> Result<ServiceSpec, String> {
        let mut spec = base.clone();
        spec.image = self.image.get_untracked().trim().to_string();
        let port = self.port.get_untracked();
        spec.port = match port.trim() {
            "" => None,
            p => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("invalid container port {p:?}: use a number from 1 to 65535")
            })?),
        };
        spec.args = validate::parse_words(&self.args.get_untracked())?;
        spec.env = validate::parse_env(&self.env.get_untracked())?;
        // A secret kept as it was keeps the version the service runs with.
        for (k, v) in spec.env.iter_mut() {
            if let (EnvValue::Secret(new), Some(EnvValue::Secret(old))) = (v, base.env.get(k)) {
                if new.secret == old.secret {
                    new.version = old.version;
                }
            }
        }
        let path = self.health_path.get_untracked().trim().to_string();
        spec.health = if path.is_empty() {
            match &base.health {
                Some(h) if matches!(h.probe, HealthProbe::Command { .. }) => Some(h.clone()),
                _ => None,
            }
        } else {
            let mut check = match &base.health {
                Some(h) => h.clone(),
                None => serde_json::from_value::<HealthCheck>(
                    serde_json::json!({"kind": "http", "path": "/"}),
                )
                .map_err(|e| e.to_string())?,
            };
            check.probe = HealthProbe::Http { path };
            Some(check)
        };
        spec.resources.cpu_millis = validate::parse_cpus(&self.cpu.get_untracked())?;
        spec.resources.memory_bytes = validate::parse_bytes(&self.memory.get_untracked())?;
        spec.resources.memory_limit_bytes =
            validate::parse_bytes(&self.memory_limit.get_untracked())?;
        spec.placement.constraints = self
            .constraints
            .get_untracked()
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(validate::constraint)
            .collect::<Result<_, _>>()?;
        spec.placement.strategy = if self.strategy.get_untracked() == "binpack" {
            Strategy::Binpack
        } else {
            Strategy::Spread
        };
        let count = |text: String, what: &str| -> Result<u32, String> {
            let t = text.trim();
            t.parse::<u32>()
                .map_err(|_| format!("invalid {what} {t:?}: use a whole number"))
        };
        spec.update.max_surge = count(self.surge.get_untracked(), "max surge")?;
        spec.update.max_unavailable = count(self.unavailable.get_untracked(), "max unavailable")?;
        let batch = self.batch.get_untracked();
        spec.update.batch_size = match batch.trim() {
            "" => None,
            _ => Some(count(batch, "batch size")?),
        };
        spec.update.delay_ms = validate::parse_duration_ms(&self.delay.get_untracked())?;
        spec.update.order = match self.order.get_untracked().as_str() {
            "stop-first" => Some(UpdateOrder::StopFirst),
            "start-first" => Some(UpdateOrder::StartFirst),
            _ => None,
        };
        spec.volumes = validate::parse_volumes(&self.volumes.get_untracked())?;
        spec.update.monitor_ms = validate::parse_duration_ms(&self.monitor.get_untracked())?;
        spec.update.failure_action = if self.failure.get_untracked() == "pause" {
            FailureAction::Pause
        } else {
            FailureAction::Rollback
        };
        spec.update.deadline_ms = match self.deadline.get_untracked().trim() {
            "" => base.update.deadline_ms,
            d => validate::parse_duration_ms(d)?,
        };
        spec.update.gates = self.gates()?;
        spec.update.canary = validate::parse_canary(&self.canary.get_untracked())?;
        validate::service_spec(&spec)?;
        Ok(spec)
    }
}

impl SpecForm {
    /// The gates the form says: none when neither limit is filled in.
    fn gates(&self) -> Result<Option<Gates>, String> {
        let max_error_rate = validate::parse_percent(&self.gate_errors.get_untracked())?;
        // A bare number is milliseconds here (a p99 is rarely whole seconds).
        let max_p99_ms = match self.gate_p99.get_untracked().trim() {
            "" => None,
            t if t.chars().all(|c| c.is_ascii_digit()) => Some(
                t.parse::<u64>()
                    .map_err(|_| format!("invalid p99 {t:?}: write e.g. 300ms"))?,
            ),
            t => Some(validate::parse_duration_ms(t)?),
        };
        if max_error_rate.is_none() && max_p99_ms.is_none() {
            return Ok(None);
        }
        let window_ms = match self.gate_window.get_untracked().trim() {
            "" => crate::wire::defaults::gate_window(),
            t => validate::parse_duration_ms(t)?,
        };
        Ok(Some(Gates {
            max_error_rate,
            max_p99_ms,
            window_ms,
        }))
    }
}

/// A labelled one-line text field bound to `value`.
#[component]
fn TextField(
    label: &'static str,
    name: &'static str,
    placeholder: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] wide: bool,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    view! {
        <label class=if wide { "field field-wide" } else { "field" }>
            <span class="field-label">{label}</span>
            <input type="text" name=name placeholder=placeholder autocomplete="off" required=required bind:value=value/>
        </label>
    }
}

/// A labelled whole-number field bound to `value`.
#[component]
fn NumberField(
    label: &'static str,
    name: &'static str,
    min: u32,
    max: u32,
    placeholder: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span class="field-label">{label}</span>
            <input type="number" name=name min=min max=max placeholder=placeholder bind:value=value/>
        </label>
    }
}

/// The spec's fields, labelled, for a form.
/// The volume classes open to the caller's teams, under the volumes field.
#[component]
fn ClassHint() -> impl IntoView {
    let classes = LocalResource::new(crate::api::list_volume_classes);
    move || {
        let list = classes.get().and_then(Result::ok).unwrap_or_default();
        (!list.is_empty()).then(|| {
            let words: Vec<String> = list
                .iter()
                .map(|c| format!("{} ({}, {})", c.name, c.driver, c.scope.as_str()))
                .collect();
            view! { <span class="field-hint small muted" data-classes="">{format!("Classes: {}", words.join(", "))}</span> }
        })
    }
}

#[component]
pub fn SpecFields(form: SpecForm) -> impl IntoView {
    view! {
        <div class="form-row">
            <TextField label="Image" name="image" placeholder="127.0.0.1:5000/berth-demo:v1" value=form.image wide=true required=true/>
            <NumberField label="Container port" name="port" min=1 max=65535 placeholder="8080" value=form.port/>
            <TextField label="Health check path" name="health-path" placeholder="/healthz (empty: none)" value=form.health_path/>
        </div>
        <div class="form-row">
            <TextField label="CPU reserved" name="cpu" placeholder="0.25" value=form.cpu/>
            <TextField label="Memory reserved" name="memory" placeholder="64MiB" value=form.memory/>
            <TextField label="Memory limit" name="memory-limit" placeholder="none" value=form.memory_limit/>
            <label class="field">
                <span class="field-label">"Placement"</span>
                <select name="strategy" bind:value=form.strategy>
                    <option value="spread">"spread across hosts"</option>
                    <option value="binpack">"binpack (fill hosts)"</option>
                </select>
            </label>
            <TextField label="Host constraints" name="constraints" placeholder="zone=a, !gpu" value=form.constraints/>
        </div>
        <div class="form-row">
            <TextField label="Arguments" name="args" placeholder="(the image's default command)" value=form.args wide=true/>
            <label class="field field-wide">
                <span class="field-label">"Environment (KEY=value, one per line)"</span>
                <textarea name="env" rows="2" bind:value=form.env></textarea>
            </label>
        </div>
        <div class="form-row">
            <label class="field field-wide">
                <span class="field-label">"Volumes (NAME:/PATH[:ro], then shared, class=CLASS for a class's driver, or local options KEY=VALUE; one per line)"</span>
                <textarea name="volumes" rows="2" placeholder="data:/var/lib/data" bind:value=form.volumes></textarea>
                <ClassHint/>
            </label>
        </div>
        <details class="policy">
            <summary>"Rollout policy"
                <span class="muted small">{move || format!(
                    " · {}, {}, on failure {}{}{}",
                    match form.order.get().as_str() { "" => "default order".to_string(), o => o.to_string() },
                    match form.batch.get().trim() {
                        "" => format!("surge {}, unavailable {}", form.surge.get().trim(), form.unavailable.get().trim()),
                        b => format!("batches of {b}"),
                    },
                    form.failure.get(),
                    if form.gate_errors.get().trim().is_empty() && form.gate_p99.get().trim().is_empty() { "" } else { ", gated" },
                    if form.canary.get().trim().is_empty() { "" } else { ", canary" },
                )}</span>
            </summary>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Order"</span>
                    <select name="order" bind:value=form.order>
                        <option value="">"default (stop-first with per-replica volumes)"</option>
                        <option value="start-first">"start-first (new, then old goes)"</option>
                        <option value="stop-first">"stop-first (old goes, then new)"</option>
                    </select>
                </label>
                <NumberField label="Max surge" name="max-surge" min=0 max=1000 placeholder="" value=form.surge/>
                <NumberField label="Max unavailable" name="max-unavailable" min=0 max=1000 placeholder="" value=form.unavailable/>
                <NumberField label="Batch size" name="batch-size" min=1 max=1000 placeholder="no batches" value=form.batch/>
            </div>
            <div class="form-row">
                <TextField label="Delay between batches" name="delay" placeholder="none" value=form.delay/>
                <TextField label="Monitor window" name="monitor" placeholder="none" value=form.monitor/>
                <TextField label="Healthy within" name="deadline" placeholder="60s" value=form.deadline/>
                <label class="field">
                    <span class="field-label">"On failure"</span>
                    <select name="failure-action" bind:value=form.failure>
                        <option value="rollback">"roll back"</option>
                        <option value="pause">"pause"</option>
                    </select>
                </label>
            </div>
            <p class="small muted">"Gates: the new replicas' traffic through the proxy must stay within these limits over the window; a breach fails the rollout even when health checks pass."</p>
            <div class="form-row">
                <TextField label="Max error rate" name="gate-error-rate" placeholder="none (e.g. 1%)" value=form.gate_errors/>
                <TextField label="Max p99" name="gate-p99" placeholder="none (e.g. 300ms)" value=form.gate_p99/>
                <TextField label="Gate window" name="gate-window" placeholder="30s" value=form.gate_window/>
            </div>
            <p class="small muted">"Canary: new replicas start beside the old ones and take each step's share of the requests; a step without a pause holds until you promote it."</p>
            <div class="form-row">
                <TextField label="Canary steps" name="canary" placeholder="none (e.g. 10% 1m, 50%)" value=form.canary/>
            </div>
        </details>
    }
}
