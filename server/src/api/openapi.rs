//! The OpenAPI document of the whole API (`GET /api/v1/openapi.json`): the title
//! and tags here; every path comes from the routes themselves (`utoipa-axum`), so
//! a route cannot be served without being described; [`complete`] adds the errors
//! any operation may answer.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth API", description = "Run services across Docker hosts. Every error is {\"error\":{\"code\",\"message\"}}. Authenticate with the session cookie from POST /api/v1/auth/login or with `Authorization: Bearer <token>`."),
    tags(
        (name = "cluster", description = "Docker engines, events and this server"),
        (name = "services", description = "Services: desired state kept by the reconciler"),
        (name = "stacks", description = "Services as one file (Berth's or Compose): plan, apply, export"),
        (name = "volumes", description = "Volumes of services on the hosts"),
        (name = "proxy", description = "The proxy: routes, replicas, counters, nginx export"),
        (name = "hosts", description = "Docker hosts: register, cordon, drain, remove (admins)"),
        (name = "pools", description = "Host pools: new hosts from a provider when none has room, retired when idle (admins)"),
        (name = "accounts", description = "Setup, login, the caller's own account"),
        (name = "users", description = "Users (admins)"),
        (name = "teams", description = "Teams and memberships"),
        (name = "tokens", description = "The caller's API tokens"),
        (name = "audit", description = "Who did what (admins)"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Every operation with its method, as `(METHOD, path)`.
pub fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ] {
            if op.is_some() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

/// Adds to every operation the errors it may answer besides its own: a bad path
/// or query (400), no or bad credentials (401), not allowed (403), nothing there
/// (404), a body that does not fit (422; 413 too large, 415 not JSON, for
/// operations with a body), too many (429, for password guesses and live
/// streams), and a
/// failure inside Berth (500). Each in the API's one error shape.
pub fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let mut codes: Vec<(&str, &str)> = Vec::new();
            if path.starts_with("/api/v1/") {
                codes.extend([
                    ("400", "The path or query does not parse"),
                    ("401", "Log in, or send a valid API token"),
                    ("403", "The caller may not do this"),
                    ("404", "There is nothing of that name"),
                    ("422", "The input does not fit"),
                    ("500", "Berth failed inside; its log says more"),
                ]);
                if op.request_body.is_some() {
                    codes.extend([
                        ("413", "The body is too large"),
                        ("415", "The body is not JSON"),
                    ]);
                }
                if path.ends_with("/auth/login")
                    || path.ends_with("/me/password")
                    || path.ends_with("/setup")
                    || path.contains("/watch/")
                    || path.ends_with("/logs")
                {
                    codes.push(("429", "Too many; wait as Retry-After says"));
                }
            } else if path == "/metrics" {
                codes.extend([
                    ("401", "Log in, or send a valid API token"),
                    ("403", "The caller may not do this"),
                    ("500", "Berth failed inside; its log says more"),
                ]);
            }
            add_missing(op, &codes, &error);
        }
    }
    doc
}

fn add_missing(
    op: &mut Operation,
    codes: &[(&str, &str)],
    error: &dyn Fn(&str) -> utoipa::openapi::Response,
) {
    for (code, what) in codes {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| error(what).into());
    }
}
