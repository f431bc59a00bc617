//! How a plan reads, what `--wait` follows after an apply, and when a plan is an
//! error.

use serde_json::json;

use super::*;

fn plan() -> StackPlan {
    serde_json::from_value(json!({
        "format": "compose",
        "services": [
            {"name": "api", "team": "shop", "action": "create", "revision": null,
             "changes": [{"kind": "create", "replicas": 2}],
             "placement": {"hosts": [{"host": "h1", "replicas": 1}, {"host": "h2", "replicas": 1}], "unplaced": 0}},
            {"name": "web", "team": "shop", "action": "update", "revision": 3,
             "changes": [{"kind": "revision", "from": 3}, {"kind": "scale", "from": 2, "to": 3}],
             "diff": ["image: demo:v1 → demo:v2"],
             "placement": {"hosts": [{"host": "h3", "replicas": 2}], "unplaced": 1, "reason": "1 host lacks 512 MiB free memory"}},
            {"name": "db", "team": "shop", "action": "unchanged", "revision": 1, "changes": []},
            {"name": "edge", "team": "shop", "action": "update", "revision": 5,
             "changes": [{"kind": "proxy"}]}
        ],
        "notes": [{"key": "services.web.build", "verdict": "ignored", "reason": "Berth runs images"}],
        "changes": 3,
        "appliable": true,
        "guard": {"api": null, "web": 3, "db": 1, "edge": 5}
    }))
    .unwrap()
}

#[test]
fn a_plan_as_people_read_it() {
    assert_eq!(
        render(&plan()),
        "+ api (team shop): create\n\
         \x20   create with 2 replicas\n\
         \x20   placement: h1 ×1, h2 ×1\n\
         ~ web (team shop): update (revision 3)\n\
         \x20   new revision after 3, rolled out\n\
         \x20   scale 2 → 3\n\
         \x20     image: demo:v1 → demo:v2\n\
         \x20   placement: h3 ×2, 1 not placed: 1 host lacks 512 MiB free memory\n\
         = db (team shop): unchanged\n\
         ~ edge (team shop): update (revision 5)\n\
         \x20   routes on the proxy change\n\
         \n\
         Keys not applied as written:\n\
         \x20 KEY                 VERDICT  WHY\n\
         \x20 services.web.build  ignored  Berth runs images\n\
         \n\
         Plan: 3 of 4 services change.\n"
    );
}

#[test]
fn no_changes_says_so() {
    let mut p = plan();
    p.services.truncate(1);
    p.services[0].action = PlanAction::Unchanged;
    p.services[0].changes.clear();
    p.services[0].placement = None;
    p.notes.clear();
    p.changes = 0;
    assert_eq!(
        render(&p),
        "= api (team shop): unchanged\n\nNo changes: 1 service as the file says.\n"
    );
}

#[test]
fn wait_follows_what_changed() {
    assert_eq!(
        follows(&plan().services),
        vec![
            Follow {
                name: "api".into(),
                target: Target::Current
            },
            Follow {
                name: "web".into(),
                target: Target::After(3)
            },
            Follow {
                name: "edge".into(),
                target: Target::Current
            },
        ]
    );
}

#[test]
fn a_refused_key_is_an_error() {
    assert!(appliable(&plan()).is_ok());
    let mut p = plan();
    p.appliable = false;
    p.notes.push(serde_json::from_value(json!({
        "key": "services.web.privileged", "verdict": "refused", "reason": "no privileged containers"
    })).unwrap());
    let e = appliable(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the file cannot be applied: refused services.web.privileged (no privileged containers)"
    );
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn query_values_are_encoded() {
    assert_eq!(encode("shop"), "shop");
    assert_eq!(encode("a b&c"), "a%20b%26c");
}
