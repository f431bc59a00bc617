//! A service's spec: image, environment, secrets, volumes, the rollout policy.

#[allow(unused_imports)]
use super::*;

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
    volumes(&spec.volumes)?;
    update_policy(&spec.update)?;
    if spec.update.canary.is_some()
        && spec.update.failure_action == crate::wire::FailureAction::Pause
    {
        return Err(
            "a canary that fails is rolled back (paused, it would keep its share of the \
             requests): choose the rollback failure action"
                .into(),
        );
    }
    if spec.update.canary.is_some() && spec.update_order() == crate::wire::UpdateOrder::StopFirst {
        return Err(
            "a canary runs new replicas beside the old ones: not with the stop-first \
             order (a service with per-replica volumes is stop-first)"
                .into(),
        );
    }
    Ok(())
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
        if let Some(class) = &v.class {
            class_of_volume(v, class)?;
            continue;
        }
        if v.driver != "local" {
            return Err(format!(
                "volume {}: the driver must be \"local\" (its options declare NFS or tmpfs volumes); a plugin's volume names a class an admin made",
                v.name
            ));
        }
        volume_options(v)?;
    }
    Ok(())
}

/// A volume made from a class: the class's name to the grammar, and nothing of
/// the driver's in the spec (an admin's class holds the driver and its options).
fn class_of_volume(v: &crate::wire::VolumeSpec, class: &str) -> Result<(), String> {
    volume_class_name(class)?;
    if v.driver != "local" || !v.options.is_empty() {
        return Err(format!(
            "volume {}: its class {class} gives the driver and its options; leave driver and options out",
            v.name
        ));
    }
    Ok(())
}

/// A volume class's name: as a volume's (a DNS label of up to 40 characters).
pub fn volume_class_name(s: &str) -> Result<(), String> {
    if dns_label(s) && s.len() <= 40 {
        Ok(())
    } else {
        Err(format!(
            "invalid volume class {s:?}: use up to 40 lowercase letters, digits and '-'"
        ))
    }
}

/// A Docker volume driver's name: `local`, or a plugin's (`rclone`,
/// `vieux/sshfs:latest`).
pub fn volume_driver(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid volume driver {s:?}: use a Docker volume driver's name, such as local or rclone"
        ))
    }
}

/// A class as an admin gives it: its name, its driver, at most 32 options of
/// printable text.
pub fn volume_class(c: &crate::wire::VolumeClassInput) -> Result<(), String> {
    volume_class_name(&c.name)?;
    volume_driver(&c.driver)?;
    if c.options.len() > 32 {
        return Err("a volume class takes at most 32 options".into());
    }
    for (k, v) in &c.options {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !key_ok {
            return Err(format!(
                "invalid option name {k:?}: use up to 64 letters, digits, '.', '_' or '-'"
            ));
        }
        if v.len() > 1024 || v.chars().any(char::is_control) {
            return Err(format!(
                "the option {k} has a value that is too long or holds control characters"
            ));
        }
    }
    if c.teams.len() > 100 {
        return Err("a volume class lists at most 100 teams".into());
    }
    Ok(())
}

/// Filesystems a spec's local volume may ask for: network shares and memory. A
/// bind mount (`type=none`, `o=bind`) or a device of the host would reach the
/// host's own files, so none is accepted in a spec, from anyone; host paths come
/// only from what an admin defines.
pub(super) const VOLUME_TYPES: [&str; 4] = ["nfs", "nfs4", "cifs", "tmpfs"];

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

/// The volumes field of the forms: one a line, `NAME:/PATH[:ro] [shared]
/// [class=CLASS] [KEY=VALUE…]`.
pub fn parse_volumes(text: &str) -> Result<Vec<crate::wire::VolumeSpec>, String> {
    use crate::wire::{VolumeScope, VolumeSpec};
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let head = words.next().unwrap_or_default();
        let bad = || {
            format!("invalid volume {line:?}: write NAME:/PATH, then :ro, shared, class=CLASS or KEY=VALUE if needed")
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
            class: None,
        };
        for w in words {
            if let Some(class) = w.strip_prefix("class=") {
                v.class = Some(class.to_string());
                continue;
            }
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
    if let Some(class) = &v.class {
        s.push_str(&format!(" class={class}"));
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
    if let Some(g) = &u.gates {
        gates(g)?;
    }
    if let Some(c) = &u.canary {
        canary(c)?;
    }
    Ok(())
}

/// Gates that can be judged: at least one limit, each in range, a window from
/// 1 s to 10 min.
pub fn gates(g: &crate::wire::Gates) -> Result<(), String> {
    if g.max_error_rate.is_none() && g.max_p99_ms.is_none() {
        return Err("gates need a max error rate, a max p99 or both".into());
    }
    if let Some(r) = g.max_error_rate {
        if r.0 == 0 || r.0 >= crate::wire::Ratio::MILLION {
            return Err(format!(
                "the max error rate must be above 0 and below 1 (0.01 is 1%), not {}",
                r.as_f64()
            ));
        }
    }
    if let Some(ms) = g.max_p99_ms {
        if !(1..=600_000).contains(&ms) {
            return Err("the max p99 must be from 1 ms to 10 min".into());
        }
    }
    if !(1_000..=600_000).contains(&g.window_ms) {
        return Err("the gates' window must be from 1 s to 10 min".into());
    }
    Ok(())
}

/// `1%`, `0.5 %` or `1` (a percent) into a share; empty is none.
pub fn parse_percent(text: &str) -> Result<Option<crate::wire::Ratio>, String> {
    let t = text.trim().trim_end_matches('%').trim();
    if t.is_empty() {
        return Ok(None);
    }
    let v: f64 = t
        .parse()
        .map_err(|_| format!("invalid percent {:?}: write e.g. 1% or 0.5%", text.trim()))?;
    if !(v > 0.0 && v < 100.0) {
        return Err(format!(
            "{:?} is not a percent above 0 and below 100",
            text.trim()
        ));
    }
    Ok(Some(crate::wire::Ratio((v * 10_000.0).round() as u32)))
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
