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
