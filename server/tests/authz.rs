//! The authorization matrix: every state-changing endpoint (accounts, hosts and
//! services) against every kind of caller, each expected allow or deny asserted. Denials must also change nothing.

mod common;

use app::wire::{TeamRole, UserRole};
use axum::http::StatusCode;
use common::{login, send, Auth};
use serde_json::{json, Value};
use server::testing::TestState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    OtherOperator,
    Operator,
    ReadOnlyToken,
    Admin,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Viewer,
    Who::OtherOperator,
    Who::Operator,
    Who::ReadOnlyToken,
    Who::Admin,
];

/// What a caller should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Allow,
    Deny(StatusCode),
}

use Expect::{Allow, Deny};
const UNAUTH: Expect = Deny(StatusCode::UNAUTHORIZED);
const FORBID: Expect = Deny(StatusCode::FORBIDDEN);

struct World {
    t: TestState,
    web: i64,
    callers: Vec<(Who, Auth)>,
}

impl World {
    async fn new() -> World {
        let t = TestState::new(&[]).await;
        let web = t.add_team("web").await;
        let db = t.add_team("db").await;
        let mut callers = vec![(Who::Anonymous, Auth::None)];
        for (who, name, team, role) in [
            (Who::Viewer, "viewer", web, Some(TeamRole::Viewer)),
            (Who::OtherOperator, "other-op", db, Some(TeamRole::Operator)),
            (Who::Operator, "operator", web, Some(TeamRole::Operator)),
        ] {
            let id = t.add_user(name, "password-1", UserRole::Member).await;
            if let Some(role) = role {
                t.add_member(team, id, role).await;
            }
            callers.push((
                who,
                Auth::Cookie(login(&t.router(), name, "password-1").await),
            ));
        }
        t.add_user("admin", "password-1", UserRole::Admin).await;
        let admin = Auth::Cookie(login(&t.router(), "admin", "password-1").await);
        let token = send(
            &t.router(),
            "POST",
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "ro", "read_only": true})),
            &[],
        )
        .await
        .json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        callers.push((Who::ReadOnlyToken, Auth::Bearer(token)));
        callers.push((Who::Admin, admin));
        World { t, web, callers }
    }

    fn auth(&self, who: Who) -> Auth {
        self.callers
            .iter()
            .find(|(w, _)| *w == who)
            .unwrap()
            .1
            .clone()
    }

    async fn call(
        &self,
        auth: &Auth,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> common::Reply {
        send(&self.t.router(), method, uri, auth, body, &[]).await
    }

    /// A service of team `web` with one replica of `spec`; its id.
    async fn service(&self, name: &str, spec: Value) -> i64 {
        let spec: app::wire::ServiceSpec = serde_json::from_value(spec).unwrap();
        self.t
            .state
            .store
            .create_service(server::store::NewService {
                name,
                team_id: self.web,
                replicas: 1,
                spec: &spec,
                proxy: &Default::default(),
                author: "test",
                message: "",
                now: 1,
            })
            .await
            .unwrap();
        self.t
            .state
            .store
            .service_by_name(name)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    async fn fresh_user(&self, tag: &str) -> i64 {
        self.t
            .add_user(&format!("target-{tag}"), "password-1", UserRole::Member)
            .await
    }
}

/// One state-changing request, prepared anew for each caller (targets are fresh, so
/// an allowed call in one row does not spoil the next).
struct Case {
    name: &'static str,
    expect: fn(Who) -> Expect,
}

fn admin_only(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::Admin => Allow,
        _ => FORBID,
    }
}

/// Changing the services of team `web`: its operators and admins.
fn web_operator(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::Operator | Who::Admin => Allow,
        _ => FORBID,
    }
}

fn own_account(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::ReadOnlyToken => FORBID,
        _ => Allow,
    }
}

async fn request(w: &World, case: &str, who: Who, n: usize) -> (String, String, Option<Value>) {
    let tag = format!("{}-{n}", case.replace('.', "-"));
    match case {
        "user.create" => (
            "POST".into(),
            "/api/v1/users".into(),
            Some(
                json!({"username": format!("new-{tag}"), "password": "password-1", "role": "member"}),
            ),
        ),
        "user.update" => {
            let id = w.fresh_user(&tag).await;
            (
                "PATCH".into(),
                format!("/api/v1/users/{id}"),
                Some(json!({"role": "admin"})),
            )
        }
        "user.delete" => {
            let id = w.fresh_user(&tag).await;
            ("DELETE".into(), format!("/api/v1/users/{id}"), None)
        }
        "user.sessions" => {
            let id = w.fresh_user(&tag).await;
            (
                "DELETE".into(),
                format!("/api/v1/users/{id}/sessions"),
                None,
            )
        }
        "team.create" => (
            "POST".into(),
            "/api/v1/teams".into(),
            Some(json!({"name": format!("t-{tag}")})),
        ),
        "team.delete" => {
            let id = w.t.add_team(&format!("t-{tag}")).await;
            ("DELETE".into(), format!("/api/v1/teams/{id}"), None)
        }
        "member.set" => {
            let id = w.fresh_user(&tag).await;
            (
                "PUT".into(),
                format!("/api/v1/teams/{}/members/{id}", w.web),
                Some(json!({"role": "operator"})),
            )
        }
        "member.remove" => {
            let id = w.fresh_user(&tag).await;
            w.t.add_member(w.web, id, TeamRole::Viewer).await;
            (
                "DELETE".into(),
                format!("/api/v1/teams/{}/members/{id}", w.web),
                None,
            )
        }
        "token.create" => (
            "POST".into(),
            "/api/v1/tokens".into(),
            Some(json!({"name": tag})),
        ),
        "token.revoke" => {
            // A token of the caller's own, made with their full-access credentials.
            let maker = match who {
                Who::ReadOnlyToken => w.auth(Who::Admin),
                other => w.auth(other),
            };
            let id = match maker {
                Auth::None => 1,
                ref auth => w
                    .call(auth, "POST", "/api/v1/tokens", Some(json!({"name": tag})))
                    .await
                    .json()["id"]
                    .as_i64()
                    .unwrap(),
            };
            ("DELETE".into(), format!("/api/v1/tokens/{id}"), None)
        }
        "password.change" => (
            "PUT".into(),
            "/api/v1/me/password".into(),
            Some(json!({"current_password": "password-1", "new_password": "password-1"})),
        ),
        "host.add" => {
            let h1 = &common::test_hosts()[0];
            (
                "POST".into(),
                "/api/v1/hosts".into(),
                Some(
                    json!({"name": format!("h-{n}"), "endpoint": h1.endpoint, "address": h1.address}),
                ),
            )
        }
        "host.update" | "host.cordon" | "host.uncordon" | "host.drain" | "host.remove" => {
            let name = format!("dead-{n}");
            w.t.add_host(&name, "unix:///nonexistent/berth/docker.sock")
                .await;
            match case {
                "host.update" => (
                    "PATCH".into(),
                    format!("/api/v1/hosts/{name}"),
                    Some(json!({"labels": {"zone": "a"}})),
                ),
                "host.remove" => ("DELETE".into(), format!("/api/v1/hosts/{name}"), None),
                action => (
                    "POST".into(),
                    format!(
                        "/api/v1/hosts/{name}/{}",
                        action.trim_start_matches("host.")
                    ),
                    None,
                ),
            }
        }
        "service.create" => (
            "POST".into(),
            "/api/v1/services".into(),
            Some(
                json!({"name": format!("s-{n}"), "team": "web", "replicas": 1, "spec": {"image": "demo:v1"}}),
            ),
        ),
        "service.deploy" | "service.scale" | "service.delete" | "service.rollback"
        | "service.pause" | "service.abort" => {
            let name = format!("s-{n}");
            let id = w.service(&name, json!({"image": "demo:v1"})).await;
            if matches!(case, "service.rollback" | "service.pause" | "service.abort") {
                // A second revision, with a rollout to it under way.
                let v2: app::wire::ServiceSpec =
                    serde_json::from_value(json!({"image": "demo:v2"})).unwrap();
                let two =
                    w.t.state
                        .store
                        .add_revision(id, &v2, "test", "", 2)
                        .await
                        .unwrap();
                w.t.state
                    .store
                    .start_rollout(server::store::NewRollout {
                        service_id: id,
                        from_revision: 1,
                        to_revision: two,
                        kind: app::wire::RolloutKind::Deploy,
                        author: "test",
                        now: 2,
                    })
                    .await
                    .unwrap();
            }
            match case {
                "service.rollback" => (
                    "POST".into(),
                    format!("/api/v1/services/{name}/rollback"),
                    Some(json!({"revision": 1})),
                ),
                "service.pause" | "service.abort" => (
                    "POST".into(),
                    format!(
                        "/api/v1/services/{name}/rollout/{}",
                        case.trim_start_matches("service.")
                    ),
                    None,
                ),
                "service.deploy" => (
                    "POST".into(),
                    format!("/api/v1/services/{name}/deploy"),
                    Some(json!({"spec": {"image": "demo:v2"}})),
                ),
                "service.scale" => (
                    "POST".into(),
                    format!("/api/v1/services/{name}/scale"),
                    Some(json!({"replicas": 2})),
                ),
                _ => ("DELETE".into(), format!("/api/v1/services/{name}"), None),
            }
        }
        "service.move_replica" => {
            // A slot whose volumes are on a host that never answered.
            let name = format!("s-{n}");
            let id = w
                .service(
                    &name,
                    json!({"image": "demo:v1", "volumes": [{"name": "data", "path": "/data"}]}),
                )
                .await;
            let host =
                w.t.add_host(
                    &format!("lost-{n}"),
                    "unix:///nonexistent/berth/docker.sock",
                )
                .await;
            w.t.state
                .store
                .set_replica_home(id, 1, host, 1)
                .await
                .unwrap();
            (
                "POST".into(),
                format!("/api/v1/services/{name}/replicas/1/move"),
                None,
            )
        }
        "session.revoke" => {
            // A second session of the caller's user, to end.
            let name = match who {
                Who::Viewer => "viewer",
                Who::OtherOperator => "other-op",
                Who::Operator => "operator",
                _ => "admin",
            };
            let extra = login(&w.t.router(), name, "password-1").await;
            let sessions = w
                .call(&Auth::Cookie(extra), "GET", "/api/v1/me/sessions", None)
                .await
                .json();
            let id = sessions
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["current"] == true)
                .unwrap()["id"]
                .as_i64()
                .unwrap();
            ("DELETE".into(), format!("/api/v1/me/sessions/{id}"), None)
        }
        other => panic!("unknown case {other}"),
    }
}

#[tokio::test]
async fn every_state_changing_endpoint_against_every_caller() {
    let w = World::new().await;
    let cases = [
        Case {
            name: "user.create",
            expect: admin_only,
        },
        Case {
            name: "user.update",
            expect: admin_only,
        },
        Case {
            name: "user.delete",
            expect: admin_only,
        },
        Case {
            name: "user.sessions",
            expect: admin_only,
        },
        Case {
            name: "team.create",
            expect: admin_only,
        },
        Case {
            name: "team.delete",
            expect: admin_only,
        },
        Case {
            name: "member.set",
            expect: admin_only,
        },
        Case {
            name: "member.remove",
            expect: admin_only,
        },
        Case {
            name: "token.create",
            expect: own_account,
        },
        Case {
            name: "token.revoke",
            expect: own_account,
        },
        Case {
            name: "password.change",
            expect: own_account,
        },
        Case {
            name: "session.revoke",
            expect: own_account,
        },
        Case {
            name: "host.add",
            expect: admin_only,
        },
        Case {
            name: "host.update",
            expect: admin_only,
        },
        Case {
            name: "host.cordon",
            expect: admin_only,
        },
        Case {
            name: "host.uncordon",
            expect: admin_only,
        },
        Case {
            name: "host.drain",
            expect: admin_only,
        },
        Case {
            name: "host.remove",
            expect: admin_only,
        },
        Case {
            name: "service.create",
            expect: web_operator,
        },
        Case {
            name: "service.deploy",
            expect: web_operator,
        },
        Case {
            name: "service.scale",
            expect: web_operator,
        },
        Case {
            name: "service.delete",
            expect: web_operator,
        },
        Case {
            name: "service.rollback",
            expect: web_operator,
        },
        Case {
            name: "service.pause",
            expect: web_operator,
        },
        Case {
            name: "service.abort",
            expect: web_operator,
        },
        Case {
            name: "service.move_replica",
            expect: admin_only,
        },
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for case in &cases {
        for who in EVERYONE {
            n += 1;
            let (method, uri, body) = request(&w, case.name, who, n).await;
            let reply = w.call(&w.auth(who), &method, &uri, body).await;
            let expected = (case.expect)(who);
            let ok = match expected {
                Allow => reply.status.is_success(),
                Deny(status) => reply.status == status,
            };
            if !ok {
                failures.push(format!(
                    "{} as {who:?}: expected {expected:?}, got {} {}",
                    case.name, reply.status, reply.text
                ));
            }
            if let Deny(_) = expected {
                assert!(
                    !reply.text.is_empty(),
                    "{} as {who:?}: a refusal says why",
                    case.name
                );
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn logout_needs_a_session() {
    let w = World::new().await;
    for who in EVERYONE {
        let reply = w
            .call(&w.auth(who), "POST", "/api/v1/auth/logout", None)
            .await;
        let expected = match who {
            Who::Anonymous => StatusCode::UNAUTHORIZED,
            Who::ReadOnlyToken => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::NO_CONTENT,
        };
        assert_eq!(reply.status, expected, "{who:?}: {}", reply.text);
    }
}

#[tokio::test]
async fn refusals_are_audited_and_change_nothing() {
    let w = World::new().await;
    let viewer = w.auth(Who::Viewer);
    let reply = w
        .call(
            &viewer,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "sneaky", "password": "password-1", "role": "admin"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json()["error"]["message"],
        "only cluster admins manage users"
    );
    let admin = w.auth(Who::Admin);
    let users = w.call(&admin, "GET", "/api/v1/users", None).await.text;
    assert!(!users.contains("sneaky"));
    let denied = w
        .call(
            &admin,
            "GET",
            "/api/v1/audit?result=denied&action=user.create",
            None,
        )
        .await
        .json();
    assert_eq!(denied["entries"][0]["actor"], "viewer");
    assert_eq!(denied["entries"][0]["target"], "user:sneaky");
}
