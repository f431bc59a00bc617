//! Tests of `validate`.

use super::*;

mod spec;

#[test]
fn usernames() {
    for ok in ["alice", "a", "bob.smith", "x_1-2", "A1"] {
        assert!(username(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        " alice",
        "alice ",
        "al ice",
        ".alice",
        "аlice", // Cyrillic a
        "alice\u{200b}",
        "<script>alert(1)</script>",
        &"a".repeat(33),
    ] {
        assert!(username(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn team_names() {
    for ok in ["web", "team-1", "a", &"a".repeat(63)] {
        assert!(team_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Web", "-web", "web-", "we b", "wéb", &"a".repeat(64)] {
        assert!(team_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn host_lists() {
    let ok: [(&str, &[&str]); 3] = [
        ("h2", &["h2"]),
        ("h2,h3", &["h2", "h3"]),
        (" h2 , web-1 ", &["h2", "web-1"]),
    ];
    for (s, want) in ok {
        assert_eq!(host_list(s).unwrap(), want, "{s:?}");
    }
    let fifty = (0..MAX_HOSTS_LOST)
        .map(|i| format!("h{i}"))
        .collect::<Vec<_>>();
    assert_eq!(host_list(&fifty.join(",")).unwrap().len(), MAX_HOSTS_LOST);
    let too_many = format!("{},h99", fifty.join(","));
    for (bad, says) in [
        ("", "at least one host"),
        ("h2,,h3", "at least one host"),
        ("h2,", "at least one host"),
        ("H2", "invalid host name"),
        ("h2;rm", "invalid host name"),
        ("../h2", "invalid host name"),
        ("h2,h2", "named twice"),
        (too_many.as_str(), "too many hosts: 51 named"),
    ] {
        let e = host_list(bad).unwrap_err();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

#[test]
fn labels() {
    let ok = parse_labels("zone=a, ssd=true\nrack=r-1, empty=").unwrap();
    assert_eq!(ok.len(), 4);
    assert_eq!(ok["zone"], "a");
    assert_eq!(format_labels(&ok), "empty=, rack=r-1, ssd=true, zone=a");
    assert_eq!(parse_labels("").unwrap().len(), 0);
    for bad in [
        "zone", "=a", "zone=a=b", "zo ne=a", "zone=a b", "x=1, x=2", "ünï=1", "k=ü",
    ] {
        assert!(parse_labels(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn constraints() {
    let labels: std::collections::BTreeMap<String, String> = [
        ("zone".to_string(), "a".to_string()),
        ("ssd".to_string(), "".to_string()),
    ]
    .into();
    for (c, want) in [
        ("zone=a", true),
        ("zone=b", false),
        ("zone!=b", true),
        ("zone!=a", false),
        ("ssd", true),
        ("gpu", false),
        ("!gpu", true),
        ("!ssd", false),
    ] {
        assert_eq!(constraint(c).unwrap().matches(&labels), want, "{c}");
        assert_eq!(constraint(c).unwrap().to_string(), c);
    }
    for bad in ["", "=a", "zo ne=a", "!", "a=b c"] {
        assert!(constraint(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn service_names_and_images() {
    for ok in ["web", "shop-api", "a1"] {
        assert!(service_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Web", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
        assert!(service_name(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "berth-demo:v1",
        "127.0.0.1:5000/berth-demo:v1",
        "nginx",
        "library/nginx:1.25-alpine",
        "registry.example.com/team/app@sha256:0123abcdef",
    ] {
        assert!(image(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        " nginx",
        "nginx latest",
        "nginx:",
        "-x",
        "a//b",
        "Nginx",
        "ng;rm",
    ] {
        assert!(image(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn routes() {
    let text = "shop.example.com/api strip\n*.example.com\n/static\n";
    let routes = parse_routes(text).unwrap();
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[0].host.as_deref(), Some("shop.example.com"));
    assert_eq!(
        (routes[0].path_prefix.as_str(), routes[0].strip_prefix),
        ("/api", true)
    );
    assert_eq!(
        (routes[1].path_prefix.as_str(), routes[1].strip_prefix),
        ("/", false)
    );
    assert_eq!(routes[2].host, None);
    let back: Vec<String> = routes.iter().map(format_route).collect();
    assert_eq!(back.join("\n") + "\n", text);
    let config = crate::wire::ProxyConfig {
        routes: routes.clone(),
        ..Default::default()
    };
    assert_eq!(proxy_config(&config), Ok(()));
    for bad in [
        "Shop.com",
        "a b c",
        "shop..com/x",
        "/a b",
        "x.com/a?b",
        "*.",
        "-x.com",
    ] {
        assert!(parse_routes(bad).is_err(), "{bad:?}");
    }
    let twice = crate::wire::ProxyConfig {
        routes: parse_routes("a.com/x\na.com/x/").unwrap(),
        ..Default::default()
    };
    assert!(proxy_config(&twice).unwrap_err().contains("given twice"));
}

#[test]
fn routes_with_https() {
    let text = "shop.example.com https redirect\nshop.example.com/api strip https\n*.example.com redirect\n";
    let routes = parse_routes(text).unwrap();
    assert_eq!(
        routes
            .iter()
            .map(|r| (r.acme, r.redirect_https, r.strip_prefix))
            .collect::<Vec<_>>(),
        [
            (true, true, false),
            (true, false, true),
            (false, true, false)
        ]
    );
    let back: Vec<String> = routes.iter().map(format_route).collect();
    assert_eq!(back.join("\n") + "\n", text);
    // ACME's HTTP-01 proves one exact name: not a wildcard, not "any host".
    for (bad, says) in [
        ("*.example.com https", "cannot prove a wildcard"),
        ("/api https", "names no host"),
        ("shop.example.com tls", "https for a certificate"),
    ] {
        let e = parse_routes(bad).unwrap_err();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
    let wildcard = crate::wire::ProxyConfig {
        routes: vec![crate::wire::RouteSpec {
            host: Some("*.example.com".into()),
            path_prefix: "/".into(),
            strip_prefix: false,
            acme: true,
            redirect_https: false,
        }],
        ..Default::default()
    };
    assert!(proxy_config(&wildcard).is_err());
}

#[test]
fn domains_and_what_they_hold() {
    for ok in [
        "shop.example.com",
        "*.shop.example.com",
        "localhost",
        "a-1.b",
    ] {
        assert!(domain(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "*", "*.com", "Shop.com", "a..b", "*.*.a.b", "a.b.", "-a.b", "a b.c",
    ] {
        assert!(domain(bad).is_err(), "{bad:?}");
    }
    // (domain, host, held)
    for (d, h, held) in [
        ("shop.example.com", "shop.example.com", true),
        ("shop.example.com", "a.shop.example.com", false),
        ("shop.example.com", "*.shop.example.com", false),
        ("*.shop.example.com", "a.shop.example.com", true),
        ("*.shop.example.com", "a.b.shop.example.com", true),
        ("*.shop.example.com", "*.shop.example.com", true),
        ("*.shop.example.com", "*.a.shop.example.com", true),
        ("*.shop.example.com", "shop.example.com", false),
        ("*.shop.example.com", "evilshop.example.com", false),
        ("*.example.com", "*.com", false),
    ] {
        assert_eq!(domain_holds(d, h), held, "{d} holds {h}");
    }
    assert!(domains_overlap("*.example.com", "shop.example.com"));
    assert!(domains_overlap("shop.example.com", "*.example.com"));
    assert!(!domains_overlap("shop.example.com", "shop.example.org"));
    assert!(!domains_overlap("*.a.com", "*.b.com"));
}

#[test]
fn path_prefixes_follow_rfc_3986() {
    for ok in [
        "/",
        "/api",
        "/api/",
        "/a/b-c_d.e~f",
        "/a;b=c",
        "/@me",
        "/a:b",
        "/%20x",
        "/$&'()*+,",
    ] {
        assert!(path_prefix(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "api", "//", "/a//b", "/a b", "/a{b}", "/a\"b", "/a\rb", "/a\n", "/a?b", "/a#b",
        "/%zz", "/%2", "/./a", "/a/..", "/a\\b", "/a<b>", "/é",
    ] {
        assert!(path_prefix(bad).is_err(), "{bad:?}");
    }
    assert!(path_prefix(&format!("/{}", "a".repeat(300))).is_err());
}

#[test]
fn next_paths() {
    for ok in ["/", "/hosts", "/services/shop?tab=logs"] {
        assert!(local_path(ok), "{ok}");
    }
    for bad in [
        "",
        "//evil.example",
        "/\\evil",
        "/\t/evil.example",
        "https://x",
        "/ /x",
    ] {
        assert!(!local_path(bad), "{bad:?}");
    }
}

#[test]
fn form_parsers() {
    assert_eq!(parse_cpus("0.5"), Ok(500));
    assert_eq!(parse_cpus("250m"), Ok(250));
    assert_eq!(parse_cpus(""), Ok(0));
    assert!(parse_cpus("lots").is_err());
    assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
    assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
    assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
    assert_eq!(parse_bytes("64k"), Ok(64 << 10));
    assert!(parse_bytes("12 parsecs").is_err());
    assert_eq!(
        parse_words(r#"["sh", "-c", "echo hi"]"#),
        Ok(vec!["sh".to_string(), "-c".into(), "echo hi".into()])
    );
    assert_eq!(
        parse_words(" httpd  -f "),
        Ok(vec!["httpd".to_string(), "-f".into()])
    );
    let env = parse_env("A=1\n B = x=y \n\nPW=${secret:db-password}").unwrap();
    assert_eq!(env["A"], "1".into());
    assert_eq!(env["B"], "x=y".into());
    assert_eq!(
        env["PW"].secret().map(|r| r.secret.as_str()),
        Some("db-password")
    );
    for (k, v) in &env {
        assert_eq!(parse_env(&format_env(k, v)).unwrap()[k], *v);
    }
    assert!(parse_env("PW=${secret:Bad Name}").is_err());
    assert!(parse_env("A=1\nA=2").is_err());
    assert!(parse_env("novalue").is_err());
}

#[test]
fn endpoints_and_addresses() {
    for ok in [
        "unix:///var/run/docker.sock",
        "tcp://127.0.0.1:2376",
        "tcp://docker.example.com:2375",
    ] {
        assert!(endpoint(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "unix://rel",
        "unix:///",
        "tcp://host",
        "tcp://:1",
        "tcp://h:0",
        "tcp://h:99999",
        "http://h:1",
        "ssh://h",
        "tcp://a b:1",
    ] {
        assert!(endpoint(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "127.0.0.11",
        "10.0.0.5",
        "docker-1.example.com",
        "localhost",
    ] {
        assert!(address(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a b", "-x", "x..y", "1.2.3.999.5 x"] {
        assert!(address(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn passwords() {
    for (pw, ok) in [
        ("short", false),
        ("        ", false),
        ("eight ch", true),
        ("a-much-longer-passphrase", true),
    ] {
        assert_eq!(password(pw).is_ok(), ok, "{pw:?}");
    }
    assert!(password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
}

#[test]
fn token_names() {
    for ok in ["ci", "CI deploy (main)", "x"] {
        assert!(token_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", " ci", "ci ", "tab\there", "ünï", &"a".repeat(65)] {
        assert!(token_name(bad).is_err(), "{bad:?}");
    }
}
