//! What changed between two specs, in words: a revision's message and the diff
//! between revisions.

use super::*;

pub(super) fn replicas_words(n: u32) -> String {
    format!("{n} replica{}", if n == 1 { "" } else { "s" })
}

/// What changed between two specs, in a few words each.
pub fn spec_changes(old: &ServiceSpec, new: &ServiceSpec) -> Vec<String> {
    let mut out = Vec::new();
    if old.image != new.image {
        out.push(format!("image {} → {}", old.image, new.image));
    }
    if old.command != new.command || old.args != new.args {
        out.push("command changed".into());
    }
    if old.env != new.env {
        // Variables by name; a secret by name and version, never a value.
        let keys: BTreeMap<&String, ()> = old
            .env
            .iter()
            .chain(new.env.iter())
            .filter(|(k, _)| old.env.get(*k) != new.env.get(*k))
            .map(|(k, _)| (k, ()))
            .collect();
        let word = |k: &String| match (old.env.get(k), new.env.get(k)) {
            (Some(a @ EnvValue::Secret(_)), Some(b @ EnvValue::Secret(_))) => {
                format!("{k} ({} → {})", a.describe(), b.describe())
            }
            (_, Some(b @ EnvValue::Secret(_))) => format!("{k} ({})", b.describe()),
            _ => k.to_string(),
        };
        out.push(format!(
            "env {}",
            keys.keys().map(|k| word(k)).collect::<Vec<_>>().join(", ")
        ));
    }
    if old.port != new.port || old.host_port != new.host_port {
        out.push("ports changed".into());
    }
    if old.resources != new.resources {
        out.push(format!(
            "resources {} → {}",
            resources_words(&old.resources),
            resources_words(&new.resources)
        ));
    }
    if old.health != new.health {
        out.push(format!(
            "health check {} → {}",
            health_words(&old.health),
            health_words(&new.health)
        ));
    }
    if old.restart != new.restart {
        out.push("restart policy changed".into());
    }
    if old.placement != new.placement {
        out.push("placement changed".into());
    }
    if old.update != new.update {
        out.push("update policy changed".into());
    }
    if old.volumes != new.volumes {
        let words = |v: &[domain::wire::VolumeSpec]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(validate::format_volume)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        out.push(format!(
            "volumes {} → {}",
            words(&old.volumes),
            words(&new.volumes)
        ));
    }
    out
}

pub(super) fn resources_words(r: &Resources) -> String {
    format!(
        "{} CPU / {}",
        domain::format::cpus(i64::from(r.cpu_millis)),
        domain::format::bytes(r.memory_bytes as i64)
    )
}

pub(super) fn health_words(h: &Option<HealthCheck>) -> String {
    match h {
        None => "none".into(),
        Some(h) => match &h.probe {
            HealthProbe::Http { path } => format!("GET {path}"),
            HealthProbe::Command { command } => command.join(" "),
        },
    }
}

/// Every field that differs, as `path: old → new`.
pub fn spec_diff(old: &ServiceSpec, new: &ServiceSpec) -> Vec<String> {
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&path, v, out);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(old).unwrap_or_default(), &mut a);
    flatten("", &serde_json::to_value(new).unwrap_or_default(), &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(x), Some(y)) => Some(format!("{k}: {x} → {y}")),
            (None, Some(y)) => Some(format!("{k}: (none) → {y}")),
            (Some(x), None) => Some(format!("{k}: {x} → (none)")),
            (None, None) => None,
        })
        .collect()
}
