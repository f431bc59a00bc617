//! Compose mapping tables over the sample files beside this one: each key mapped,
//! each key left out or refused with its reason, and bad files in words with a
//! place.

use std::collections::BTreeMap;

use domain::wire::{
    Balance, EnvValue, FailureAction, HealthProbe, KeyVerdict, RestartPolicy, SecretRef,
    StackFormat, UpdateOrder, VolumeScope,
};

use crate::stacks::{read, Parsed, StackError, Wanted};

const MAPPED: &str = include_str!("samples/mapped.yml");
const IGNORED: &str = include_str!("samples/ignored.yml");

fn read_compose(text: &str, files: &[(&str, &str)]) -> Result<Parsed, StackError> {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    read(text, StackFormat::Auto, Some("shop"), &files)
}

fn service<'a>(p: &'a Parsed, name: &str) -> &'a Wanted {
    p.services.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn every_mapped_key_lands_in_the_spec() {
    let p = read_compose(
        MAPPED,
        &[(
            "web.env",
            "# comment\nMODE=from-file\nexport COLOUR='blue'\n",
        )],
    )
    .unwrap();
    assert_eq!(p.format, StackFormat::Compose);
    let web = service(&p, "web");
    let s = &web.spec;
    assert_eq!((web.team.as_str(), web.replicas), ("shop", 3));
    assert_eq!(s.image, "127.0.0.1:5000/berth-demo:v1");
    assert_eq!(s.command, ["/app/server"]);
    assert_eq!(s.args, ["--port", "8080"]);
    // `environment` wins over the env file, as in Compose.
    assert_eq!(s.env["MODE"], EnvValue::plain("production"));
    assert_eq!(s.env["COLOUR"], EnvValue::plain("blue"));
    assert_eq!(s.env["LEVEL"], EnvValue::plain("3"));
    let secret = |name: &str| {
        EnvValue::Secret(SecretRef {
            secret: name.into(),
            version: None,
        })
    };
    assert_eq!(s.env["DB_PASS"], secret("shop-db-password"));
    assert_eq!(s.env["SHOP_KEY"], secret("api_key"));
    assert_eq!(s.port, Some(8080));
    let h = s.health.as_ref().unwrap();
    assert_eq!(
        h.probe,
        HealthProbe::Command {
            command: vec!["/app/check".into(), "--quick".into()]
        }
    );
    assert_eq!(
        (h.interval_ms, h.timeout_ms, h.retries, h.start_period_ms),
        (5_000, 2_000, 4, 90_000)
    );
    let r = s.resources;
    assert_eq!(
        (
            r.cpu_limit_millis,
            r.memory_limit_bytes,
            r.cpu_millis,
            r.memory_bytes
        ),
        (500, 256 << 20, 250, 128 << 20)
    );
    let u = &s.update;
    assert_eq!(
        (
            u.batch_size,
            u.delay_ms,
            u.monitor_ms,
            u.failure_action,
            u.order
        ),
        (
            Some(2),
            10_000,
            30_000,
            FailureAction::Pause,
            Some(UpdateOrder::StartFirst)
        )
    );
    assert_eq!(s.restart, RestartPolicy::OnFailure);
    let constraints: Vec<String> = s
        .placement
        .constraints
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(constraints, ["zone=a", "disk!=hdd"]);
    let vols: Vec<(&str, &str, bool, VolumeScope, Option<&str>)> = s
        .volumes
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.path.as_str(),
                v.read_only,
                v.scope,
                v.class.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        vols,
        [
            ("cache", "/var/cache", false, VolumeScope::Shared, None),
            (
                "files",
                "/srv/files",
                true,
                VolumeScope::Shared,
                Some("shared-disk")
            )
        ]
    );
    assert_eq!(web.proxy.balance, Balance::RoundRobin);
    assert_eq!(
        domain::validate::format_route(&web.proxy.routes[0]),
        "shop.example.com/api strip"
    );

    let worker = service(&p, "worker");
    let w = &worker.spec;
    assert_eq!(worker.replicas, 2);
    assert_eq!(w.args, ["work", "--hard"]);
    assert_eq!(w.restart, RestartPolicy::Never);
    assert_eq!(
        (w.resources.cpu_limit_millis, w.resources.memory_limit_bytes),
        (1500, 1 << 30)
    );
    assert_eq!(
        w.health.as_ref().unwrap().probe,
        HealthProbe::Command {
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                "curl -fs http://localhost/ || exit 1".into()
            ]
        }
    );
    assert_eq!(
        (w.volumes[0].name.as_str(), w.volumes[0].scope),
        ("data", VolumeScope::PerReplica)
    );
}

#[test]
fn what_is_taken_differently_is_said() {
    let p = read_compose(MAPPED, &[("web.env", "")]).unwrap();
    let notes: Vec<(&str, KeyVerdict)> = p
        .notes
        .iter()
        .map(|n| (n.key.as_str(), n.verdict))
        .collect();
    assert_eq!(
        notes,
        [
            ("name", KeyVerdict::Ignored),
            ("services.web.secrets.db-pass", KeyVerdict::Adapted),
            ("services.web.secrets.api_key", KeyVerdict::Adapted),
        ],
        "{:#?}",
        p.notes
    );
    assert!(
        p.notes[1]
            .reason
            .contains("$DB_PASS holds the team's secret shop-db-password"),
        "{}",
        p.notes[1].reason
    );
}

#[test]
fn every_key_left_out_or_refused_is_listed_with_its_reason() {
    let p = read_compose(IGNORED, &[]).unwrap();
    let got: BTreeMap<&str, KeyVerdict> = p
        .notes
        .iter()
        .map(|n| (n.key.as_str(), n.verdict))
        .collect();
    use KeyVerdict::{Adapted, Ignored, Refused};
    let want: &[(&str, KeyVerdict)] = &[
        ("version", Ignored),
        ("x-common", Ignored),
        ("networks", Ignored),
        ("configs", Ignored),
        ("include", Refused),
        ("services.app.build", Ignored),
        ("services.app.container_name", Ignored),
        ("services.app.depends_on", Ignored),
        ("services.app.networks", Ignored),
        ("services.app.hostname", Ignored),
        ("services.app.logging", Ignored),
        ("services.app.stop_grace_period", Ignored),
        ("services.app.user", Ignored),
        ("services.app.profiles", Ignored),
        ("services.app.privileged", Ignored),
        ("services.app.tty", Ignored),
        ("services.app.frobnicate", Ignored),
        ("services.app.x-note", Ignored),
        ("services.app.ports", Refused),
        ("services.app.labels.com.example.team", Ignored),
        ("services.app.environment.FROM_SHELL", Refused),
        ("services.app.environment.1", Refused),
        ("services.app.deploy.mode", Ignored),
        ("services.app.deploy.endpoint_mode", Ignored),
        ("services.app.deploy.rollback_config", Ignored),
        (
            "services.app.deploy.update_config.max_failure_ratio",
            Ignored,
        ),
        ("services.app.deploy.restart_policy.max_attempts", Ignored),
        ("services.app.deploy.placement.preferences", Ignored),
        ("services.app.healthcheck.start_interval", Ignored),
        ("services.app.volumes./host-etc", Refused),
        ("services.app.volumes./src", Refused),
        ("services.app.volumes./anonymous", Refused),
        ("services.app.volumes./tmp", Ignored),
        ("services.root.privileged", Refused),
        ("services.root.cap_add", Refused),
        ("services.root.network_mode", Refused),
        ("services.root.pid", Refused),
        ("services.root.devices", Refused),
        ("services.root.env_file", Refused),
    ];
    for (key, verdict) in want {
        assert_eq!(got.get(key), Some(verdict), "{key}: {:#?}", p.notes);
    }
    // The published and the extra ports are noted too, one note per port.
    let ports: Vec<KeyVerdict> = p
        .notes
        .iter()
        .filter(|n| n.key == "services.app.ports")
        .map(|n| n.verdict)
        .collect();
    assert_eq!(ports, [Adapted, Ignored, Refused]);
    assert!(p.notes.iter().all(|n| !n.reason.is_empty()));
    // What is left is still read: the app's image and its one port.
    assert_eq!(service(&p, "app").spec.port, Some(8080));
}

#[test]
fn bad_files_are_refused_in_words_with_a_place() {
    let cases: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: [unclosed\n", "line 4"),
        ("services:\n  web:\n    image: a\n    deploy:\n      replicas: many\n", "services.web.deploy.replicas: invalid type"),
        ("services:\n  web:\n    image: a\n    deploy:\n      replicas: many\n", "(line 5, column 7)"),
        ("services:\n  web:\n    command: run\n", "services.web.image: a service needs an image"),
        ("services:\n  web:\n    image: a\n    ports: [\"80:http\"]\n", "the container port must be one number"),
        ("services:\n  web:\n    image: a\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n", "Berth places by host labels only"),
        ("services:\n  web:\n    image: a\n    healthcheck:\n      test: [\"CMD\", \"x\"]\n      interval: soon\n", "invalid duration \"soon\""),
        ("- just\n- a list\n", "a Compose file is a mapping"),
    ];
    for (text, want) in cases {
        let got = read_compose(text, &[]).unwrap_err().to_string();
        assert!(got.contains(want), "{text:?}: {got}");
    }
}

#[test]
fn a_compose_file_needs_a_team() {
    let got = read(
        "services:\n  web:\n    image: a\n",
        StackFormat::Auto,
        None,
        &BTreeMap::new(),
    );
    assert!(got.unwrap_err().to_string().contains("choose the team"));
}

#[test]
fn compose_durations_add_up() {
    let cases: &[(&str, Result<u64, ()>)] = &[
        ("10s", Ok(10_000)),
        ("1m30s", Ok(90_000)),
        ("500ms", Ok(500)),
        ("1h", Ok(3_600_000)),
        ("x", Err(())),
    ];
    for (text, want) in cases {
        assert_eq!(
            super::values::duration_ms(text).map_err(|_| ()),
            *want,
            "{text}"
        );
    }
}

#[test]
fn a_file_of_aliases_that_explodes_is_refused_quickly() {
    // "Billion laughs": each line nine times the one before.
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='k' {
        text.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = c;
    }
    text.push_str("services:\n  web:\n    image: a\n");
    let started = std::time::Instant::now();
    let got = read_compose(&text, &[]);
    assert!(got.is_err(), "{got:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_flat_alias_of_a_long_list_is_refused_quickly() {
    // One list of 30,000 items used 300 times: a small file, a tree of 9 million.
    let items = vec!["x"; 30_000].join(", ");
    let uses = vec!["*a"; 300].join(", ");
    let text = format!("x-a: &a [{items}]\nx-b: [{uses}]\nservices:\n  web:\n    image: a\n");
    assert!(text.len() < crate::stacks::MAX_FILE_BYTES);
    let started = std::time::Instant::now();
    let got = read_compose(&text, &[]).unwrap_err().to_string();
    assert!(got.contains("expands to more than"), "{got}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn env_files_count_once_per_use() {
    let big = "K=".to_string() + &"v".repeat(1 << 20);
    let mut text = String::from("services:\n");
    for i in 0..5 {
        text.push_str(&format!("  s{i}:\n    image: a\n    env_file: big.env\n"));
    }
    let got = read_compose(&text, &[("big.env", &big)])
        .unwrap_err()
        .to_string();
    assert!(got.contains("env files"), "{got}");
}

#[test]
fn merges_escapes_and_quotes_are_read_as_compose_means_them() {
    let text = "x-base: &base\n  image: a\n  privileged: true\nservices:\n  web:\n    <<: *base\n    environment: {PRICE: \"$$5\"}\n";
    let p = read_compose(text, &[]).unwrap();
    assert_eq!(service(&p, "web").spec.image, "a");
    assert_eq!(service(&p, "web").spec.env["PRICE"], EnvValue::plain("$5"));
    // The merged key is sorted like any other.
    assert!(
        p.notes
            .iter()
            .any(|n| n.key == "services.web.privileged" && n.verdict == KeyVerdict::Refused),
        "{:#?}",
        p.notes
    );
    let quoted = "services:\n  web:\n    image: a\n    command: sh -c \"echo hi\"\n";
    let got = read_compose(quoted, &[]).unwrap_err().to_string();
    assert!(got.contains("write it as a list"), "{got}");
    let expose = "services:\n  web:\n    image: a\n    labels: {berth.expose: \"no\"}\n";
    let got = read_compose(expose, &[]).unwrap_err().to_string();
    assert!(got.contains("write true or false"), "{got}");
}
