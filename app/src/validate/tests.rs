//! Tests of `validate`.

use super::*;

#[test]
fn volumes_in_the_form_and_their_checks() {
    let list = parse_volumes("data:/var/lib/data\ncache:/cache:ro shared\nnfs:/mnt type=nfs o=addr=10.0.0.1 device=:/export").unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].scope, crate::wire::VolumeScope::PerReplica);
    assert!(list[1].read_only);
    assert_eq!(list[1].scope, crate::wire::VolumeScope::Shared);
    assert_eq!(list[2].options["device"], ":/export");
    for v in &list {
        assert_eq!(parse_volumes(&format_volume(v)).unwrap(), vec![v.clone()]);
    }
    for (bad, why) in [
        ("data:relative/path", "invalid mount path"),
        ("data:/", "invalid mount path"),
        ("data:/a/../b", "invalid mount path"),
        ("a:/data\nb:/data/", "used twice"),
        ("a:/x\na:/y", "used twice"),
        ("Data:/x", "invalid volume name"),
        ("data", "invalid volume"),
        ("data:/x bogus", "invalid volume"),
    ] {
        let err = parse_volumes(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn durations() {
    for (text, ms) in [
        ("", 0),
        ("500ms", 500),
        ("5s", 5_000),
        ("5", 5_000),
        ("1.5s", 1_500),
        ("2m", 120_000),
        ("1h", 3_600_000),
    ] {
        assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
        assert_eq!(
            parse_duration_ms(&format_duration_ms(ms)),
            Ok(ms),
            "{text} round trip"
        );
    }
    for bad in ["soon", "5 days", "-1s", "1e99h"] {
        assert!(parse_duration_ms(bad).is_err(), "{bad}");
    }
}

#[test]
fn update_policies() {
    use crate::wire::UpdatePolicy;
    assert!(update_policy(&UpdatePolicy::default()).is_ok());
    let bad = [
        UpdatePolicy {
            max_surge: 0,
            ..Default::default()
        },
        UpdatePolicy {
            batch_size: Some(0),
            ..Default::default()
        },
        UpdatePolicy {
            delay_ms: 7_200_000,
            ..Default::default()
        },
        UpdatePolicy {
            deadline_ms: 10,
            ..Default::default()
        },
    ];
    for p in bad {
        assert!(update_policy(&p).is_err(), "{p:?}");
    }
    let batches = UpdatePolicy {
        max_surge: 0,
        batch_size: Some(2),
        ..Default::default()
    };
    assert!(update_policy(&batches).is_ok());
}

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
fn specs() {
    use crate::wire::ServiceSpec;
    let spec = |v: serde_json::Value| -> ServiceSpec { serde_json::from_value(v).unwrap() };
    let ok = spec(serde_json::json!({
        "image": "berth-demo:v1", "port": 8080, "env": {"MODE": "a=b"},
        "health": {"kind": "http", "path": "/healthz"},
        "resources": {"cpu_millis": 250, "memory_bytes": 67108864, "memory_limit_bytes": 134217728},
        "placement": {"constraints": ["zone=a", "!gpu"], "strategy": "binpack"}
    }));
    assert_eq!(service_spec(&ok), Ok(()));
    for (bad, why) in [
        (serde_json::json!({"image": "x y"}), "invalid image"),
        (
            serde_json::json!({"image": "x", "env": {"1A": "v"}}),
            "environment variable",
        ),
        (
            serde_json::json!({"image": "x", "port": 0}),
            "container port",
        ),
        (
            serde_json::json!({"image": "x", "host_port": 80}),
            "needs a container port",
        ),
        (
            serde_json::json!({"image": "x", "health": {"kind": "http", "path": "/h"}}),
            "needs the container port",
        ),
        (
            serde_json::json!({"image": "x", "port": 1, "health": {"kind": "http", "path": "h"}}),
            "absolute path",
        ),
        (
            serde_json::json!({"image": "x", "health": {"kind": "command", "command": []}}),
            "needs a command",
        ),
        (
            serde_json::json!({"image": "x", "resources": {"memory_bytes": 100, "memory_limit_bytes": 50}}),
            "below",
        ),
        (
            serde_json::json!({"image": "x", "resources": {"memory_limit_bytes": 1024}}),
            "6 MiB",
        ),
        (
            serde_json::json!({"image": "x", "placement": {"constraints": ["zo ne=a"]}}),
            "invalid constraint",
        ),
        (
            serde_json::json!({"image": "x", "update": {"max_surge": 0}}),
            "both be 0",
        ),
    ] {
        let err = service_spec(&spec(bad.clone())).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
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
fn volume_options_never_reach_the_host() {
    use crate::wire::VolumeSpec;
    let vol = |pairs: &[(&str, &str)]| VolumeSpec {
        name: "v".into(),
        path: "/v".into(),
        read_only: false,
        scope: Default::default(),
        driver: "local".into(),
        options: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    for ok in [
        &[][..],
        &[
            ("type", "nfs"),
            ("o", "addr=10.0.0.1,rw"),
            ("device", ":/export"),
        ][..],
        &[("type", "tmpfs"), ("o", "size=64m")][..],
        &[("type", "cifs"), ("device", "//server/share")][..],
    ] {
        assert!(volume_options(&vol(ok)).is_ok(), "{ok:?}");
    }
    for (bad, why) in [
        (
            &[("type", "none"), ("o", "bind"), ("device", "/")][..],
            "bind",
        ),
        (&[("o", "bind"), ("device", "/var/run")][..], "bind"),
        (
            &[("type", "nfs"), ("o", "bind"), ("device", ":/x")][..],
            "bind",
        ),
        (&[("type", "tmpfs"), ("o", "size=1m,rbind")][..], "bind"),
        (
            &[("type", "ext4"), ("device", "/dev/sda1")][..],
            "not allowed",
        ),
        (&[("type", "nfs"), ("device", "/etc")][..], "not a share"),
        (
            &[("type", "tmpfs"), ("device", "/var/run")][..],
            "not a share",
        ),
        (
            &[("type", "nfs"), ("uid", "0")][..],
            "unknown driver option",
        ),
    ] {
        let err = volume_options(&vol(bad)).unwrap_err();
        assert!(err.contains(why), "{bad:?}: {err}");
    }
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
fn env_values_and_secret_names() {
    use crate::wire::{EnvValue, ServiceSpec};
    let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "x", "env": {"A": "1", "PW": {"secret": "db-password"}}
    }))
    .unwrap();
    assert_eq!(service_spec(&spec), Ok(()));
    assert_eq!(spec.secret_refs().count(), 1);
    let hidden = spec.with_values_hidden();
    assert!(matches!(hidden.env["A"], EnvValue::Hidden(_)));
    assert_eq!(hidden.env["PW"], spec.env["PW"]);
    assert!(service_spec(&hidden).unwrap_err().contains("hidden"));
    for bad in [
        serde_json::json!({"image": "x", "env": {"A": {"secret": "Bad Name"}}}),
        serde_json::json!({"image": "x", "env": {"A": {"secret": "pw", "version": 0}}}),
    ] {
        let spec: ServiceSpec = serde_json::from_value(bad.clone()).unwrap();
        assert!(service_spec(&spec).is_err(), "{bad}");
    }
    for bad in [
        serde_json::json!({"image": "x", "env": {"A": {"secret": "pw", "extra": 1}}}),
        serde_json::json!({"image": "x", "env": {"A": 5}}),
        serde_json::json!({"image": "x", "env": {"A": {"value": "x"}}}),
    ] {
        assert!(
            serde_json::from_value::<ServiceSpec>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    assert!(secret_value("").is_err());
    assert!(secret_value(&"x".repeat(SECRET_MAX + 1)).is_err());
    assert!(secret_value("s3cret\n").is_ok());
}

#[test]
fn unknown_fields_are_refused() {
    use crate::wire::ServiceSpec;
    for bad in [
        serde_json::json!({"image": "x", "privileged": true}),
        serde_json::json!({"image": "x", "network_mode": "host"}),
        serde_json::json!({"image": "x", "resources": {"cpu_millis": 1, "devices": ["/dev/kmsg"]}}),
        serde_json::json!({"image": "x", "health": {"kind": "http", "path": "/", "cap_add": ["ALL"]}}),
        serde_json::json!({"image": "x", "health": {"kind": "http", "command": ["x"]}}),
        serde_json::json!({"image": "x", "volumes": [{"name": "v", "path": "/v", "source": "/"}]}),
        serde_json::json!({"image": "x", "placement": {"strategy": "spread", "pid": "host"}}),
        serde_json::json!({"image": "x", "update": {"max_surge": 1, "ipc": "host"}}),
    ] {
        let err = serde_json::from_value::<ServiceSpec>(bad.clone()).unwrap_err();
        assert!(!err.to_string().is_empty(), "{bad}");
    }
    // The same spec, as Berth writes it, reads back the same.
    let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "x", "port": 80, "health": {"kind": "http", "path": "/h"},
        "env": {"A": "1", "PW": {"secret": "pw", "version": 2}}
    }))
    .unwrap();
    let again: ServiceSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(again, spec);
}

#[test]
fn spec_hashes_are_pinned() {
    // Replicas are replaced when their spec's hash changes: a change in how a
    // spec is hashed would restart every replica of every new revision.
    let spec =
        |v: serde_json::Value| -> crate::wire::ServiceSpec { serde_json::from_value(v).unwrap() };
    let pinned = [
        (serde_json::json!({"image": "demo:v1"}), "0a8dec8414222ed1"),
        (
            serde_json::json!({
                "image": "127.0.0.1:5000/berth-demo:v1", "port": 8080, "env": {"A": "1"},
                "health": {"kind": "http", "path": "/healthz"}
            }),
            "2ff1669dec55f612",
        ),
        (
            serde_json::json!({
                "image": "db:16", "command": ["postgres"], "args": ["-c", "fsync=on"],
                "env": {"PW": {"secret": "pw", "version": 3}},
                "resources": {"cpu_millis": 500, "memory_bytes": 268435456},
                "placement": {"constraints": ["zone=a"], "strategy": "binpack"},
                "volumes": [{"name": "data", "path": "/var/lib/db"}]
            }),
            "1f09a3174c17670e",
        ),
    ];
    let got: Vec<String> = pinned.iter().map(|(j, _)| spec(j.clone()).hash()).collect();
    let want: Vec<&str> = pinned.iter().map(|(_, h)| *h).collect();
    assert_eq!(got, want);
}

#[test]
fn a_new_optional_field_at_its_default_or_another_field_order_keeps_every_hash() {
    let spec: crate::wire::ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "demo:v1", "port": 8080, "env": {"A": "", "B": "2"},
        "health": {"kind": "http", "path": "/healthz"},
        "volumes": [{"name": "data", "path": "/data"}]
    }))
    .unwrap();
    let value = serde_json::to_value(&spec).unwrap();
    assert_eq!(crate::wire::canonical_hash(&value), spec.hash());
    // What a spec of a later Berth with a new optional field (None, an empty
    // list or map) serialises to, at the top and inside its parts.
    let mut later = value.clone();
    later["sidecars"] = serde_json::json!([]);
    later["dns"] = serde_json::Value::Null;
    later["health"]["headers"] = serde_json::json!({});
    later["volumes"][0]["options_from"] = serde_json::Value::Null;
    assert_eq!(crate::wire::canonical_hash(&later), spec.hash());
    // The same fields written in another order.
    let mut reordered = serde_json::Map::new();
    let object = value.as_object().unwrap();
    for k in object.keys().rev() {
        reordered.insert(k.clone(), object[k].clone());
    }
    assert_eq!(
        crate::wire::canonical_hash(&serde_json::Value::Object(reordered)),
        spec.hash()
    );
    // An empty value is still a value: `A=""` is not `A` unset.
    let mut unset = spec.clone();
    unset.env.remove("A");
    assert_ne!(unset.hash(), spec.hash());
    // How replicas change is not what they are.
    let mut policy = spec.clone();
    policy.update.batch_size = Some(2);
    assert_eq!(policy.hash(), spec.hash());
    assert!(policy.same_replicas(&spec));
    assert!(!unset.same_replicas(&spec));
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
