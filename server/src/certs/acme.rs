//! Talking to an ACME CA (RFC 8555) through instant-acme: Berth's account (kept
//! sealed in the store), one order per host answered by HTTP-01 through the
//! proxy's own HTTP listener, and the CA's renewal information (RFC 9773). The
//! HTTP client is Berth's hyper-rustls with the system's roots and, for a test CA
//! such as Pebble, one more root named in the configuration.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse,
    CertificateIdentifier, ChallengeType, HttpClient, Identifier, NewAccount, NewOrder,
    OrderStatus, Problem, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::Challenges;

/// Where certificates are ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The CA's directory URL.
    pub directory: String,
    /// An address the CA may write to about the account (expiry, incidents).
    pub email: Option<String>,
    /// A PEM file of one more root to trust for the CA (a test CA's own).
    pub ca_root: Option<PathBuf>,
}

/// Why an order (or the account) failed. Display is what the Certificates page
/// shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcmeError {
    #[error("the CA said: {0}")]
    Refused(String),
    #[error("the CA's check of {host} failed: {problem}")]
    Validation { host: String, problem: String },
    #[error("the CA cannot be reached: {0}")]
    Unreachable(String),
    #[error("the CA did not finish the order within {0} s")]
    Timeout(u64),
    #[error("the CA offers no HTTP-01 challenge for {0}")]
    NoHttp01(String),
    #[error("the CA's certificate cannot be served: {0}")]
    BadCertificate(String),
    #[error("the ACME CA root file {path} cannot be read: {cause}")]
    Root { path: String, cause: String },
    #[error("Berth's ACME account cannot be read: {0}")]
    Account(String),
}

/// A problem from the CA as a person reads it: its detail, and the kind of
/// problem without the URN prefix.
pub fn problem_text(p: &Problem) -> String {
    let kind = p
        .r#type
        .as_deref()
        .map(|t| t.rsplit(':').next().unwrap_or(t).to_string());
    let mut text = match (&p.detail, kind) {
        (Some(d), Some(k)) => format!("{d} ({k})"),
        (Some(d), None) => d.clone(),
        (None, Some(k)) => k,
        (None, None) => "no reason given".into(),
    };
    for sub in &p.subproblems {
        if let Some(d) = &sub.detail {
            text.push_str("; ");
            text.push_str(d);
        }
    }
    text
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(p) => AcmeError::Refused(problem_text(&p)),
            instant_acme::Error::Timeout(_) => AcmeError::Timeout(ORDER_TIMEOUT.as_secs()),
            other => AcmeError::Unreachable(crate::client::http::causes(&other)),
        }
    }
}

/// How long one order may take in all.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

/// Berth's HTTP client for instant-acme.
struct Http(Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>);

impl HttpClient for Http {
    fn request(
        &self,
        req: axum::http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.0.request(req);
        Box::pin(async move {
            fut.await
                .map(BytesResponse::from)
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))
        })
    }
}

fn http(settings: &AcmeSettings) -> Result<Http, AcmeError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &settings.ca_root {
        let bad = |cause: String| AcmeError::Root {
            path: path.display().to_string(),
            cause,
        };
        for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots
                .add(c.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AcmeError::Unreachable(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Ok(Http(Client::builder(TokioExecutor::new()).build(connector)))
}

/// Berth's account with the CA: restored from its stored credentials, or made
/// (and the credentials returned, to be stored sealed).
pub async fn account(
    settings: &AcmeSettings,
    stored: Option<&str>,
) -> Result<(Account, Option<String>), AcmeError> {
    let builder = Account::builder_with_http(Box::new(http(settings)?));
    if let Some(json) = stored {
        let creds: AccountCredentials =
            serde_json::from_str(json).map_err(|e| AcmeError::Account(e.to_string()))?;
        return Ok((builder.from_credentials(creds).await?, None));
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, creds) = builder
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await?;
    let json = serde_json::to_string(&creds).map_err(|e| AcmeError::Account(e.to_string()))?;
    Ok((account, Some(json)))
}

/// A certificate issued: the chain and its new key, both PEM.
pub struct Ordered {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Orders a certificate for `host`, answering its HTTP-01 challenge through
/// `challenges` (the proxy serves them), within [`ORDER_TIMEOUT`].
pub async fn order(
    account: &Account,
    host: &str,
    challenges: &Challenges,
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Ordered, AcmeError> {
    let mut tokens = Vec::new();
    let result = tokio::time::timeout(
        ORDER_TIMEOUT,
        order_inner(account, host, challenges, replaces, &mut tokens),
    )
    .await
    .unwrap_or(Err(AcmeError::Timeout(ORDER_TIMEOUT.as_secs())));
    challenges.forget(&tokens);
    result
}

async fn order_inner(
    account: &Account,
    host: &str,
    challenges: &Challenges,
    replaces: Option<CertificateIdentifier<'static>>,
    tokens: &mut Vec<String>,
) -> Result<Ordered, AcmeError> {
    let ids = [Identifier::Dns(host.to_string())];
    let with_replaces = replaces.is_some();
    let mut new = NewOrder::new(&ids);
    if let Some(id) = replaces {
        new = new.replaces(id);
    }
    let mut order = match account.new_order(&new).await {
        // The certificate was replaced by an order whose outcome Berth did not
        // keep (it stopped mid-order): ordering without `replaces` is still right.
        Err(instant_acme::Error::Api(p)) if with_replaces && already_replaced(&p) => {
            account.new_order(&NewOrder::new(&ids)).await?
        }
        other => other?,
    };
    let mut authzs = order.authorizations();
    while let Some(authz) = authzs.next().await {
        let mut authz = authz?;
        if authz.status == AuthorizationStatus::Valid {
            continue;
        }
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| AcmeError::NoHttp01(host.to_string()))?;
        challenges.put(
            host,
            &challenge.token,
            challenge.key_authorization().as_str(),
        );
        tokens.push(challenge.token.clone());
        challenge.set_ready().await?;
    }
    let retries = RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .backoff(1.5)
        .timeout(ORDER_TIMEOUT);
    let status = match order.poll_ready(&retries).await {
        Ok(s) => s,
        Err(instant_acme::Error::Api(p)) => return Err(validation(host, &p)),
        Err(e) => return Err(e.into()),
    };
    if status != OrderStatus::Ready {
        return Err(why_invalid(&mut order, host).await);
    }
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&retries).await?;
    Ok(Ordered { chain_pem, key_pem })
}

/// The CA's problem type for a `replaces` naming a certificate already replaced
/// (RFC 9773 section 5).
fn already_replaced(p: &Problem) -> bool {
    p.r#type
        .as_deref()
        .is_some_and(|t| t == "urn:ietf:params:acme:error:alreadyReplaced")
}

fn validation(host: &str, p: &Problem) -> AcmeError {
    AcmeError::Validation {
        host: host.to_string(),
        problem: problem_text(p),
    }
}

/// The reason an order went invalid: the failed challenge's problem.
async fn why_invalid(order: &mut instant_acme::Order, host: &str) -> AcmeError {
    let mut authzs = order.authorizations();
    while let Some(Ok(authz)) = authzs.next().await {
        if let Some(p) = authz.challenges.iter().find_map(|c| c.error.as_ref()) {
            return validation(host, p);
        }
    }
    AcmeError::Validation {
        host: host.to_string(),
        problem: "the order became invalid without a reason".into(),
    }
}

/// The CA's renewal window for a certificate (unix ms: a time in it chosen at
/// random, as RFC 9773 asks) and when to ask again. `Ok(None)`: the CA has no
/// renewal information.
pub async fn renewal_info(
    account: &Account,
    chain_pem: &str,
    now: i64,
) -> Result<Option<(i64, i64)>, AcmeError> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| AcmeError::BadCertificate("no certificate in the stored chain".into()))?;
    let id = CertificateIdentifier::try_from(&leaf)
        .map_err(|e| AcmeError::BadCertificate(e.to_string()))?;
    match account.renewal_info(&id).await {
        Ok((info, retry)) => {
            let start = info.suggested_window.start.unix_timestamp() * 1000;
            let end = info.suggested_window.end.unix_timestamp() * 1000;
            let at = start + (end - start).max(0) * (now.rem_euclid(997)) / 997;
            let again = now + (retry.as_millis() as i64).max(super::plan::ARI_MIN_MS);
            Ok(Some((at, again)))
        }
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The identifier of a certificate for `replaces` in a renewal's order.
pub fn identifier(chain_pem: &str) -> Option<CertificateIdentifier<'static>> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()?;
    CertificateIdentifier::try_from(&leaf)
        .ok()
        .map(CertificateIdentifier::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(json: &str) -> Problem {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_problem_reads_as_its_detail_and_kind() {
        let p = problem(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"forbidden by policy","status":400}"#,
        );
        assert_eq!(problem_text(&p), "forbidden by policy (rejectedIdentifier)");
        assert_eq!(problem_text(&problem("{}")), "no reason given");
    }

    #[test]
    fn only_the_already_replaced_type_drops_replaces() {
        for (json, want) in [
            (
                r#"{"type":"urn:ietf:params:acme:error:alreadyReplaced"}"#,
                true,
            ),
            (
                r#"{"type":"urn:ietf:params:acme:error:malformed","detail":"alreadyReplaced"}"#,
                false,
            ),
            ("{}", false),
        ] {
            assert_eq!(already_replaced(&problem(json)), want, "{json}");
        }
    }
}
