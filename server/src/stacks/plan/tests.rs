//! Plan tables: current state + wanted services -> changes; and the dry-run's
//! placements over small fixed clusters.

use super::*;
use crate::model::Status;
use domain::wire::{Health, HostState, Strategy};

const GIB: u64 = 1 << 30;

fn spec(image: &str) -> ServiceSpec {
    serde_json::from_value(serde_json::json!({"image": image, "port": 8080})).unwrap()
}

fn current(name: &str, image: &str, replicas: u32) -> Current {
    Current {
        id: name.len() as i64,
        name: name.into(),
        team: "shop".into(),
        revision: 4,
        replicas,
        spec: spec(image),
        proxy: ProxyConfig::default(),
    }
}

fn wanted(name: &str, image: &str, replicas: u32) -> Wanted {
    Wanted {
        name: name.into(),
        team: "shop".into(),
        replicas,
        spec: spec(image),
        proxy: ProxyConfig::default(),
    }
}

#[test]
fn each_service_gets_what_changes_for_it() {
    let mut policy = wanted("web", "web:v1", 2);
    policy.spec.update.batch_size = Some(2);
    let mut routed = wanted("web", "web:v1", 2);
    routed.proxy.routes = domain::validate::parse_routes("shop.example.com").unwrap();
    let cur = [current("web", "web:v1", 2)];
    let table: Vec<(Wanted, PlanAction, Vec<PlanChange>)> = vec![
        (wanted("web", "web:v1", 2), PlanAction::Unchanged, vec![]),
        (
            wanted("web", "web:v2", 2),
            PlanAction::Update,
            vec![PlanChange::Revision { from: 4 }],
        ),
        (
            wanted("web", "web:v1", 5),
            PlanAction::Update,
            vec![PlanChange::Scale { from: 2, to: 5 }],
        ),
        (
            wanted("web", "web:v2", 0),
            PlanAction::Update,
            vec![
                PlanChange::Revision { from: 4 },
                PlanChange::Scale { from: 2, to: 0 },
            ],
        ),
        (
            policy,
            PlanAction::Update,
            vec![PlanChange::Policy { from: 4 }],
        ),
        (routed, PlanAction::Update, vec![PlanChange::Proxy]),
        (
            wanted("api", "api:v1", 3),
            PlanAction::Create,
            vec![PlanChange::Create { replicas: 3 }],
        ),
    ];
    for (w, action, changes) in table {
        let got = plan(&cur, std::slice::from_ref(&w));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].action, &got[0].changes),
            (action, &changes),
            "{w:?}"
        );
    }
}

#[test]
fn a_new_revision_lists_each_field_that_changes() {
    let got = plan(
        &[current("web", "web:v1", 2)],
        &[wanted("web", "web:v2", 2)],
    );
    assert_eq!(got[0].diff, vec!["image: web:v1 → web:v2".to_string()]);
    assert_eq!(got[0].revision, Some(4));
}

#[test]
fn services_are_planned_in_name_order() {
    let got = plan(&[], &[wanted("web", "a", 1), wanted("api", "a", 1)]);
    let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
}

fn host(id: i64, memory_gib: u64, state: HostState) -> HostInfo {
    HostInfo {
        id,
        name: format!("h{id}"),
        state,
        unreachable_since_ms: None,
        labels: Default::default(),
        cpu_millis: 4000,
        memory_bytes: memory_gib * GIB,
        volume_drivers: vec!["local".into()],
    }
}

fn replica(service_id: i64, host_id: i64, memory_gib: u64) -> ObservedReplica {
    ObservedReplica {
        container_id: format!("c{service_id}-{host_id}"),
        host_id,
        service_id,
        slot: 1,
        revision: 1,
        spec_hash: "h".into(),
        status: Status::Running,
        health: Health::Healthy,
        created_ms: 0,
        cpu_millis: 0,
        memory_bytes: memory_gib * GIB,
        host_port: None,
        endpoint: None,
        pending: false,
        stopping: false,
    }
}

fn ask(service_id: Option<i64>, replaces: bool, count: u32, memory_gib: u64) -> Ask<'static> {
    Ask {
        service_id,
        replaces,
        count,
        need: Need {
            cpu_millis: 0,
            memory_bytes: memory_gib * GIB,
            host_port: None,
            constraints: &[],
            strategy: Strategy::Spread,
            drivers: &[],
        },
    }
}

fn hosts_of(p: &PlacementPreview) -> Vec<(String, u32)> {
    p.hosts
        .iter()
        .map(|h| (h.host.clone(), h.replicas))
        .collect()
}

#[test]
fn new_replicas_spread_over_the_hosts_with_room() {
    let hosts = [
        host(1, 8, HostState::Ready),
        host(2, 8, HostState::Ready),
        host(3, 8, HostState::Cordoned),
    ];
    let got = dry_run(&hosts, &[], &[ask(None, false, 4, 1)]);
    assert_eq!(hosts_of(&got[0]), [("h1".into(), 2), ("h2".into(), 2)]);
    assert_eq!(got[0].unplaced, 0);
}

#[test]
fn what_does_not_fit_is_counted_with_the_reason() {
    let hosts = [
        host(1, 4, HostState::Ready),
        host(2, 4, HostState::Cordoned),
    ];
    // 3 GiB taken on h1 by another service: one 1 GiB replica fits, not two.
    let alive = [replica(9, 1, 3)];
    let got = dry_run(&hosts, &alive, &[ask(None, false, 2, 1)]);
    assert_eq!(hosts_of(&got[0]), [("h1".into(), 1)]);
    assert_eq!(got[0].unplaced, 1);
    let why = got[0].reason.clone().unwrap();
    assert!(why.contains("memory") && why.contains("cordoned"), "{why}");
}

#[test]
fn a_new_revision_gives_back_what_its_old_replicas_hold() {
    let hosts = [host(1, 4, HostState::Ready)];
    let alive = [replica(7, 1, 3)];
    // Replacing service 7's 3 GiB replica with a 4 GiB one fits; adding it does not.
    let replacing = dry_run(&hosts, &alive, &[ask(Some(7), true, 1, 4)]);
    assert_eq!(replacing[0].unplaced, 0);
    let adding = dry_run(&hosts, &alive, &[ask(Some(7), false, 1, 4)]);
    assert_eq!(adding[0].unplaced, 1);
}

#[test]
fn later_asks_see_what_earlier_ones_placed() {
    let hosts = [host(1, 2, HostState::Ready)];
    let got = dry_run(
        &hosts,
        &[],
        &[ask(None, false, 2, 1), ask(None, false, 1, 1)],
    );
    assert_eq!((got[0].unplaced, got[1].unplaced), (0, 1));
}
