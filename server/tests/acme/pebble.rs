//! Let's Encrypt's test CA, Pebble (Debian's `pebble`), and its mock DNS
//! (`pebble-challtestsrv`, every name 127.0.0.1) started for one test on free
//! loopback ports, by pid, stopped when dropped. Pebble's HTTP-01 checks go to
//! the port the test's proxy listens on.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use server::testing::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// What a test asks of its CA.
#[derive(Default)]
pub struct Options {
    /// Seconds certificates last (Pebble's default is five years).
    pub validity_secs: Option<u64>,
    /// Names Pebble refuses to issue for.
    pub blocked: Vec<String>,
}

pub struct Pebble {
    _pebble: Child,
    _dns: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The root that Pebble's own HTTPS listener is signed by (for Berth's
    /// `--acme-ca-root`).
    pub listener_root: PathBuf,
    management: u16,
    _dir: TempDir,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM:
/// (CA certificate, listener certificate, listener key).
fn listener_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), leaf.pem(), key.serialize_pem())
}

impl Pebble {
    /// Starts the mock DNS and Pebble, its HTTP-01 checks sent to `http_port`.
    pub async fn start(http_port: u16, options: Options) -> Pebble {
        let dir = TempDir::new();
        let (ca, cert, key) = listener_certificate();
        let listener_root = dir.0.join("listener-ca.pem");
        std::fs::write(&listener_root, ca).unwrap();
        std::fs::write(dir.0.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.0.join("key.pem"), key).unwrap();
        let (acme, management, dns, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.0.join("cert.pem"),
            "privateKey": dir.0.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "domainBlocklist": options.blocked,
        }});
        if let Some(s) = options.validity_secs {
            config["pebble"]["certificateValidityPeriod"] = s.into();
        }
        let config_path = dir.0.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let dns_child = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("pebble-challtestsrv runs (Debian's pebble package; scripts/deps installs it)");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random waits before checks, no refused nonces, a new
            // authorization (and check) for every order.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("pebble runs (Debian's pebble package; scripts/deps installs it)");
        let p = Pebble {
            _pebble: pebble,
            _dns: dns_child,
            directory: format!("https://127.0.0.1:{acme}/dir"),
            listener_root,
            management,
            _dir: dir,
        };
        // The mock DNS answers once its management port does (it opens both).
        until(
            "Pebble and its DNS answer",
            Duration::from_secs(20),
            || async {
                for port in [acme, management, dns_management] {
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
                }
                Ok(())
            },
        )
        .await;
        p
    }

    /// The root Pebble signs certificates under (it makes a new one each start).
    pub async fn issuer_root(&self) -> Vec<CertificateDer<'static>> {
        let roots = roots_from(&std::fs::read_to_string(&self.listener_root).unwrap());
        let (status, body, _) = https_get(
            &roots,
            ("127.0.0.1", self.management),
            "localhost",
            "/roots/0",
        )
        .await
        .expect("Pebble's management answers");
        assert_eq!(status, 200, "{body}");
        CertificateDer::pem_slice_iter(body.as_bytes())
            .map(|c| c.unwrap().into_owned())
            .collect()
    }
}

/// Waits for a condition with a deadline: `check` answers `Ok(value)` once it
/// holds, or `Err(what it sees)` to be asked again on the next tick (every 50 ms)
/// until `within` has passed; then it panics with `what` and the last thing seen.
/// Its own, so that the benches that share this file need no test helpers.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match check().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last seen: {seen}")
            }
            Err(_) => {}
        }
    }
}

pub fn roots_from(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap().into_owned())
        .collect()
}

/// A TLS client that trusts `roots` only.
pub fn connector(roots: &[CertificateDer<'static>]) -> Result<tokio_rustls::TlsConnector, String> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(store)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// GET `path` over HTTPS at `addr`, asking for `name` (SNI and Host), trusting
/// `roots` only: the status, the body and the certificate the server showed.
pub async fn https_get(
    roots: &[CertificateDer<'static>],
    addr: (&str, u16),
    name: &str,
    path: &str,
) -> Result<(u16, String, CertificateDer<'static>), String> {
    let connector = connector(roots)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .map_err(|_| "no handshake in 5 s".to_string())?
        .map_err(|e| format!("handshake: {e}"))?;
    let shown = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or("no certificate shown")?
        .into_owned();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body, shown))
}
