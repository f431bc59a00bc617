//! What the forms' text fields hold, parsed and written back: environment
//! lines, command words, CPUs, bytes.

#[allow(unused_imports)]
use super::*;

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
