//! Certificates the proxy serves over HTTPS: ordered from an ACME CA for routes
//! that ask for one, or uploaded for a host or a wildcard.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// Where a certificate comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertSource {
    /// Ordered and renewed by Berth from its ACME CA.
    Acme,
    /// Uploaded by a person; Berth does not renew it.
    Uploaded,
}

impl CertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CertSource::Acme => "acme",
            CertSource::Uploaded => "uploaded",
        }
    }

    pub fn parse(s: &str) -> Option<CertSource> {
        match s {
            "acme" => Some(CertSource::Acme),
            "uploaded" => Some(CertSource::Uploaded),
            _ => None,
        }
    }
}

/// Where a certificate stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// Served; renewed in time (ACME) or by its owner (uploaded).
    Valid,
    /// The first order is under way (or waits for its next attempt).
    Ordering,
    /// Served while a new one is ordered.
    Renewing,
    /// The last order failed; it is tried again later (see `next_attempt_ms`).
    Failed,
    /// Past its end: not served any more.
    Expired,
}

impl CertState {
    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Valid => "valid",
            CertState::Ordering => "ordering",
            CertState::Renewing => "renewing",
            CertState::Failed => "failed",
            CertState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<CertState> {
        [
            CertState::Valid,
            CertState::Ordering,
            CertState::Renewing,
            CertState::Failed,
            CertState::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for CertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertState::Valid => "valid",
            CertState::Ordering => "ordering",
            CertState::Renewing => "renewing",
            CertState::Failed => "failed",
            CertState::Expired => "expired",
        })
    }
}

/// A certificate as the Certificates page and the API show it (never its key).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    /// `shop.example.com`, or `*.example.com` for an uploaded wildcard.
    pub host: String,
    /// The team it belongs to; none for an admin's certificate for any team.
    pub team: Option<String>,
    pub source: CertSource,
    pub state: CertState,
    /// Who signed it (the issuer's common name), once there is one.
    pub issuer: Option<String>,
    /// The names it covers.
    #[serde(default)]
    pub names: Vec<String>,
    pub not_before_ms: Option<i64>,
    pub not_after_ms: Option<i64>,
    /// Why the last order failed, in words (the CA's problem when it gave one).
    pub problem: Option<String>,
    pub last_attempt_ms: Option<i64>,
    /// When Berth orders again: the renewal time, or the retry after a failure.
    pub next_attempt_ms: Option<i64>,
    /// Services whose routes use it.
    #[serde(default)]
    pub services: Vec<String>,
}

/// `POST /api/v1/certificates`: a certificate and its key in PEM, for a host or
/// a wildcard the team has (or any, for an admin).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateUpload {
    /// The host it is served for: `shop.example.com` or `*.example.com`.
    pub host: String,
    /// The team it belongs to; none (admins only) for every team's routes.
    #[serde(default)]
    pub team: Option<String>,
    /// The certificate, then its intermediates, in PEM.
    pub certificate_pem: String,
    /// Its private key in PEM (PKCS#8, PKCS#1 or SEC1). Never shown back.
    pub private_key_pem: String,
}

/// Never shows the key (a `{:?}` in a log line must not leak it).
impl std::fmt::Debug for CertificateUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateUpload")
            .field("host", &self.host)
            .field("team", &self.team)
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"(hidden)")
            .finish()
    }
}

/// `GET /api/v1/certificates`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificatesView {
    pub certificates: Vec<CertificateView>,
    /// The ACME directory certificates are ordered from, when ACME is on.
    pub acme_directory: Option<String>,
    /// Where the proxy listens for HTTPS, when it does.
    pub tls_listen: Option<String>,
}
