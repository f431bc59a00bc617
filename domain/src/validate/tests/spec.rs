//! Tests of the spec's rules and its hash.

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
fn percents() {
    use crate::wire::Ratio;
    assert_eq!(parse_percent(""), Ok(None));
    assert_eq!(parse_percent("1%"), Ok(Some(Ratio(10_000))));
    assert_eq!(parse_percent(" 0.5 % "), Ok(Some(Ratio(5_000))));
    assert_eq!(parse_percent("12"), Ok(Some(Ratio(120_000))));
    for bad in ["0", "100%", "-1", "a%", "1%%x"] {
        assert!(parse_percent(bad).is_err(), "{bad}");
    }
}

#[test]
fn gates_read_as_numbers_and_are_checked() {
    use crate::wire::{Gates, Ratio, UpdatePolicy};
    let policy = |v: serde_json::Value| -> UpdatePolicy { serde_json::from_value(v).unwrap() };
    let ok = policy(serde_json::json!({
        "gates": {"max_error_rate": 0.01, "max_p99_ms": 300, "window_ms": 30000}
    }));
    let g = ok.gates.clone().unwrap();
    assert_eq!(g.max_error_rate, Some(Ratio(10_000)));
    assert_eq!(g.max_error_rate.unwrap().to_string(), "1%");
    assert_eq!(Ratio(42_500).to_string(), "4.25%");
    assert_eq!(Ratio(12_345).to_string(), "1.2345%");
    assert_eq!(Ratio(10).to_string(), "0.001%");
    assert_eq!(crate::format::percent(0.0105, 2), "1.05%");
    assert_eq!(crate::format::percent(0.0, 2), "0%");
    assert_eq!(update_policy(&ok), Ok(()));
    assert_eq!(
        g.to_string(),
        "gates: at most 1% 5xx, p99 at most 300 ms, over 30 s"
    );
    // Written back as it was given; without gates, nothing is written.
    let back = serde_json::to_value(&ok).unwrap();
    assert_eq!(back["gates"]["max_error_rate"], 0.01);
    assert!(serde_json::to_value(UpdatePolicy::default())
        .unwrap()
        .get("gates")
        .is_none());
    // The window defaults to 30 s.
    assert_eq!(
        policy(serde_json::json!({"gates": {"max_p99_ms": 300}}))
            .gates
            .unwrap()
            .window_ms,
        30_000
    );
    for bad in [
        serde_json::json!({"gates": {"max_error_rate": 1.5}}),
        serde_json::json!({"gates": {"max_error_rate": -0.1}}),
        serde_json::json!({"gates": {"max_error_rate": "1%"}}),
        serde_json::json!({"gates": {"max_p99": 300}}),
    ] {
        assert!(
            serde_json::from_value::<UpdatePolicy>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    let gated = |g: Gates| UpdatePolicy {
        gates: Some(g),
        ..Default::default()
    };
    for (bad, why) in [
        (
            Gates {
                max_error_rate: None,
                max_p99_ms: None,
                window_ms: 30_000,
            },
            "need a max error rate",
        ),
        (
            Gates {
                max_error_rate: Some(Ratio(0)),
                max_p99_ms: None,
                window_ms: 30_000,
            },
            "above 0 and below 1",
        ),
        (
            Gates {
                max_error_rate: Some(Ratio(Ratio::MILLION)),
                max_p99_ms: None,
                window_ms: 30_000,
            },
            "above 0 and below 1",
        ),
        (
            Gates {
                max_error_rate: None,
                max_p99_ms: Some(0),
                window_ms: 30_000,
            },
            "from 1 ms",
        ),
        (
            Gates {
                max_error_rate: None,
                max_p99_ms: Some(300),
                window_ms: 500,
            },
            "window must be",
        ),
        (
            Gates {
                max_error_rate: None,
                max_p99_ms: Some(300),
                window_ms: 3_600_000,
            },
            "window must be",
        ),
    ] {
        let err = update_policy(&gated(bad.clone())).unwrap_err();
        assert!(err.contains(why), "{bad:?}: {err}");
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
            serde_json::json!({"image": "x", "update": {"max_surge": 0}}),
            "both be 0",
        ),
    ] {
        let err = service_spec(&spec(bad.clone())).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
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
        class: None,
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
        // A constraint is parsed as the spec is read: none that does not parse
        // reaches placement.
        serde_json::json!({"image": "x", "placement": {"constraints": ["zo ne=a"]}}),
        serde_json::json!({"image": "x", "placement": {"constraints": ["zone=b=c"]}}),
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
fn a_class_volume_takes_nothing_of_the_driver_from_the_spec() {
    let with = |v: serde_json::Value| {
        let spec: crate::wire::ServiceSpec =
            serde_json::from_value(serde_json::json!({"image": "x", "volumes": [v]})).unwrap();
        service_spec(&spec)
    };
    assert!(with(serde_json::json!({"name": "d", "path": "/d", "class": "shared-disk"})).is_ok());
    for (bad, why) in [
        (
            serde_json::json!({"name": "d", "path": "/d", "class": "Shared Disk"}),
            "invalid volume class",
        ),
        (
            serde_json::json!({"name": "d", "path": "/d", "class": "c", "driver": "rclone"}),
            "leave driver and options out",
        ),
        (
            serde_json::json!({"name": "d", "path": "/d", "class": "c", "options": {"type": "tmpfs"}}),
            "leave driver and options out",
        ),
        (
            serde_json::json!({"name": "d", "path": "/d", "driver": "rclone"}),
            "names a class",
        ),
    ] {
        let err = with(bad.clone()).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn the_forms_write_a_class_as_class_equals() {
    let vs = parse_volumes("data:/data class=shared-disk\nlogs:/logs shared").unwrap();
    assert_eq!(vs[0].class.as_deref(), Some("shared-disk"));
    assert_eq!(vs[1].class, None);
    assert_eq!(format_volume(&vs[0]), "data:/data class=shared-disk");
    assert!(parse_volumes("data:/data class=NO")
        .unwrap_err()
        .contains("invalid volume class"));
}

#[test]
fn volume_classes_to_the_grammar() {
    use crate::wire::{ClassScope, VolumeClassInput};
    let class = |name: &str, driver: &str, options: &[(&str, &str)]| VolumeClassInput {
        name: name.into(),
        driver: driver.into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        scope: ClassScope::Global,
        teams: vec![],
    };
    assert!(volume_class(&class(
        "shared-disk",
        "rclone",
        &[("remote", ":local:/s/{volume}")]
    ))
    .is_ok());
    assert!(volume_class(&class("ssh", "vieux/sshfs:latest", &[])).is_ok());
    for (bad, why) in [
        (class("Bad", "local", &[]), "invalid volume class"),
        (class("c", "", &[]), "invalid volume driver"),
        (class("c", "rclone; rm", &[]), "invalid volume driver"),
        (class("c", "local", &[("a b", "x")]), "invalid option name"),
        (class("c", "local", &[("o", "x\ny")]), "control characters"),
    ] {
        let err = volume_class(&bad).unwrap_err();
        assert!(err.contains(why), "{bad:?}: {err}");
    }
    let opts = VolumeClassInput::options_for(
        &[("remote".to_string(), ":local:/s/{volume}".to_string())].into(),
        "berth.web.data.1",
    );
    assert_eq!(opts["remote"], ":local:/s/berth.web.data.1");
}

#[test]
fn canary_steps_as_written_and_their_checks() {
    use crate::wire::{Canary, CanaryStep, ServiceSpec};
    let step = |weight, pause_ms| CanaryStep { weight, pause_ms };
    let two = Canary {
        steps: vec![step(10, Some(60_000)), step(50, None)],
    };
    // The form's text, both ways.
    assert_eq!(parse_canary("10% 1m, 50%"), Ok(Some(two.clone())));
    assert_eq!(parse_canary(" 10 60s ,50% "), Ok(Some(two.clone())));
    assert_eq!(format_canary(&two), "10% 1m, 50%");
    assert_eq!(parse_canary(""), Ok(None));
    assert_eq!(two.to_string(), "canary: 10% for 1 min, 50% until promoted");
    for (bad, why) in [
        ("ten", "invalid canary step"),
        ("10% 1m 2m", "a weight and a pause"),
        ("0%", "from 1 to 99"),
        ("100%", "from 1 to 99"),
        ("50%, 10%", "more than the one before"),
        ("10%, 10%", "more than the one before"),
        ("10% 2d", "at most a day"),
        ("10% soon", "invalid duration"),
        ("1,2,3,4,5,6,7,8,9,10,11", "1 to 10 steps"),
    ] {
        let err = parse_canary(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
    assert!(canary(&Canary { steps: vec![] })
        .unwrap_err()
        .contains("1 to 10 steps"));
    // New replicas beside the old: the weight's share, at least one.
    let c = Canary {
        steps: vec![
            step(1, None),
            step(10, None),
            step(50, None),
            step(99, None),
        ],
    };
    let beside: Vec<Option<u32>> = (0..5).map(|i| c.replicas_at(i, 4)).collect();
    assert_eq!(beside, [Some(1), Some(1), Some(2), Some(4), None]);
    assert_eq!(c.replicas_at(2, 1), Some(1));
    // In a spec: read back as written, not part of the replicas' hash, and
    // refused with the stop-first order (new beside old is start-first).
    let spec: ServiceSpec = serde_json::from_value(serde_json::json!({
        "image": "demo:v1",
        "update": {"canary": {"steps": [{"weight": 10, "pause_ms": 60000}, {"weight": 50}]}}
    }))
    .unwrap();
    assert_eq!(spec.update.canary, Some(two));
    assert_eq!(service_spec(&spec), Ok(()));
    assert_eq!(
        spec.hash(),
        ServiceSpec {
            update: Default::default(),
            ..spec.clone()
        }
        .hash()
    );
    let mut stop_first = spec.clone();
    stop_first.update.order = Some(crate::wire::UpdateOrder::StopFirst);
    assert!(service_spec(&stop_first)
        .unwrap_err()
        .contains("stop-first"));
    let unknown = serde_json::from_value::<ServiceSpec>(serde_json::json!({
        "image": "demo:v1", "update": {"canary": {"steps": [{"weight": 10, "share": 5}]}}
    }));
    assert!(unknown.is_err());
}
