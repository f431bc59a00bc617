//! The route table as tables: hosts and prefixes, teams' hosts, balancing, and
//! a canary's split.

use super::*;

fn backend(n: u32) -> Backend {
    Backend {
        container_id: format!("c{n}"),
        slot: n,
        host: "h1".into(),
        authority: format!("127.0.0.11:{}", 30000 + n),
    }
}

fn input(service: &str, host: Option<&str>, prefix: &str, strip: bool) -> RouteInput {
    RouteInput {
        service_id: service.len() as i64,
        team_id: 1,
        service: service.into(),
        host: HostMatch::parse(host),
        prefix: prefix.into(),
        strip,
        redirect: false,
        balance: Balance::LeastInFlight,
        backends: vec![backend(1)],
        canary: None,
    }
}

fn stats(_: &Backend) -> Arc<BackendStats> {
    Arc::new(BackendStats::default())
}

fn table() -> RouteTable {
    RouteTable::new(
        vec![
            input("shop", Some("shop.localhost"), "/", false),
            input("api", Some("shop.localhost"), "/api", true),
            input("wild", Some("*.example.com"), "/", false),
            input("deep", Some("*.eu.example.com"), "/", false),
            input("static", None, "/static", true),
            input("exact", Some("www.example.com"), "/", false),
        ],
        stats,
    )
}

fn route(t: &RouteTable, host: &str, path: &str) -> Option<(String, String)> {
    t.lookup(host_of(host), path)
        .map(|m| (m.route.service.clone(), m.path.into_owned()))
}

#[test]
fn hosts_prefixes_and_stripping() {
    let t = table();
    // (host, path, the service and path it goes to)
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let cases: &[Case] = &[
        ("shop.localhost", "/", Some(("shop", "/"))),
        (
            "SHOP.localhost:8080",
            "/cart?x=1",
            Some(("shop", "/cart?x=1")),
        ),
        ("shop.localhost", "/api", Some(("api", "/"))),
        (
            "shop.localhost",
            "/api/orders/7",
            Some(("api", "/orders/7")),
        ),
        // A prefix matches whole path segments only.
        ("shop.localhost", "/apiary", Some(("shop", "/apiary"))),
        ("a.example.com", "/x", Some(("wild", "/x"))),
        ("a.eu.example.com", "/x", Some(("deep", "/x"))),
        ("www.example.com", "/", Some(("exact", "/"))),
        ("example.com", "/", None),
        ("other.test", "/static/app.js", Some(("static", "/app.js"))),
        (
            "shop.localhost",
            "/static/app.js",
            Some(("shop", "/static/app.js")),
        ),
        ("other.test", "/", None),
        ("[::1]:8080", "/static", Some(("static", "/"))),
    ];
    for (host, path, want) in cases {
        let got = route(&t, host, path);
        let want = want.map(|(s, p)| (s.to_string(), p.to_string()));
        assert_eq!(got, want, "{host} {path}");
    }
}

#[test]
fn a_host_belongs_to_the_team_of_its_most_exact_route() {
    let team = |mut i: RouteInput, t: i64| {
        i.team_id = t;
        i
    };
    let t = RouteTable::new(
        vec![
            team(input("shop", Some("shop.example.com"), "/", false), 1),
            team(
                input("shop-api", Some("shop.example.com"), "/api", false),
                1,
            ),
            // Another team's longer prefixes, on the same host by wildcard and
            // for any host: they never win shop.example.com.
            team(input("grab", Some("*.example.com"), "/api/admin", false), 2),
            team(input("any", None, "/api/orders", false), 2),
            team(input("other", Some("other.example.com"), "/x", false), 2),
        ],
        stats,
    );
    type Case<'a> = (&'a str, &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        ("shop.example.com", "/api/admin/users", Some("shop-api")),
        ("shop.example.com", "/api/orders/1", Some("shop-api")),
        ("shop.example.com", "/cart", Some("shop")),
        ("new.example.com", "/api/admin", Some("grab")),
        ("new.example.com", "/api/orders", Some("any")),
        // A host claimed by team 2's exact route: team 2's routes only.
        ("other.example.com", "/api/orders", Some("any")),
        ("other.example.com", "/y", None),
        ("elsewhere.test", "/api/orders/7", Some("any")),
    ];
    for (host, path, want) in cases {
        let got = route(&t, host, path).map(|(s, _)| s);
        assert_eq!(got.as_deref(), *want, "{host}{path}");
    }
}

#[test]
fn least_in_flight_and_round_robin() {
    let mut i = input("shop", None, "/", false);
    i.backends = vec![backend(1), backend(2), backend(3)];
    let t = RouteTable::new(vec![i.clone()], stats);
    let r = &t.routes[0];
    let load = |b: &Live| [5u64, 1, 3][(b.backend.slot - 1) as usize];
    assert_eq!(choose(r, load, |_| false, &[]), Some(1));
    // Ties go round.
    let even = |_: &Live| 0u64;
    let picks: Vec<_> = (0..3)
        .map(|_| choose(r, even, |_| false, &[]).unwrap())
        .collect();
    let mut sorted = picks.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1, 2], "{picks:?}");
    // Ejected ones are passed over, unless every one is.
    assert_eq!(choose(r, load, |b| b.backend.slot == 2, &[]), Some(2));
    assert!(choose(r, load, |_| true, &[]).is_some());
    // A retry skips the backend that failed.
    assert_eq!(choose(r, load, |_| false, &[1]), Some(2));

    i.balance = Balance::RoundRobin;
    let t = RouteTable::new(vec![i], stats);
    let r = &t.routes[0];
    let picks: Vec<_> = (0..6)
        .map(|_| choose(r, load, |_| false, &[]).unwrap())
        .collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    let mut e = input("none", None, "/", false);
    e.backends.clear();
    let empty = RouteTable::new(vec![e], stats);
    assert_eq!(choose(&empty.routes[0], load, |_| false, &[]), None);
}

#[test]
fn a_canary_takes_its_weight_of_the_requests() {
    // (weight, backends (the first `canaries` of them canaries), requests,
    // to the canaries)
    let cases: &[(u8, u32, usize, usize, usize)] = &[
        (10, 5, 1, 1000, 100),
        (10, 5, 1, 2000, 200),
        (50, 6, 2, 1000, 500),
        (1, 4, 1, 1000, 10),
        (99, 4, 1, 1000, 990),
        (33, 3, 1, 100, 33),
        // 7 requests of a 10% canary: none or one, never a burst.
        (10, 3, 1, 7, 0),
    ];
    for &(weight, n, canaries, requests, want) in cases {
        let mut i = input("shop", None, "/", false);
        i.backends = (1..=n).map(backend).collect();
        i.canary = Some(Split {
            weight,
            canaries: (1..=canaries).map(|k| format!("c{k}")).collect(),
        });
        let t = RouteTable::new(vec![i], stats);
        let r = &t.routes[0];
        let to_canary = (0..requests)
            .map(|_| choose(r, |_| 0, |_| false, &[]).unwrap())
            .filter(|&k| r.backends[k].canary)
            .count();
        assert_eq!(to_canary, want, "{weight}% of {requests}");
    }
    // Within 100 turns the canary's turns are spread, not bunched.
    let turns: Vec<usize> = (0..100).filter(|t| Split::canary_turn(10, *t)).collect();
    assert_eq!(turns, [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
}

#[test]
fn round_robin_goes_evenly_round_each_side_of_a_split() {
    // Canaries at positions 1 and 3 of 6 (as the slots sort them), 50%.
    let mut i = input("shop", None, "/", false);
    i.balance = Balance::RoundRobin;
    i.backends = (1..=6).map(backend).collect();
    i.canary = Some(Split {
        weight: 50,
        canaries: vec!["c2".into(), "c4".into()],
    });
    let t = RouteTable::new(vec![i.clone()], stats);
    let mut got = [0u32; 6];
    for _ in 0..600 {
        got[choose(&t.routes[0], |_| 0, |_| false, &[]).unwrap()] += 1;
    }
    assert_eq!(got, [75, 150, 75, 150, 75, 75]);
    // A table rebuilt with the same split goes on counting where the last
    // stopped: a 1% canary gets its one in a hundred however often the
    // routes change.
    i.canary.as_mut().unwrap().weight = 1;
    let mut before = RouteTable::new(vec![i.clone()], stats);
    let mut to_canary = 0;
    for _ in 0..20 {
        let t = RouteTable::new(vec![i.clone()], stats);
        t.carry_turns(&before);
        to_canary += (0..10)
            .filter(|_| {
                let k = choose(&t.routes[0], |_| 0, |_| false, &[]).unwrap();
                t.routes[0].backends[k].canary
            })
            .count();
        before = t;
    }
    assert_eq!(to_canary, 2);
}

#[test]
fn a_canary_side_without_a_backend_to_try_gives_way() {
    let mut i = input("shop", None, "/", false);
    i.backends = vec![backend(1), backend(2)];
    i.canary = Some(Split {
        weight: 50,
        canaries: vec!["c1".into()],
    });
    let t = RouteTable::new(vec![i.clone()], stats);
    let r = &t.routes[0];
    // The canary ejected: every request to the old side while it is.
    let picks: Vec<usize> = (0..10)
        .map(|_| choose(r, |_| 0, |b| b.canary, &[]).unwrap())
        .collect();
    assert!(picks.iter().all(|&k| k == 1), "{picks:?}");
    // A retry skipping the only old backend goes to the canary.
    assert_eq!(choose(r, |_| 0, |_| false, &[1]), Some(0));
    // Only canaries, or no canary among the backends: no split at all.
    for canaries in [vec!["c1".to_string(), "c2".into()], vec!["c9".into()]] {
        i.canary = Some(Split {
            weight: 10,
            canaries,
        });
        let t = RouteTable::new(vec![i.clone()], stats);
        assert_eq!(t.routes[0].weight, None);
    }
}
