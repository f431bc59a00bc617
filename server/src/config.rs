//! Configuration from flags and environment: every option has a `--flag` and a
//! `BERTH_*` variable (the Leptos site root keeps cargo-leptos's `LEPTOS_SITE_ROOT`).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use domain::wire::UserRole;

use crate::runtime::docker::Endpoint;

/// Berth: run services across Docker hosts, from a browser or a JSON API.
#[derive(Debug, Clone, Parser)]
#[command(name = "berth", version, about, long_about = None)]
pub struct Config {
    /// Without a command, Berth serves the dashboard and the API.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address the dashboard and the API listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The database: a SQLite file, e.g. `sqlite://data/berth.db` (relative to the
    /// working directory) or `sqlite:///var/lib/berth/berth.db`; or PostgreSQL,
    /// `postgres://user:password@host:5432/berth`.
    /// (The value is never printed by `--help`: it may hold a password.)
    #[arg(
        long,
        env = "BERTH_DATABASE_URL",
        default_value = "sqlite://data/berth.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Where Berth keeps its own files (`secret.key` when no --secret-key is
    /// given): by default the SQLite file's folder, or `data` on PostgreSQL.
    #[arg(long, env = "BERTH_DATA_DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,

    /// Client commands print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log filter in tracing's syntax, e.g. `info` or `info,server=debug`.
    #[arg(long = "log", env = "BERTH_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Folder with the built site (WASM, JS, CSS), as cargo-leptos writes it.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Docker hosts to register at start-up unless a host of that name exists, as
    /// `name=endpoint[@address]` (or just `endpoint`), comma separated in the
    /// variable; `none` for none. Endpoints: `unix:///path/docker.sock`,
    /// `tcp://host:port`. Each must answer, or Berth does not start.
    #[arg(
        long = "engine",
        env = "BERTH_ENGINES",
        value_delimiter = ',',
        default_value = "local=unix:///var/run/docker.sock"
    )]
    pub engines: Vec<EngineArg>,

    /// How often every host is asked whether it is alive, e.g. `2s`.
    #[arg(long, env = "BERTH_HEARTBEAT_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// How long a host may be unreachable before its replicas are placed on other
    /// hosts, e.g. `10s`.
    #[arg(long, env = "BERTH_HOST_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub host_grace: Duration,

    /// A full reconcile pass runs at least this often (writes, Docker events and
    /// health changes trigger one at once anyway).
    #[arg(long, env = "BERTH_RECONCILE_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub reconcile_interval: Duration,

    /// How often the history (the pages' charts of the last hour: each replica's
    /// CPU and memory, each service's traffic) takes a step, e.g. `10s`.
    #[arg(long, env = "BERTH_HISTORY_EVERY", default_value = "10s", value_parser = parse_history_every)]
    pub history_every: Duration,

    /// Where the proxy listens for the services' traffic (`off` for nowhere).
    #[arg(long, env = "BERTH_PROXY_LISTEN", default_value = "0.0.0.0:8080")]
    pub proxy_listen: ProxyListen,

    /// Where the proxy listens for HTTPS (`off` for nowhere); each connection gets
    /// the certificate of the name it asks for (SNI).
    #[arg(long, env = "BERTH_PROXY_TLS_LISTEN", default_value = "0.0.0.0:8443")]
    pub proxy_tls_listen: ProxyListen,
    /// The port clients reach the HTTPS listener at, when it is not the listener's
    /// own (443 forwarded to 8443): redirects to HTTPS name it.
    #[arg(long, env = "BERTH_PROXY_HTTPS_PUBLIC_PORT")]
    pub proxy_https_public_port: Option<std::num::NonZeroU16>,

    /// The ACME CA that certificates of `https` routes are ordered from (its
    /// directory URL), or `off`: none are ordered, uploaded ones are still served.
    #[arg(long, env = "BERTH_ACME_DIRECTORY", default_value = LETS_ENCRYPT)]
    pub acme_directory: AcmeDirectory,
    /// A contact address for Berth's ACME account (the CA writes about expiry
    /// and incidents).
    #[arg(long, env = "BERTH_ACME_EMAIL", value_parser = parse_email)]
    pub acme_email: Option<String>,
    /// A PEM file with one more root certificate to trust for the ACME CA (a test
    /// CA such as Pebble).
    #[arg(long, env = "BERTH_ACME_CA_ROOT")]
    pub acme_ca_root: Option<std::path::PathBuf>,

    /// How long the proxy waits for a replica's answer before it answers 504.
    #[arg(long, env = "BERTH_PROXY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub proxy_timeout: Duration,

    /// How long a replica taken out of the proxy may finish its requests before it
    /// is stopped anyway.
    #[arg(long, env = "BERTH_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Every exposed service is reachable through the proxy as
    /// `<service>.<domain>`; names under it belong to services, not to teams.
    #[arg(long, env = "BERTH_PROXY_DOMAIN", default_value = "localhost", value_parser = parse_domain)]
    pub proxy_domain: String,

    /// Other proxies in front of Berth's (addresses or CIDR ranges, comma
    /// separated) whose `X-Forwarded-For` is extended; from anyone else it is
    /// replaced with the client's address.
    #[arg(long, env = "BERTH_PROXY_TRUSTED", value_delimiter = ',')]
    pub proxy_trusted: Vec<crate::http::Cidr>,

    /// How long a client of the dashboard and the API may take to send a request's
    /// headers; a kept-alive connection waiting for its next request (idle) is
    /// closed after the same time.
    #[arg(long, env = "BERTH_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Connections the dashboard and the API serve at once; more wait until one
    /// closes.
    #[arg(long, env = "BERTH_MAX_CONNECTIONS", default_value_t = crate::http::MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// The same for the proxy's clients: header (and idle) timeout.
    #[arg(long, env = "BERTH_PROXY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub proxy_header_timeout: Duration,
    /// Connections the proxy serves at once.
    #[arg(long, env = "BERTH_PROXY_MAX_CONNECTIONS", default_value_t = crate::http::PROXY_MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub proxy_max_connections: u32,

    /// Live streams (event streams, followed logs) one user may keep open at once;
    /// more are refused with 429.
    #[arg(long, env = "BERTH_STREAMS_PER_USER", default_value_t = crate::state::STREAMS_PER_USER as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams_per_user: u32,

    /// The key that encrypts team secrets at rest: 32 bytes as 64 hex digits.
    /// Without it, Berth makes one once and keeps it in `secret.key` (mode 0600)
    /// beside the database.
    #[arg(long, env = "BERTH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// On the first start (no service yet), create the demo service `demo` in team
    /// `demo`: 3 replicas of `127.0.0.1:5000/berth-demo:v1` checked on `/healthz`.
    #[arg(long, env = "BERTH_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,

    /// How long a login lasts, e.g. `8h`, `30m`, `7d`.
    #[arg(long, env = "BERTH_SESSION_TTL", default_value = "8h", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// Name of the first admin that `BERTH_ADMIN_PASSWORD` creates.
    #[arg(long, env = "BERTH_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,

    /// Creates the first admin at start-up when no user exists (scripted installs).
    #[arg(long, env = "BERTH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// Where the proxy listens, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyListen {
    Off,
    At(SocketAddr),
}

impl FromStr for ProxyListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "none" => Ok(ProxyListen::Off),
            a => a.parse().map(ProxyListen::At).map_err(|_| {
                format!("'{a}' is not an address to listen on: use e.g. 0.0.0.0:8080, or off")
            }),
        }
    }
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The ACME directory certificates are ordered from, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeDirectory {
    Off,
    At(String),
}

impl FromStr for AcmeDirectory {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "off" || s == "none" {
            return Ok(AcmeDirectory::Off);
        }
        match s.parse::<axum::http::Uri>() {
            Ok(u) if u.scheme_str() == Some("https") && u.host().is_some() => {
                Ok(AcmeDirectory::At(s.to_string()))
            }
            _ => Err(format!(
                "'{s}' is not an ACME directory: use an https:// URL such as {LETS_ENCRYPT}, or off"
            )),
        }
    }
}

/// An e-mail address for the ACME account: one `@`, no spaces or commas.
fn parse_email(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.split_once('@') {
        Some((user, host))
            if !user.is_empty()
                && domain::validate::hostname(&host.to_ascii_lowercase())
                && s.len() <= 254
                && !s.contains(|c: char| {
                    c.is_whitespace() || c == ',' || c == '<' || c == '>' || c == ':'
                }) =>
        {
            Ok(s.to_string())
        }
        _ => Err(format!(
            "'{s}' is not an e-mail address such as ops@example.com"
        )),
    }
}

/// Commands besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage users from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Commands that drive a Berth over its API (`berth login`, `berth deploy`…).
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin (or asked for on a terminal).
    Create {
        #[arg(long)]
        username: String,
        /// `admin` or `member`.
        #[arg(long, value_parser = parse_role, default_value = "member")]
        role: UserRole,
    },
}

fn parse_role(s: &str) -> Result<UserRole, String> {
    UserRole::parse(s).ok_or_else(|| format!("'{s}' is not a role: use admin or member"))
}

/// `500ms`, `30s`, `15m`, `8h`, `7d`: the forms' durations, but always a whole
/// number with its unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not a duration: use e.g. 500ms, 30s, 15m, 8h or 7d");
    if s.contains('.') || !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let ms = domain::validate::parse_duration_ms(s).map_err(|_| bad())?;
    if ms == 0 {
        return Err(format!("'{s}' is not a duration longer than zero"));
    }
    Ok(Duration::from_millis(ms))
}

/// A step of history: from 1 s (tests and demos) to 10 minutes.
fn parse_history_every(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
        return Err(format!("'{s}' is not a step between 1s and 10m"));
    }
    Ok(d)
}

/// A domain for `--proxy-domain`: a host name.
fn parse_domain(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain::validate::hostname(&s) {
        Ok(s)
    } else {
        Err(format!(
            "'{s}' is not a host name: use e.g. localhost or apps.example.com"
        ))
    }
}

impl Config {
    /// The limits of the dashboard's (and the API's) connections.
    pub fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            header_timeout: self.header_timeout,
            max_connections: self.max_connections as usize,
        }
    }

    /// Where certificates are ordered, when ACME is on.
    pub fn acme(&self) -> Option<crate::certs::acme::AcmeSettings> {
        match &self.acme_directory {
            AcmeDirectory::Off => None,
            AcmeDirectory::At(url) => Some(crate::certs::acme::AcmeSettings {
                directory: url.clone(),
                email: self.acme_email.clone(),
                ca_root: self.acme_ca_root.clone(),
            }),
        }
    }

    /// The limits of the proxy's connections.
    pub fn proxy_limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            header_timeout: self.proxy_header_timeout,
            max_connections: self.proxy_max_connections as usize,
        }
    }
}

/// One `--engine` value: a name, a Docker endpoint and the address its published
/// ports are reached at. `none` is the empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineArg {
    pub name: String,
    pub endpoint: Endpoint,
    pub address: Option<String>,
}

impl Config {
    /// The hosts to register at start-up (`--engine none` gives none).
    pub fn bootstrap_hosts(&self) -> Vec<EngineArg> {
        self.engines
            .iter()
            .filter(|e| e.name != NONE)
            .cloned()
            .collect()
    }
}

/// The `--engine` value that means "no host".
const NONE: &str = "none";

impl FromStr for EngineArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == NONE {
            return Ok(EngineArg {
                name: NONE.into(),
                endpoint: Endpoint::Unix("/dev/null".into()),
                address: None,
            });
        }
        let (s, address) = match s.rsplit_once('@') {
            Some((rest, address)) => {
                domain::validate::address(address.trim())?;
                (rest, Some(address.trim().to_string()))
            }
            None => (s, None),
        };
        let (name, endpoint) = match s.split_once('=') {
            Some((name, endpoint)) => (Some(name.trim()), endpoint.trim()),
            None => (None, s),
        };
        let endpoint: Endpoint = endpoint.parse().map_err(|e| format!("{e}"))?;
        let name = match name {
            Some(name) => {
                if !is_name(name) {
                    return Err(format!(
                        "engine name '{name}' must be 1-63 lowercase letters, digits or '-'"
                    ));
                }
                name.to_string()
            }
            None => endpoint.default_name(),
        };
        Ok(EngineArg {
            name,
            endpoint,
            address,
        })
    }
}

fn is_name(s: &str) -> bool {
    domain::validate::host_name(s).is_ok()
}

impl Config {
    /// Parses the command line; on a mistake, one line saying what is wrong (clap's
    /// `--help` and `--version` output is passed through as is).
    pub fn parse_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args).map_err(ConfigError::from_clap)
    }
}

/// Why the command line was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// `--help` or `--version`: print it and exit successfully.
    Display(String),
    /// A mistake, in one line.
    Invalid(String),
}

impl ConfigError {
    fn from_clap(e: clap::Error) -> ConfigError {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                ConfigError::Display(e.render().to_string())
            }
            _ => {
                let text = e.to_string();
                let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
                let mut first = lines
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_string();
                // "the following required arguments were not provided:" names
                // them on the lines below.
                if first.ends_with(':') {
                    let named: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
                    first = format!("{first} {}", named.join(", "));
                }
                ConfigError::Invalid(format!("{} (see 'berth --help')", first.trim()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
