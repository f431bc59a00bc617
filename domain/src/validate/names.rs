//! Names, passwords, labels, placement constraints and engine endpoints.

#[allow(unused_imports)]
use super::*;

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

/// At most this many hosts in one what-if.
pub const MAX_HOSTS_LOST: usize = 50;

/// The hosts of a what-if: host names separated by commas (spaces around them
/// allowed), at least one, at most [`MAX_HOSTS_LOST`], none twice.
pub fn host_list(s: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
    if names.len() > MAX_HOSTS_LOST {
        return Err(format!(
            "too many hosts: {} named, at most {MAX_HOSTS_LOST}",
            names.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in &names {
        if n.is_empty() {
            return Err("name at least one host, separated by commas: h2 or h2,h3".into());
        }
        host_name(n)?;
        if !seen.insert(n.as_str()) {
            return Err(format!("host {n:?} is named twice"));
        }
    }
    Ok(names)
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
/// the label), `!gpu` (it has not). Parsed once, when a spec is read: a spec holds
/// only constraints that parse, so placement never meets one it cannot apply. On
/// the wire and in the store it is the text it was parsed from, written the one
/// way Display writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for Constraint {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        constraint(&s)
    }
}

impl From<Constraint> for String {
    fn from(c: Constraint) -> String {
        c.to_string()
    }
}

/// Constraints as the form's text field shows them: `zone=a, !gpu`.
pub fn format_constraints(list: &[Constraint]) -> String {
    list.iter()
        .map(Constraint::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
