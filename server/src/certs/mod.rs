//! Certificates for HTTPS at the proxy: the ones served (chosen by SNI), the
//! HTTP-01 challenges the proxy answers while an order is under way, and the task
//! that orders and renews them from an ACME CA.
//!
//! - `pem`: reading a chain and its key, checking them for a host (pure).
//! - `plan`: what to order or renew next, from the stored rows and the routes (pure).
//! - `acme`: the ACME account, orders and renewal information (instant-acme).
//! - `task`: the background task, the one writer of ACME rows' state.

pub mod acme;
pub mod pem;
pub mod plan;
pub mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::Notify;

use crate::store::CertRow;

/// The HTTP-01 challenges under way: by token, the host the order is for and the
/// key authorization. A token is answered on its own host only (the CA asks there;
/// other names on the proxy have no business with it).
#[derive(Debug, Default)]
pub struct Challenges(Mutex<HashMap<String, (String, String)>>);

impl Challenges {
    pub fn put(&self, host: &str, token: &str, key_authorization: &str) {
        self.lock().insert(
            token.to_string(),
            (host.to_ascii_lowercase(), key_authorization.to_string()),
        );
    }

    /// The key authorization for a token asked for on `host`.
    pub fn get(&self, host: &str, token: &str) -> Option<String> {
        let map = self.lock();
        let (for_host, answer) = map.get(token)?;
        for_host
            .eq_ignore_ascii_case(host.trim_end_matches('.'))
            .then(|| answer.clone())
    }

    pub fn forget(&self, tokens: &[String]) {
        let mut map = self.lock();
        for t in tokens {
            map.remove(t);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        // A panic elsewhere while holding it leaves a map that is still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the proxy serves over HTTPS, and what the pages say of it.
pub struct Certs {
    /// By host (`shop.example.com` or `*.example.com`), swapped whole.
    served: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    /// Why a route's certificate cannot be had, by host (shown on its service).
    problems: ArcSwap<HashMap<String, String>>,
    /// When each served certificate ends, and where it came from, by host.
    ends: ArcSwap<HashMap<String, (i64, domain::wire::CertSource)>>,
    /// Loads one at a time, each from the rows as they are when it starts: the
    /// last load to finish is of the newest rows.
    loading: tokio::sync::Mutex<()>,
    pub challenges: Challenges,
    /// Wakes the task (a route was saved, a person asked to retry).
    pub wake: Notify,
    /// Where certificates are ordered; `None`: ACME is off.
    pub acme: Option<acme::AcmeSettings>,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certs({} served)", self.served.load().len())
    }
}

impl Certs {
    pub fn new(acme: Option<acme::AcmeSettings>) -> Certs {
        Certs {
            served: Default::default(),
            problems: Default::default(),
            ends: Default::default(),
            loading: Default::default(),
            challenges: Challenges::default(),
            wake: Notify::new(),
            acme,
        }
    }

    /// The certificate for a host: its own, else a wildcard one label up.
    pub fn lookup(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        by_host(&self.served.load(), host).cloned()
    }

    /// When the certificate served for a host ends (ms), and where it came from.
    pub fn served_until(&self, host: &str) -> Option<(i64, domain::wire::CertSource)> {
        by_host(&self.ends.load(), host).copied()
    }

    /// Whether a host has a certificate to serve.
    pub fn serves(&self, host: &str) -> bool {
        self.lookup(host).is_some()
    }

    /// The failed order's problem for a host.
    pub fn problem(&self, host: &str) -> Option<String> {
        by_host(&self.problems.load(), host).cloned()
    }

    /// Replaces what is served with the stored rows' certificates that open and
    /// have not ended at `now` (ms); returns the hosts whose row could not be read
    /// (each is also a problem of its host: the rest are served all the same).
    pub fn load(
        &self,
        rows: &[CertRow],
        keyring: &crate::secrets::Keyring,
        now: i64,
    ) -> Vec<(String, String)> {
        let mut served = HashMap::new();
        let mut ends = HashMap::new();
        let mut problems: HashMap<String, String> = rows
            .iter()
            .filter(|r| r.state == domain::wire::CertState::Failed)
            .filter_map(|r| Some((r.host.clone(), r.problem.clone()?)))
            .collect();
        let mut bad = Vec::new();
        for r in rows {
            let (Some(chain), Some(sealed)) = (&r.chain_pem, &r.key) else {
                continue;
            };
            if r.not_after.is_some_and(|t| t <= now) {
                continue;
            }
            let opened = keyring
                .open(&key_context(&r.host, r.generation), sealed)
                .map_err(|e| e.to_string())
                .and_then(|key| pem::read_unchecked(chain, &key.0).map_err(|e| e.to_string()));
            match opened {
                Ok(p) => {
                    served.insert(r.host.clone(), p.key);
                    if let Some(end) = r.not_after {
                        ends.insert(r.host.clone(), (end, r.source));
                    }
                }
                Err(e) => {
                    // Why is Berth's (a key sealed with another secret key, a
                    // damaged row): the log has it, the team reads what to do.
                    problems.insert(r.host.clone(), UNREADABLE.to_string());
                    bad.push((r.host.clone(), e));
                }
            }
        }
        self.serve(served);
        self.ends.store(Arc::new(ends));
        self.problems.store(Arc::new(problems));
        bad
    }

    /// Holds loads off while one reads the rows and swaps what is served.
    pub async fn loading(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.loading.lock().await
    }

    /// Serves exactly these certificates, by host (the benches give theirs).
    pub fn serve(&self, served: HashMap<String, Arc<CertifiedKey>>) {
        self.served.store(Arc::new(served));
    }
}

/// What a team reads of a stored certificate that cannot be served.
pub const UNREADABLE: &str =
    "the stored certificate cannot be read (an admin finds why in Berth's log); upload it again, or order it again on the Certificates page";

/// A host's entry in a map by host: its own, else a wildcard one label up.
fn by_host<'a, T>(map: &'a HashMap<String, T>, host: &str) -> Option<&'a T> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    map.get(&host).or_else(|| {
        let (_, parent) = host.split_once('.')?;
        map.get(&format!("*.{parent}"))
    })
}

/// The associated data a certificate's key is sealed with: bound to its host and
/// generation, so a sealed key copied to another row does not open.
pub fn key_context(host: &str, generation: i64) -> String {
    format!("certificate:{host}:{generation}")
}

/// The associated data of Berth's account with an ACME directory.
pub fn account_context(directory: &str) -> String {
    format!("acme-account:{directory}")
}

/// rustls asks which certificate to present for the name the client sent (SNI).
#[derive(Debug)]
pub struct Resolver(pub Arc<Certs>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.lookup(hello.server_name()?)
    }
}

/// The proxy's TLS settings: TLS 1.2 and 1.3 by rustls (ring), the certificate by
/// SNI, HTTP/1.1 (the proxy speaks it to clients and replicas).
pub fn server_config(certs: Arc<Certs>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(certs)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
