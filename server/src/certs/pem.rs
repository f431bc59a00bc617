//! Reading a certificate chain and its key from PEM, and checking that they make
//! a certificate the proxy can serve for a host: the key matches, the names cover
//! the host, it is not expired. Pure: `now` is passed in.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate and key cannot be served for a host. Display is the sentence
/// the person who uploaded them reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("the certificate holds no PEM block \"BEGIN CERTIFICATE\"")]
    NoCertificate,
    #[error("the certificate's PEM does not read: {0}")]
    BadCertificatePem(String),
    #[error("certificate {0} of the chain is not a readable X.509 certificate")]
    BadCertificate(usize),
    #[error("the private key field holds no key in PEM (PKCS#8, PKCS#1 RSA or SEC1 EC)")]
    NoKey,
    #[error(
        "the private key is not a key this server can use (RSA, ECDSA P-256/P-384 or Ed25519)"
    )]
    BadKey,
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("the certificate is for {names}, not {host}")]
    WrongHost { host: String, names: String },
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("the certificate is not valid before {0}")]
    NotYetValid(String),
}

/// A certificate ready to serve, with what the pages show of it.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub key: Arc<CertifiedKey>,
    /// The chain as PEM, the way it is stored.
    pub chain_pem: String,
    pub issuer: Option<String>,
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// Whether a name in a certificate covers a host: itself, or `*.base` covering
/// one label under `base` (and `*.base` only itself).
pub fn covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(base), Some((label, rest))) => label != "*" && !label.is_empty() && rest == base,
        _ => false,
    }
}

/// Reads a chain and its key, checks them against `host` at `now` (unix seconds).
pub fn read(chain: &str, key: &str, host: &str, now: i64) -> Result<Parsed, PemError> {
    let parsed = read_unchecked(chain, key)?;
    if !parsed.names.iter().any(|n| covers(n, host)) {
        return Err(PemError::WrongHost {
            host: host.to_string(),
            names: if parsed.names.is_empty() {
                "no name".into()
            } else {
                parsed.names.join(", ")
            },
        });
    }
    if parsed.not_after <= now {
        return Err(PemError::Expired(date(parsed.not_after)));
    }
    if parsed.not_before > now + 300 {
        return Err(PemError::NotYetValid(date(parsed.not_before)));
    }
    Ok(parsed)
}

/// Reads a chain and its key, checking only that the key is the certificate's
/// (what was stored once is served again, expired or not, by the caller's choice).
pub fn read_unchecked(chain: &str, key: &str) -> Result<Parsed, PemError> {
    let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::BadCertificatePem(e.to_string()))?;
    let Some(leaf) = certs.first() else {
        return Err(PemError::NoCertificate);
    };
    for (i, c) in certs.iter().enumerate() {
        X509Certificate::from_der(c).map_err(|_| PemError::BadCertificate(i + 1))?;
    }
    let (issuer, names, not_before, not_after) = {
        let (_, x509) = X509Certificate::from_der(leaf).map_err(|_| PemError::BadCertificate(1))?;
        let issuer: Option<String> = x509
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let validity = x509.validity();
        (
            issuer,
            names(&x509),
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        )
    };
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| PemError::NoKey)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| PemError::BadKey)?;
    let chain_pem = certs.iter().map(|c| to_pem(c)).collect::<String>();
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|_| PemError::KeyMismatch)?;
    Ok(Parsed {
        key: Arc::new(certified),
        chain_pem,
        issuer,
        names,
        not_before,
        not_after,
    })
}

/// The DNS names a certificate covers (its subject alternative names, or its
/// common name when it has none).
fn names(x509: &X509Certificate<'_>) -> Vec<String> {
    let sans: Vec<String> = x509
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !sans.is_empty() {
        return sans;
    }
    x509.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn to_pem(der: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A unix time as a date a person reads (UTC).
pub fn date(unix: i64) -> String {
    domain::format::utc_datetime(unix * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    const NOW: i64 = 1_800_000_000;

    fn made(names: &[&str], from: i64, to: i64) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.not_before =
            rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(from as u64);
        p.not_after = rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(to as u64);
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn names_cover_hosts_as_browsers_read_them() {
        for (name, host, ok) in [
            ("shop.example.com", "shop.example.com", true),
            ("Shop.Example.com", "shop.example.com", true),
            ("*.example.com", "shop.example.com", true),
            ("*.example.com", "*.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "a.shop.example.com", false),
            ("*.example.com", "*.shop.example.com", false),
            ("shop.example.com", "*.example.com", false),
            ("example.com", "shop.example.com", false),
        ] {
            assert_eq!(covers(name, host), ok, "{name} for {host}");
        }
    }

    #[test]
    fn a_good_pair_reads_with_its_dates_and_names() {
        let (cert, key) = made(
            &["shop.example.com", "www.example.com"],
            NOW - 60,
            NOW + 86_400,
        );
        let p = read(&cert, &key, "shop.example.com", NOW).unwrap();
        assert_eq!(p.names, ["shop.example.com", "www.example.com"]);
        assert_eq!((p.not_before, p.not_after), (NOW - 60, NOW + 86_400));
        // Stored as it is served: reading it back gives the same.
        let again = read(&p.chain_pem, &key, "www.example.com", NOW).unwrap();
        assert_eq!(again.not_after, p.not_after);
    }

    #[test]
    fn bad_pairs_are_refused_in_words() {
        let (cert, key) = made(&["shop.example.com"], NOW - 60, NOW + 86_400);
        let (_, other_key) = made(&["shop.example.com"], NOW - 60, NOW + 86_400);
        let (old, old_key) = made(&["shop.example.com"], NOW - 86_400, NOW - 60);
        let (later, later_key) = made(&["shop.example.com"], NOW + 86_400, NOW + 2 * 86_400);
        let cases: [(&str, &str, &str, PemError); 6] = [
            (&cert, &other_key, "shop.example.com", PemError::KeyMismatch),
            (
                &cert,
                &key,
                "api.example.com",
                PemError::WrongHost {
                    host: "api.example.com".into(),
                    names: "shop.example.com".into(),
                },
            ),
            (
                &old,
                &old_key,
                "shop.example.com",
                PemError::Expired(date(NOW - 60)),
            ),
            (
                &later,
                &later_key,
                "shop.example.com",
                PemError::NotYetValid(date(NOW + 86_400)),
            ),
            ("not pem", &key, "shop.example.com", PemError::NoCertificate),
            (&cert, "not a key", "shop.example.com", PemError::NoKey),
        ];
        for (cert, key, host, want) in cases {
            assert_eq!(read(cert, key, host, NOW).unwrap_err(), want);
        }
        assert!(PemError::KeyMismatch
            .to_string()
            .contains("does not belong"));
    }
}
