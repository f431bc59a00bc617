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
