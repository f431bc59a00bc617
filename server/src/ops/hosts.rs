//! Hosts, as admins manage them and everyone reads them: register (connecting first),
//! relabel, cordon, drain, remove; and start-up loading and bootstrapping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use domain::validate;
use domain::wire::{AddHostInput, HostDetail, HostView, UpdateHostInput};

use super::{audit, audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::clock;
use crate::cluster::health::{self, Live, Probe, Usage};
use crate::cluster::HostEntry;
use crate::config::EngineArg;
use crate::events::{self, ClusterEvent, Level};
use crate::runtime::docker::{DockerEngine, DockerError, Endpoint};
use crate::state::AppState;
use crate::store::{EventFilter, HostRow, NewHost, TlsPem};

fn find(state: &AppState, name: &str) -> Result<Arc<HostEntry>, OpsError> {
    state
        .hosts
        .by_name(name)
        .ok_or_else(|| OpsError::NotFound(format!("there is no host {name:?}")))
}

/// Every host.
pub async fn list(state: &AppState, ctx: &Ctx) -> Result<Vec<HostView>, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    Ok(state.hosts.views(clock::now_ms()))
}

/// A host with its containers (asked of the engine now) and recent events. A
/// member sees the names of their teams' replicas only: every other container is
/// listed without its name, image or service, and of the engine's own events only
/// the daemon's (those about containers, images, volumes and networks name them).
pub async fn detail(state: &AppState, ctx: &Ctx, name: &str) -> Result<HostDetail, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let entry = find(state, name)?;
    let (listed, containers_error) = match entry.engine.containers(true).await {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let owner = state.store.instance_id().await?;
    let mine: std::collections::HashSet<i64> = if p.is_admin() {
        Default::default()
    } else {
        state
            .store
            .list_services()
            .await?
            .iter()
            .filter(|s| ctx.allowed(Action::ReadServices(s.team_id)).is_ok())
            .map(|s| s.id)
            .collect()
    };
    let containers = listed
        .into_iter()
        .map(|c| {
            let visible = p.is_admin()
                || (c.owner.as_deref() == Some(owner.as_str())
                    && c.service_id.is_some_and(|id| mine.contains(&id)));
            if visible {
                c.view
            } else {
                hidden_container(c.view)
            }
        })
        .collect();
    let engine_events = entry
        .live()
        .engine_events
        .into_iter()
        .filter(|e| p.is_admin() || e.kind == "daemon")
        .take(30)
        .collect();
    let events = state
        .store
        .list_events(&EventFilter {
            kind: Some("host".into()),
            subject: Some(entry.name()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    Ok(HostDetail {
        host: entry.view(clock::now_ms()),
        containers,
        containers_error,
        engine_events,
        events,
    })
}

/// A container of someone else's: its state and age, nothing that names it.
fn hidden_container(c: domain::wire::ContainerView) -> domain::wire::ContainerView {
    domain::wire::ContainerView {
        id: c.id,
        name: String::new(),
        image: String::new(),
        state: c.state,
        status: c.status,
        berth: c.berth,
        service: None,
        created_ms: c.created_ms,
        hidden: true,
    }
}

/// What registering a host would connect to, checked for form.
struct Checked {
    endpoint: Endpoint,
    address: String,
    tls: Option<TlsPem>,
}

fn check_input(input: &AddHostInput) -> Result<Checked, OpsError> {
    validate::host_name(&input.name).map_err(OpsError::Invalid)?;
    validate::endpoint(&input.endpoint).map_err(OpsError::Invalid)?;
    let endpoint: Endpoint = input
        .endpoint
        .parse()
        .map_err(|e: crate::runtime::docker::EndpointError| OpsError::Invalid(e.to_string()))?;
    for (k, v) in &input.labels {
        validate::label(k, v).map_err(OpsError::Invalid)?;
    }
    let address = match (&input.address, &endpoint) {
        (Some(a), _) => a.trim().to_string(),
        (None, Endpoint::Unix(_)) => "127.0.0.1".to_string(),
        (None, Endpoint::Tcp { host, .. }) => host.clone(),
    };
    validate::address(&address).map_err(OpsError::Invalid)?;
    let tls = match &input.tls {
        None => None,
        Some(_) if matches!(endpoint, Endpoint::Unix(_)) => {
            return Err(OpsError::Invalid(
                "TLS is for tcp:// endpoints; a unix socket needs none".into(),
            ))
        }
        Some(t) => {
            for (what, pem) in [("CA", &t.ca), ("certificate", &t.cert), ("key", &t.key)] {
                if !pem.contains("-----BEGIN ") {
                    return Err(OpsError::Invalid(format!(
                        "the TLS {what} is not PEM (-----BEGIN …)"
                    )));
                }
            }
            Some(TlsPem {
                ca: t.ca.clone(),
                cert: t.cert.clone(),
                key: t.key.clone(),
            })
        }
    };
    Ok(Checked {
        endpoint,
        address,
        tls,
    })
}

/// Why a host could not be reached at registration, with a code of its own.
fn refused(e: DockerError) -> OpsError {
    OpsError::Refused {
        code: match e {
            DockerError::Tls { .. } => "tls_failed",
            DockerError::TooOld { .. } => "engine_too_old",
            _ => "host_unreachable",
        },
        message: e.to_string(),
    }
}

/// Connects to a host and takes its first heartbeat; the host is not registered
/// when this fails.
async fn probe(engine: &DockerEngine) -> Result<Live, DockerError> {
    let started = Instant::now();
    let facts = engine.facts().await?;
    let (containers, cpu_millis, memory_bytes) = engine.berth_usage().await?;
    let mut live = Live::default();
    health::apply(
        &mut live,
        Probe::Answered {
            facts,
            usage: Usage {
                containers,
                cpu_millis,
                memory_bytes,
            },
            latency_ms: started.elapsed().as_millis() as u64,
        },
        clock::now_ms(),
    );
    Ok(live)
}

/// Registers a host: Berth connects first, and refuses (saying why) a host it
/// cannot reach, whose TLS fails, or whose engine is too old.
pub async fn add(state: &AppState, ctx: &Ctx, input: AddHostInput) -> Result<HostView, OpsError> {
    audited(
        state,
        ctx,
        "host.add",
        &format!("host:{}", input.name),
        async {
            ctx.allowed(Action::ManageHosts)?;
            register(state, &input).await
        },
    )
    .await
}

/// Registers a host that answers (admins through [`add`], start-up, host pools).
pub(crate) async fn register(state: &AppState, input: &AddHostInput) -> Result<HostView, OpsError> {
    let checked = check_input(input)?;
    if state.store.host_by_name(&input.name).await?.is_some() {
        return Err(OpsError::Conflict(format!(
            "a host named {:?} exists already",
            input.name
        )));
    }
    let engine = state
        .hosts
        .engine_for(&input.name, &checked.endpoint, checked.tls.as_ref())
        .map_err(|e| {
            tracing::error!(error = %e, "writing TLS files");
            OpsError::Internal
        })?;
    let live = match probe(&engine).await {
        Ok(live) => live,
        Err(e) => {
            state.hosts.remove_tls(&input.name);
            return Err(refused(e));
        }
    };
    let now = clock::now_ms();
    let endpoint = checked.endpoint.to_string();
    let id = state
        .store
        .create_host(NewHost {
            name: &input.name,
            endpoint: &endpoint,
            address: &checked.address,
            labels: &input.labels,
            tls: checked.tls.as_ref(),
            now,
        })
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                OpsError::Conflict(format!("a host named {:?} exists already", input.name))
            } else {
                e.into()
            }
        })?;
    let row = state
        .store
        .host_by_id(id)
        .await?
        .ok_or(OpsError::Internal)?;
    let facts = live.facts.clone();
    let entry = state.hosts.insert(row, engine, live);
    let what = crate::cluster::monitor::engine_words(facts.as_ref());
    events::host(
        state,
        &input.name,
        Level::Info,
        &format!("host {} added at {endpoint}{what}", input.name),
    )
    .await;
    state.bus.publish(ClusterEvent::HostChanged { host_id: id });
    Ok(entry.view(clock::now_ms()))
}

/// Changes a host's labels and/or address.
pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    input: UpdateHostInput,
) -> Result<HostView, OpsError> {
    audited(state, ctx, "host.update", &format!("host:{name}"), async {
        ctx.allowed(Action::ManageHosts)?;
        let entry = find(state, name)?;
        if input.labels.is_none() && input.address.is_none() {
            return Err(OpsError::Invalid(
                "nothing to change: give labels or an address".into(),
            ));
        }
        if let Some(labels) = &input.labels {
            for (k, v) in labels {
                validate::label(k, v).map_err(OpsError::Invalid)?;
            }
        }
        if let Some(address) = &input.address {
            validate::address(address).map_err(OpsError::Invalid)?;
        }
        let id = entry.id();
        let now = clock::now_ms();
        if let Some(labels) = &input.labels {
            state.store.set_host_labels(id, labels, now).await?;
            events::host(
                state,
                name,
                Level::Info,
                &format!("labels of {name} set to {}", describe_labels(labels)),
            )
            .await;
        }
        if let Some(address) = &input.address {
            state.store.set_host_address(id, address, now).await?;
            events::host(
                state,
                name,
                Level::Info,
                &format!("published ports of {name} are now reached at {address}"),
            )
            .await;
        }
        refresh(state, id).await
    })
    .await
}

fn describe_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        "none".into()
    } else {
        validate::format_labels(labels)
    }
}

/// Reloads a host's row into the registry after a change.
pub(crate) async fn refresh(state: &AppState, id: i64) -> Result<HostView, OpsError> {
    let row: HostRow = state
        .store
        .host_by_id(id)
        .await?
        .ok_or(OpsError::Internal)?;
    state.hosts.update_row(row);
    state.bus.publish(ClusterEvent::HostChanged { host_id: id });
    state
        .hosts
        .get(id)
        .map(|e| e.view(clock::now_ms()))
        .ok_or(OpsError::Internal)
}

/// What an admin decides about where replicas go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// No new replicas here.
    Cordon,
    /// New replicas may come here again (also ends a drain).
    Uncordon,
    /// Cordoned, and the replicas here move elsewhere one by one.
    Drain,
}

pub async fn schedule(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    what: Schedule,
) -> Result<HostView, OpsError> {
    let action = match what {
        Schedule::Cordon => "host.cordon",
        Schedule::Uncordon => "host.uncordon",
        Schedule::Drain => "host.drain",
    };
    audited(state, ctx, action, &format!("host:{name}"), async {
        ctx.allowed(Action::ManageHosts)?;
        let entry = find(state, name)?;
        let (cordoned, draining, message) = match what {
            Schedule::Cordon => (
                true,
                false,
                format!("host {name} cordoned: it takes no new replicas"),
            ),
            Schedule::Uncordon => (
                false,
                false,
                format!("host {name} uncordoned: it takes new replicas again"),
            ),
            Schedule::Drain => (
                true,
                true,
                format!("host {name} draining: its replicas move to other hosts"),
            ),
        };
        state
            .store
            .set_host_schedule(entry.id(), cordoned, draining, clock::now_ms())
            .await?;
        events::host(state, name, Level::Info, &message).await;
        refresh(state, entry.id()).await
    })
    .await
}

/// Unregisters a host. Refused while Berth's replicas run there, unless forced (they
/// are then left running, unmanaged, on the host); refused for a host a pool made
/// (the pool retires it, and destroys the machine).
pub async fn remove(state: &AppState, ctx: &Ctx, name: &str, force: bool) -> Result<(), OpsError> {
    audited(state, ctx, "host.remove", &format!("host:{name}"), async {
        ctx.allowed(Action::ManageHosts)?;
        let entry = find(state, name)?;
        let id = entry.id();
        let pools = state.store.list_pool_hosts().await?;
        if let Some(p) = pools.iter().find(|p| p.host_id == Some(id)) {
            let pool = state.store.list_pools().await?;
            let pool = pool.iter().find(|x| x.id == p.pool_id).map_or("?", |x| &x.name);
            return Err(OpsError::Conflict(format!(
                "{name} was made by pool {pool}: retire it on the Pools page (or POST /api/v1/pools/{pool}/hosts/{name}/retire), and Berth drains and destroys it"
            )));
        }
        let running = entry.live().usage.containers;
        if running > 0 && !force {
            return Err(OpsError::Conflict(format!(
                "{name} still runs {running} of Berth's replicas; drain it first, or remove it with force=true"
            )));
        }
        unregister(state, id, name).await?;
        let message = if running > 0 {
            format!("host {name} removed with force; {running} replicas were left on it")
        } else {
            format!("host {name} removed")
        };
        events::host(state, name, Level::Warn, &message).await;
        Ok(())
    })
    .await
}

/// Forgets a host: its row, its client, its TLS files.
pub(crate) async fn unregister(state: &AppState, id: i64, name: &str) -> Result<(), OpsError> {
    state.store.delete_host(id).await?;
    state.hosts.remove(id);
    state.hosts.remove_tls(name);
    state.bus.publish(ClusterEvent::HostChanged { host_id: id });
    Ok(())
}

/// Puts every stored host into the registry at start-up; heartbeats tell how they
/// are. A host whose TLS files cannot be written is left out, with an event.
pub async fn load(state: &AppState) -> Result<usize, OpsError> {
    let rows = state.store.list_hosts().await?;
    let n = rows.len();
    for row in rows {
        put_in_registry(state, row, Live::default()).await;
    }
    Ok(n)
}

/// Brings the registry in line with the stored hosts, for several instances on
/// one database: a host added, changed or removed through one (or made by the
/// leader's pools) is taken up by the others. Every instance does this every
/// 2 s, and a new leader before its loops start.
pub async fn sync(state: &AppState) -> Result<(), OpsError> {
    let rows = state.store.list_hosts().await?;
    let stored: std::collections::HashSet<i64> = rows.iter().map(|r| r.id).collect();
    for entry in state.hosts.entries() {
        if !stored.contains(&entry.id()) {
            state.hosts.remove(entry.id());
            state.hosts.remove_tls(&entry.name());
            state.bus.publish(ClusterEvent::HostChanged {
                host_id: entry.id(),
            });
        }
    }
    for row in rows {
        let id = row.id;
        match state.hosts.get(id).map(|e| e.row()) {
            Some(known) if known == row => continue,
            Some(known) if known.endpoint == row.endpoint && known.tls == row.tls => {
                state.hosts.update_row(row)
            }
            known => {
                let live = known.and_then(|_| state.hosts.get(id)).map(|e| e.live());
                put_in_registry(state, row, live.unwrap_or_default()).await;
            }
        }
        state.bus.publish(ClusterEvent::HostChanged { host_id: id });
    }
    Ok(())
}

/// Puts one stored host into the registry with a client for its engine; left
/// out, with an event, when its endpoint does not parse or its TLS files
/// cannot be written.
async fn put_in_registry(state: &AppState, row: HostRow, live: Live) {
    let endpoint: Endpoint = match row.endpoint.parse() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(host = %row.name, error = %e, "stored endpoint does not parse");
            return;
        }
    };
    match state
        .hosts
        .engine_for(&row.name, &endpoint, row.tls.as_ref())
    {
        Ok(engine) => {
            state.hosts.insert(row, engine, live);
        }
        Err(e) => {
            let message = format!(
                "host {} left out: cannot write its TLS files: {e}",
                row.name
            );
            events::host(state, &row.name, Level::Error, &message).await;
        }
    }
}

/// Registers the `--engine` hosts that are not registered yet. Each must answer:
/// the error names the host that does not.
pub async fn bootstrap(state: &AppState, engines: &[EngineArg]) -> Result<(), (String, OpsError)> {
    for e in engines {
        match state.store.host_by_name(&e.name).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(err) => return Err((e.name.clone(), err.into())),
        }
        let input = AddHostInput {
            name: e.name.clone(),
            endpoint: e.endpoint.to_string(),
            address: e.address.clone(),
            labels: BTreeMap::new(),
            tls: None,
        };
        let outcome = register(state, &input).await;
        audit(
            state,
            &Ctx::system("local"),
            "host.add",
            &format!("host:{}", e.name),
            &outcome,
        )
        .await;
        outcome.map_err(|err| (e.name.clone(), err))?;
    }
    Ok(())
}
