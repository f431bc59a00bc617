//! The client commands on services and hosts: `login`, `services`, `ps`, `deploy`,
//! `scale`, `rollback`, `logs`, `hosts`. Each calls the API and prints a table or
//! a line for people, or the API's JSON with `--json`.

use std::io::{BufRead, IsTerminal, Write};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use domain::wire::{
    EachHostView, HostView, Me, ServiceDetail, ServiceHistoryView, ServiceView, WhatIfView,
};

use super::config::{Env, Login};
use super::http::{Api, HttpError};
use super::plan::encode;
use super::wait::{self, Follow, Target};
use super::{
    args::{RolloutAction, WaitArgs},
    exit, table, ClientError,
};

/// A typed view of an answer (the raw JSON is what `--json` prints).
pub fn decode<T: DeserializeOwned>(api: &Api, path: &str, value: Value) -> Result<T, HttpError> {
    serde_json::from_value(value).map_err(|e| HttpError::Decode {
        url: format!("{}{path}", api.base()),
        cause: e.to_string(),
    })
}

/// Prints an answer as the API gave it.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// `berth login`: the token must open the API before it is saved.
pub async fn login(
    env: &Env,
    url: &str,
    token: Option<String>,
    json: bool,
) -> Result<u8, ClientError> {
    let token = match token {
        Some(token) => token,
        None => read_token()?,
    };
    let api = Api::new(url, &token)?;
    let value = api.get("/api/v1/me").await.map_err(|e| match e {
        HttpError::Api {
            status: 401,
            message,
            ..
        } => ClientError::Refused(format!("{} refused the token: {message}", api.base())),
        other => other.into(),
    })?;
    let me: Me = decode(&api, "/api/v1/me", value.clone())?;
    let path = env.path()?;
    let login = Login {
        url: api.base().to_string(),
        token: token.trim().to_string(),
    };
    super::config::save(&path, &login)?;
    if json {
        print_json(&value);
    } else {
        println!(
            "logged in to {} as {} ({}{}); saved in {}",
            api.base(),
            me.username,
            me.role.as_str(),
            if me.read_only {
                ", read-only token"
            } else {
                ""
            },
            path.display()
        );
    }
    Ok(0)
}

/// The token from stdin: asked for on a terminal, else its first line.
fn read_token() -> Result<String, ClientError> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("API token: ")
            .map_err(|e| ClientError::Refused(format!("cannot read the token: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| ClientError::Refused(format!("cannot read the token from stdin: {e}")))?;
        line
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(ClientError::Refused(
            "no token: pass --token, or pipe one in (make one under Settings → Tokens)".into(),
        ));
    }
    Ok(token)
}

/// `berth services`.
pub async fn services(api: &Api, json: bool) -> Result<u8, ClientError> {
    let path = "/api/v1/services";
    let value = api.get(path).await?;
    if json {
        print_json(&value);
        return Ok(0);
    }
    let list: Vec<ServiceView> = decode(api, path, value)?;
    if list.is_empty() {
        println!("No services.");
    } else {
        print!("{}", table::services(&list));
    }
    Ok(0)
}

/// `berth ps NAME`: how it stands, its replicas, and what holds them up.
pub async fn ps(api: &Api, name: &str, json: bool) -> Result<u8, ClientError> {
    let path = format!("/api/v1/services/{name}");
    let value = api.get(&path).await?;
    if json {
        print_json(&value);
        return Ok(0);
    }
    let detail: ServiceDetail = decode(api, &path, value)?;
    let s = &detail.service;
    println!(
        "{} (team {}): revision {}, {}/{} ready, {}",
        s.name,
        s.team,
        s.revision,
        s.healthy,
        s.replicas,
        s.phase.as_str()
    );
    if !s.instances.is_empty() {
        print!("{}", table::replicas(s, crate::clock::now_ms()));
    }
    for problem in s.problems.iter().chain(&s.last_error) {
        println!("! {problem}");
    }
    Ok(0)
}

/// `berth deploy NAME --image IMAGE`: the spec as it is, with the new image.
pub async fn deploy(
    api: &Api,
    name: &str,
    image: &str,
    message: Option<String>,
    wait: &WaitArgs,
    json: bool,
) -> Result<u8, ClientError> {
    let path = format!("/api/v1/services/{name}");
    let current = api.get(&path).await?;
    // The spec as JSON, not as this binary's types: fields a newer server has
    // pass through unchanged.
    let mut spec = current["service"]["spec"].clone();
    let before = current["service"]["revision"].as_i64();
    let Some(fields) = spec.as_object_mut() else {
        return Err(HttpError::Decode {
            url: format!("{}{path}", api.base()),
            cause: "the service has no spec".into(),
        }
        .into());
    };
    fields.insert("image".into(), Value::String(image.to_string()));
    let deploy = format!("{path}/deploy");
    let value = api
        .post(&deploy, &json!({"spec": spec, "message": message}))
        .await?;
    let view: ServiceView = decode(api, &deploy, value.clone())?;
    if json {
        print_json(&value);
    } else if Some(view.revision) == before {
        println!(
            "{name}: already at revision {} with {image}: nothing to deploy",
            view.revision
        );
    } else {
        println!("{name}: deploying revision {} ({image})", view.revision);
    }
    let target = Target::Revision(view.revision);
    follow(
        api,
        wait,
        vec![Follow {
            name: name.into(),
            target,
        }],
        json,
    )
    .await
}

/// `--wait`, when asked for: exit 0 once every service runs its new revision.
pub async fn follow(
    api: &Api,
    args: &WaitArgs,
    services: Vec<Follow>,
    json: bool,
) -> Result<u8, ClientError> {
    if !args.wait || services.is_empty() {
        return Ok(0);
    }
    // With --json, stdout is for the API's JSON only.
    let mut report: Box<dyn Write> = if json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    wait::follow(api, &services, args.timeout, &mut report).await?;
    Ok(0)
}

/// `berth scale NAME N`.
pub async fn scale(api: &Api, name: &str, replicas: u32, json: bool) -> Result<u8, ClientError> {
    let path = format!("/api/v1/services/{name}/scale");
    let value = api.post(&path, &json!({ "replicas": replicas })).await?;
    if json {
        print_json(&value);
    } else {
        let view: ServiceView = decode(api, &path, value)?;
        println!(
            "{name}: {} replica{} wanted ({} ready now)",
            view.replicas,
            if view.replicas == 1 { "" } else { "s" },
            view.healthy
        );
    }
    Ok(0)
}

/// `berth rollback NAME [--to N]`.
pub async fn rollback(
    api: &Api,
    name: &str,
    to: Option<i64>,
    json: bool,
) -> Result<u8, ClientError> {
    let path = format!("/api/v1/services/{name}/rollback");
    let value = api.post(&path, &json!({ "revision": to })).await?;
    if json {
        print_json(&value);
    } else {
        let view: ServiceView = decode(api, &path, value)?;
        println!(
            "{name}: rolling back to revision {} ({})",
            view.revision, view.spec.image
        );
    }
    Ok(0)
}

/// `berth rollout ACTION NAME`: the rollout's state, or a move of it (the
/// state after it).
pub async fn rollout(api: &Api, action: RolloutAction, json: bool) -> Result<u8, ClientError> {
    use RolloutAction as A;
    let (name, what, body) = match &action {
        A::Status { name } => (name, None, json!({})),
        A::Promote { name, full } => (name, Some("promote"), json!({ "full": full })),
        A::Pause { name } => (name, Some("pause"), json!({})),
        A::Resume { name } => (name, Some("resume"), json!({})),
        A::Abort { name } => (name, Some("abort"), json!({})),
    };
    let path = match what {
        Some(w) => format!("/api/v1/services/{name}/rollout/{w}"),
        None => format!("/api/v1/services/{name}"),
    };
    let value = match what {
        Some(_) => api.post(&path, &body).await?,
        None => api.get(&path).await?,
    };
    if json {
        print_json(&value);
        return Ok(0);
    }
    let view: ServiceView = match what {
        Some(_) => decode(api, &path, value)?,
        None => decode::<ServiceDetail>(api, &path, value)?.service,
    };
    match &view.rollout {
        None => println!("{name}: no rollout yet"),
        Some(r) => {
            println!(
                "{name}: {} to revision {} {} · {}",
                r.kind.as_str().replace('_', " "),
                r.to_revision,
                r.state.as_str().replace('_', " "),
                r.phase
            );
            if let Some(c) = &r.canary {
                let bar = |n: u8| "█".repeat(usize::from(n) / 5);
                println!(
                    "  old {:>3}% {}\n  new {:>3}% {}",
                    100 - c.weight,
                    bar(100 - c.weight),
                    c.weight,
                    bar(c.weight)
                );
            }
        }
    }
    Ok(0)
}

/// `berth logs NAME`: one replica's log, followed with `-f`.
pub async fn logs(
    api: &Api,
    name: &str,
    follow: bool,
    replica: Option<u32>,
    tail: Option<u32>,
    json: bool,
) -> Result<u8, ClientError> {
    let slot = match replica {
        Some(slot) => slot,
        None => first_replica(api, name).await?,
    };
    let mut path = format!("/api/v1/services/{name}/replicas/{slot}/logs?");
    if let Some(tail) = tail {
        path.push_str(&format!("tail={tail}&"));
    }
    if follow {
        path.push_str("follow=true");
        api.stream(&path, &mut std::io::stdout().lock()).await?;
    } else if json {
        path.push_str("format=json");
        print_json(&api.get(&path).await?);
    } else {
        print!("{}", api.text(path.trim_end_matches(['?', '&'])).await?);
    }
    Ok(0)
}

/// The lowest slot with a container (slot 1 when none has one yet: the API says
/// why there is no log).
async fn first_replica(api: &Api, name: &str) -> Result<u32, ClientError> {
    let path = format!("/api/v1/services/{name}");
    let detail: ServiceDetail = decode(api, &path, api.get(&path).await?)?;
    Ok(detail
        .service
        .instances
        .iter()
        .filter(|i| !i.container_id.is_empty())
        .map(|i| i.slot)
        .min()
        .unwrap_or(1))
}

/// `berth hosts`.
pub async fn hosts(api: &Api, json: bool) -> Result<u8, ClientError> {
    let path = "/api/v1/hosts";
    let value = api.get(path).await?;
    if json {
        print_json(&value);
        return Ok(0);
    }
    let list: Vec<HostView> = decode(api, path, value)?;
    if list.is_empty() {
        println!("No hosts.");
    } else {
        print!("{}", table::hosts(&list));
    }
    Ok(0)
}

/// `berth history NAME`: the service's last hour.
pub async fn history(api: &Api, name: &str, json: bool) -> Result<u8, ClientError> {
    let path = format!("/api/v1/services/{}/history", encode(name));
    let value = api.get(&path).await?;
    if json {
        print_json(&value);
        return Ok(exit::OK);
    }
    let v: ServiceHistoryView = decode(api, &path, value)?;
    print!("{}", table::history(&v));
    Ok(exit::OK)
}

/// `berth whatif --lose h2[,h3]`: what losing the hosts would do; exits 5 when
/// some service would not stay whole. `--each-host`: the N-1 check.
pub async fn whatif(api: &Api, lose: Option<&str>, json: bool) -> Result<u8, ClientError> {
    let path = match lose {
        Some(hosts) => format!("/api/v1/whatif?lose={}", encode(hosts)),
        None => "/api/v1/whatif/each-host".to_string(),
    };
    let value = api.get(&path).await?;
    let whole = value.get("whole").and_then(|w| w.as_bool());
    if json {
        print_json(&value);
    } else if lose.is_some() {
        let v: WhatIfView = decode(api, &path, value)?;
        print!("{}", table::whatif(&v));
    } else {
        let v: EachHostView = decode(api, &path, value)?;
        print!("{}", table::each_host(&v));
    }
    Ok(if whole == Some(false) {
        exit::NOT_WHOLE
    } else {
        exit::OK
    })
}
