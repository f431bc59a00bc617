//! Routes through the proxy and how the proxy stands.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// How the proxy spreads a route's requests over the replicas.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// To the replica with the fewest requests in flight.
    #[default]
    LeastInFlight,
    /// To each replica in turn.
    RoundRobin,
}

impl Balance {
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::LeastInFlight => "least_in_flight",
            Balance::RoundRobin => "round_robin",
        }
    }
}

pub(super) fn root() -> String {
    "/".into()
}

/// A way into a service through Berth's proxy. Every service with a port is also
/// reachable as `<service>.localhost` without one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `shop.example.com`, `*.example.com`, or none for any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Only paths under this prefix (`/api`); `/` for all.
    #[serde(default = "root")]
    pub path_prefix: String,
    /// Remove the prefix before passing the request on (`/api/orders` -> `/orders`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Berth orders a certificate for this exact host from its ACME CA when the
    /// route is saved, and renews it (HTTPS; written `https` in a route line).
    #[serde(default, skip_serializing_if = "is_false")]
    pub acme: bool,
    /// Plain HTTP requests for this route are answered with a redirect to HTTPS
    /// (308; written `redirect` in a route line).
    #[serde(default, skip_serializing_if = "is_false")]
    pub redirect_https: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How the proxy reaches a service: its routes and balancing. Not part of a
/// revision: changing it moves no replica.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    pub balance: Balance,
    /// Reachable through the proxy at all: `false` keeps the service off it (no
    /// default route `<service>.<domain>`, no routes).
    #[serde(default = "yes")]
    pub expose: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            routes: Vec::new(),
            balance: Balance::default(),
            expose: true,
        }
    }
}

pub(super) fn yes() -> bool {
    true
}

/// A replica as the proxy sees it, with what went through it lately.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    pub slot: u32,
    pub host: String,
    /// `address:port` the proxy connects to.
    pub address: String,
    pub container_id: String,
    /// `serving`, or `ejected` for a while after it refused connections.
    pub state: String,
    pub in_flight: u64,
    pub requests: u64,
    pub errors: u64,
    /// Over the last 10 seconds.
    pub requests_per_second: f64,
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// A canary's: the percent of the route's requests the canaries take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u8>,
}

/// One route of the proxy and the replicas behind it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyRouteView {
    pub service: String,
    /// `shop.localhost`, `*.example.com`, or `*` for any host.
    pub host: String,
    pub path_prefix: String,
    pub strip_prefix: bool,
    /// Plain HTTP is redirected to HTTPS.
    #[serde(default)]
    pub redirect_https: bool,
    pub balance: Balance,
    pub backends: Vec<BackendView>,
}

/// The proxy's table and counters.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyView {
    /// Where the proxy listens, when it does.
    pub listen: Option<String>,
    /// Where it listens for HTTPS, when it does.
    #[serde(default)]
    pub tls_listen: Option<String>,
    /// Every exposed service is `<service>.<domain>`.
    #[serde(default)]
    pub domain: String,
    pub routes: Vec<ProxyRouteView>,
    /// Requests for a host no route takes (404).
    pub unknown_host: u64,
    /// Requests for a service without a healthy replica (503).
    pub no_backend: u64,
    /// Replicas that did not answer in time (504).
    pub timeouts: u64,
    /// Replicas that could not be reached at all (502).
    pub bad_gateway: u64,
}

/// `PUT /api/v1/services/{name}/proxy`
pub type ProxyInput = ProxyConfig;
