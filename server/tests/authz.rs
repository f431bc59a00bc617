//! The authorization matrix: every operation the router serves (its list comes
//! from the routes themselves, `server::api::operations()`, so a new route without
//! an entry here fails the test) against every kind of caller, each expected
//! answer asserted; and what a member of another team finds in every GET answer.

mod common;

use axum::http::StatusCode;
use common::{login, send, Auth};
use domain::wire::{TeamRole, UserRole};
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
    /// A 2xx answer.
    Allow,
    /// Exactly this refusal.
    Deny(StatusCode),
    /// Past authorization (not 401 or 403), whatever happened next: the call
    /// needs something the matrix's world does not have (a container to read
    /// logs from, a rollout to resume).
    Reach,
}

use Expect::{Allow, Deny, Reach};
const UNAUTH: Expect = Deny(StatusCode::UNAUTHORIZED);
const FORBID: Expect = Deny(StatusCode::FORBIDDEN);

struct World {
    t: TestState,
    web: i64,
    db: i64,
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
        World {
            t,
            web,
            db,
            callers,
        }
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

    /// The status of a request whose answer is a stream that does not end: the
    /// body is left unread.
    async fn status_of_stream(&self, auth: &Auth, uri: &str) -> StatusCode {
        use tower::ServiceExt;
        let mut b = axum::http::Request::builder().uri(uri);
        match auth {
            Auth::None => {}
            Auth::Cookie(c) => b = b.header("cookie", format!("berth_session={c}")),
            Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
        }
        let req = b.body(axum::body::Body::empty()).unwrap();
        self.t.router().oneshot(req).await.unwrap().status()
    }

    /// A service of team `web` with one replica of `spec`; its id.
    async fn service(&self, name: &str, spec: Value) -> i64 {
        let spec: domain::wire::ServiceSpec = serde_json::from_value(spec).unwrap();
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

/// Anyone, logged in or not.
fn public(_: Who) -> Expect {
    Allow
}

/// Anyone logged in (or with a token).
fn logged_in(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        _ => Allow,
    }
}

/// Reading team `web` and its services: its members, admins (and an admin's
/// read-only token).
fn web_reader(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::OtherOperator => FORBID,
        _ => Allow,
    }
}

/// Reading what only admins read (the audit log): read-only admin tokens too.
fn admin_reader(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::Admin | Who::ReadOnlyToken => Allow,
        _ => FORBID,
    }
}

/// Like [`web_reader`], but the call finds nothing to read past authorization.
fn web_reader_reach(who: Who) -> Expect {
    match web_reader(who) {
        Allow => Reach,
        other => other,
    }
}

fn web_operator_reach(who: Who) -> Expect {
    match web_operator(who) {
        Allow => Reach,
        other => other,
    }
}

fn admin_reach(who: Who) -> Expect {
    match admin_only(who) {
        Allow => Reach,
        other => other,
    }
}

/// A volume class open to team `web`: its members and admins see it; to anyone
/// else it does not exist.
fn web_class_reader(who: Who) -> Expect {
    match web_reader(who) {
        Deny(s) if s == StatusCode::FORBIDDEN => Deny(StatusCode::NOT_FOUND),
        other => other,
    }
}

/// A certificate of team `web`: its operators and admins change it; to anyone
/// outside the team it does not exist.
fn web_certificate(who: Who) -> Expect {
    match who {
        Who::OtherOperator => Deny(StatusCode::NOT_FOUND),
        other => web_operator(other),
    }
}

/// Like [`web_certificate`], but the call goes no further than a refusal in
/// words (an uploaded certificate is not renewed; ACME is off here).
fn web_certificate_reach(who: Who) -> Expect {
    match web_certificate(who) {
        Allow => Reach,
        other => other,
    }
}

/// An upload for `host`, valid for a day, for team `team` (or every team).
fn cert_body(host: &str, team: Option<&str>) -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    let now = std::time::SystemTime::now();
    p.not_before = (now - std::time::Duration::from_secs(60)).into();
    p.not_after = (now + std::time::Duration::from_secs(86_400)).into();
    let cert = p.self_signed(&key).unwrap();
    json!({"host": host, "team": team, "certificate_pem": cert.pem(),
           "private_key_pem": key.serialize_pem()})
}

/// A class open to team `web`, of a driver the test hosts have.
fn class_body(name: &str) -> Value {
    json!({"name": name, "driver": "rclone", "options": {"remote": ":local:/srv/{volume}"},
           "scope": "global", "teams": ["web"]})
}

/// A Compose file of one service of team `web`.
fn stack_body(name: &str) -> Value {
    json!({"file": format!("services:\n  {name}:\n    image: demo:v1\n"), "team": "web"})
}

/// A login: who calls does not matter.
fn conflict_for_all(_: Who) -> Expect {
    Deny(StatusCode::CONFLICT)
}

fn logout(who: Who) -> Expect {
    match who {
        Who::Anonymous => UNAUTH,
        Who::ReadOnlyToken => Deny(StatusCode::UNPROCESSABLE_ENTITY),
        _ => Allow,
    }
}

/// A pool whose provider is never called (nothing waits for it).
fn pool_body(name: &str) -> Value {
    json!({"name": name, "provider": {"kind": "command", "command": "/bin/true"},
           "cpu_millis": 1000, "memory_bytes": 1073741824u64, "max_hosts": 2})
}

/// A request for one case, prepared anew for each caller (targets are fresh, so an
/// allowed call in one row does not spoil the next).
struct Prepared {
    uri: String,
    body: Option<Value>,
    /// Credentials of the caller's own to use instead of theirs (a fresh session
    /// to log out with).
    auth: Option<Auth>,
}

fn at(uri: impl Into<String>) -> Prepared {
    Prepared {
        uri: uri.into(),
        body: None,
        auth: None,
    }
}

fn with(uri: impl Into<String>, body: Value) -> Prepared {
    Prepared {
        uri: uri.into(),
        body: Some(body),
        auth: None,
    }
}

/// The user name behind a kind of caller.
fn user_of(who: Who) -> &'static str {
    match who {
        Who::Viewer => "viewer",
        Who::OtherOperator => "other-op",
        Who::Operator => "operator",
        _ => "admin",
    }
}

async fn request(w: &World, case: &str, who: Who, n: usize) -> Prepared {
    let tag = format!("{}-{n}", case.replace('.', "-"));
    let web = w.web;
    match case {
        "setup.state" => at("/api/v1/setup"),
        "setup.create" => with(
            "/api/v1/setup",
            json!({"username": format!("root{n}"), "password": "password-1"}),
        ),
        // A login ends the session it is sent with: sent with none, so that the
        // callers keep theirs (who calls does not matter to a login).
        "auth.login" => Prepared {
            auth: Some(Auth::None),
            ..with(
                "/api/v1/auth/login",
                json!({"username": "viewer", "password": "password-1"}),
            )
        },
        "auth.logout" => Prepared {
            auth: match who {
                Who::Anonymous | Who::ReadOnlyToken => None,
                other => Some(Auth::Cookie(
                    login(&w.t.router(), user_of(other), "password-1").await,
                )),
            },
            ..at("/api/v1/auth/logout")
        },
        "me" => at("/api/v1/me"),
        "me.sessions" => at("/api/v1/me/sessions"),
        "users" => at("/api/v1/users"),
        "user.show" => at(format!("/api/v1/users/{}", w.fresh_user(&tag).await)),
        "teams" => at("/api/v1/teams"),
        "team.show" => at(format!("/api/v1/teams/{web}")),
        "tokens" => at("/api/v1/tokens"),
        "audit" => at("/api/v1/audit"),
        "hosts" => at("/api/v1/hosts"),
        "host.show" => {
            let name = format!("seen-{n}");
            w.t.add_host(&name, "unix:///nonexistent/berth/docker.sock")
                .await;
            at(format!("/api/v1/hosts/{name}"))
        }
        "whatif" => {
            let name = format!("lost-{n}");
            w.t.add_host(&name, "unix:///nonexistent/berth/docker.sock")
                .await;
            at(format!("/api/v1/whatif?lose={name}"))
        }
        "whatif.each" => at("/api/v1/whatif/each-host"),
        "host.history" => {
            let name = format!("drawn-{n}");
            w.t.add_host(&name, "unix:///nonexistent/berth/docker.sock")
                .await;
            at(format!("/api/v1/hosts/{name}/history"))
        }
        "pools" => at("/api/v1/pools"),
        "pool.create" => with("/api/v1/pools", pool_body(&format!("p-{n}"))),
        "pool.show" | "pool.update" | "pool.delete" | "pool.retire" => {
            let name = format!("p-{n}");
            let r = w
                .call(
                    &w.auth(Who::Admin),
                    "POST",
                    "/api/v1/pools",
                    Some(pool_body(&name)),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            match case {
                "pool.update" => with(format!("/api/v1/pools/{name}"), pool_body(&name)),
                // No host of that name: past authorization, a 404.
                "pool.retire" => at(format!("/api/v1/pools/{name}/hosts/{name}-000000/retire")),
                _ => at(format!("/api/v1/pools/{name}")),
            }
        }
        "events" => at("/api/v1/events"),
        "engines" => at("/api/v1/engines"),
        "about" => at("/api/v1/about"),
        "services" => at("/api/v1/services"),
        "rollouts" => at("/api/v1/rollouts"),
        "summary" => at("/api/v1/summary/services"),
        "volumes" => at("/api/v1/volumes"),
        "volume-classes" => at("/api/v1/volume-classes"),
        "volume-class.create" => with("/api/v1/volume-classes", class_body(&format!("c-{n}"))),
        "volume-class.show" | "volume-class.update" | "volume-class.delete" => {
            let name = format!("c-{n}");
            let r = w
                .call(
                    &w.auth(Who::Admin),
                    "POST",
                    "/api/v1/volume-classes",
                    Some(class_body(&name)),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            match case {
                "volume-class.update" => {
                    with(format!("/api/v1/volume-classes/{name}"), class_body(&name))
                }
                _ => at(format!("/api/v1/volume-classes/{name}")),
            }
        }
        "stacks.plan" => with("/api/v1/stacks/plan", stack_body(&tag)),
        "stacks.apply" => {
            let mut body = stack_body(&tag);
            body["guard"] = json!({ tag.clone(): null });
            with("/api/v1/stacks/apply", body)
        }
        "stacks.export" => at("/api/v1/stacks/export"),
        "certificates" => at("/api/v1/certificates"),
        "certificate.upload" => {
            // A host in team web's domains.
            let host = format!("c{n}.example.com");
            w.t.state.store.add_domain(web, &host, 1).await.unwrap();
            with("/api/v1/certificates", cert_body(&host, Some("web")))
        }
        "certificate.upload_any" => with(
            "/api/v1/certificates",
            cert_body(&format!("c{n}.example.com"), None),
        ),
        "certificate.delete" | "certificate.renew" => {
            // A certificate of team web, uploaded by an admin.
            let host = format!("c{n}.example.com");
            let r = w
                .call(
                    &w.auth(Who::Admin),
                    "POST",
                    "/api/v1/certificates",
                    Some(cert_body(&host, Some("web"))),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            match case {
                "certificate.renew" => at(format!("/api/v1/certificates/{host}/renew")),
                _ => at(format!("/api/v1/certificates/{host}")),
            }
        }
        "proxy" => at("/api/v1/proxy"),
        "proxy.history" => at("/api/v1/proxy/history"),
        "proxy.nginx" => at("/api/v1/proxy/nginx.conf"),
        "watch" => at("/api/v1/watch/services"),
        "healthz" => at("/healthz"),
        "readyz" => at("/readyz"),
        "metrics" => at("/metrics"),
        "service.show" | "service.revisions" | "service.diff" | "service.stats"
        | "service.history" | "service.logs" | "service.resume" | "service.spec"
        | "service.proxy" => {
            let name = format!("r-{n}");
            w.service(&name, json!({"image": "demo:v1", "port": 8080}))
                .await;
            match case {
                "service.show" => at(format!("/api/v1/services/{name}")),
                "service.revisions" => at(format!("/api/v1/services/{name}/revisions")),
                "service.diff" => at(format!(
                    "/api/v1/services/{name}/revisions/diff?from=1&to=1"
                )),
                "service.stats" => at(format!("/api/v1/services/{name}/stats")),
                "service.history" => at(format!("/api/v1/services/{name}/history")),
                "service.logs" => at(format!("/api/v1/services/{name}/replicas/1/logs")),
                // No rollout is paused: past authorization, a 409.
                "service.resume" => at(format!("/api/v1/services/{name}/rollout/resume")),
                "service.spec" => with(
                    format!("/api/v1/services/{name}/spec"),
                    json!({"spec": {"image": "demo:v2", "port": 8080}}),
                ),
                _ => with(
                    format!("/api/v1/services/{name}/proxy"),
                    json!({"routes": [], "balance": "round_robin"}),
                ),
            }
        }
        "domain.add" => {
            let team = w.t.add_team(&format!("d-{n}")).await;
            with(
                format!("/api/v1/teams/{team}/domains"),
                json!({"domain": format!("t{n}.example.com")}),
            )
        }
        "domain.remove" => {
            let team = w.t.add_team(&format!("d-{n}")).await;
            w.t.state
                .store
                .add_domain(team, &format!("t{n}.example.com"), 1)
                .await
                .unwrap();
            at(format!("/api/v1/teams/{team}/domains/t{n}.example.com"))
        }
        "secrets" => at(format!("/api/v1/teams/{web}/secrets")),
        "secret.set" => with(
            format!("/api/v1/teams/{web}/secrets/s-{n}"),
            json!({"value": "hunter2"}),
        ),
        "secret.delete" => {
            let name = format!("s-{n}");
            let keyring = w.t.state.keyring.clone();
            w.t.state
                .store
                .put_secret(web, &name, "test", 1, |v| {
                    keyring.seal(&server::secrets::context(web, &name, v), b"x")
                })
                .await
                .unwrap();
            at(format!("/api/v1/teams/{web}/secrets/{name}"))
        }
        "volume.delete" => at("/api/v1/volumes/nowhere/berth_1.x.data"),
        "user.create" => with(
            "/api/v1/users",
            json!({"username": format!("new-{tag}"), "password": "password-1", "role": "member"}),
        ),
        "user.update" => {
            let id = w.fresh_user(&tag).await;
            with(format!("/api/v1/users/{id}"), json!({"role": "admin"}))
        }
        "user.delete" => at(format!("/api/v1/users/{}", w.fresh_user(&tag).await)),
        "user.sessions" => at(format!(
            "/api/v1/users/{}/sessions",
            w.fresh_user(&tag).await
        )),
        "team.create" => with("/api/v1/teams", json!({"name": format!("t-{tag}")})),
        "team.delete" => at(format!(
            "/api/v1/teams/{}",
            w.t.add_team(&format!("t-{tag}")).await
        )),
        "member.set" => {
            let id = w.fresh_user(&tag).await;
            with(
                format!("/api/v1/teams/{web}/members/{id}"),
                json!({"role": "operator"}),
            )
        }
        "member.remove" => {
            let id = w.fresh_user(&tag).await;
            w.t.add_member(web, id, TeamRole::Viewer).await;
            at(format!("/api/v1/teams/{web}/members/{id}"))
        }
        "token.create" => with("/api/v1/tokens", json!({"name": tag})),
        "token.revoke" => {
            // A token of the caller's own, made with their full-access credentials.
            let maker = match who {
                Who::ReadOnlyToken => w.auth(Who::Admin),
                other => w.auth(other),
            };
            let id = match maker {
                Auth::None => 1,
                ref auth => {
                    let r = w
                        .call(auth, "POST", "/api/v1/tokens", Some(json!({"name": tag})))
                        .await;
                    r.json()["id"]
                        .as_i64()
                        .unwrap_or_else(|| panic!("a token for {who:?}: {}", r.text))
                }
            };
            at(format!("/api/v1/tokens/{id}"))
        }
        "password.change" => with(
            "/api/v1/me/password",
            json!({"current_password": "password-1", "new_password": "password-1"}),
        ),
        "host.add" => {
            let h1 = &common::test_hosts()[0];
            with(
                "/api/v1/hosts",
                json!({"name": format!("h-{n}"), "endpoint": h1.endpoint, "address": h1.address}),
            )
        }
        "host.update" | "host.cordon" | "host.uncordon" | "host.drain" | "host.remove" => {
            let name = format!("dead-{n}");
            w.t.add_host(&name, "unix:///nonexistent/berth/docker.sock")
                .await;
            match case {
                "host.update" => with(
                    format!("/api/v1/hosts/{name}"),
                    json!({"labels": {"zone": "a"}}),
                ),
                "host.remove" => at(format!("/api/v1/hosts/{name}")),
                action => at(format!(
                    "/api/v1/hosts/{name}/{}",
                    action.trim_start_matches("host.")
                )),
            }
        }
        "service.create" => with(
            "/api/v1/services",
            json!({"name": format!("s-{n}"), "team": "web", "replicas": 1, "spec": {"image": "demo:v1"}}),
        ),
        "service.deploy" | "service.scale" | "service.delete" | "service.rollback"
        | "service.pause" | "service.abort" | "service.promote" => {
            let name = format!("s-{n}");
            let id = w.service(&name, json!({"image": "demo:v1"})).await;
            if matches!(
                case,
                "service.rollback" | "service.pause" | "service.abort" | "service.promote"
            ) {
                // A second revision (a canary), with a rollout to it under way.
                let v2: domain::wire::ServiceSpec = serde_json::from_value(json!({
                    "image": "demo:v2",
                    "update": {"canary": {"steps": [{"weight": 10}, {"weight": 50}]}}
                }))
                .unwrap();
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
                        kind: domain::wire::RolloutKind::Deploy,
                        author: "test",
                        now: 2,
                    })
                    .await
                    .unwrap();
            }
            match case {
                "service.rollback" => with(
                    format!("/api/v1/services/{name}/rollback"),
                    json!({"revision": 1}),
                ),
                "service.pause" | "service.abort" => at(format!(
                    "/api/v1/services/{name}/rollout/{}",
                    case.trim_start_matches("service.")
                )),
                "service.promote" => with(
                    format!("/api/v1/services/{name}/rollout/promote"),
                    json!({}),
                ),
                "service.deploy" => with(
                    format!("/api/v1/services/{name}/deploy"),
                    json!({"spec": {"image": "demo:v2"}}),
                ),
                "service.scale" => with(
                    format!("/api/v1/services/{name}/scale"),
                    json!({"replicas": 2}),
                ),
                _ => at(format!("/api/v1/services/{name}")),
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
            at(format!("/api/v1/services/{name}/replicas/1/move"))
        }
        "session.revoke" => {
            // A second session of the caller's user, to end.
            let extra = login(&w.t.router(), user_of(who), "password-1").await;
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
            at(format!("/api/v1/me/sessions/{id}"))
        }
        other => panic!("unknown case {other}"),
    }
}

/// Every operation of the API: the case that exercises it, and what each kind of
/// caller gets.
type Entry = (&'static str, &'static str, &'static str, fn(Who) -> Expect);

const MATRIX: &[Entry] = &[
    ("GET", "/api/v1/setup", "setup.state", public),
    // Users exist: nobody may make a first admin again.
    ("POST", "/api/v1/setup", "setup.create", conflict_for_all),
    ("POST", "/api/v1/auth/login", "auth.login", public),
    ("POST", "/api/v1/auth/logout", "auth.logout", logout),
    ("GET", "/api/v1/me", "me", logged_in),
    ("PUT", "/api/v1/me/password", "password.change", own_account),
    ("GET", "/api/v1/me/sessions", "me.sessions", logged_in),
    (
        "DELETE",
        "/api/v1/me/sessions/{id}",
        "session.revoke",
        own_account,
    ),
    ("GET", "/api/v1/users", "users", admin_only),
    ("POST", "/api/v1/users", "user.create", admin_only),
    ("GET", "/api/v1/users/{id}", "user.show", admin_only),
    ("PATCH", "/api/v1/users/{id}", "user.update", admin_only),
    ("DELETE", "/api/v1/users/{id}", "user.delete", admin_only),
    (
        "DELETE",
        "/api/v1/users/{id}/sessions",
        "user.sessions",
        admin_only,
    ),
    ("GET", "/api/v1/teams", "teams", logged_in),
    ("POST", "/api/v1/teams", "team.create", admin_only),
    ("GET", "/api/v1/teams/{id}", "team.show", web_reader),
    ("DELETE", "/api/v1/teams/{id}", "team.delete", admin_only),
    (
        "PUT",
        "/api/v1/teams/{id}/members/{user_id}",
        "member.set",
        admin_only,
    ),
    (
        "DELETE",
        "/api/v1/teams/{id}/members/{user_id}",
        "member.remove",
        admin_only,
    ),
    (
        "POST",
        "/api/v1/teams/{id}/domains",
        "domain.add",
        admin_only,
    ),
    (
        "DELETE",
        "/api/v1/teams/{id}/domains/{domain}",
        "domain.remove",
        admin_only,
    ),
    ("GET", "/api/v1/teams/{id}/secrets", "secrets", web_reader),
    (
        "PUT",
        "/api/v1/teams/{id}/secrets/{name}",
        "secret.set",
        web_operator,
    ),
    (
        "DELETE",
        "/api/v1/teams/{id}/secrets/{name}",
        "secret.delete",
        web_operator,
    ),
    ("GET", "/api/v1/tokens", "tokens", logged_in),
    ("POST", "/api/v1/tokens", "token.create", own_account),
    ("DELETE", "/api/v1/tokens/{id}", "token.revoke", own_account),
    ("GET", "/api/v1/audit", "audit", admin_reader),
    ("GET", "/api/v1/hosts", "hosts", logged_in),
    ("POST", "/api/v1/hosts", "host.add", admin_only),
    ("GET", "/api/v1/hosts/{name}", "host.show", logged_in),
    (
        "GET",
        "/api/v1/hosts/{name}/history",
        "host.history",
        logged_in,
    ),
    ("GET", "/api/v1/whatif", "whatif", logged_in),
    ("GET", "/api/v1/whatif/each-host", "whatif.each", logged_in),
    ("PATCH", "/api/v1/hosts/{name}", "host.update", admin_only),
    ("DELETE", "/api/v1/hosts/{name}", "host.remove", admin_only),
    (
        "POST",
        "/api/v1/hosts/{name}/cordon",
        "host.cordon",
        admin_only,
    ),
    (
        "POST",
        "/api/v1/hosts/{name}/uncordon",
        "host.uncordon",
        admin_only,
    ),
    (
        "POST",
        "/api/v1/hosts/{name}/drain",
        "host.drain",
        admin_only,
    ),
    ("GET", "/api/v1/pools", "pools", admin_reader),
    ("POST", "/api/v1/pools", "pool.create", admin_only),
    ("GET", "/api/v1/pools/{name}", "pool.show", admin_reader),
    ("PUT", "/api/v1/pools/{name}", "pool.update", admin_only),
    ("DELETE", "/api/v1/pools/{name}", "pool.delete", admin_only),
    (
        "POST",
        "/api/v1/pools/{name}/hosts/{host}/retire",
        "pool.retire",
        admin_reach,
    ),
    ("GET", "/api/v1/events", "events", logged_in),
    ("GET", "/api/v1/engines", "engines", logged_in),
    ("GET", "/api/v1/about", "about", logged_in),
    ("GET", "/api/v1/services", "services", logged_in),
    ("POST", "/api/v1/services", "service.create", web_operator),
    ("GET", "/api/v1/services/{name}", "service.show", web_reader),
    (
        "DELETE",
        "/api/v1/services/{name}",
        "service.delete",
        web_operator,
    ),
    (
        "PUT",
        "/api/v1/services/{name}/spec",
        "service.spec",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/deploy",
        "service.deploy",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/scale",
        "service.scale",
        web_operator,
    ),
    (
        "PUT",
        "/api/v1/services/{name}/proxy",
        "service.proxy",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/rollback",
        "service.rollback",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/rollout/pause",
        "service.pause",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/rollout/resume",
        "service.resume",
        web_operator_reach,
    ),
    (
        "POST",
        "/api/v1/services/{name}/rollout/abort",
        "service.abort",
        web_operator,
    ),
    (
        "POST",
        "/api/v1/services/{name}/rollout/promote",
        "service.promote",
        web_operator,
    ),
    (
        "GET",
        "/api/v1/services/{name}/revisions",
        "service.revisions",
        web_reader,
    ),
    (
        "GET",
        "/api/v1/services/{name}/revisions/diff",
        "service.diff",
        web_reader,
    ),
    (
        "GET",
        "/api/v1/services/{name}/stats",
        "service.stats",
        web_reader,
    ),
    (
        "GET",
        "/api/v1/services/{name}/history",
        "service.history",
        web_reader,
    ),
    // No replica runs in this world: past authorization, a 404.
    (
        "GET",
        "/api/v1/services/{name}/replicas/{slot}/logs",
        "service.logs",
        web_reader_reach,
    ),
    (
        "POST",
        "/api/v1/services/{name}/replicas/{slot}/move",
        "service.move_replica",
        admin_only,
    ),
    ("GET", "/api/v1/rollouts", "rollouts", logged_in),
    ("GET", "/api/v1/summary/services", "summary", logged_in),
    ("GET", "/api/v1/watch/services", "watch", logged_in),
    ("GET", "/api/v1/volumes", "volumes", logged_in),
    ("GET", "/api/v1/volume-classes", "volume-classes", logged_in),
    ("POST", "/api/v1/stacks/plan", "stacks.plan", web_operator),
    ("POST", "/api/v1/stacks/apply", "stacks.apply", web_operator),
    ("GET", "/api/v1/stacks/export", "stacks.export", logged_in),
    (
        "POST",
        "/api/v1/volume-classes",
        "volume-class.create",
        admin_only,
    ),
    (
        "GET",
        "/api/v1/volume-classes/{name}",
        "volume-class.show",
        web_class_reader,
    ),
    (
        "PUT",
        "/api/v1/volume-classes/{name}",
        "volume-class.update",
        admin_only,
    ),
    (
        "DELETE",
        "/api/v1/volume-classes/{name}",
        "volume-class.delete",
        admin_only,
    ),
    // No such host: past authorization, a 404.
    (
        "DELETE",
        "/api/v1/volumes/{host}/{name}",
        "volume.delete",
        admin_reach,
    ),
    ("GET", "/api/v1/certificates", "certificates", logged_in),
    // For a team: its operators (for a host in its domains) and admins.
    (
        "POST",
        "/api/v1/certificates",
        "certificate.upload",
        web_operator,
    ),
    // For every team: admins.
    (
        "POST",
        "/api/v1/certificates",
        "certificate.upload_any",
        admin_only,
    ),
    (
        "DELETE",
        "/api/v1/certificates/{host}",
        "certificate.delete",
        web_certificate,
    ),
    // An uploaded certificate is not renewed: past authorization, a 409.
    (
        "POST",
        "/api/v1/certificates/{host}/renew",
        "certificate.renew",
        web_certificate_reach,
    ),
    ("GET", "/api/v1/proxy", "proxy", logged_in),
    ("GET", "/api/v1/proxy/history", "proxy.history", logged_in),
    ("GET", "/api/v1/proxy/nginx.conf", "proxy.nginx", logged_in),
    ("GET", "/healthz", "healthz", public),
    ("GET", "/readyz", "readyz", public),
    ("GET", "/metrics", "metrics", logged_in),
];

#[tokio::test]
async fn every_operation_against_every_caller() {
    let w = World::new().await;
    let served = server::api::operations();
    let mut failures = Vec::new();
    for (method, path) in &served {
        if !MATRIX.iter().any(|(m, p, _, _)| m == method && p == path) {
            failures.push(format!(
                "{method} {path} has no entry in the authorization matrix: say who may call it"
            ));
        }
    }
    for (method, path, _, _) in MATRIX {
        if !served.iter().any(|(m, p)| m == method && p == path) {
            failures.push(format!("{method} {path} is in the matrix but not served"));
        }
    }
    let mut n = 0;
    for (method, _, case, expect) in MATRIX {
        for who in EVERYONE {
            n += 1;
            let prepared = request(&w, case, who, n).await;
            let auth = prepared.auth.clone().unwrap_or_else(|| w.auth(who));
            let (status, text) = if *case == "watch" {
                (
                    w.status_of_stream(&auth, &prepared.uri).await,
                    String::new(),
                )
            } else {
                let reply = w.call(&auth, method, &prepared.uri, prepared.body).await;
                (reply.status, reply.text)
            };
            let expected = expect(who);
            let ok = match expected {
                Allow => status.is_success(),
                Deny(s) => status == s,
                Reach => status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
            };
            if !ok {
                failures.push(format!(
                    "{method} {} ({case}) as {who:?}: expected {expected:?}, got {status} {text}",
                    prepared.uri
                ));
            }
            if matches!(expected, Deny(_)) && *case != "watch" {
                assert!(!text.is_empty(), "{case} as {who:?}: a refusal says why");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A member of team `db` reads every GET of the API (with its own team's names
/// in the path) and finds no name of team `web`'s service, its route's host, its
/// secret or its replica's events.
#[tokio::test]
async fn a_member_of_another_team_finds_nothing_of_team_a_in_any_answer() {
    let w = World::new().await;
    let admin = w.auth(Who::Admin);
    // Team web: a service with a route in its domain, a secret, events.
    w.t.state
        .store
        .add_domain(w.web, "*.websecret.example", 1)
        .await
        .unwrap();
    let r = w
        .call(
            &admin,
            "PUT",
            &format!("/api/v1/teams/{}/secrets/websecret-pw", w.web),
            Some(json!({"value": "websecret-value"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = w
        .call(
            &admin,
            "POST",
            "/api/v1/services",
            Some(json!({
                "name": "websecret-svc", "team": "web", "replicas": 1,
                "spec": {"image": "demo:v1", "port": 8080, "env": {"PW": {"secret": "websecret-pw"}}},
                "proxy": {"routes": [{"host": "shop.websecret.example"}]}
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // ... and a certificate for its route's host.
    let r = w
        .call(
            &admin,
            "POST",
            "/api/v1/certificates",
            Some(cert_body("shop.websecret.example", Some("web"))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Team db: a service of its own, for the paths that name one.
    let r = w
        .call(
            &admin,
            "POST",
            "/api/v1/services",
            Some(json!({"name": "dbsvc", "team": "db", "replicas": 1, "spec": {"image": "demo:v1", "port": 8080}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The proxy's table as the reconciler would publish it.
    let rows = w.t.state.store.list_services().await.unwrap();
    w.t.state
        .proxy
        .update(server::reconciler::driver::route_inputs(
            &rows,
            &[],
            &[],
            "localhost",
            &Default::default(),
        ));
    let other = w.auth(Who::OtherOperator);
    let db = w.db;
    let mut checked = 0;
    for (method, path) in server::api::operations() {
        if method != "GET" || path.contains("/watch/") || path.ends_with("/logs") {
            continue;
        }
        let uri = path
            .replace("{name}", "dbsvc")
            .replace("{id}", &db.to_string())
            .replace("{slot}", "1")
            .replace("{host}", "nowhere");
        let uri = if uri.ends_with("/diff") {
            format!("{uri}?from=1&to=1")
        } else {
            uri
        };
        let reply = w.call(&other, "GET", &uri, None).await;
        for secret in ["websecret", "shop.websecret.example"] {
            assert!(
                !reply.text.contains(secret),
                "GET {uri} as a member of db shows {secret}: {}",
                reply.text
            );
        }
        checked += 1;
    }
    assert!(checked > 25, "{checked} GET operations read");
    // The admin does see it (the test would pass on an empty world otherwise).
    let all = w.call(&admin, "GET", "/metrics", None).await.text;
    assert!(all.contains("websecret-svc"), "{all}");
    assert!(
        all.contains("berth_certificate_expiry_seconds{host=\"shop.websecret.example\""),
        "{all}"
    );
    let certs = w
        .call(&admin, "GET", "/api/v1/certificates", None)
        .await
        .text;
    assert!(certs.contains("shop.websecret.example"), "{certs}");
    let events = w.call(&admin, "GET", "/api/v1/events", None).await.text;
    assert!(events.contains("websecret-svc"), "{events}");
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
