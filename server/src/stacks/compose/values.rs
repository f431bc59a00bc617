//! One Compose service's values onto a Berth spec: image and command, the
//! environment (with `env_file`s), the port and its route, replicas, resources,
//! the update and restart policies, placement, the health check, named volumes
//! and secrets. What is taken differently from Compose is noted as adapted.

use std::collections::BTreeMap;

use docker_compose_types as dc;
use domain::validate;
use domain::wire::{
    Balance, EnvValue, FailureAction, HealthCheck, KeyVerdict, ProxyConfig, RestartPolicy,
    SecretRef, ServiceSpec, UpdateOrder, VolumeScope, VolumeSpec,
};

use super::{Extra, Notes, StackError};

/// Maps one service, noting as it goes.
pub(super) struct Mapper<'a, 'n> {
    pub name: &'a str,
    pub compose: &'a dc::Compose,
    pub extra: &'a Extra,
    pub files: &'a BTreeMap<String, String>,
    pub notes: &'a mut Notes<'n>,
}

type Mapped = (u32, ServiceSpec, ProxyConfig);

impl Mapper<'_, '_> {
    fn at(&self, key: &str) -> String {
        format!("services.{}.{key}", self.name)
    }

    fn fail(&self, key: &str, message: impl std::fmt::Display) -> StackError {
        self.notes.error(&self.at(key), message)
    }

    pub fn service(&mut self, s: &dc::Service) -> Result<Mapped, StackError> {
        let image = s
            .image
            .clone()
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| {
                self.fail(
                    "image",
                    "a service needs an image (Berth runs images, it builds none)",
                )
            })?;
        let mut spec: ServiceSpec = serde_json::from_value(serde_json::json!({ "image": image }))
            .map_err(|e| self.fail("image", e))?;
        spec.command = words(s.entrypoint.as_ref().map(|e| match e {
            dc::Entrypoint::Simple(t) => Words::Text(t),
            dc::Entrypoint::List(l) => Words::List(l),
        }))
        .map_err(|e| self.fail("entrypoint", e))?;
        spec.args = words(s.command.as_ref().map(|c| match c {
            dc::Command::Simple(t) => Words::Text(t),
            dc::Command::Args(l) => Words::List(l),
        }))
        .map_err(|e| self.fail("command", e))?;
        spec.env = self.environment(s)?;
        self.secrets(&mut spec.env)?;
        spec.port = self.ports(&s.ports)?;
        spec.health = self.health(s.healthcheck.as_ref())?;
        spec.restart = self.restart(s)?;
        spec.volumes = self.volumes(&s.volumes)?;
        let mut replicas = if s.scale > 0 { s.scale as u32 } else { 1 };
        self.resources(s, &mut spec)?;
        if let Some(d) = &s.deploy {
            if let Some(n) = d.replicas {
                replicas = u32::try_from(n)
                    .map_err(|_| self.fail("deploy.replicas", "must be 0 or more"))?;
            }
            self.update(d.update_config.as_ref(), replicas, &mut spec)?;
            if let Some(p) = &d.placement {
                spec.placement.constraints = p
                    .constraints
                    .iter()
                    .map(|c| self.constraint(c))
                    .collect::<Result<_, _>>()?;
            }
        }
        if let Some(order) = &self.extra.order {
            spec.update.order = Some(match order.as_str() {
                "start-first" => UpdateOrder::StartFirst,
                "stop-first" => UpdateOrder::StopFirst,
                other => {
                    return Err(self.fail(
                        "deploy.update_config.order",
                        format!("{other:?} is neither start-first nor stop-first"),
                    ))
                }
            });
        }
        let proxy = self.proxy(s)?;
        Ok((replicas, spec, proxy))
    }

    fn environment(&mut self, s: &dc::Service) -> Result<BTreeMap<String, EnvValue>, StackError> {
        let mut env = BTreeMap::new();
        for (path, required) in &self.extra.env_files {
            match self.files.get(path) {
                Some(text) => {
                    for (k, v) in env_file(text).map_err(|e| self.fail("env_file", format!("{path}: {e}")))? {
                        env.insert(k, EnvValue::Plain(v));
                    }
                }
                None if *required => self.notes.add(
                    self.at("env_file"),
                    KeyVerdict::Refused,
                    format!("{path} was not sent with the file (the CLI sends the files beside it; on the page, upload it with the file)"),
                ),
                None => {}
            }
        }
        let pairs: Vec<(String, Option<String>)> = match &s.environment {
            dc::Environment::List(items) => items
                .iter()
                .map(|i| match i.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (i.clone(), None),
                })
                .collect(),
            dc::Environment::KvPair(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.to_string())))
                .collect(),
        };
        for (k, v) in pairs {
            match v {
                Some(v) => {
                    env.insert(k, EnvValue::Plain(v));
                }
                None => self.notes.add(
                    format!("{}.{k}", self.at("environment")),
                    KeyVerdict::Refused,
                    "no value: Compose would take it from the shell, Berth reads no one's shell; write the value or use a secret",
                ),
            }
        }
        Ok(env)
    }

    /// Berth's secrets are the team's, given as environment variables.
    fn secrets(&mut self, env: &mut BTreeMap<String, EnvValue>) -> Result<(), StackError> {
        let list = self.extra.secrets.clone();
        for (source, target) in list {
            let secret = self.secret_name(&source);
            let var = target
                .filter(|t| !t.contains('/'))
                .unwrap_or_else(|| source.to_ascii_uppercase().replace(['-', '.'], "_"));
            validate::env_key(&var).map_err(|e| self.fail("secrets", e))?;
            self.notes.add(
                format!("{}.{source}", self.at("secrets")),
                KeyVerdict::Adapted,
                format!("Berth gives a secret as an environment variable: ${var} holds the team's secret {secret} (no file in /run/secrets)"),
            );
            env.insert(
                var,
                EnvValue::Secret(SecretRef {
                    secret,
                    version: None,
                }),
            );
        }
        Ok(())
    }

    /// The team secret a Compose secret stands for: its external `name`, else
    /// its key.
    fn secret_name(&self, source: &str) -> String {
        let top = self.compose.secrets.as_ref().and_then(|s| s.0.get(source));
        match top {
            Some(Some(dc::ComposeSecret::External { name, .. })) if !name.is_empty() => {
                name.clone()
            }
            _ => source.to_string(),
        }
    }

    fn ports(&mut self, ports: &dc::Ports) -> Result<Option<u16>, StackError> {
        let list: Vec<(u16, Option<String>, String)> = match ports {
            dc::Ports::Short(items) => items
                .iter()
                .map(|p| short_port(p).map_err(|e| self.fail("ports", e)))
                .collect::<Result<_, _>>()?,
            dc::Ports::Long(items) => items
                .iter()
                .map(|p| {
                    let published = p.published.as_ref().map(|x| match x {
                        dc::PublishedPort::Single(n) => n.to_string(),
                        dc::PublishedPort::Range(r) => r.clone(),
                    });
                    (
                        p.target,
                        published,
                        p.protocol.clone().unwrap_or_else(|| "tcp".into()),
                    )
                })
                .collect(),
        };
        let mut port = None;
        for (target, published, protocol) in list {
            if protocol != "tcp" {
                self.notes.add(
                    self.at("ports"),
                    KeyVerdict::Refused,
                    format!("{target}/{protocol}: Berth's proxy carries HTTP over TCP only"),
                );
            } else if port.is_some() {
                self.notes.add(self.at("ports"), KeyVerdict::Ignored, format!("{target}: Berth publishes one port per service; this one is not reachable from outside its container"));
            } else {
                port = Some(target);
                if let Some(p) = published {
                    self.notes.add(self.at("ports"), KeyVerdict::Adapted, format!("{p}:{target}: the service is reached through Berth's proxy at {}.<domain> (and its routes); Docker picks each replica's host port, so replicas share a host", self.name));
                }
            }
        }
        Ok(port)
    }

    fn health(&self, h: Option<&dc::Healthcheck>) -> Result<Option<HealthCheck>, StackError> {
        let Some(h) = h.filter(|h| !h.disable) else {
            return Ok(None);
        };
        let command = match &h.test {
            None => return Err(self.fail("healthcheck.test", "a health check needs a test")),
            Some(dc::HealthcheckTest::Single(s)) => shell(s),
            Some(dc::HealthcheckTest::Multiple(list)) => match list.split_first() {
                Some((first, _)) if first == "NONE" => return Ok(None),
                Some((first, rest)) if first == "CMD" => rest.to_vec(),
                Some((first, rest)) if first == "CMD-SHELL" => shell(&rest.join(" ")),
                _ => {
                    return Err(self.fail(
                        "healthcheck.test",
                        "write [\"CMD\", …], [\"CMD-SHELL\", \"…\"] or [\"NONE\"]",
                    ))
                }
            },
        };
        let mut check: HealthCheck =
            serde_json::from_value(serde_json::json!({"kind": "command", "command": command}))
                .map_err(|e| self.fail("healthcheck.test", e))?;
        let ms = |key: &str, v: &Option<String>, default: u64| -> Result<u64, StackError> {
            v.as_deref().map_or(Ok(default), |t| {
                duration_ms(t).map_err(|e| self.fail(&format!("healthcheck.{key}"), e))
            })
        };
        check.interval_ms = ms("interval", &h.interval, check.interval_ms)?;
        check.timeout_ms = ms("timeout", &h.timeout, check.timeout_ms)?;
        check.start_period_ms = ms("start_period", &h.start_period, check.start_period_ms)?;
        if h.retries > 0 {
            check.retries = u32::try_from(h.retries)
                .map_err(|_| self.fail("healthcheck.retries", "too many"))?;
        }
        Ok(Some(check))
    }

    fn restart(&self, s: &dc::Service) -> Result<RestartPolicy, StackError> {
        let condition = s
            .deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
            .and_then(|r| r.condition.clone());
        let word = condition
            .clone()
            .or_else(|| s.restart.clone())
            .unwrap_or_else(|| "always".into());
        let key = if condition.is_some() {
            "deploy.restart_policy.condition"
        } else {
            "restart"
        };
        match word.split(':').next().unwrap_or("") {
            "always" | "any" | "unless-stopped" => Ok(RestartPolicy::Always),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "no" | "none" => Ok(RestartPolicy::Never),
            other => Err(self.fail(key, format!("{other:?}: write always, on-failure or no"))),
        }
    }

    fn volumes(&mut self, list: &[dc::Volumes]) -> Result<Vec<VolumeSpec>, StackError> {
        let mut out = Vec::new();
        for v in list {
            let (source, target, read_only, kind) = match v {
                dc::Volumes::Simple(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    match parts.as_slice() {
                        [t] => (None, t.to_string(), false, "volume"),
                        [s, t] => (Some(s.to_string()), t.to_string(), false, "volume"),
                        [s, t, mode] => (
                            Some(s.to_string()),
                            t.to_string(),
                            mode.split(',').any(|m| m == "ro"),
                            "volume",
                        ),
                        _ => {
                            return Err(
                                self.fail("volumes", format!("{s:?} is not source:target[:mode]"))
                            )
                        }
                    }
                }
                dc::Volumes::Advanced(a) => (
                    a.source.clone(),
                    a.target.clone(),
                    a.read_only,
                    a._type.as_str(),
                ),
            };
            let bind = source
                .as_deref()
                .is_some_and(|s| s.starts_with(['/', '.', '~']));
            let Some(name) = source.filter(|_| kind == "volume" && !bind) else {
                let (verdict, why) = match (kind, bind) {
                    ("tmpfs", _) => (KeyVerdict::Ignored, "Berth mounts no tmpfs".to_string()),
                    (_, true) | ("bind", _) => (
                        KeyVerdict::Refused,
                        "Berth never mounts a path of its hosts into a replica: use a named volume"
                            .into(),
                    ),
                    _ => (
                        KeyVerdict::Refused,
                        "an anonymous volume: give it a name so that Berth can keep it".into(),
                    ),
                };
                self.notes
                    .add(format!("{}.{target}", self.at("volumes")), verdict, why);
                continue;
            };
            out.push(self.named_volume(&name, &target, read_only)?);
        }
        Ok(out)
    }

    /// A named volume, with what the file's top-level entry says about it.
    fn named_volume(
        &self,
        name: &str,
        path: &str,
        read_only: bool,
    ) -> Result<VolumeSpec, StackError> {
        let top = self.compose.volumes.0.get(name).and_then(|v| match v {
            dc::MapOrEmpty::Map(m) => Some(m),
            dc::MapOrEmpty::Empty => None,
        });
        let label = |k: &str| top.and_then(|t| label_value(&t.labels, k));
        let scope = match label("berth.scope").as_deref() {
            None | Some("shared") => VolumeScope::Shared,
            Some("per-replica") => VolumeScope::PerReplica,
            Some(other) => {
                return Err(self.fail(
                    "volumes",
                    format!(
                        "volume {name}: berth.scope {other:?} is neither shared nor per-replica"
                    ),
                ))
            }
        };
        let mut spec: VolumeSpec =
            serde_json::from_value(serde_json::json!({"name": name, "path": path}))
                .map_err(|e| self.fail("volumes", e))?;
        spec.read_only = read_only;
        spec.scope = scope;
        spec.class = label("berth.class");
        if let Some(t) = top {
            if let Some(d) = &t.driver {
                spec.driver = d.clone();
            }
            spec.options = t
                .driver_opts
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    )
                })
                .collect();
        }
        Ok(spec)
    }

    fn resources(&self, s: &dc::Service, spec: &mut ServiceSpec) -> Result<(), StackError> {
        let cpus = |key: &str, t: &str| validate::parse_cpus(t).map_err(|e| self.fail(key, e));
        let bytes = |key: &str, t: &str| validate::parse_bytes(t).map_err(|e| self.fail(key, e));
        let r = &mut spec.resources;
        if let Some(t) = &self.extra.cpus {
            r.cpu_limit_millis = cpus("cpus", t)?;
        }
        if let Some(t) = &s.mem_limit {
            r.memory_limit_bytes = bytes("mem_limit", t)?;
        }
        if let Some(t) = &s.mem_reservation {
            r.memory_bytes = bytes("mem_reservation", t)?;
        }
        let Some(res) = s.deploy.as_ref().and_then(|d| d.resources.as_ref()) else {
            return Ok(());
        };
        if let Some(l) = &res.limits {
            if let Some(t) = &l.cpus {
                r.cpu_limit_millis = cpus("deploy.resources.limits.cpus", t)?;
            }
            if let Some(t) = &l.memory {
                r.memory_limit_bytes = bytes("deploy.resources.limits.memory", t)?;
            }
        }
        if let Some(l) = &res.reservations {
            if let Some(t) = &l.cpus {
                r.cpu_millis = cpus("deploy.resources.reservations.cpus", t)?;
            }
            if let Some(t) = &l.memory {
                r.memory_bytes = bytes("deploy.resources.reservations.memory", t)?;
            }
        }
        Ok(())
    }

    fn update(
        &self,
        u: Option<&dc::UpdateConfig>,
        replicas: u32,
        spec: &mut ServiceSpec,
    ) -> Result<(), StackError> {
        let Some(u) = u else { return Ok(()) };
        let key = |k: &str| format!("deploy.update_config.{k}");
        if let Some(n) = u.parallelism {
            // Swarm's 0 is "all at once".
            let n = u32::try_from(n)
                .map_err(|_| self.fail(&key("parallelism"), "must be 0 or more"))?;
            spec.update.batch_size = Some(if n == 0 { replicas.max(1) } else { n });
        }
        if let Some(t) = &u.delay {
            spec.update.delay_ms = duration_ms(t).map_err(|e| self.fail(&key("delay"), e))?;
        }
        if let Some(t) = &u.monitor {
            spec.update.monitor_ms = duration_ms(t).map_err(|e| self.fail(&key("monitor"), e))?;
        }
        if let Some(a) = &u.failure_action {
            spec.update.failure_action = match a.as_str() {
                "rollback" => FailureAction::Rollback,
                "pause" => FailureAction::Pause,
                other => return Err(self.fail(&key("failure_action"), format!("{other:?}: Berth never goes on with a failing rollout; write rollback or pause"))),
            };
        }
        Ok(())
    }

    /// Swarm's `node.labels.zone==a` as Berth's `zone=a`.
    fn constraint(&self, c: &str) -> Result<validate::Constraint, StackError> {
        let key = "deploy.placement.constraints";
        let (k, op, v) = if let Some((k, v)) = c.split_once("==") {
            (k.trim(), "=", v.trim())
        } else if let Some((k, v)) = c.split_once("!=") {
            (k.trim(), "!=", v.trim())
        } else {
            return Err(self.fail(key, format!("{c:?}: write node.labels.KEY==VALUE or !=")));
        };
        let Some(label) = k.strip_prefix("node.labels.") else {
            return Err(self.fail(key, format!("{c:?}: Berth places by host labels only (node.labels.*); give the hosts a label")));
        };
        validate::constraint(&format!("{label}{op}{v}")).map_err(|e| self.fail(key, e))
    }

    /// Routes and balancing from `berth.*` labels; other labels are noted.
    fn proxy(&mut self, s: &dc::Service) -> Result<ProxyConfig, StackError> {
        let mut labels = labels_of(&s.labels);
        if let Some(d) = &s.deploy {
            labels.extend(labels_of(&dc::Labels::List(d.labels.clone())));
        }
        let mut proxy = ProxyConfig::default();
        for (k, v) in labels {
            match k.as_str() {
                "berth.route" => proxy.routes.extend(validate::parse_routes(&v.replace(',', "\n")).map_err(|e| self.fail("labels", e))?),
                "berth.balance" => proxy.balance = match v.as_str() {
                    "round_robin" => Balance::RoundRobin,
                    "least_in_flight" => Balance::LeastInFlight,
                    other => return Err(self.fail("labels", format!("berth.balance {other:?}: write round_robin or least_in_flight"))),
                },
                "berth.expose" => {
                    proxy.expose = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(self.fail(
                                "labels",
                                format!("berth.expose {other:?}: write true or false"),
                            ))
                        }
                    }
                }
                _ => self.notes.add(format!("{}.{k}", self.at("labels")), KeyVerdict::Ignored, "Berth puts its own labels on containers; only berth.route, berth.balance and berth.expose mean something to it"),
            }
        }
        Ok(proxy)
    }
}

enum Words<'a> {
    Text(&'a str),
    List(&'a [String]),
}

/// A command as Compose writes it: a list, or a line split into words. A line
/// with quotes is refused rather than split wrongly (Compose splits it as a
/// shell would).
fn words(w: Option<Words>) -> Result<Vec<String>, String> {
    match w {
        None => Ok(Vec::new()),
        Some(Words::List(l)) => Ok(l.to_vec()),
        Some(Words::Text(t)) if t.contains(['"', '\'', '\\']) => Err(format!(
            "{t:?} has quotes: write it as a list, [\"sh\", \"-c\", \"…\"]"
        )),
        Some(Words::Text(t)) => Ok(t.split_whitespace().map(str::to_string).collect()),
    }
}

fn shell(line: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), line.into()]
}

fn labels_of(l: &dc::Labels) -> Vec<(String, String)> {
    match l {
        dc::Labels::List(items) => items
            .iter()
            .map(|i| match i.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (i.clone(), String::new()),
            })
            .collect(),
        dc::Labels::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

fn label_value(l: &dc::Labels, key: &str) -> Option<String> {
    labels_of(l)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `[[ip:]published:]target[/protocol]`: the target, the published part, the
/// protocol.
fn short_port(p: &str) -> Result<(u16, Option<String>, String), String> {
    let (ports, protocol) = p.split_once('/').unwrap_or((p, "tcp"));
    let (published, target) = match ports.rsplit_once(':') {
        Some((front, t)) => (
            Some(front.rsplit(':').next().unwrap_or(front).to_string()),
            t,
        ),
        None => (None, ports),
    };
    let target: u16 = target.parse().map_err(|_| {
        format!("{p:?}: the container port must be one number (Berth publishes one port)")
    })?;
    Ok((target, published, protocol.to_string()))
}

/// Compose's durations: `1m30s`, `10s`, `500ms`, `1h`.
pub(super) fn duration_ms(t: &str) -> Result<u64, String> {
    let t = t.trim();
    let mut total = 0u64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| digits + i);
        total += validate::parse_duration_ms(&rest[..unit_end])
            .map_err(|_| format!("invalid duration {t:?}: write e.g. 30s, 1m30s or 500ms"))?;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

/// An env file: `KEY=VALUE` lines, `#` comments, values optionally quoted.
pub(super) fn env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: write KEY=VALUE", i + 1))?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        validate::env_key(k.trim()).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}
