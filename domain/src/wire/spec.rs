//! A service's spec and its parts, its canonical hash, and the defaults of its
//! optional fields.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// How Berth tells a replica is healthy.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HealthProbe {
    /// `GET path` on the container port answers 2xx or 3xx (Berth asks from outside,
    /// through the published port, so the image needs no tools).
    Http { path: String },
    /// A command run inside the container exits 0 (Docker's HEALTHCHECK).
    Command { command: Vec<String> },
}

/// A health check and its timing, in milliseconds. Read through
/// [`HealthCheckInput`], so that a field Berth does not know is refused.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "HealthCheckInput")]
pub struct HealthCheck {
    #[serde(flatten)]
    pub probe: HealthProbe,
    #[serde(default = "defaults::health_interval")]
    pub interval_ms: u64,
    #[serde(default = "defaults::health_timeout")]
    pub timeout_ms: u64,
    /// Failures in a row before the replica counts as unhealthy.
    #[serde(default = "defaults::health_retries")]
    pub retries: u32,
    /// Failures in this first stretch after a start do not count.
    #[serde(default = "defaults::health_start_period")]
    pub start_period_ms: u64,
}

/// A health check as written: every field named, none unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckInput {
    kind: ProbeKind,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default = "defaults::health_interval")]
    interval_ms: u64,
    #[serde(default = "defaults::health_timeout")]
    timeout_ms: u64,
    #[serde(default = "defaults::health_retries")]
    retries: u32,
    #[serde(default = "defaults::health_start_period")]
    start_period_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProbeKind {
    Http,
    Command,
}

impl TryFrom<HealthCheckInput> for HealthCheck {
    type Error = String;

    fn try_from(h: HealthCheckInput) -> Result<Self, Self::Error> {
        let probe = match (h.kind, h.path, h.command) {
            (ProbeKind::Http, Some(path), None) => HealthProbe::Http { path },
            (ProbeKind::Command, None, Some(command)) => HealthProbe::Command { command },
            (ProbeKind::Http, _, _) => {
                return Err("an http health check has a path and no command".into())
            }
            (ProbeKind::Command, _, _) => {
                return Err("a command health check has a command and no path".into())
            }
        };
        Ok(HealthCheck {
            probe,
            interval_ms: h.interval_ms,
            timeout_ms: h.timeout_ms,
            retries: h.retries,
            start_period_ms: h.start_period_ms,
        })
    }
}

/// What Berth does when a replica's container stops.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Replace it, whatever its exit code.
    #[default]
    Always,
    /// Replace it when it exited with a code other than 0.
    OnFailure,
    /// Leave it stopped.
    Never,
}

/// How replicas are spread over the hosts that fit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// As few replicas of the service per host as possible.
    #[default]
    Spread,
    /// Fill the fullest host that fits first.
    Binpack,
}

/// Where replicas may go.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Host label constraints: `zone=a`, `zone!=b`, `ssd` (has the label), `!gpu`
    /// (has not). Parsed when the spec is read: one that does not parse makes the
    /// whole spec unreadable, never a constraint dropped.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub constraints: Vec<crate::validate::Constraint>,
    #[serde(default)]
    pub strategy: Strategy,
}

/// CPU in millicores and memory in bytes; 0 means none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Set aside on the host for each replica (what placement counts).
    #[serde(default)]
    pub cpu_millis: u32,
    #[serde(default)]
    pub memory_bytes: u64,
    /// Hard limits Docker enforces; none when 0.
    #[serde(default)]
    pub cpu_limit_millis: u32,
    #[serde(default)]
    pub memory_limit_bytes: u64,
}

/// In which order a slot's old replica is replaced.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// The new replica starts and turns healthy before the old one stops.
    #[default]
    StartFirst,
    /// The old replica stops first (one writer at a time, for per-replica volumes).
    StopFirst,
}

impl UpdateOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateOrder::StartFirst => "start-first",
            UpdateOrder::StopFirst => "stop-first",
        }
    }
}

/// What a rollout does when new replicas fail.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Go back to the previous revision, health-gated.
    #[default]
    Rollback,
    /// Stop where it is and wait for a person.
    Pause,
}

impl FailureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
        }
    }
}

/// How a new revision replaces the replicas of the old one. Not part of what makes
/// replicas differ: changing only the policy replaces no replica.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// Extra replicas allowed during a rollout (start-first).
    #[serde(default = "defaults::max_surge")]
    pub max_surge: u32,
    /// Replicas that may be missing during a rollout (stop-first).
    #[serde(default)]
    pub max_unavailable: u32,
    /// Replicas replaced together; the next batch starts when this one is healthy
    /// (and after the monitor window and the delay). Without it, replicas are
    /// replaced one after another within the surge or unavailable allowance.
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Wait between batches, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Unset: start-first, or stop-first for a service with per-replica volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<UpdateOrder>,
    /// How long new replicas are watched after each batch before the next, in
    /// milliseconds; a failure in it fails the rollout.
    #[serde(default)]
    pub monitor_ms: u64,
    #[serde(default)]
    pub failure_action: FailureAction,
    /// How long a new replica may take to turn healthy, in milliseconds.
    #[serde(default = "defaults::deadline")]
    pub deadline_ms: u64,
    /// Limits on what users feel, judged from the proxy's counters of the new
    /// revision's replicas while the rollout runs; a breach fails it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    /// New replicas start beside the old ones and take a growing share of the
    /// requests, step by step, before the old ones are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        UpdatePolicy {
            max_surge: defaults::max_surge(),
            max_unavailable: 0,
            batch_size: None,
            delay_ms: 0,
            order: None,
            monitor_ms: 0,
            failure_action: FailureAction::Rollback,
            deadline_ms: defaults::deadline(),
            gates: None,
            canary: None,
        }
    }
}

impl UpdatePolicy {
    /// Slots replaced at once, in the given (effective) order.
    pub fn parallelism(&self, order: UpdateOrder) -> u32 {
        match (self.batch_size, order) {
            (Some(b), _) => b.max(1),
            (None, UpdateOrder::StartFirst) => self.max_surge.max(1),
            (None, UpdateOrder::StopFirst) => self.max_unavailable.max(1),
        }
    }

    /// Whether replicas change in batches that each wait for the one before (a batch
    /// size, a delay or a monitor window), rather than as fast as the surge allows.
    pub fn batched(&self) -> bool {
        self.batch_size.is_some() || self.delay_ms > 0 || self.monitor_ms > 0
    }

    /// When the next batch may begin, for a batch that turned healthy at `done_at`:
    /// after its monitor window and the delay.
    pub fn gate_after(&self, done_at: i64) -> i64 {
        done_at.saturating_add(self.monitor_ms.saturating_add(self.delay_ms) as i64)
    }
}

/// A secret of the service's team that an environment variable takes its value
/// from. Berth writes down the version a revision runs with (the current one when
/// it is deployed), so that changing the secret is a new revision and a rollback
/// brings back the value it had.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
    /// Filled in by Berth when left out: the secret's version now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// In place of a value the caller may not read (viewers and read-only tokens do not
/// see environment values): `{"hidden": true}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HiddenValue {
    pub hidden: bool,
}

/// An environment variable's value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// Written in the spec (shown to those who may change the service).
    Plain(String),
    /// Taken from a team secret when the container is made; never shown.
    Secret(SecretRef),
    /// Hidden from this caller; never accepted in a spec.
    Hidden(HiddenValue),
}

impl EnvValue {
    pub fn plain(s: impl Into<String>) -> EnvValue {
        EnvValue::Plain(s.into())
    }

    /// The secret it names, if it names one.
    pub fn secret(&self) -> Option<&SecretRef> {
        match self {
            EnvValue::Secret(r) => Some(r),
            _ => None,
        }
    }

    /// How it reads where values are not shown: `secret db-password v3`, or
    /// `(a value)`.
    pub fn describe(&self) -> String {
        match self {
            EnvValue::Plain(_) | EnvValue::Hidden(_) => "(a value)".into(),
            EnvValue::Secret(r) => match r.version {
                Some(v) => format!("secret {} v{v}", r.secret),
                None => format!("secret {}", r.secret),
            },
        }
    }
}

impl From<&str> for EnvValue {
    fn from(s: &str) -> Self {
        EnvValue::Plain(s.to_string())
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The object forms, every field named.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Object {
            #[serde(default)]
            secret: Option<String>,
            #[serde(default)]
            version: Option<i64>,
            #[serde(default)]
            hidden: Option<bool>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvValue;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, or {\"secret\": \"name\"}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<EnvValue, E> {
                Ok(EnvValue::Plain(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EnvValue, A::Error> {
                let o = Object::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                match o {
                    Object {
                        secret: Some(secret),
                        version,
                        hidden: None,
                    } => Ok(EnvValue::Secret(SecretRef { secret, version })),
                    Object {
                        secret: None,
                        version: None,
                        hidden: Some(hidden),
                    } => Ok(EnvValue::Hidden(HiddenValue { hidden })),
                    _ => Err(serde::de::Error::custom(
                        "an environment value is a string or {\"secret\": \"name\"}",
                    )),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Everything about a service's replicas that makes a revision: a change to any of
/// it is a new revision. The replica count is not part of it (scaling is not a
/// rollout).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub image: String,
    /// Replaces the image's entrypoint when given.
    #[serde(default)]
    pub command: Vec<String>,
    /// Replaces the image's default arguments when given.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables: a value, or `{"secret": "name"}` for a secret of the
    /// service's team (resolved only when a container is made).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, EnvValue>,
    /// The container port to publish (and to route and health-check).
    #[serde(default)]
    pub port: Option<u16>,
    /// A fixed host port; without it Docker picks a free one. A fixed port allows one
    /// replica per host.
    #[serde(default)]
    pub host_port: Option<u16>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub health: Option<HealthCheck>,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub update: UpdatePolicy,
    /// Storage mounted into every replica. Left out of the JSON when empty, so that
    /// specs from before volumes keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
}

impl ServiceSpec {
    /// The secrets its environment names, by variable.
    pub fn secret_refs(&self) -> impl Iterator<Item = (&String, &SecretRef)> {
        self.env
            .iter()
            .filter_map(|(k, v)| v.secret().map(|r| (k, r)))
    }

    /// The spec with every written environment value hidden (for callers who may
    /// read the service but not change it).
    pub fn with_values_hidden(&self) -> ServiceSpec {
        let mut spec = self.clone();
        for v in spec.env.values_mut() {
            if let EnvValue::Plain(_) = v {
                *v = EnvValue::Hidden(HiddenValue { hidden: true });
            }
        }
        spec
    }

    /// Whether a replica has storage of its own (and so a home host).
    pub fn has_per_replica_volumes(&self) -> bool {
        self.volumes
            .iter()
            .any(|v| v.scope == VolumeScope::PerReplica)
    }

    /// The order replicas are replaced in: as set, else stop-first when replicas
    /// have volumes of their own (one writer at a time), else start-first.
    pub fn update_order(&self) -> UpdateOrder {
        self.update
            .order
            .unwrap_or(if self.has_per_replica_volumes() {
                UpdateOrder::StopFirst
            } else {
                UpdateOrder::StartFirst
            })
    }

    /// A short, stable fingerprint of the spec, written on every replica so that a
    /// replica of an outdated spec is recognised.
    ///
    /// FNV-1a over the spec's canonical JSON: keys sorted at every level, and keys
    /// whose value is `null`, `[]` or `{}` left out, so that neither the order of
    /// the fields in this file nor a new optional field (at its default) changes
    /// any hash. The update policy says how replicas change, not what they are: it
    /// is left out too. A new field whose default is not empty must skip
    /// serialising its default for the same reason.
    pub fn hash(&self) -> String {
        let mut replica = self.clone();
        replica.update = UpdatePolicy::default();
        // A spec is plain data (strings, numbers, string-keyed maps): it always
        // serialises.
        let value = serde_json::to_value(&replica).expect("a spec always serialises");
        canonical_hash(&value)
    }

    /// Whether replicas of both specs are the same (they differ at most in how
    /// replicas change), so that replicas of one count as current for the other.
    pub fn same_replicas(&self, other: &ServiceSpec) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.update = UpdatePolicy::default();
        b.update = UpdatePolicy::default();
        a == b
    }
}

/// FNV-1a over `value` written canonically (see [`ServiceSpec::hash`]).
pub fn canonical_hash(value: &serde_json::Value) -> String {
    let mut text = String::new();
    write_canonical(value, &mut text);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub(super) fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !empty(v))
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Defaults of the spec's optional fields.
pub mod defaults {
    pub fn volume_driver() -> String {
        "local".into()
    }
    pub fn health_interval() -> u64 {
        2_000
    }
    pub fn health_timeout() -> u64 {
        1_000
    }
    pub fn health_retries() -> u32 {
        3
    }
    pub fn health_start_period() -> u64 {
        10_000
    }
    pub fn max_surge() -> u32 {
        1
    }
    pub fn deadline() -> u64 {
        60_000
    }
    pub fn gate_window() -> u64 {
        30_000
    }
}
