//! A Compose file into the services Berth runs. The file is read twice: as plain
//! YAML, where every key is sorted into taken, left out or refused (with the
//! reason noted) and only the taken ones are kept; then the kept part as
//! `docker-compose-types` reads it, mapped value by value (`values`).

mod keys;
mod values;

use std::collections::BTreeMap;

use docker_compose_types::Compose;
use domain::wire::{KeyNote, KeyVerdict, StackFormat};
use serde_norway::{Mapping, Value};

use super::locate::locate;
use super::{Parsed, StackError, Wanted};
use keys::Take;

/// What the walk over the plain YAML keeps aside for a service: keys the typed
/// reading does not know (`update_config.order`, `cpus`, the long `env_file`).
#[derive(Debug, Clone, Default)]
struct Extra {
    order: Option<String>,
    cpus: Option<String>,
    /// Paths, and whether each must exist.
    env_files: Vec<(String, bool)>,
    /// Secrets by source, with their target (a list may mix both forms, which the
    /// typed reading refuses).
    secrets: Vec<(String, Option<String>)>,
}

/// The notes of one reading, and the text they point into.
struct Notes<'a> {
    text: &'a str,
    list: Vec<KeyNote>,
}

impl Notes<'_> {
    fn add(&mut self, key: String, verdict: KeyVerdict, reason: impl Into<String>) {
        self.list.push(KeyNote {
            key,
            verdict,
            reason: reason.into(),
        });
    }

    /// An error about the value at `path`, with its place when it can be found.
    fn error(&self, path: &str, message: impl std::fmt::Display) -> StackError {
        let parts: Vec<&str> = path.split('.').collect();
        match locate(self.text, &parts) {
            Some((line, column)) => StackError::At {
                message: format!("{path}: {message}"),
                line,
                column,
            },
            None => StackError::Invalid(format!("{path}: {message}")),
        }
    }
}

/// Reads a Compose file for `team`; `files` hold its `env_file`s by path.
pub(super) fn read_compose(
    text: &str,
    mut value: Value,
    team: Option<&str>,
    files: &BTreeMap<String, String>,
) -> Result<Parsed, StackError> {
    let team = team
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            StackError::Invalid(
                "a Compose file names no team: choose the team its services go to".into(),
            )
        })?;
    let mut notes = Notes {
        text,
        list: Vec::new(),
    };
    // `<<: *defaults` merged first, so that the keys it brings are sorted too.
    value.apply_merge().map_err(|e| super::yaml_error(&e))?;
    let extras = sift(&mut value, &mut notes)?;
    env_bytes(&extras, files)?;
    let compose: Compose = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        notes.error(&path, e.inner())
    })?;
    let mut services = Vec::new();
    for (name, service) in &compose.services.0 {
        let Some(service) = service else {
            return Err(notes.error(&format!("services.{name}"), "a service needs an image"));
        };
        let extra = extras.get(name).cloned().unwrap_or_default();
        let mut mapper = values::Mapper {
            name,
            compose: &compose,
            extra: &extra,
            files,
            notes: &mut notes,
        };
        let (replicas, spec, proxy) = mapper.service(service)?;
        services.push(Wanted {
            name: name.clone(),
            team: team.to_string(),
            replicas,
            spec,
            proxy,
        });
    }
    Ok(Parsed {
        format: StackFormat::Compose,
        services,
        notes: notes.list,
    })
}

/// Refuses env files that, counted once per service that names them, add up to
/// more than [`super::MAX_ENV_BYTES`].
fn env_bytes(
    extras: &BTreeMap<String, Extra>,
    files: &BTreeMap<String, String>,
) -> Result<(), StackError> {
    let total: usize = extras
        .values()
        .flat_map(|e| &e.env_files)
        .filter_map(|(path, _)| files.get(path).map(String::len))
        .sum();
    if total > super::MAX_ENV_BYTES {
        return Err(StackError::Invalid(format!(
            "the env files add up to {} MiB over the services that name them; at most {} MiB",
            total >> 20,
            super::MAX_ENV_BYTES >> 20
        )));
    }
    Ok(())
}

/// Sorts every key of the file, notes what is not taken and removes it, and
/// keeps aside what the typed reading lacks. Refuses interpolation (`${VAR}`):
/// Berth reads no one's shell.
fn sift(value: &mut Value, notes: &mut Notes) -> Result<BTreeMap<String, Extra>, StackError> {
    let Some(top) = value.as_mapping_mut() else {
        return Err(StackError::Invalid(
            "a Compose file is a mapping with `services` in it".into(),
        ));
    };
    filter(top, "", notes, |k, _| keys::top(k));
    let mut extras = BTreeMap::new();
    if let Some(Value::Mapping(services)) = top.get_mut("services") {
        for (name, service) in services.iter_mut() {
            let name = key_text(name);
            if let Value::Mapping(service) = service {
                extras.insert(name.clone(), sift_service(&name, service, notes));
            }
        }
    }
    if let Some(Value::Mapping(volumes)) = top.get_mut("volumes") {
        for (name, volume) in volumes.iter_mut() {
            if let Value::Mapping(volume) = volume {
                let at = format!("volumes.{}", key_text(name));
                filter(volume, &at, notes, |k, _| keys::volume(k));
            }
        }
    }
    interpolation(value, "", notes);
    unescape(value);
    Ok(extras)
}

fn sift_service(name: &str, service: &mut Mapping, notes: &mut Notes) -> Extra {
    let at = format!("services.{name}");
    filter(service, &at, notes, keys::service);
    let mut extra = Extra {
        cpus: service.remove("cpus").map(|v| scalar_text(&v)),
        env_files: service
            .remove("env_file")
            .map(|v| env_file_paths(&v))
            .unwrap_or_default(),
        secrets: service
            .remove("secrets")
            .map(|v| secret_refs(&v))
            .unwrap_or_default(),
        ..Extra::default()
    };
    if let Some(Value::Mapping(h)) = service.get_mut("healthcheck") {
        filter(h, &format!("{at}.healthcheck"), notes, |k, _| {
            keys::healthcheck(k)
        });
    }
    let Some(Value::Mapping(deploy)) = service.get_mut("deploy") else {
        return extra;
    };
    let at = format!("{at}.deploy");
    filter(deploy, &at, notes, keys::deploy);
    if let Some(Value::Mapping(u)) = deploy.get_mut("update_config") {
        filter(u, &format!("{at}.update_config"), notes, |k, _| {
            keys::update_config(k)
        });
        extra.order = u.remove("order").map(|v| scalar_text(&v));
    }
    if let Some(Value::Mapping(r)) = deploy.get_mut("restart_policy") {
        filter(r, &format!("{at}.restart_policy"), notes, |k, _| {
            keys::restart_policy(k)
        });
    }
    if let Some(Value::Mapping(p)) = deploy.get_mut("placement") {
        filter(p, &format!("{at}.placement"), notes, |k, _| {
            keys::placement(k)
        });
    }
    if let Some(Value::Mapping(r)) = deploy.get_mut("resources") {
        for part in ["limits", "reservations"] {
            if let Some(Value::Mapping(m)) = r.get_mut(part) {
                filter(m, &format!("{at}.resources.{part}"), notes, |k, _| {
                    keys::resources(k)
                });
            }
        }
    }
    extra
}

/// Keeps the keys `take` maps; notes and removes the others.
fn filter(map: &mut Mapping, at: &str, notes: &mut Notes, take: impl Fn(&str, &Value) -> Take) {
    let mut drop = Vec::new();
    for (k, v) in map.iter() {
        let key = key_text(k);
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match take(&key, v) {
            Take::Map => {}
            Take::Ignore(why) => {
                notes.add(path, KeyVerdict::Ignored, why);
                drop.push(k.clone());
            }
            Take::Refuse(why) => {
                notes.add(path, KeyVerdict::Refused, why);
                drop.push(k.clone());
            }
        }
    }
    for k in drop {
        map.remove(&k);
    }
}

/// Notes every string that asks for a variable of the shell (`${VAR}`, `$VAR`).
fn interpolation(value: &Value, at: &str, notes: &mut Notes) {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match value {
        Value::String(s) if asks_shell(s) => notes.add(
            at.to_string(),
            KeyVerdict::Refused,
            format!("{s:?} takes a variable from the shell; Berth reads no one's shell: write the value"),
        ),
        Value::Mapping(m) => {
            for (k, v) in m {
                interpolation(v, &join(&key_text(k)), notes);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                interpolation(v, &join(&i.to_string()), notes);
            }
        }
        _ => {}
    }
}

/// Compose's `$$` is one `$` (strings that ask the shell are refused already).
fn unescape(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("$$") => *s = s.replace("$$", "$"),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| unescape(v)),
        Value::Sequence(items) => items.iter_mut().for_each(unescape),
        _ => {}
    }
}

/// `${…}` or `$NAME`, but not the escaped `$$`.
fn asks_shell(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            match b.get(i + 1) {
                Some(b'$') => i += 1,
                Some(c) if *c == b'{' || c.is_ascii_alphabetic() || *c == b'_' => return true,
                _ => {}
            }
        }
        i += 1;
    }
    false
}

fn key_text(k: &Value) -> String {
    scalar_text(k)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// `env_file` as a path, a list of paths, or a list of `{path, required}`.
fn env_file_paths(v: &Value) -> Vec<(String, bool)> {
    let one = |v: &Value| match v {
        Value::Mapping(m) => m.get("path").map(|p| {
            let required = m.get("required").and_then(Value::as_bool).unwrap_or(true);
            (scalar_text(p), required)
        }),
        other => Some((scalar_text(other), true)),
    };
    match v {
        Value::Sequence(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// A service's `secrets`: names, or `{source, target}`.
fn secret_refs(v: &Value) -> Vec<(String, Option<String>)> {
    let Value::Sequence(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match i {
            Value::Mapping(m) => m
                .get("source")
                .map(|s| (scalar_text(s), m.get("target").map(scalar_text))),
            other => Some((scalar_text(other), None)),
        })
        .collect()
}

#[cfg(test)]
mod tests;
