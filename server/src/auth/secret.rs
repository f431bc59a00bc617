//! Random secrets for session cookies and API tokens. Only their SHA-256 is stored:
//! a copy of the database lets nobody log in.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// API tokens start with this, so that they are easy to spot in a leak scan.
pub const TOKEN_PREFIX: &str = "berth_";

/// 256 random bits, base64url, behind `prefix`.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a secret: SHA-256, hex.
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The part of a token that is shown again later, to recognise it.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let a = generate(TOKEN_PREFIX);
        let b = generate(TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("berth_"));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(display_prefix(&a).len(), 12);
    }
}
