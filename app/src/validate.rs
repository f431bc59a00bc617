//! Rules for what people type: names and passwords. Pure, and shared: the browser
//! checks a form before it submits, the server checks again, with the same words.

/// Shortest and longest password accepted.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;

/// Why a new password is refused, or nothing when it is fine.
pub fn password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!(
            "the password must have at least {PASSWORD_MIN} characters"
        ));
    }
    if len > PASSWORD_MAX {
        return Err(format!(
            "the password must have at most {PASSWORD_MAX} characters"
        ));
    }
    if password.trim().is_empty() {
        return Err("the password cannot be only spaces".into());
    }
    Ok(())
}

/// User names: 1-32 ASCII letters, digits, `.`, `_` or `-`, starting with a letter
/// or digit. No spaces, no look-alike Unicode.
pub fn username(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid user name {s:?}: use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ))
    }
}

/// Team names: a DNS label (1-63 lowercase letters, digits and '-', not at either end).
pub fn team_name(s: &str) -> Result<(), String> {
    if dns_label(s) {
        Ok(())
    } else {
        Err(format!(
            "invalid team name {s:?}: use 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

/// Token names: 1-64 printable ASCII characters, spaces allowed inside.
pub fn token_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.trim() == s
        && s.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid token name {s:?}: use 1 to 64 printable ASCII characters, without spaces at either end"
        ))
    }
}

/// Host names: a DNS label, like team names.
pub fn host_name(s: &str) -> Result<(), String> {
    if dns_label(s) {
        Ok(())
    } else {
        Err(format!(
            "invalid host name {s:?}: use 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

/// Placement labels: keys of 1-63 letters, digits, '.', '_', '-' or '/', starting
/// with a letter or digit; values of 0-63 letters, digits, '.', '_' or '-'.
pub fn label(key: &str, value: &str) -> Result<(), String> {
    let key_ok = !key.is_empty()
        && key.len() <= 63
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !key_ok {
        return Err(format!(
            "invalid label key {key:?}: use 1 to 63 letters, digits, '.', '_', '-' or '/', starting with a letter or digit"
        ));
    }
    let value_ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !value_ok {
        return Err(format!(
            "invalid value {value:?} for label {key}: use up to 63 letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

/// A placement constraint on host labels: `zone=a`, `zone!=b`, `ssd` (the host has
/// the label), `!gpu` (it has not).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Constraint {
    Equals(String, String),
    NotEquals(String, String),
    Has(String),
    HasNot(String),
}

impl Constraint {
    /// Whether a host with these labels satisfies the constraint.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        match self {
            Constraint::Equals(k, v) => labels.get(k) == Some(v),
            Constraint::NotEquals(k, v) => labels.get(k) != Some(v),
            Constraint::Has(k) => labels.contains_key(k),
            Constraint::HasNot(k) => !labels.contains_key(k),
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constraint::Equals(k, v) => write!(f, "{k}={v}"),
            Constraint::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Constraint::Has(k) => write!(f, "{k}"),
            Constraint::HasNot(k) => write!(f, "!{k}"),
        }
    }
}

/// Parses one constraint.
pub fn constraint(s: &str) -> Result<Constraint, String> {
    let s = s.trim();
    let bad = || format!("invalid constraint {s:?}: use zone=a, zone!=b, ssd or !gpu");
    let c = if let Some((k, v)) = s.split_once("!=") {
        Constraint::NotEquals(k.trim().into(), v.trim().into())
    } else if let Some((k, v)) = s.split_once('=') {
        Constraint::Equals(k.trim().into(), v.trim().into())
    } else if let Some(k) = s.strip_prefix('!') {
        Constraint::HasNot(k.trim().into())
    } else {
        Constraint::Has(s.into())
    };
    let (k, v) = match &c {
        Constraint::Equals(k, v) | Constraint::NotEquals(k, v) => (k.as_str(), v.as_str()),
        Constraint::Has(k) | Constraint::HasNot(k) => (k.as_str(), ""),
    };
    label(k, v).map_err(|_| bad())?;
    Ok(c)
}

/// `zone=a, ssd=true` (commas or new lines between pairs) into labels.
pub fn parse_labels(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("invalid label {pair:?}: write key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        label(k, v)?;
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("label {k} is given twice"));
        }
    }
    Ok(out)
}

/// Labels back into `zone=a, ssd=true`.
pub fn format_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Docker endpoint: `unix:///absolute/path` or `tcp://host:port`.
pub fn endpoint(s: &str) -> Result<(), String> {
    if let Some(path) = s.strip_prefix("unix://") {
        return if path.starts_with('/') && path.len() > 1 && !path.contains(char::is_whitespace) {
            Ok(())
        } else {
            Err(format!("invalid endpoint {s:?}: a unix socket path must be absolute, as in unix:///var/run/docker.sock"))
        };
    }
    let rest = s.strip_prefix("tcp://").ok_or_else(|| {
        format!("invalid endpoint {s:?}: use unix:///path/to/docker.sock or tcp://host:port")
    })?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
        format!("invalid endpoint {s:?}: tcp endpoints need a port, as in tcp://10.0.0.5:2376")
    })?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    if !port_ok || address(host).is_err() {
        return Err(format!(
            "invalid endpoint {s:?}: use tcp://host:port with a port from 1 to 65535"
        ));
    }
    Ok(())
}

/// A host's address: an IPv4 address or a DNS name.
pub fn address(s: &str) -> Result<(), String> {
    let ipv4 = s.split('.').count() == 4 && s.split('.').all(|p| p.parse::<u8>().is_ok());
    let dns = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ipv4 || dns {
        Ok(())
    } else {
        Err(format!(
            "invalid address {s:?}: use an IPv4 address or a host name"
        ))
    }
}

/// Most replicas one service may ask for.
pub const MAX_REPLICAS: u32 = 1000;

/// Service names: a DNS label, so that `<service>.localhost` and container names work.
pub fn service_name(s: &str) -> Result<(), String> {
    if dns_label(s) {
        Ok(())
    } else {
        Err(format!(
            "invalid service name {s:?}: use 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

/// An image reference as Docker takes it: `name[:tag][@digest]`, with an optional
/// registry (`127.0.0.1:5000/berth-demo:v1`).
pub fn image(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
                || (c.is_ascii_uppercase() && s.contains(['@', ':']))
        })
        && !s.ends_with([':', '/', '@', '.'])
        && !s.contains("//");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid image {s:?}: use a reference such as berth-demo:v1 or 127.0.0.1:5000/berth-demo:v1"
        ))
    }
}

/// Environment variable names: a letter or '_', then letters, digits or '_'.
pub fn env_key(k: &str) -> Result<(), String> {
    let ok = !k.is_empty()
        && k.len() <= 128
        && k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid environment variable name {k:?}: use letters, digits and '_', not starting with a digit"
        ))
    }
}

/// An environment variable's value: a string without NUL, or a secret reference.
pub fn env_value(k: &str, v: &crate::wire::EnvValue) -> Result<(), String> {
    use crate::wire::EnvValue;
    match v {
        EnvValue::Plain(v) if v.len() > 32 * 1024 || v.contains('\0') => Err(format!(
            "the value of {k} is too long or holds a NUL character"
        )),
        EnvValue::Plain(_) => Ok(()),
        EnvValue::Secret(r) => {
            secret_name(&r.secret)?;
            match r.version {
                Some(n) if n < 1 => Err(format!("{k}: a secret's versions start at 1")),
                _ => Ok(()),
            }
        }
        EnvValue::Hidden(_) => Err(format!(
            "the value of {k} was hidden from you (you may read this service, not change it); give the value itself"
        )),
    }
}

/// Secret names: 1-63 lowercase letters, digits, '-' or '_', starting with a
/// letter or digit.
pub fn secret_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid secret name {s:?}: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// Largest secret value accepted.
pub const SECRET_MAX: usize = 64 * 1024;

/// A secret's value: not empty, at most 64 KiB, no NUL (it goes into an
/// environment variable).
pub fn secret_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("a secret needs a value".into());
    }
    if v.len() > SECRET_MAX || v.contains('\0') {
        return Err(format!(
            "a secret's value holds at most {} KiB and no NUL character",
            SECRET_MAX / 1024
        ));
    }
    Ok(())
}

/// A replica count.
pub fn replicas(n: u32) -> Result<(), String> {
    if n > MAX_REPLICAS {
        Err(format!(
            "at most {MAX_REPLICAS} replicas per service, not {n}"
        ))
    } else {
        Ok(())
    }
}

/// Everything about a spec that can be checked without the cluster.
pub fn service_spec(spec: &crate::wire::ServiceSpec) -> Result<(), String> {
    use crate::wire::HealthProbe;
    image(&spec.image)?;
    for (what, words) in [("command", &spec.command), ("args", &spec.args)] {
        if words.len() > 64 || words.iter().any(|w| w.len() > 4096 || w.contains('\0')) {
            return Err(format!("the {what} is too long or holds a NUL character"));
        }
    }
    if spec.env.len() > 256 {
        return Err("at most 256 environment variables".into());
    }
    for (k, v) in &spec.env {
        env_key(k)?;
        env_value(k, v)?;
    }
    if spec.port == Some(0) {
        return Err("the container port must be from 1 to 65535".into());
    }
    if let Some(hp) = spec.host_port {
        if hp == 0 {
            return Err("the host port must be from 1 to 65535".into());
        }
        if spec.port.is_none() {
            return Err("a host port needs a container port to publish".into());
        }
    }
    let r = &spec.resources;
    if r.cpu_limit_millis > 0 && r.cpu_limit_millis < r.cpu_millis {
        return Err("the CPU limit is below the CPU reservation".into());
    }
    if r.memory_limit_bytes > 0 && r.memory_limit_bytes < r.memory_bytes {
        return Err("the memory limit is below the memory reservation".into());
    }
    // Docker refuses memory limits under 6 MiB.
    if r.memory_limit_bytes > 0 && r.memory_limit_bytes < 6 << 20 {
        return Err("a memory limit must be at least 6 MiB".into());
    }
    if let Some(h) = &spec.health {
        match &h.probe {
            HealthProbe::Http { path } => {
                if !path.starts_with('/') || path.len() > 1024 || path.contains(char::is_whitespace)
                {
                    return Err(format!(
                        "invalid health check path {path:?}: use an absolute path such as /healthz"
                    ));
                }
                if spec.port.is_none() {
                    return Err("an HTTP health check needs the container port it asks on".into());
                }
            }
            HealthProbe::Command { command } => {
                if command.is_empty() || command.iter().all(|w| w.trim().is_empty()) {
                    return Err("a command health check needs a command".into());
                }
            }
        }
        if h.interval_ms < 100 || h.interval_ms > 3_600_000 {
            return Err("the health check interval must be from 100 ms to 1 h".into());
        }
        if h.timeout_ms < 10 || h.timeout_ms > h.interval_ms.max(1000) * 10 {
            return Err("the health check timeout must be from 10 ms to 10 intervals".into());
        }
        if h.retries == 0 || h.retries > 100 {
            return Err("health check retries must be from 1 to 100".into());
        }
        if h.start_period_ms > 3_600_000 {
            return Err("the health check start period must be at most 1 h".into());
        }
    }
    if spec.placement.constraints.len() > 32 {
        return Err("at most 32 placement constraints".into());
    }
    for c in &spec.placement.constraints {
        constraint(c)?;
    }
    volumes(&spec.volumes)?;
    update_policy(&spec.update)
}

/// Volumes a service declares: named, mounted at distinct absolute paths.
pub fn volumes(list: &[crate::wire::VolumeSpec]) -> Result<(), String> {
    if list.len() > 16 {
        return Err("at most 16 volumes".into());
    }
    let mut names = std::collections::HashSet::new();
    let mut paths = std::collections::HashSet::new();
    for v in list {
        if !dns_label(&v.name) || v.name.len() > 40 {
            return Err(format!(
                "invalid volume name {:?}: use up to 40 lowercase letters, digits and '-'",
                v.name
            ));
        }
        if !names.insert(v.name.as_str()) {
            return Err(format!("the volume name {:?} is used twice", v.name));
        }
        let p = v.path.trim_end_matches('/');
        if !v.path.starts_with('/')
            || p.is_empty()
            || v.path.len() > 255
            || v.path.split('/').any(|seg| seg == ".." || seg == ".")
            || v.path.contains(['\0', ':', ','])
        {
            return Err(format!(
                "invalid mount path {:?} for volume {}: use an absolute path such as /data (not /)",
                v.path, v.name
            ));
        }
        if !paths.insert(p) {
            return Err(format!("the mount path {p} is used twice"));
        }
        if v.driver != "local" {
            return Err(format!(
                "volume {}: the driver must be \"local\" (its options declare NFS or tmpfs volumes)",
                v.name
            ));
        }
        volume_options(v)?;
    }
    Ok(())
}

/// Filesystems a spec's local volume may ask for: network shares and memory. A
/// bind mount (`type=none`, `o=bind`) or a device of the host would reach the
/// host's own files, so none is accepted in a spec, from anyone; host paths come
/// only from what an admin defines.
const VOLUME_TYPES: [&str; 4] = ["nfs", "nfs4", "cifs", "tmpfs"];

/// The options of a local volume: `type` (one of [`VOLUME_TYPES`]), `o` (mount
/// options, never `bind`) and `device` (a share, never a path of the host).
pub fn volume_options(v: &crate::wire::VolumeSpec) -> Result<(), String> {
    if v.options.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("volume {}: {why}", v.name));
    for (k, val) in &v.options {
        if !matches!(k.as_str(), "type" | "o" | "device") {
            return bad(&format!(
                "unknown driver option {k:?}: a local volume takes type, o and device"
            ));
        }
        if val.is_empty() || val.len() > 1024 || val.chars().any(|c| c.is_control()) {
            return bad(&format!(
                "the option {k} is empty, too long or holds control characters"
            ));
        }
    }
    let kind = v.options.get("type").map(String::as_str).unwrap_or("");
    if kind == "none" || kind.is_empty() && v.options.contains_key("device") {
        return bad("bind mounts (type=none) reach the host's files and are not allowed in a spec");
    }
    if !VOLUME_TYPES.contains(&kind) {
        return bad(&format!(
            "type {kind:?} is not allowed: use one of {}",
            VOLUME_TYPES.join(", ")
        ));
    }
    let opts = v.options.get("o").map(String::as_str).unwrap_or("");
    if opts
        .split(',')
        .map(|o| o.trim().split('=').next().unwrap_or(""))
        .any(|o| {
            matches!(
                o,
                "bind" | "rbind" | "remount" | "move" | "make-shared" | "shared" | "rshared"
            )
        })
    {
        return bad("bind mounts (o=bind) reach the host's files and are not allowed in a spec");
    }
    let device = v.options.get("device").map(String::as_str).unwrap_or("");
    let remote = match kind {
        "tmpfs" => device.is_empty() || device == "tmpfs",
        "cifs" => device.starts_with("//"),
        _ => device.contains(":/") && !device.starts_with('/'),
    };
    if !remote {
        return bad(&format!(
            "device {device:?} is not a share: use host:/export for nfs, //server/share for cifs, tmpfs (or nothing) for tmpfs"
        ));
    }
    Ok(())
}

/// The volumes field of the forms: one a line, `NAME:/PATH[:ro] [shared] [KEY=VALUE…]`.
pub fn parse_volumes(text: &str) -> Result<Vec<crate::wire::VolumeSpec>, String> {
    use crate::wire::{VolumeScope, VolumeSpec};
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let head = words.next().unwrap_or_default();
        let bad = || {
            format!("invalid volume {line:?}: write NAME:/PATH, then :ro, shared or KEY=VALUE if needed")
        };
        let (name, rest) = head.split_once(':').ok_or_else(bad)?;
        let (path, read_only) = match rest.strip_suffix(":ro") {
            Some(p) => (p, true),
            None => (rest.strip_suffix(":rw").unwrap_or(rest), false),
        };
        let mut v = VolumeSpec {
            name: name.to_string(),
            path: path.to_string(),
            read_only,
            scope: VolumeScope::PerReplica,
            driver: "local".into(),
            options: Default::default(),
        };
        for w in words {
            match w {
                "shared" => v.scope = VolumeScope::Shared,
                "per-replica" => v.scope = VolumeScope::PerReplica,
                "ro" => v.read_only = true,
                _ => {
                    let (k, val) = w.split_once('=').ok_or_else(bad)?;
                    v.options.insert(k.to_string(), val.to_string());
                }
            }
        }
        out.push(v);
    }
    volumes(&out)?;
    Ok(out)
}

/// A volume as the forms write it (the inverse of [`parse_volumes`]).
pub fn format_volume(v: &crate::wire::VolumeSpec) -> String {
    let mut s = format!("{}:{}", v.name, v.path);
    if v.read_only {
        s.push_str(":ro");
    }
    if v.scope == crate::wire::VolumeScope::Shared {
        s.push_str(" shared");
    }
    for (k, val) in &v.options {
        s.push_str(&format!(" {k}={val}"));
    }
    s
}

/// A rollout policy that can move and finishes in bounded time.
pub fn update_policy(u: &crate::wire::UpdatePolicy) -> Result<(), String> {
    const HOUR: u64 = 3_600_000;
    if u.max_surge == 0 && u.max_unavailable == 0 && u.batch_size.is_none() {
        return Err(
            "max surge and max unavailable cannot both be 0: a rollout could never move".into(),
        );
    }
    if u.max_surge > 1000 || u.max_unavailable > 1000 {
        return Err("max surge and max unavailable must be at most 1000".into());
    }
    if let Some(b) = u.batch_size {
        if b == 0 || b > 1000 {
            return Err("the batch size must be from 1 to 1000 (empty: no batches)".into());
        }
    }
    if u.delay_ms > HOUR || u.monitor_ms > HOUR {
        return Err("the delay between batches and the monitor window must be at most 1 h".into());
    }
    if !(1_000..=HOUR).contains(&u.deadline_ms) {
        return Err(
            "the deadline for a new replica to turn healthy must be from 1 s to 1 h".into(),
        );
    }
    Ok(())
}

/// `500ms`, `5s`, `2m`, `1h`, `7d` or a number of seconds into milliseconds; empty
/// is 0.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let bad = || format!("invalid duration {t:?}: write e.g. 500ms, 5s or 2m");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(bad()),
    };
    let ms = n * scale;
    if !(0.0..=1e12).contains(&ms) {
        return Err(bad());
    }
    Ok(ms.round() as u64)
}

/// Milliseconds as the duration fields show them: `5s`, `1500ms`, empty for 0.
pub fn format_duration_ms(ms: u64) -> String {
    match ms {
        0 => String::new(),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// A host name as RFC 1123 allows it, lowercase: labels of letters, digits and
/// `-` (not at either end), 1-63 characters each, 253 in all.
pub fn hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A route's host: a host name, or `*.` and a host name.
pub fn route_host(h: &str) -> Result<(), String> {
    if hostname(h.strip_prefix("*.").unwrap_or(h)) {
        Ok(())
    } else {
        Err(format!(
            "invalid route host {h:?}: use a lowercase host name such as shop.example.com, or *.example.com"
        ))
    }
}

/// A domain an admin gives a team: a host name, or `*.` and a host name of at
/// least two labels (`*.com` would be every shop on the internet).
pub fn domain(d: &str) -> Result<(), String> {
    let ok = match d.strip_prefix("*.") {
        Some(rest) => hostname(rest) && rest.contains('.'),
        None => hostname(d),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid domain {d:?}: use a lowercase host name such as shop.example.com, or *.shop.example.com"
        ))
    }
}

/// Whether `host` (a route host: a name or `*.` and a name) lies in `domain` (a
/// name, or `*.` and a name): `shop.example.com` holds only itself;
/// `*.example.com` holds itself and every name under `example.com`, wildcards
/// included.
pub fn domain_holds(domain: &str, host: &str) -> bool {
    if host == domain {
        return true;
    }
    match domain.strip_prefix("*.") {
        None => false,
        Some(base) => {
            let name = host.strip_prefix("*.").unwrap_or(host);
            name.len() > base.len()
                && name.ends_with(base)
                && name.as_bytes()[name.len() - base.len() - 1] == b'.'
        }
    }
}

/// Whether two domains (or route hosts) share any name.
pub fn domains_overlap(a: &str, b: &str) -> bool {
    a == b || domain_holds(a, b) || domain_holds(b, a)
}

/// Whether a route host or a domain takes a name of the proxy's own domain:
/// `<service>.<proxy domain>` names belong to the services.
pub fn touches_proxy_domain(name: &str, proxy_domain: &str) -> bool {
    domains_overlap(name, proxy_domain) || domains_overlap(name, &format!("*.{proxy_domain}"))
}

/// A domain or host as typed, the way Berth keeps it: trimmed, lowercase, without
/// a final dot.
pub fn normalise_domain(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a character may stand in a path segment (RFC 3986 `pchar`, without
/// `%`, which [`path_prefix`] checks with what follows it).
fn pchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

/// A route's path prefix: an absolute path as RFC 3986 writes it (segments of
/// unreserved characters, sub-delimiters, `:`, `@` and `%XX`), no empty, `.` or
/// `..` segment, no query or fragment.
pub fn path_prefix(p: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "invalid path prefix {p:?}: use an absolute path such as /api (letters, digits and -._~!$&'()*+,;=:@ or %XX)"
        ))
    };
    let Some(rest) = p.strip_prefix('/') else {
        return bad();
    };
    if p.len() > 256 {
        return bad();
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return if p == "/" { Ok(()) } else { bad() };
    }
    for seg in rest.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad();
        }
        let b = seg.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return bad();
                }
                i += 3;
            } else if pchar(b[i] as char) {
                i += 1;
            } else {
                return bad();
            }
        }
    }
    Ok(())
}

/// Where a login may send the browser next: a path of this site, never another
/// site (`//evil.example`, `/\evil.example`, or one a browser turns into those by
/// dropping tabs and new lines).
pub fn local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && next.chars().all(|c| c.is_ascii_graphic() && c != '\\')
}

/// A service's proxy settings.
pub fn proxy_config(c: &crate::wire::ProxyConfig) -> Result<(), String> {
    if c.routes.len() > 32 {
        return Err("at most 32 routes per service".into());
    }
    if !c.expose && !c.routes.is_empty() {
        return Err(
            "a service kept off the proxy (expose: false) has no routes; remove them or expose it"
                .into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for r in &c.routes {
        if let Some(h) = &r.host {
            route_host(h)?;
        }
        path_prefix(&r.path_prefix)?;
        let key = (
            r.host.clone(),
            r.path_prefix.trim_end_matches('/').to_string(),
        );
        if !seen.insert(key) {
            return Err(format!("the route {} is given twice", format_route(r)));
        }
    }
    Ok(())
}

/// A route as a line: `shop.example.com/api strip`, `/static`, `*.example.com`.
pub fn format_route(r: &crate::wire::RouteSpec) -> String {
    let host = r.host.clone().unwrap_or_default();
    let prefix = if r.path_prefix == "/" && !host.is_empty() {
        String::new()
    } else {
        r.path_prefix.clone()
    };
    let strip = if r.strip_prefix { " strip" } else { "" };
    format!("{host}{prefix}{strip}")
}

/// Routes from lines written as [`format_route`] writes them.
pub fn parse_routes(text: &str) -> Result<Vec<crate::wire::RouteSpec>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (target, strip) = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [t] => (*t, false),
            [t, "strip"] => (*t, true),
            _ => {
                return Err(format!(
                    "invalid route {line:?}: write HOST[/PREFIX] or /PREFIX, then strip to remove the prefix"
                ))
            }
        };
        let (host, prefix) = match target.find('/') {
            Some(0) => (None, target.to_string()),
            Some(i) => (Some(target[..i].to_string()), target[i..].to_string()),
            None => (Some(target.to_string()), "/".to_string()),
        };
        let route = crate::wire::RouteSpec {
            host,
            path_prefix: prefix,
            strip_prefix: strip,
        };
        if let Some(h) = &route.host {
            route_host(h)?;
        }
        path_prefix(&route.path_prefix)?;
        out.push(route);
    }
    Ok(out)
}

/// `KEY=value` lines into environment variables; `KEY=${secret:NAME}` takes the
/// value from the team's secret `NAME` when the container is made.
pub fn parse_env(
    text: &str,
) -> Result<std::collections::BTreeMap<String, crate::wire::EnvValue>, String> {
    use crate::wire::{EnvValue, SecretRef};
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("invalid environment line {line:?}: write KEY=value"))?;
        let (k, v) = (k.trim(), v.trim());
        env_key(k)?;
        let value = match v
            .strip_prefix("${secret:")
            .and_then(|r| r.strip_suffix('}'))
        {
            Some(name) => {
                secret_name(name)?;
                EnvValue::Secret(SecretRef {
                    secret: name.to_string(),
                    version: None,
                })
            }
            None => EnvValue::Plain(v.to_string()),
        };
        env_value(k, &value)?;
        if out.insert(k.to_string(), value).is_some() {
            return Err(format!("environment variable {k} is given twice"));
        }
    }
    Ok(out)
}

/// An environment variable as the forms write it (the inverse of [`parse_env`]).
pub fn format_env(k: &str, v: &crate::wire::EnvValue) -> String {
    use crate::wire::EnvValue;
    match v {
        EnvValue::Plain(v) => format!("{k}={v}"),
        EnvValue::Secret(r) => format!("{k}=${{secret:{}}}", r.secret),
        EnvValue::Hidden(_) => format!("{k}=(hidden)"),
    }
}

/// A command line into words: a JSON array (`["sh","-c","echo hi"]`) or words
/// separated by spaces.
pub fn parse_words(text: &str) -> Result<Vec<String>, String> {
    let t = text.trim();
    if t.starts_with('[') {
        serde_json::from_str(t).map_err(|_| {
            format!("invalid command {t:?}: write words separated by spaces, or a JSON array of strings")
        })
    } else {
        Ok(t.split_whitespace().map(str::to_string).collect())
    }
}

/// `0.5` or `500m` CPUs into millicores; empty is 0.
pub fn parse_cpus(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let bad = || format!("invalid CPU amount {t:?}: write e.g. 0.5 or 500m");
    let millis = if let Some(m) = t.strip_suffix('m') {
        m.parse::<u32>().map_err(|_| bad())?
    } else {
        let v: f64 = t.parse().map_err(|_| bad())?;
        if !(0.0..=1024.0).contains(&v) {
            return Err(bad());
        }
        (v * 1000.0).round() as u32
    };
    Ok(millis)
}

/// `512MiB`, `1GiB`, `256M`, `64k` or a number of bytes into bytes; empty is 0.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let bad = || format!("invalid size {t:?}: write e.g. 256MiB, 1GiB or 512M");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * scale as f64;
    if !(0.0..=(1u64 << 50) as f64).contains(&bytes) {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// A DNS label as RFC 1123 allows it, lowercase.
pub fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_in_the_form_and_their_checks() {
        let list = parse_volumes("data:/var/lib/data\ncache:/cache:ro shared\nnfs:/mnt type=nfs o=addr=10.0.0.1 device=:/export").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].scope, crate::wire::VolumeScope::PerReplica);
        assert!(list[1].read_only);
        assert_eq!(list[1].scope, crate::wire::VolumeScope::Shared);
        assert_eq!(list[2].options["device"], ":/export");
        for v in &list {
            assert_eq!(parse_volumes(&format_volume(v)).unwrap(), vec![v.clone()]);
        }
        for (bad, why) in [
            ("data:relative/path", "invalid mount path"),
            ("data:/", "invalid mount path"),
            ("data:/a/../b", "invalid mount path"),
            ("a:/data\nb:/data/", "used twice"),
            ("a:/x\na:/y", "used twice"),
            ("Data:/x", "invalid volume name"),
            ("data", "invalid volume"),
            ("data:/x bogus", "invalid volume"),
        ] {
            let err = parse_volumes(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("", 0),
            ("500ms", 500),
            ("5s", 5_000),
            ("5", 5_000),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
            assert_eq!(
                parse_duration_ms(&format_duration_ms(ms)),
                Ok(ms),
                "{text} round trip"
            );
        }
        for bad in ["soon", "5 days", "-1s", "1e99h"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn update_policies() {
        use crate::wire::UpdatePolicy;
        assert!(update_policy(&UpdatePolicy::default()).is_ok());
        let bad = [
            UpdatePolicy {
                max_surge: 0,
                ..Default::default()
            },
            UpdatePolicy {
                batch_size: Some(0),
                ..Default::default()
            },
            UpdatePolicy {
                delay_ms: 7_200_000,
                ..Default::default()
            },
            UpdatePolicy {
                deadline_ms: 10,
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(update_policy(&p).is_err(), "{p:?}");
        }
        let batches = UpdatePolicy {
            max_surge: 0,
            batch_size: Some(2),
            ..Default::default()
        };
        assert!(update_policy(&batches).is_ok());
    }

    #[test]
    fn usernames() {
        for ok in ["alice", "a", "bob.smith", "x_1-2", "A1"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " alice",
            "alice ",
            "al ice",
            ".alice",
            "аlice", // Cyrillic a
            "alice\u{200b}",
            "<script>alert(1)</script>",
            &"a".repeat(33),
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn team_names() {
        for ok in ["web", "team-1", "a", &"a".repeat(63)] {
            assert!(team_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Web", "-web", "web-", "we b", "wéb", &"a".repeat(64)] {
            assert!(team_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels() {
        let ok = parse_labels("zone=a, ssd=true\nrack=r-1, empty=").unwrap();
        assert_eq!(ok.len(), 4);
        assert_eq!(ok["zone"], "a");
        assert_eq!(format_labels(&ok), "empty=, rack=r-1, ssd=true, zone=a");
        assert_eq!(parse_labels("").unwrap().len(), 0);
        for bad in [
            "zone", "=a", "zone=a=b", "zo ne=a", "zone=a b", "x=1, x=2", "ünï=1", "k=ü",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn constraints() {
        let labels: std::collections::BTreeMap<String, String> = [
            ("zone".to_string(), "a".to_string()),
            ("ssd".to_string(), "".to_string()),
        ]
        .into();
        for (c, want) in [
            ("zone=a", true),
            ("zone=b", false),
            ("zone!=b", true),
            ("zone!=a", false),
            ("ssd", true),
            ("gpu", false),
            ("!gpu", true),
            ("!ssd", false),
        ] {
            assert_eq!(constraint(c).unwrap().matches(&labels), want, "{c}");
            assert_eq!(constraint(c).unwrap().to_string(), c);
        }
        for bad in ["", "=a", "zo ne=a", "!", "a=b c"] {
            assert!(constraint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_names_and_images() {
        for ok in ["web", "shop-api", "a1"] {
            assert!(service_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Web", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(service_name(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "berth-demo:v1",
            "127.0.0.1:5000/berth-demo:v1",
            "nginx",
            "library/nginx:1.25-alpine",
            "registry.example.com/team/app@sha256:0123abcdef",
        ] {
            assert!(image(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " nginx",
            "nginx latest",
            "nginx:",
            "-x",
            "a//b",
            "Nginx",
            "ng;rm",
        ] {
            assert!(image(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specs() {
        use crate::wire::ServiceSpec;
        let spec = |v: serde_json::Value| -> ServiceSpec { serde_json::from_value(v).unwrap() };
        let ok = spec(serde_json::json!({
            "image": "berth-demo:v1", "port": 8080, "env": {"MODE": "a=b"},
            "health": {"kind": "http", "path": "/healthz"},
            "resources": {"cpu_millis": 250, "memory_bytes": 67108864, "memory_limit_bytes": 134217728},
            "placement": {"constraints": ["zone=a", "!gpu"], "strategy": "binpack"}
        }));
        assert_eq!(service_spec(&ok), Ok(()));
        for (bad, why) in [
            (serde_json::json!({"image": "x y"}), "invalid image"),
            (
                serde_json::json!({"image": "x", "env": {"1A": "v"}}),
                "environment variable",
            ),
            (
                serde_json::json!({"image": "x", "port": 0}),
                "container port",
            ),
            (
                serde_json::json!({"image": "x", "host_port": 80}),
                "needs a container port",
            ),
            (
                serde_json::json!({"image": "x", "health": {"kind": "http", "path": "/h"}}),
                "needs the container port",
            ),
            (
                serde_json::json!({"image": "x", "port": 1, "health": {"kind": "http", "path": "h"}}),
                "absolute path",
            ),
            (
                serde_json::json!({"image": "x", "health": {"kind": "command", "command": []}}),
                "needs a command",
            ),
            (
                serde_json::json!({"image": "x", "resources": {"memory_bytes": 100, "memory_limit_bytes": 50}}),
                "below",
            ),
            (
                serde_json::json!({"image": "x", "resources": {"memory_limit_bytes": 1024}}),
                "6 MiB",
            ),
            (
                serde_json::json!({"image": "x", "placement": {"constraints": ["zo ne=a"]}}),
                "invalid constraint",
            ),
            (
                serde_json::json!({"image": "x", "update": {"max_surge": 0}}),
                "both be 0",
            ),
        ] {
            let err = service_spec(&spec(bad.clone())).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn routes() {
        let text = "shop.example.com/api strip\n*.example.com\n/static\n";
        let routes = parse_routes(text).unwrap();
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].host.as_deref(), Some("shop.example.com"));
        assert_eq!(
            (routes[0].path_prefix.as_str(), routes[0].strip_prefix),
            ("/api", true)
        );
        assert_eq!(
            (routes[1].path_prefix.as_str(), routes[1].strip_prefix),
            ("/", false)
        );
        assert_eq!(routes[2].host, None);
        let back: Vec<String> = routes.iter().map(format_route).collect();
        assert_eq!(back.join("\n") + "\n", text);
        let config = crate::wire::ProxyConfig {
            routes: routes.clone(),
            ..Default::default()
        };
        assert_eq!(proxy_config(&config), Ok(()));
        for bad in [
            "Shop.com",
            "a b c",
            "shop..com/x",
            "/a b",
            "x.com/a?b",
            "*.",
            "-x.com",
        ] {
            assert!(parse_routes(bad).is_err(), "{bad:?}");
        }
        let twice = crate::wire::ProxyConfig {
            routes: parse_routes("a.com/x\na.com/x/").unwrap(),
            ..Default::default()
        };
        assert!(proxy_config(&twice).unwrap_err().contains("given twice"));
    }

    #[test]
    fn domains_and_what_they_hold() {
        for ok in [
            "shop.example.com",
            "*.shop.example.com",
            "localhost",
            "a-1.b",
        ] {
            assert!(domain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "*", "*.com", "Shop.com", "a..b", "*.*.a.b", "a.b.", "-a.b", "a b.c",
        ] {
            assert!(domain(bad).is_err(), "{bad:?}");
        }
        // (domain, host, held)
        for (d, h, held) in [
            ("shop.example.com", "shop.example.com", true),
            ("shop.example.com", "a.shop.example.com", false),
            ("shop.example.com", "*.shop.example.com", false),
            ("*.shop.example.com", "a.shop.example.com", true),
            ("*.shop.example.com", "a.b.shop.example.com", true),
            ("*.shop.example.com", "*.shop.example.com", true),
            ("*.shop.example.com", "*.a.shop.example.com", true),
            ("*.shop.example.com", "shop.example.com", false),
            ("*.shop.example.com", "evilshop.example.com", false),
            ("*.example.com", "*.com", false),
        ] {
            assert_eq!(domain_holds(d, h), held, "{d} holds {h}");
        }
        assert!(domains_overlap("*.example.com", "shop.example.com"));
        assert!(domains_overlap("shop.example.com", "*.example.com"));
        assert!(!domains_overlap("shop.example.com", "shop.example.org"));
        assert!(!domains_overlap("*.a.com", "*.b.com"));
    }

    #[test]
    fn path_prefixes_follow_rfc_3986() {
        for ok in [
            "/",
            "/api",
            "/api/",
            "/a/b-c_d.e~f",
            "/a;b=c",
            "/@me",
            "/a:b",
            "/%20x",
            "/$&'()*+,",
        ] {
            assert!(path_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "api", "//", "/a//b", "/a b", "/a{b}", "/a\"b", "/a\rb", "/a\n", "/a?b", "/a#b",
            "/%zz", "/%2", "/./a", "/a/..", "/a\\b", "/a<b>", "/é",
        ] {
            assert!(path_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(path_prefix(&format!("/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn volume_options_never_reach_the_host() {
        use crate::wire::VolumeSpec;
        let vol = |pairs: &[(&str, &str)]| VolumeSpec {
            name: "v".into(),
            path: "/v".into(),
            read_only: false,
            scope: Default::default(),
            driver: "local".into(),
            options: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        for ok in [
            &[][..],
            &[
                ("type", "nfs"),
                ("o", "addr=10.0.0.1,rw"),
                ("device", ":/export"),
            ][..],
            &[("type", "tmpfs"), ("o", "size=64m")][..],
            &[("type", "cifs"), ("device", "//server/share")][..],
        ] {
            assert!(volume_options(&vol(ok)).is_ok(), "{ok:?}");
        }
        for (bad, why) in [
            (
                &[("type", "none"), ("o", "bind"), ("device", "/")][..],
                "bind",
            ),
            (&[("o", "bind"), ("device", "/var/run")][..], "bind"),
            (
                &[("type", "nfs"), ("o", "bind"), ("device", ":/x")][..],
                "bind",
            ),
            (&[("type", "tmpfs"), ("o", "size=1m,rbind")][..], "bind"),
            (
                &[("type", "ext4"), ("device", "/dev/sda1")][..],
                "not allowed",
            ),
            (&[("type", "nfs"), ("device", "/etc")][..], "not a share"),
            (
                &[("type", "tmpfs"), ("device", "/var/run")][..],
                "not a share",
            ),
            (
                &[("type", "nfs"), ("uid", "0")][..],
                "unknown driver option",
            ),
        ] {
            let err = volume_options(&vol(bad)).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn next_paths() {
        for ok in ["/", "/hosts", "/services/shop?tab=logs"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil",
            "/\t/evil.example",
            "https://x",
            "/ /x",
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn env_values_and_secret_names() {
        use crate::wire::{EnvValue, ServiceSpec};
        let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
            "image": "x", "env": {"A": "1", "PW": {"secret": "db-password"}}
        }))
        .unwrap();
        assert_eq!(service_spec(&spec), Ok(()));
        assert_eq!(spec.secret_refs().count(), 1);
        let hidden = spec.with_values_hidden();
        assert!(matches!(hidden.env["A"], EnvValue::Hidden(_)));
        assert_eq!(hidden.env["PW"], spec.env["PW"]);
        assert!(service_spec(&hidden).unwrap_err().contains("hidden"));
        for bad in [
            serde_json::json!({"image": "x", "env": {"A": {"secret": "Bad Name"}}}),
            serde_json::json!({"image": "x", "env": {"A": {"secret": "pw", "version": 0}}}),
        ] {
            let spec: ServiceSpec = serde_json::from_value(bad.clone()).unwrap();
            assert!(service_spec(&spec).is_err(), "{bad}");
        }
        for bad in [
            serde_json::json!({"image": "x", "env": {"A": {"secret": "pw", "extra": 1}}}),
            serde_json::json!({"image": "x", "env": {"A": 5}}),
            serde_json::json!({"image": "x", "env": {"A": {"value": "x"}}}),
        ] {
            assert!(
                serde_json::from_value::<ServiceSpec>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert!(secret_value("").is_err());
        assert!(secret_value(&"x".repeat(SECRET_MAX + 1)).is_err());
        assert!(secret_value("s3cret\n").is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        use crate::wire::ServiceSpec;
        for bad in [
            serde_json::json!({"image": "x", "privileged": true}),
            serde_json::json!({"image": "x", "network_mode": "host"}),
            serde_json::json!({"image": "x", "resources": {"cpu_millis": 1, "devices": ["/dev/kmsg"]}}),
            serde_json::json!({"image": "x", "health": {"kind": "http", "path": "/", "cap_add": ["ALL"]}}),
            serde_json::json!({"image": "x", "health": {"kind": "http", "command": ["x"]}}),
            serde_json::json!({"image": "x", "volumes": [{"name": "v", "path": "/v", "source": "/"}]}),
            serde_json::json!({"image": "x", "placement": {"strategy": "spread", "pid": "host"}}),
            serde_json::json!({"image": "x", "update": {"max_surge": 1, "ipc": "host"}}),
        ] {
            let err = serde_json::from_value::<ServiceSpec>(bad.clone()).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        // The same spec, as Berth writes it, reads back the same.
        let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
            "image": "x", "port": 80, "health": {"kind": "http", "path": "/h"},
            "env": {"A": "1", "PW": {"secret": "pw", "version": 2}}
        }))
        .unwrap();
        let again: ServiceSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn spec_hashes_are_pinned() {
        // Replicas are replaced when their spec's hash changes: a change in how a
        // spec is hashed would restart every replica of every new revision.
        let spec = |v: serde_json::Value| -> crate::wire::ServiceSpec {
            serde_json::from_value(v).unwrap()
        };
        let pinned = [
            (serde_json::json!({"image": "demo:v1"}), "0a8dec8414222ed1"),
            (
                serde_json::json!({
                    "image": "127.0.0.1:5000/berth-demo:v1", "port": 8080, "env": {"A": "1"},
                    "health": {"kind": "http", "path": "/healthz"}
                }),
                "2ff1669dec55f612",
            ),
            (
                serde_json::json!({
                    "image": "db:16", "command": ["postgres"], "args": ["-c", "fsync=on"],
                    "env": {"PW": {"secret": "pw", "version": 3}},
                    "resources": {"cpu_millis": 500, "memory_bytes": 268435456},
                    "placement": {"constraints": ["zone=a"], "strategy": "binpack"},
                    "volumes": [{"name": "data", "path": "/var/lib/db"}]
                }),
                "1f09a3174c17670e",
            ),
        ];
        let got: Vec<String> = pinned.iter().map(|(j, _)| spec(j.clone()).hash()).collect();
        let want: Vec<&str> = pinned.iter().map(|(_, h)| *h).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_new_optional_field_at_its_default_or_another_field_order_keeps_every_hash() {
        let spec: crate::wire::ServiceSpec = serde_json::from_value(serde_json::json!({
            "image": "demo:v1", "port": 8080, "env": {"A": "", "B": "2"},
            "health": {"kind": "http", "path": "/healthz"},
            "volumes": [{"name": "data", "path": "/data"}]
        }))
        .unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(crate::wire::canonical_hash(&value), spec.hash());
        // What a spec of a later Berth with a new optional field (None, an empty
        // list or map) serialises to, at the top and inside its parts.
        let mut later = value.clone();
        later["sidecars"] = serde_json::json!([]);
        later["dns"] = serde_json::Value::Null;
        later["health"]["headers"] = serde_json::json!({});
        later["volumes"][0]["options_from"] = serde_json::Value::Null;
        assert_eq!(crate::wire::canonical_hash(&later), spec.hash());
        // The same fields written in another order.
        let mut reordered = serde_json::Map::new();
        let object = value.as_object().unwrap();
        for k in object.keys().rev() {
            reordered.insert(k.clone(), object[k].clone());
        }
        assert_eq!(
            crate::wire::canonical_hash(&serde_json::Value::Object(reordered)),
            spec.hash()
        );
        // An empty value is still a value: `A=""` is not `A` unset.
        let mut unset = spec.clone();
        unset.env.remove("A");
        assert_ne!(unset.hash(), spec.hash());
        // How replicas change is not what they are.
        let mut policy = spec.clone();
        policy.update.batch_size = Some(2);
        assert_eq!(policy.hash(), spec.hash());
        assert!(policy.same_replicas(&spec));
        assert!(!unset.same_replicas(&spec));
    }

    #[test]
    fn form_parsers() {
        assert_eq!(parse_cpus("0.5"), Ok(500));
        assert_eq!(parse_cpus("250m"), Ok(250));
        assert_eq!(parse_cpus(""), Ok(0));
        assert!(parse_cpus("lots").is_err());
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(
            parse_words(r#"["sh", "-c", "echo hi"]"#),
            Ok(vec!["sh".to_string(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            parse_words(" httpd  -f "),
            Ok(vec!["httpd".to_string(), "-f".into()])
        );
        let env = parse_env("A=1\n B = x=y \n\nPW=${secret:db-password}").unwrap();
        assert_eq!(env["A"], "1".into());
        assert_eq!(env["B"], "x=y".into());
        assert_eq!(
            env["PW"].secret().map(|r| r.secret.as_str()),
            Some("db-password")
        );
        for (k, v) in &env {
            assert_eq!(parse_env(&format_env(k, v)).unwrap()[k], *v);
        }
        assert!(parse_env("PW=${secret:Bad Name}").is_err());
        assert!(parse_env("A=1\nA=2").is_err());
        assert!(parse_env("novalue").is_err());
    }

    #[test]
    fn endpoints_and_addresses() {
        for ok in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2376",
            "tcp://docker.example.com:2375",
        ] {
            assert!(endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "unix://rel",
            "unix:///",
            "tcp://host",
            "tcp://:1",
            "tcp://h:0",
            "tcp://h:99999",
            "http://h:1",
            "ssh://h",
            "tcp://a b:1",
        ] {
            assert!(endpoint(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "127.0.0.11",
            "10.0.0.5",
            "docker-1.example.com",
            "localhost",
        ] {
            assert!(address(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "-x", "x..y", "1.2.3.999.5 x"] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        for (pw, ok) in [
            ("short", false),
            ("        ", false),
            ("eight ch", true),
            ("a-much-longer-passphrase", true),
        ] {
            assert_eq!(password(pw).is_ok(), ok, "{pw:?}");
        }
        assert!(password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }

    #[test]
    fn token_names() {
        for ok in ["ci", "CI deploy (main)", "x"] {
            assert!(token_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ci", "ci ", "tab\there", "ünï", &"a".repeat(65)] {
            assert!(token_name(bad).is_err(), "{bad:?}");
        }
    }
}
