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

    /// SQLite database, e.g. `sqlite://data/berth.db` (relative to the working
    /// directory) or `sqlite:///var/lib/berth/berth.db`.
    #[arg(
        long,
        env = "BERTH_DATABASE_URL",
        default_value = "sqlite://data/berth.db",
        global = true
    )]
    pub database_url: String,

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

    /// Where the proxy listens for the services' traffic (`off` for nowhere).
    #[arg(long, env = "BERTH_PROXY_LISTEN", default_value = "0.0.0.0:8080")]
    pub proxy_listen: ProxyListen,

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
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        Config::parse_args(std::iter::once("berth").chain(args.iter().copied()))
    }

    fn invalid(args: &[&str]) -> String {
        match parse(args) {
            Err(ConfigError::Invalid(line)) => line,
            Err(ConfigError::Display(_)) => panic!("{args:?} displayed help"),
            Ok(c) => panic!("{args:?} parsed: {c:?}"),
        }
    }

    #[test]
    fn defaults() {
        // The defaults must not depend on the environment of whoever runs the tests.
        for var in [
            "BERTH_LISTEN",
            "BERTH_DATABASE_URL",
            "BERTH_LOG",
            "LEPTOS_SITE_ROOT",
            "BERTH_ENGINES",
            "BERTH_HOST_GRACE",
            "BERTH_RECONCILE_INTERVAL",
            "BERTH_DEMO",
            "BERTH_PROXY_LISTEN",
            "BERTH_PROXY_TIMEOUT",
            "BERTH_DRAIN_TIMEOUT",
            "BERTH_PROXY_DOMAIN",
            "BERTH_PROXY_TRUSTED",
            "BERTH_HEADER_TIMEOUT",
            "BERTH_MAX_CONNECTIONS",
            "BERTH_PROXY_MAX_CONNECTIONS",
            "BERTH_STREAMS_PER_USER",
            "BERTH_SECRET_KEY",
        ] {
            if std::env::var_os(var).is_some() {
                eprintln!("skipping defaults check: {var} is set");
                return;
            }
        }
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://data/berth.db");
        assert_eq!(c.log, "info");
        assert_eq!(c.site_root, "target/site");
        assert_eq!(c.host_grace, Duration::from_secs(10));
        assert_eq!(
            c.proxy_listen,
            ProxyListen::At("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(c.proxy_timeout, Duration::from_secs(30));
        assert_eq!(c.reconcile_interval, Duration::from_secs(10));
        assert!(!c.demo);
        assert_eq!(c.proxy_domain, "localhost");
        assert!(c.proxy_trusted.is_empty());
        // The flags' defaults are the ones the code falls back on.
        assert_eq!(c.limits(), crate::http::Limits::default());
        assert_eq!(c.limits().max_connections, 1024);
        assert_eq!(c.proxy_limits().max_connections, 10_000);
        assert_eq!(
            c.proxy_limits().header_timeout,
            crate::http::Limits::default().header_timeout
        );
        assert_eq!(c.streams_per_user as usize, crate::state::STREAMS_PER_USER);
        assert_eq!(c.streams_per_user, 16);
        assert_eq!(c.secret_key, None);
        assert_eq!(
            c.engines,
            vec![EngineArg {
                name: "local".into(),
                endpoint: Endpoint::Unix("/var/run/docker.sock".into()),
                address: None,
            }]
        );
    }

    #[test]
    fn flags() {
        let c = parse(&[
            "--listen",
            "0.0.0.0:8000",
            "--database-url",
            "sqlite:///tmp/x.db",
            "--log",
            "debug",
            "--site-root",
            "/srv/site",
            "--engine",
            "a=unix:///run/a.sock",
            "--engine",
            "tcp://10.0.0.2:2375",
            "--host-grace",
            "3s",
            "--demo",
            "--proxy-listen",
            "off",
            "--proxy-domain",
            "Apps.Example.com",
            "--proxy-trusted",
            "10.0.0.0/8,127.0.0.1",
            "--header-timeout",
            "5s",
        ])
        .unwrap();
        assert_eq!(c.proxy_listen, ProxyListen::Off);
        assert_eq!(c.proxy_domain, "apps.example.com");
        assert_eq!(c.proxy_trusted.len(), 2);
        assert_eq!(c.limits().header_timeout, Duration::from_secs(5));
        assert_eq!(c.host_grace, Duration::from_secs(3));
        assert!(c.demo);
        assert_eq!(c.listen.to_string(), "0.0.0.0:8000");
        assert_eq!(c.database_url, "sqlite:///tmp/x.db");
        assert_eq!(c.site_root, "/srv/site");
        assert_eq!(c.engines.len(), 2);
        assert_eq!(c.engines[0].name, "a");
        assert_eq!(c.engines[1].name, "10.0.0.2");
        assert_eq!(
            c.engines[1].endpoint,
            Endpoint::Tcp {
                host: "10.0.0.2".into(),
                port: 2375
            }
        );
    }

    #[test]
    fn engine_values() {
        let ok: &[(&str, &str, &str)] = &[
            ("h1=unix:///run/h1.sock", "h1", "unix:///run/h1.sock"),
            (
                "unix:///var/run/docker.sock",
                "local",
                "unix:///var/run/docker.sock",
            ),
            (
                "unix:///run/x/docker.sock",
                "x",
                "unix:///run/x/docker.sock",
            ),
            ("tcp://127.0.0.1:2375", "127.0.0.1", "tcp://127.0.0.1:2375"),
            ("b = http://h:1", "b", "tcp://h:1"),
            (
                "h1=unix:///run/h1.sock@127.0.0.11",
                "h1",
                "unix:///run/h1.sock",
            ),
        ];
        for (input, name, endpoint) in ok {
            let e: EngineArg = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(e.name, *name, "{input}");
            assert_eq!(e.endpoint.to_string(), *endpoint, "{input}");
        }
        let bad: &[(&str, &str)] = &[
            ("ftp://x", "unix:///path"),
            ("unix://relative", "absolute"),
            ("tcp://host", "port"),
            ("tcp://host:99999", "port"),
            ("bad name=unix:///a", "engine name"),
            ("=unix:///a", "engine name"),
            ("h1=unix:///a@not an address", "invalid address"),
        ];
        for (input, needle) in bad {
            let err = input.parse::<EngineArg>().unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn engine_none_and_addresses() {
        let c = parse(&["--engine", "none"]).unwrap();
        assert!(c.bootstrap_hosts().is_empty());
        let c = parse(&["--engine", "h1=unix:///run/h1.sock@127.0.0.11"]).unwrap();
        assert_eq!(
            c.bootstrap_hosts()[0].address.as_deref(),
            Some("127.0.0.11")
        );
    }

    #[test]
    fn durations() {
        for (s, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("15m", 900_000),
            ("8h", 28_800_000),
            ("7d", 604_800_000),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for bad in ["", "8", "h", "1w", "-1s", "0s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_create_command() {
        let c = parse(&[
            "user",
            "create",
            "--username",
            "ann",
            "--role",
            "admin",
            "--database-url",
            "sqlite:///tmp/x.db",
        ])
        .unwrap();
        match c.command {
            Some(Command::User(UserCommand::Create { username, role })) => {
                assert_eq!(username, "ann");
                assert_eq!(role, UserRole::Admin);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.database_url, "sqlite:///tmp/x.db");
        assert!(invalid(&["user", "create", "--username", "x", "--role", "root"]).contains("root"));
    }

    #[test]
    fn mistakes_are_one_line() {
        for (args, needle) in [
            (&["--bogus"][..], "--bogus"),
            (&["--listen", "nowhere"][..], "nowhere"),
            (&["--engine", "ftp://x"][..], "ftp://x"),
            (&["--proxy-listen", "port 80"][..], "port 80"),
            (&["--proxy-domain", "a b"][..], "a b"),
            (&["--proxy-trusted", "10.0.0.0/99"][..], "10.0.0.0/99"),
            (&["--max-connections", "0"][..], "0"),
        ] {
            let line = invalid(args);
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains(needle), "{line}");
            assert!(line.ends_with("(see 'berth --help')"), "{line}");
        }
    }

    #[test]
    fn help_and_version_are_displayed() {
        assert!(
            matches!(parse(&["--help"]), Err(ConfigError::Display(t)) if t.contains("--database-url"))
        );
        assert!(
            matches!(parse(&["--version"]), Err(ConfigError::Display(t)) if t.contains("berth"))
        );
    }
}
