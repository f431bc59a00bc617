//! The configuration's flags, environment variables and their errors.
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
        "BERTH_PROXY_TLS_LISTEN",
        "BERTH_ACME_DIRECTORY",
        "BERTH_ACME_EMAIL",
        "BERTH_ACME_CA_ROOT",
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
    assert_eq!(
        c.proxy_tls_listen,
        ProxyListen::At("0.0.0.0:8443".parse().unwrap())
    );
    // Certificates come from Let's Encrypt unless told otherwise.
    assert_eq!(c.acme_directory, AcmeDirectory::At(LETS_ENCRYPT.into()));
    assert_eq!(c.acme_email, None);
    assert_eq!(c.acme_ca_root, None);
    let acme = c.acme().expect("ACME is on by default");
    assert_eq!(acme.directory, LETS_ENCRYPT);
    assert_eq!((acme.email, acme.ca_root), (None, None));
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
fn https_and_acme_flags() {
    // Off: no orders, uploaded certificates only; no HTTPS listener.
    for off in ["off", "none", " off "] {
        let c = parse(&["--acme-directory", off, "--proxy-tls-listen", "off"]).unwrap();
        assert_eq!(c.acme_directory, AcmeDirectory::Off, "{off:?}");
        assert!(c.acme().is_none(), "{off:?}");
        assert_eq!(c.proxy_tls_listen, ProxyListen::Off);
    }
    // A CA of one's own, with a contact and a root to trust.
    let c = parse(&[
        "--acme-directory",
        "https://ca.example.test:14000/dir",
        "--acme-email",
        "ops@Example.com",
        "--acme-ca-root",
        "/etc/berth/ca.pem",
        "--proxy-tls-listen",
        "127.0.0.1:9443",
    ])
    .unwrap();
    assert_eq!(
        c.acme_directory,
        AcmeDirectory::At("https://ca.example.test:14000/dir".into())
    );
    assert_eq!(
        c.proxy_tls_listen,
        ProxyListen::At("127.0.0.1:9443".parse().unwrap())
    );
    let acme = c.acme().unwrap();
    assert_eq!(acme.directory, "https://ca.example.test:14000/dir");
    assert_eq!(acme.email.as_deref(), Some("ops@Example.com"));
    assert_eq!(acme.ca_root, Some("/etc/berth/ca.pem".into()));
    assert_eq!(
        "https://acme-staging.example.test/directory".parse(),
        Ok(AcmeDirectory::At(
            "https://acme-staging.example.test/directory".into()
        ))
    );

    // Not an https URL: refused in words, naming what was given.
    for bad in [
        "http://x",
        "nonsense",
        "https://",
        "ftp://ca.example.test/dir",
        "",
    ] {
        let err = bad.parse::<AcmeDirectory>().unwrap_err();
        assert!(err.contains("is not an ACME directory"), "{bad:?}: {err}");
        assert!(err.contains("use an https:// URL"), "{bad:?}: {err}");
        assert!(err.contains(&format!("'{bad}'")), "{bad:?}: {err}");
    }
    for bad in ["http://x", "nonsense"] {
        let line = invalid(&["--acme-directory", bad]);
        assert!(line.contains(bad), "{line}");
        assert!(line.contains("is not an ACME directory"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    // E-mail addresses: one @, a host name after it, no spaces or lists.
    for good in ["ops@example.com", "first.last+berth@mail.example.org"] {
        assert_eq!(parse_email(good).as_deref(), Ok(good));
    }
    for bad in [
        "ops",
        "@example.com",
        "ops@",
        "ops@exa mple.com",
        "ops @example.com",
        "a@example.com,b@example.com",
        "Ops <ops@example.com>",
        "mailto:ops@example.com",
        "ops@example.com@example.com",
        "ops@-example.com",
    ] {
        let err = parse_email(bad).unwrap_err();
        assert!(
            err.contains("is not an e-mail address such as ops@example.com"),
            "{bad:?}: {err}"
        );
    }
    let line = invalid(&["--acme-email", "not-an-address"]);
    assert!(
        line.contains("'not-an-address' is not an e-mail address"),
        "{line}"
    );
    assert!(line.ends_with("(see 'berth --help')"), "{line}");
    let line = invalid(&["--proxy-tls-listen", "port 443"]);
    assert!(line.contains("port 443"), "{line}");
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
    assert!(matches!(parse(&["--version"]), Err(ConfigError::Display(t)) if t.contains("berth")));
}
