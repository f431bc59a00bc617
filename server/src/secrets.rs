//! The key that seals team secrets at rest, where it comes from, and sealing and
//! opening one value with AES-256-GCM. Each value is bound to its team, name and
//! version (the associated data), so a sealed value copied to another row does not
//! open. Values live in [`Plain`], whose `Debug` never shows them.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::store::Sealed;

/// The key file made beside the database when no key is configured.
pub const KEY_FILE: &str = "secret.key";

/// Why the key cannot be had, or a value cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("BERTH_SECRET_KEY must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")]
    BadKey,
    #[error("the secret key file {} is not 64 hex digits; restore it from a backup (without it the team secrets cannot be read)", .0.display())]
    BadFile(PathBuf),
    #[error("the secret key file {} can be read by others (mode {mode:o}); make it private with `chmod 600 {}`", .path.display(), .path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot read or make the secret key file {}: {cause}", .path.display())]
    Io { path: PathBuf, cause: String },
    #[error("the secret key does not open the secrets in this database: start Berth with the key they were written with (BERTH_SECRET_KEY or {KEY_FILE})")]
    WrongKey,
    #[error("a secret's value does not open with the key: it was changed outside Berth, or written with another key")]
    Tampered,
}

/// A secret's value, in memory only while a container is made.
#[derive(Clone, PartialEq, Eq)]
pub struct Plain(pub String);

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(a secret value)")
    }
}

/// The key, ready to seal and open.
pub struct Keyring {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    pub fn from_bytes(key: [u8; 32]) -> Keyring {
        Keyring {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// The configured key (`BERTH_SECRET_KEY`), else the key file in `data_dir`,
    /// made (mode 0600) the first time.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Keyring, KeyError> {
        if let Some(hex) = configured {
            return from_hex(hex)
                .map(Keyring::from_bytes)
                .ok_or(KeyError::BadKey);
        }
        let path = data_dir.join(KEY_FILE);
        let io = |e: std::io::Error| KeyError::Io {
            path: path.clone(),
            cause: e.to_string(),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(KeyError::Exposed { path, mode });
                }
                from_hex(&text)
                    .map(Keyring::from_bytes)
                    .ok_or(KeyError::BadFile(path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::os::unix::fs::OpenOptionsExt;
                let key = Aes256Gcm::generate_key(OsRng);
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                writeln!(f, "{}", to_hex(&key)).map_err(io)?;
                f.sync_all().map_err(io)?;
                tracing::info!(path = %path.display(), "made the key that encrypts team secrets; back it up with the database");
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(&key);
                Ok(Keyring::from_bytes(bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seals `value` under a fresh random nonce, bound to `context`.
    pub fn seal(&self, context: &str, value: &[u8]) -> Sealed {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value,
                    aad: context.as_bytes(),
                },
            )
            // AES-GCM fails only for messages of many gigabytes.
            .expect("sealing a small value");
        Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a value sealed with this key and `context`.
    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<Plain, KeyError> {
        if sealed.nonce.len() != 12 {
            return Err(KeyError::Tampered);
        }
        let bytes = self
            .cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Tampered)?;
        String::from_utf8(bytes)
            .map(Plain)
            .map_err(|_| KeyError::Tampered)
    }

    /// A value sealed once into the settings, opened at every start: a key other
    /// than the one the secrets were written with is refused before anything uses
    /// it.
    pub fn check_value(&self) -> String {
        let s = self.seal(CHECK_CONTEXT, CHECK_CONTEXT.as_bytes());
        format!("{}:{}", to_hex(&s.nonce), to_hex(&s.ciphertext))
    }

    /// Whether `stored` (from [`Keyring::check_value`]) opens with this key.
    pub fn verify(&self, stored: &str) -> Result<(), KeyError> {
        let (nonce, ct) = stored.split_once(':').ok_or(KeyError::WrongKey)?;
        let decode = |h: &str| -> Option<Vec<u8>> {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                .collect()
        };
        let sealed = Sealed {
            nonce: decode(nonce).ok_or(KeyError::WrongKey)?,
            ciphertext: decode(ct).ok_or(KeyError::WrongKey)?,
        };
        match self.open(CHECK_CONTEXT, &sealed) {
            Ok(p) if p.0 == CHECK_CONTEXT => Ok(()),
            _ => Err(KeyError::WrongKey),
        }
    }
}

const CHECK_CONTEXT: &str = "berth-secret-key-check";

/// The associated data of a secret's version: its team, name and version.
pub fn context(team_id: i64, name: &str, version: i64) -> String {
    format!("berth-secret:{team_id}:{name}:{version}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn values_open_only_in_their_place_and_with_their_key() {
        let k = Keyring::from_bytes([7; 32]);
        let sealed = k.seal(&context(1, "pw", 2), b"hunter2");
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(k.open(&context(1, "pw", 2), &sealed).unwrap().0, "hunter2");
        // Another row, another version, another team: no.
        for other in [
            context(2, "pw", 2),
            context(1, "pw", 3),
            context(1, "px", 2),
        ] {
            assert!(k.open(&other, &sealed).is_err(), "{other}");
        }
        // A nonce is never reused: the same value seals differently.
        assert_ne!(k.seal("c", b"x"), k.seal("c", b"x"));
        let other = Keyring::from_bytes([8; 32]);
        assert!(other.open(&context(1, "pw", 2), &sealed).is_err());
        assert_eq!(format!("{:?}", Plain("hunter2".into())), "(a secret value)");

        let check = k.check_value();
        assert!(k.verify(&check).is_ok());
        assert!(matches!(other.verify(&check), Err(KeyError::WrongKey)));
        assert!(k.verify("junk").is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        let a = Keyring::load(None, &dir.0).unwrap();
        let path = dir.0.join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Keyring::load(None, &dir.0).unwrap();
        let sealed = a.seal("c", b"v");
        assert_eq!(b.open("c", &sealed).unwrap().0, "v");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::load(None, &dir.0).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        let hex = "ab".repeat(32);
        let c = Keyring::load(Some(&hex), &dir.0).unwrap();
        assert!(c.open("c", &sealed).is_err());
        for bad in ["", "ab", &"zz".repeat(32)] {
            assert!(matches!(
                Keyring::load(Some(bad), &dir.0),
                Err(KeyError::BadKey)
            ));
        }
    }
}
