//! The list's grammar, its pages and readers, and that it is built once per
//! change rather than once per request.

use domain::wire::{ServiceSpec, TeamRef, TeamRole, UserRole};

use super::*;
use crate::auth::principal::{Principal, Via};
use crate::store::NewService;
use crate::testing::TestState;

fn query(pairs: &[(&str, &str)]) -> ServiceQuery {
    let text = serde_urlencoded::to_string(pairs).unwrap();
    serde_urlencoded::from_str(&text).unwrap()
}

#[test]
fn a_query_is_read_to_its_grammar() {
    for (pairs, want) in [
        (vec![], Ok(())),
        (vec![("limit", "1"), ("offset", "999999")], Ok(())),
        (vec![("limit", "1000")], Ok(())),
        (vec![("phase", "degraded,progressing")], Ok(())),
        (vec![("phase", " running ")], Ok(())),
        (vec![("q", "web-1")], Ok(())),
        (vec![("q", ""), ("team", "")], Ok(())),
        (vec![("team", "a-team")], Ok(())),
        (vec![("limit", "0")], Err("limit must be 1 to 1000, not 0")),
        (vec![("limit", "1001")], Err("limit must be 1 to 1000")),
        (vec![("phase", "Running")], Err("unknown phase \"Running\"")),
        (vec![("phase", "running,")], Err("unknown phase \"\"")),
        (vec![("q", "WEB")], Err("cannot be part of a service name")),
        (vec![("q", "a%")], Err("cannot be part of a service name")),
        (
            vec![("q", &"a".repeat(64))],
            Err("cannot be part of a service name"),
        ),
        (vec![("team", "../x")], Err("team")),
    ] {
        match (Filter::parse(&query(&pairs)), want) {
            (Ok(_), Ok(())) => {}
            (Err(OpsError::Invalid(m)), Err(part)) => assert!(m.contains(part), "{pairs:?}: {m}"),
            (got, want) => panic!("{pairs:?}: {got:?}, wanted {want:?}"),
        }
    }
}

fn principal(role: UserRole, teams: &[(i64, TeamRole)]) -> Ctx {
    Ctx {
        principal: Some(Principal {
            user_id: 1,
            username: "someone".into(),
            role,
            teams: teams
                .iter()
                .map(|(id, role)| TeamRef {
                    id: *id,
                    name: format!("team{id}"),
                    role: *role,
                })
                .collect(),
            via: Via::Session { session_id: 1 },
        }),
        ..Ctx::anonymous("127.0.0.1")
    }
}

async fn add(t: &TestState, team: i64, name: &str) -> i64 {
    let spec: ServiceSpec =
        serde_json::from_value(serde_json::json!({"image": "demo:v1", "env": {"TOKEN": "s3cret"}}))
            .unwrap();
    let id = t
        .state
        .store
        .create_service(NewService {
            name,
            team_id: team,
            replicas: 1,
            spec: &spec,
            proxy: &Default::default(),
            author: "test",
            message: "",
            now: 0,
        })
        .await
        .unwrap();
    t.state.reconciler.written(id);
    id
}

fn names(a: &Answer) -> Vec<String> {
    let list: Vec<ServiceView> = serde_json::from_slice(&a.body).unwrap();
    list.into_iter().map(|s| s.name).collect()
}

#[tokio::test]
async fn pages_filters_and_readers() {
    let (t, _fake) = TestState::with_fake(1).await;
    let a = t.add_team("a").await;
    let b = t.add_team("b").await;
    for n in ["web-1", "web-2", "api", "web-3"] {
        add(&t, a, n).await;
    }
    add(&t, b, "web-b").await;
    let admin = principal(UserRole::Admin, &[]);
    let l = &t.state.listing;
    let all = l.answer(&t.state, &admin, &query(&[])).await.unwrap();
    assert_eq!(names(&all), ["api", "web-1", "web-2", "web-3", "web-b"]);
    assert_eq!((all.total, all.next_offset), (5, None));

    let page = l
        .answer(&t.state, &admin, &query(&[("q", "web"), ("limit", "2")]))
        .await
        .unwrap();
    assert_eq!(names(&page), ["web-1", "web-2"]);
    assert_eq!((page.total, page.next_offset), (4, Some(2)));
    let last = l
        .answer(
            &t.state,
            &admin,
            &query(&[("q", "web"), ("limit", "2"), ("offset", "2")]),
        )
        .await
        .unwrap();
    assert_eq!(names(&last), ["web-3", "web-b"]);
    assert_eq!(last.next_offset, None);
    let past = l
        .answer(&t.state, &admin, &query(&[("offset", "50")]))
        .await
        .unwrap();
    assert_eq!((names(&past).len(), past.total), (0, 5));
    let team_b = l
        .answer(&t.state, &admin, &query(&[("team", "b")]))
        .await
        .unwrap();
    assert_eq!(names(&team_b), ["web-b"]);
    let none = l
        .answer(&t.state, &admin, &query(&[("phase", "stopped")]))
        .await
        .unwrap();
    assert_eq!(none.total, 0);

    // A member of b reads b's only; a viewer reads no environment values.
    let bob = principal(UserRole::Member, &[(b, TeamRole::Operator)]);
    let bobs = l.answer(&t.state, &bob, &query(&[])).await.unwrap();
    assert_eq!(names(&bobs), ["web-b"]);
    assert!(String::from_utf8_lossy(&bobs.body).contains("s3cret"));
    let viewer = principal(UserRole::Member, &[(a, TeamRole::Viewer)]);
    let seen = l.answer(&t.state, &viewer, &query(&[])).await.unwrap();
    assert_eq!(names(&seen), ["api", "web-1", "web-2", "web-3"]);
    assert!(!String::from_utf8_lossy(&seen.body).contains("s3cret"));
    assert_ne!(seen.etag, all.etag);
    let summary = l.summary(&t.state, &viewer).await.unwrap();
    assert_eq!((summary.services, summary.replicas_wanted), (4, 4));
    assert_eq!(l.summary(&t.state, &bob).await.unwrap().services, 1);
}

#[tokio::test]
async fn built_once_per_change_not_per_request() {
    let (t, _fake) = TestState::with_fake(1).await;
    let a = t.add_team("a").await;
    let id = add(&t, a, "web").await;
    let admin = principal(UserRole::Admin, &[]);
    let l = &t.state.listing;
    let first = l.answer(&t.state, &admin, &query(&[])).await.unwrap();
    for _ in 0..3 {
        let again = l.answer(&t.state, &admin, &query(&[])).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "answered from the same build");
    }
    // A change that says nothing new keeps the answer (and its ETag).
    t.state.reconciler.touch();
    let same = l.answer(&t.state, &admin, &query(&[])).await.unwrap();
    assert_eq!(same.etag, first.etag);
    assert!(
        Arc::ptr_eq(&first, &same),
        "the same content keeps its answers"
    );
    // A write is seen at once.
    t.state.store.set_replicas(id, 3, 0).await.unwrap();
    t.state.reconciler.written(id);
    let scaled = l.answer(&t.state, &admin, &query(&[])).await.unwrap();
    assert_ne!(scaled.etag, first.etag);
    let list: Vec<ServiceView> = serde_json::from_slice(&scaled.body).unwrap();
    assert_eq!(list[0].replicas, 3);
}
