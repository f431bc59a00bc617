//! The certificates API through the router, with ACME off (as the tests' Berth
//! runs) unless a test turns it on towards an address nothing answers (no
//! certificate task runs here): an uploaded certificate is listed with its issuer, names and expiry and
//! served for its host (a wildcard for one label under it), its key never shown
//! back; bad uploads are 422 in words; delete and renew; a route asking ACME for
//! a certificate is refused; `/metrics` shows each certificate's expiry; every
//! change is audited. `certs_api/routes.rs`: certificates and the routes using them.

mod common;
#[path = "certs_api/routes.rs"]
mod routes;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use common::{login, send, Auth, Reply};
use domain::wire::{TeamRole, UserRole};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SignatureAlgorithm};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use server::testing::TestState;

const DAY: i64 = 86_400;
const ISSUER: &str = "Berth Test Issuer";

/// Unix seconds now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A self-signed certificate for `names`, valid from `from` to `to` (unix
/// seconds), with a key of `alg`: its PEM and its key's PEM.
fn made_with(
    alg: &'static SignatureAlgorithm,
    names: &[&str],
    from: i64,
    to: i64,
) -> (String, String) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    p.not_before = epoch + Duration::from_secs(from as u64);
    p.not_after = epoch + Duration::from_secs(to as u64);
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, ISSUER);
    let cert = p.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The first certificate of a PEM chain, as the proxy serves it.
fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// [`made_with`] an ECDSA P-256 key.
fn made(names: &[&str], from: i64, to: i64) -> (String, String) {
    made_with(&rcgen::PKCS_ECDSA_P256_SHA256, names, from, to)
}

/// A certificate for `names` valid from a minute ago for 90 days.
fn fresh(names: &[&str]) -> (String, String) {
    made(names, now() - 60, now() + 90 * DAY)
}

fn upload(host: &str, team: Option<&str>, cert: &str, key: &str) -> Value {
    let mut body = json!({"host": host, "certificate_pem": cert, "private_key_pem": key});
    if let Some(team) = team {
        body["team"] = json!(team);
    }
    body
}

/// Team `web` (with the domain `*.example.com`; operator olga, viewer vera) and
/// an admin `root`.
struct World {
    t: TestState,
    admin: Auth,
    olga: Auth,
    vera: Auth,
}

impl World {
    async fn new() -> World {
        World::with(|_| {}).await
    }

    /// [`World::new`] with Berth's configuration changed by `tweak`.
    async fn with(tweak: impl FnOnce(&mut server::config::Config)) -> World {
        let t = TestState::with_config(&[], tweak).await;
        let web = t.add_team("web").await;
        t.state
            .store
            .add_domain(web, "*.example.com", 1)
            .await
            .unwrap();
        t.add_user("root", "root-password", UserRole::Admin).await;
        for (name, role) in [("olga", TeamRole::Operator), ("vera", TeamRole::Viewer)] {
            let id = t.add_user(name, "password-1", UserRole::Member).await;
            t.add_member(web, id, role).await;
        }
        let r = t.router();
        World {
            admin: Auth::Cookie(login(&r, "root", "root-password").await),
            olga: Auth::Cookie(login(&r, "olga", "password-1").await),
            vera: Auth::Cookie(login(&r, "vera", "password-1").await),
            t,
        }
    }

    async fn call(&self, who: &Auth, method: &str, uri: &str, body: Option<Value>) -> Reply {
        send(&self.t.router(), method, uri, who, body, &[]).await
    }

    async fn upload(&self, who: &Auth, body: Value) -> Reply {
        self.call(who, "POST", "/api/v1/certificates", Some(body))
            .await
    }

    /// An upload that must succeed; the certificate as answered.
    async fn uploaded(&self, who: &Auth, body: Value) -> Value {
        let r = self.upload(who, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()
    }

    async fn list(&self, who: &Auth) -> Reply {
        let r = self.call(who, "GET", "/api/v1/certificates", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r
    }

    /// The hosts of the certificates `who` sees.
    async fn hosts(&self, who: &Auth) -> Vec<String> {
        self.list(who).await.json()["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["host"].as_str().unwrap().to_string())
            .collect()
    }

    /// The audit log's `certificate.` entries, newest first: (action, target,
    /// result).
    async fn audit(&self) -> Vec<(String, String, String)> {
        let r = self
            .call(
                &self.admin,
                "GET",
                "/api/v1/audit?action=certificate.",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("action"), s("target"), s("result"))
            })
            .collect()
    }

    /// A service of team `web` without replicas.
    async fn service(&self, name: &str, proxy: Value) -> Reply {
        self.call(
            &self.admin,
            "POST",
            "/api/v1/services",
            Some(json!({"name": name, "team": "web", "replicas": 0,
                        "spec": {"image": "demo:v1", "port": 8080}, "proxy": proxy})),
        )
        .await
    }
}

/// Asserts a refusal: the status and a part of the reason.
fn refused(r: &Reply, status: StatusCode, why: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.text);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(why), "{case}: {message:?} lacks {why:?}");
}

/// No answer holds a private key.
fn keyless(text: &str, key: &str, what: &str) {
    assert!(!text.contains("PRIVATE KEY"), "{what} shows a key: {text}");
    no_key_body(text, key, what);
}

/// An answer does not repeat the key (a refusal may name the PEM blocks it
/// wants).
fn no_key_body(text: &str, key: &str, what: &str) {
    let body = key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .unwrap();
    assert!(!text.contains(body), "{what} shows the key: {text}");
}

/// The seconds `/metrics` gives a certificate's expiry, if it lists it.
fn expiry_seconds(metrics: &str, host: &str, source: &str) -> Option<i64> {
    let name = format!("berth_certificate_expiry_seconds{{host=\"{host}\",source=\"{source}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name.as_str()))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn an_uploaded_certificate_is_listed_served_and_never_shows_its_key() {
    let w = World::new().await;
    let (from, to) = (now() - 60, now() + 30 * DAY);
    let (cert, key) = made(&["shop.example.com", "www.example.com"], from, to);

    // Typed with capitals and a final dot: the host as it is kept.
    let r = w
        .upload(
            &w.olga,
            upload("Shop.Example.com.", Some("web"), &cert, &key),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    keyless(&r.text, &key, "the upload's answer");
    let v = r.json();
    assert_eq!(v["host"], "shop.example.com");
    assert_eq!(v["team"], "web");
    assert_eq!(v["source"], "uploaded");
    assert_eq!(v["state"], "valid");
    assert_eq!(v["issuer"], ISSUER);
    assert_eq!(v["names"], json!(["shop.example.com", "www.example.com"]));
    assert_eq!(v["not_before_ms"], json!(from * 1000));
    assert_eq!(v["not_after_ms"], json!(to * 1000));
    assert_eq!(v["next_attempt_ms"], Value::Null, "Berth renews no upload");
    assert_eq!(v["problem"], Value::Null);

    // Listed for the team's members, without the key; ACME is off here.
    for who in [&w.olga, &w.vera, &w.admin] {
        let list = w.list(who).await;
        keyless(&list.text, &key, "the list");
        let l = list.json();
        assert_eq!(l["acme_directory"], Value::Null);
        assert_eq!(l["certificates"].as_array().unwrap().len(), 1, "{l}");
        assert_eq!(l["certificates"][0], v);
    }

    // Served for its host, not for a name it does not cover.
    let served = w.t.state.certs.lookup("shop.example.com").expect("served");
    assert_eq!(served.end_entity_cert().unwrap(), &der(&cert));
    assert!(
        !w.t.state.certs.serves("www.example.com"),
        "no upload for it"
    );
    assert!(!w.t.state.certs.serves("api.example.com"));

    // Its expiry is in /metrics; nothing there, in the audit log or the events
    // shows the key.
    let metrics = w.call(&w.vera, "GET", "/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let left = expiry_seconds(&metrics.text, "shop.example.com", "uploaded")
        .unwrap_or_else(|| panic!("no expiry in {}", metrics.text));
    assert!(
        left > 29 * DAY && left <= 30 * DAY,
        "{left} s left of a 30-day certificate"
    );
    keyless(&metrics.text, &key, "/metrics");
    let audit = w
        .call(&w.admin, "GET", "/api/v1/audit?action=certificate.", None)
        .await;
    keyless(&audit.text, &key, "the audit log");
    let events = w.call(&w.admin, "GET", "/api/v1/events", None).await;
    keyless(&events.text, &key, "the events");
    assert_eq!(
        w.audit().await,
        [(
            "certificate.upload".to_string(),
            "certificate:shop.example.com".to_string(),
            "ok".to_string()
        )]
    );

    // A new certificate for the host replaces the old one.
    let later = now() + 60 * DAY;
    let (cert2, key2) = made(&["shop.example.com"], now() - 60, later);
    let v2 = w
        .uploaded(
            &w.olga,
            upload("shop.example.com", Some("web"), &cert2, &key2),
        )
        .await;
    assert_eq!(v2["not_after_ms"], json!(later * 1000));
    assert_eq!(v2["names"], json!(["shop.example.com"]));
    let l = w.list(&w.olga).await.json();
    assert_eq!(l["certificates"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["certificates"][0]["not_after_ms"], json!(later * 1000));
    let served = w.t.state.certs.lookup("shop.example.com").unwrap();
    assert_eq!(served.end_entity_cert().unwrap(), &der(&cert2));
}

#[tokio::test]
async fn keys_of_each_kind_the_proxy_serves_are_taken() {
    let w = World::new().await;
    for (alg, host) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "p256.example.com"),
        (&rcgen::PKCS_ECDSA_P384_SHA384, "p384.example.com"),
        (&rcgen::PKCS_ED25519, "ed25519.example.com"),
    ] {
        let (cert, key) = made_with(alg, &[host], now() - 60, now() + DAY);
        let r = w.upload(&w.admin, upload(host, None, &cert, &key)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{host}: {}", r.text);
        assert!(w.t.state.certs.serves(host), "{host}");
    }
}

#[tokio::test]
async fn bad_uploads_are_refused_in_words() {
    let w = World::new().await;
    let host = "shop.example.com";
    let (cert, key) = fresh(&[host]);
    let (_, other_key) = fresh(&[host]);
    let (elsewhere, elsewhere_key) = fresh(&["api.example.com"]);
    let (wild, wild_key) = fresh(&["*.example.com"]);
    let (old, old_key) = made(&[host], now() - 90 * DAY, now() - DAY);
    let (later, later_key) = made(&[host], now() + DAY, now() + 90 * DAY);
    let not_x509 = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    let not_base64 = "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n";
    let big_chain = format!("{cert}{}", "# padding\n".repeat(7 * 1024));
    let big_key = format!("{key}{}", "# padding\n".repeat(2 * 1024));
    let body = |h: &str, c: &str, k: &str| upload(h, Some("web"), c, k);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = body(host, &cert, &key);
        edit(&mut b);
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        // The host is not a DNS name (nor `*.` and one).
        ("empty host", body("", &cert, &key), "invalid route host"),
        (
            "empty label",
            body("a..b", &cert, &key),
            "invalid route host",
        ),
        (
            "leading hyphen",
            body("-x.com", &cert, &key),
            "invalid route host",
        ),
        ("a path", body("x.com/p", &cert, &key), "invalid route host"),
        (
            "a port",
            body("shop.example.com:443", &cert, &key),
            "invalid route host",
        ),
        (
            "a space",
            body("shop example.com", &cert, &key),
            "invalid route host",
        ),
        (
            "two wildcards",
            body("*.*.example.com", &cert, &key),
            "invalid route host",
        ),
        (
            "a bare wildcard",
            body("*", &cert, &key),
            "invalid route host",
        ),
        (
            "an inner wildcard",
            body("shop.*.com", &cert, &key),
            "invalid route host",
        ),
        // The certificate and key do not make a certificate for the host.
        (
            "another key",
            body(host, &cert, &other_key),
            "the private key does not belong to the certificate",
        ),
        (
            "another host",
            body(host, &elsewhere, &elsewhere_key),
            "the certificate is for api.example.com, not shop.example.com",
        ),
        (
            "a wildcard two labels up",
            body("a.shop.example.com", &wild, &wild_key),
            "the certificate is for *.example.com, not a.shop.example.com",
        ),
        (
            "a wildcard for its own base",
            body("example.com", &wild, &wild_key),
            "not example.com",
        ),
        (
            "a host's certificate for a wildcard",
            body("*.example.com", &cert, &key),
            "not *.example.com",
        ),
        (
            "expired",
            body(host, &old, &old_key),
            "the certificate expired on",
        ),
        (
            "not yet valid",
            body(host, &later, &later_key),
            "the certificate is not valid before",
        ),
        // Not PEM, not a certificate, no key.
        (
            "garbage",
            body(host, "not pem at all", &key),
            "holds no PEM block \"BEGIN CERTIFICATE\"",
        ),
        (
            "empty certificate",
            body(host, "", &key),
            "holds no PEM block \"BEGIN CERTIFICATE\"",
        ),
        (
            "not base64",
            body(host, not_base64, &key),
            "the certificate's PEM does not read",
        ),
        (
            "not X.509",
            body(host, not_x509, &key),
            "certificate 1 of the chain is not a readable X.509 certificate",
        ),
        (
            "a bad intermediate",
            body(host, &format!("{cert}{not_x509}"), &key),
            "certificate 2 of the chain is not a readable X.509 certificate",
        ),
        (
            "the key left out",
            body(host, &cert, ""),
            "the private key field holds no key in PEM",
        ),
        (
            "the certificate as the key",
            body(host, &cert, &cert),
            "the private key field holds no key in PEM",
        ),
        (
            "the key as garbage",
            body(host, &cert, "not a key"),
            "the private key field holds no key in PEM",
        ),
        (
            "a key block that is no key",
            body(
                host,
                &cert,
                "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
            ),
            "the private key is not a key this server can use",
        ),
        // Too large.
        (
            "an oversize chain",
            body(host, &big_chain, &key),
            "may be at most 64 KiB",
        ),
        (
            "an oversize key",
            body(host, &cert, &big_key),
            "the key 16 KiB",
        ),
        // The team.
        (
            "no such team",
            upload(host, Some("nobody"), &cert, &key),
            "there is no team \"nobody\"",
        ),
        // The body itself (the API's JSON extractor).
        (
            "an unknown field",
            with(&|b| b["key"] = json!("x")),
            "unknown field `key`",
        ),
        (
            "no certificate",
            with(&|b| {
                b.as_object_mut().unwrap().remove("certificate_pem");
            }),
            "missing field `certificate_pem`",
        ),
        (
            "no key",
            with(&|b| {
                b.as_object_mut().unwrap().remove("private_key_pem");
            }),
            "missing field `private_key_pem`",
        ),
        (
            "a number for a host",
            with(&|b| b["host"] = json!(7)),
            "invalid type",
        ),
    ];
    for (case, body, why) in cases {
        let r = w.upload(&w.admin, body).await;
        refused(&r, StatusCode::UNPROCESSABLE_ENTITY, why, case);
        no_key_body(&r.text, &key, case);
    }
    // Nothing was kept or served; each refusal past the JSON is in the audit log,
    // an invalid host not repeated there.
    assert!(w.hosts(&w.admin).await.is_empty());
    assert!(!w.t.state.certs.serves(host));
    let audit = w.audit().await;
    assert!(
        audit
            .iter()
            .all(|(a, _, result)| a == "certificate.upload" && result == "failed"),
        "{audit:?}"
    );
    assert_eq!(audit.len(), 28, "{audit:?}");
    assert!(
        audit
            .iter()
            .any(|(_, target, _)| target == "certificate:(invalid host)"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .all(|(_, target, _)| !target.contains("a..b") && !target.contains("x.com/p")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_wildcard_covers_one_label_below_it() {
    let w = World::new().await;
    let (cert, key) = fresh(&["*.example.com"]);
    let v = w
        .uploaded(&w.olga, upload("*.example.com", Some("web"), &cert, &key))
        .await;
    assert_eq!(v["host"], "*.example.com");
    assert_eq!(v["names"], json!(["*.example.com"]));
    let certs = &w.t.state.certs;
    for (host, served) in [
        ("shop.example.com", true),
        ("Shop.Example.com.", true),
        ("api.example.com", true),
        ("a.shop.example.com", false),
        ("example.com", false),
        ("shop.example.org", false),
    ] {
        assert_eq!(certs.serves(host), served, "{host}");
    }
    // A service routed to a host under it is listed as using it.
    let r = w
        .service("shop", json!({"routes": [{"host": "shop.example.com"}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let l = w.list(&w.vera).await.json();
    assert_eq!(l["certificates"][0]["services"], json!(["shop"]), "{l}");
    // A host's own certificate is chosen before the wildcard.
    let (own, own_key) = fresh(&["shop.example.com"]);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &own, &own_key),
    )
    .await;
    let served = certs.lookup("shop.example.com").unwrap();
    assert_eq!(served.end_entity_cert().unwrap(), &der(&own));
    let served = certs.lookup("api.example.com").unwrap();
    assert_eq!(served.end_entity_cert().unwrap(), &der(&cert));
    // Deleted (its host in the path as typed), it is served no more.
    let r = w
        .call(
            &w.olga,
            "DELETE",
            "/api/v1/certificates/*.example.com",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(!certs.serves("api.example.com"));
    assert!(certs.serves("shop.example.com"), "its own stays");
    assert_eq!(w.hosts(&w.admin).await, ["shop.example.com"]);
}

#[tokio::test]
async fn a_certificate_is_deleted_once_and_an_upload_is_not_renewed() {
    let w = World::new().await;
    let (cert, key) = fresh(&["shop.example.com"]);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;
    let one = "/api/v1/certificates/shop.example.com";

    // Berth does not renew what was uploaded.
    let r = w.call(&w.olga, "POST", &format!("{one}/renew"), None).await;
    refused(&r, StatusCode::CONFLICT, "was uploaded", "renew an upload");
    // A viewer may not delete it or renew it.
    for (method, uri) in [
        ("DELETE", one.to_string()),
        ("POST", format!("{one}/renew")),
    ] {
        let r = w.call(&w.vera, method, &uri, None).await;
        refused(&r, StatusCode::FORBIDDEN, "viewer", "a viewer");
    }
    assert!(w.t.state.certs.serves("shop.example.com"));

    // Deleted (named as typed), then gone.
    let r = w
        .call(
            &w.olga,
            "DELETE",
            "/api/v1/certificates/Shop.Example.com.",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty(), "{}", r.text);
    assert!(!w.t.state.certs.serves("shop.example.com"));
    assert!(w.hosts(&w.olga).await.is_empty());
    let metrics = w.call(&w.olga, "GET", "/metrics", None).await.text;
    assert_eq!(
        expiry_seconds(&metrics, "shop.example.com", "uploaded"),
        None,
        "{metrics}"
    );
    let r = w.call(&w.olga, "DELETE", one, None).await;
    refused(
        &r,
        StatusCode::NOT_FOUND,
        "there is no certificate for shop.example.com",
        "delete again",
    );
    // Unknown hosts: 404; hosts that are not hosts: 422.
    for (method, uri) in [
        ("DELETE", "/api/v1/certificates/nothing.example.com"),
        ("POST", "/api/v1/certificates/nothing.example.com/renew"),
        ("POST", "/api/v1/certificates/shop.example.com/renew"),
    ] {
        let r = w.call(&w.admin, method, uri, None).await;
        refused(&r, StatusCode::NOT_FOUND, "there is no certificate", uri);
    }
    for (method, uri) in [
        ("DELETE", "/api/v1/certificates/a..b"),
        ("POST", "/api/v1/certificates/-x.com/renew"),
    ] {
        let r = w.call(&w.admin, method, uri, None).await;
        refused(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid route host",
            uri,
        );
    }
    // Each change and refusal is audited (newest first).
    let audit = w.audit().await;
    let ours: Vec<(&str, &str)> = audit
        .iter()
        .filter(|(_, target, _)| target == "certificate:shop.example.com")
        .map(|(a, _, result)| (a.as_str(), result.as_str()))
        .collect();
    assert_eq!(
        ours,
        [
            ("certificate.renew", "failed"),
            ("certificate.delete", "failed"),
            ("certificate.delete", "ok"),
            ("certificate.renew", "denied"),
            ("certificate.delete", "denied"),
            ("certificate.renew", "failed"),
            ("certificate.upload", "ok"),
        ],
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_route_asking_acme_for_a_certificate_is_refused_while_acme_is_off() {
    let w = World::new().await;
    let r = w.service("shop", json!({"routes": []})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    for who in [&w.olga, &w.admin] {
        for routes in [
            json!([{"host": "shop.example.com", "acme": true}]),
            json!([{"host": "shop.example.com", "acme": true, "redirect_https": true}]),
            json!([{"host": "api.example.com"}, {"host": "shop.example.com", "path_prefix": "/api", "acme": true}]),
        ] {
            let r = w
                .call(
                    who,
                    "PUT",
                    "/api/v1/services/shop/proxy",
                    Some(json!({ "routes": routes })),
                )
                .await;
            refused(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "ACME",
                &routes.to_string(),
            );
            let message = r.json()["error"]["message"].to_string();
            assert!(message.contains("shop.example.com"), "{message}");
            assert!(message.contains("--acme-directory off"), "{message}");
        }
    }
    // Nothing changed; a new service with such a route is not made.
    let s = w
        .call(&w.admin, "GET", "/api/v1/services/shop", None)
        .await
        .json();
    assert_eq!(s["service"]["proxy"]["routes"], json!([]), "{s}");
    let r = w
        .service(
            "api",
            json!({"routes": [{"host": "api.example.com", "acme": true}]}),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ACME",
        "a new service",
    );
    let r = w.call(&w.admin, "GET", "/api/v1/services/api", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // An uploaded certificate serves the route without ACME.
    let (cert, key) = fresh(&["shop.example.com"]);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;
    let r = w
        .call(
            &w.olga,
            "PUT",
            "/api/v1/services/shop/proxy",
            Some(json!({"routes": [{"host": "shop.example.com", "redirect_https": true}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let l = w.list(&w.olga).await.json();
    assert_eq!(l["certificates"][0]["services"], json!(["shop"]), "{l}");
}

#[tokio::test]
async fn metrics_give_each_certificates_seconds_left() {
    let w = World::new().await;
    let to = now() + 10 * DAY;
    let (cert, key) = made(&["shop.example.com"], now() - 60, to);
    w.uploaded(
        &w.olga,
        upload("shop.example.com", Some("web"), &cert, &key),
    )
    .await;
    let (wild, wild_key) = made(&["*.example.org"], now() - 60, now() + 40 * DAY);
    w.uploaded(&w.admin, upload("*.example.org", None, &wild, &wild_key))
        .await;
    let r = w.call(&w.vera, "GET", "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text
            .contains("# TYPE berth_certificate_expiry_seconds gauge"),
        "{}",
        r.text
    );
    let shop = expiry_seconds(&r.text, "shop.example.com", "uploaded").unwrap();
    assert!(shop > 0, "{}", r.text);
    assert!((to - now() - shop).abs() <= 5, "{shop} for {}", to - now());
    let wildcard = expiry_seconds(&r.text, "*.example.org", "uploaded").unwrap();
    assert!(wildcard > shop, "{}", r.text);
    let anonymous = w.call(&Auth::None, "GET", "/metrics", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn who_may_upload_what() {
    let w = World::new().await;
    let (cert, key) = fresh(&["shop.example.com"]);
    let (other, other_key) = fresh(&["shop.example.net"]);
    // A viewer may not; an operator may not upload for every team, nor for a host
    // outside the team's domains; an admin may do both.
    let r = w
        .upload(
            &w.vera,
            upload("shop.example.com", Some("web"), &cert, &key),
        )
        .await;
    refused(&r, StatusCode::FORBIDDEN, "viewer", "a viewer uploads");
    let r = w
        .upload(&w.olga, upload("shop.example.com", None, &cert, &key))
        .await;
    refused(
        &r,
        StatusCode::FORBIDDEN,
        "only cluster admins upload a certificate for every team",
        "an operator for every team",
    );
    let r = w
        .upload(
            &w.olga,
            upload("shop.example.net", Some("web"), &other, &other_key),
        )
        .await;
    refused(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "team web has no domain for shop.example.net",
        "outside the team's domains",
    );
    let r = w
        .upload(&Auth::None, upload("shop.example.com", None, &cert, &key))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(w.hosts(&w.admin).await.is_empty());
    let v = w
        .uploaded(
            &w.admin,
            upload("shop.example.net", Some("web"), &other, &other_key),
        )
        .await;
    assert_eq!(v["team"], "web");
    let v = w
        .uploaded(&w.admin, upload("shop.example.com", None, &cert, &key))
        .await;
    assert_eq!(v["team"], Value::Null);
    // The admin's certificate for every team is the admins' to replace or delete.
    let (mine, mine_key) = fresh(&["shop.example.com"]);
    let r = w
        .upload(
            &w.olga,
            upload("shop.example.com", Some("web"), &mine, &mine_key),
        )
        .await;
    refused(
        &r,
        StatusCode::CONFLICT,
        "belongs to another team",
        "replace the admin's",
    );
    let r = w
        .call(
            &w.olga,
            "DELETE",
            "/api/v1/certificates/shop.example.com",
            None,
        )
        .await;
    refused(&r, StatusCode::FORBIDDEN, "admin", "delete the admin's");
    assert_eq!(
        w.hosts(&w.olga).await,
        ["shop.example.com", "shop.example.net"]
    );
}
