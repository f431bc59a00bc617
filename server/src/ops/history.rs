//! The last hour as people read it: a service's replicas and traffic, a host's
//! replicas added up, the proxy's services' traffic, and the latest step for
//! `/metrics`. Each answer holds only what the caller may read.

use std::collections::{HashMap, HashSet};

use domain::wire::{
    HostHistoryView, ProxyHistoryView, ReplicaHistory, ServiceHistoryView, ServiceTraffic,
    TrafficHistory,
};

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::history::{LatestReplica, LatestTraffic, Times, TrafficSeries};
use crate::model::Status;
use crate::state::AppState;

/// A service's replicas (each that ran in the hour) and its traffic.
pub async fn service(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<ServiceHistoryView, OpsError> {
    let row = super::services::readable(state, ctx, name).await?;
    let s = state.history.service(row.id);
    let t = &s.times;
    // Current: running now, as the reconciler sees it (a reading missed in the
    // last step does not make a replica look gone).
    let running: HashSet<String> = state
        .reconciler
        .service(row.id)
        .replicas
        .into_iter()
        .filter(|r| r.status == Status::Running && !r.stopping)
        .map(|r| r.container_id)
        .collect();
    let replicas = s
        .replicas
        .iter()
        .map(|(id, r)| ReplicaHistory {
            slot: r.slot,
            host: host_name(state, r.host_id),
            container_id: id.chars().take(12).collect(),
            current: running.contains(id),
            cpu_percent: r.cpu.aligned(t.first, t.last),
            memory_bytes: r.memory.aligned(t.first, t.last),
        })
        .collect();
    Ok(ServiceHistoryView {
        service: row.name,
        step_ms: step_ms(state),
        traffic: traffic(t, s.traffic.as_ref()),
        times_ms: s.times.times_ms,
        replicas,
    })
}

/// The replicas on a host the caller may see, added up.
pub async fn host(state: &AppState, ctx: &Ctx, name: &str) -> Result<HostHistoryView, OpsError> {
    let admin = ctx.allowed(Action::ReadCluster)?.is_admin();
    let entry = state
        .hosts
        .by_name(name)
        .ok_or_else(|| OpsError::NotFound(format!("there is no host {name:?}")))?;
    let teams = if admin {
        HashMap::new()
    } else {
        teams(state).await?
    };
    let sums = state.history.host(entry.id(), |service| {
        admin || super::whatif::may_read(ctx, &teams, service)
    });
    Ok(HostHistoryView {
        host: entry.name(),
        step_ms: step_ms(state),
        times_ms: sums.times.times_ms,
        cpu_percent: sums.cpu_percent,
        memory_bytes: sums.memory_bytes,
        replicas: sums.replicas,
    })
}

/// Every service with a route the caller may see, and its traffic.
pub async fn proxy(state: &AppState, ctx: &Ctx) -> Result<ProxyHistoryView, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let table = state.proxy.table();
    let mut names: Vec<(i64, String)> = table
        .routes
        .iter()
        .filter(|r| ctx.allowed(Action::ReadServices(r.team_id)).is_ok())
        .map(|r| (r.service_id, r.service.clone()))
        .collect::<HashMap<i64, String>>()
        .into_iter()
        .collect();
    names.sort_by(|a, b| a.1.cmp(&b.1));
    let ids: Vec<i64> = names.iter().map(|(id, _)| *id).collect();
    let (t, found) = state.history.traffic(&ids);
    let found: HashMap<i64, TrafficSeries> = found.into_iter().collect();
    let services = names
        .into_iter()
        .map(|(id, service)| ServiceTraffic {
            traffic: traffic(&t, found.get(&id)),
            service,
        })
        .collect();
    Ok(ProxyHistoryView {
        step_ms: step_ms(state),
        times_ms: t.times_ms,
        services,
    })
}

/// The latest step in Prometheus's text format: each replica's CPU and memory,
/// each service's traffic, of the services `visible` (by team) lets through.
pub async fn metrics(
    state: &AppState,
    out: &mut String,
    admin: bool,
    visible: impl Fn(i64) -> bool,
) -> Result<(), OpsError> {
    use std::fmt::Write as _;
    let rows = state.store.list_services().await?;
    let names: HashMap<i64, String> = rows
        .into_iter()
        .filter(|s| visible(s.team_id))
        .map(|s| (s.id, s.name))
        .collect();
    let latest = state.history.latest();
    write_replicas(state, out, &names, &latest.replicas);
    write_traffic(out, &names, &latest.services);
    if !admin {
        return Ok(());
    }
    gauge(
        out,
        "berth_history_replicas_left_out",
        "Replicas whose history is not kept (past the bound).",
    );
    let _ = writeln!(out, "berth_history_replicas_left_out {}", latest.left_out);
    Ok(())
}

/// Each replica's CPU and memory in the latest step.
fn write_replicas(
    state: &AppState,
    out: &mut String,
    names: &HashMap<i64, String>,
    latest: &[LatestReplica],
) {
    use std::fmt::Write as _;
    let esc = crate::proxy::export::esc;
    let mut replicas: Vec<(&String, &LatestReplica)> = latest
        .iter()
        .filter_map(|r| Some((names.get(&r.service_id)?, r)))
        .collect();
    replicas.sort_by(|a, b| {
        (a.0, a.1.slot, &a.1.container_id).cmp(&(b.0, b.1.slot, &b.1.container_id))
    });
    let label = |service: &str, r: &LatestReplica| {
        let id = &r.container_id;
        format!(
            "service=\"{}\",replica=\"{}\",slot=\"{}\",host=\"{}\"",
            esc(service),
            id.chars().take(12).collect::<String>(),
            r.slot,
            esc(&host_name(state, r.host_id))
        )
    };
    gauge(
        out,
        "berth_replica_cpu_percent",
        "Percent of one CPU a replica used over the last history step.",
    );
    for &(service, r) in &replicas {
        if let Some(cpu) = r.cpu_percent {
            let _ = writeln!(
                out,
                "berth_replica_cpu_percent{{{}}} {cpu}",
                label(service, r)
            );
        }
    }
    gauge(
        out,
        "berth_replica_memory_bytes",
        "Memory a replica used at the last history step (less the page cache).",
    );
    for &(service, r) in &replicas {
        let _ = writeln!(
            out,
            "berth_replica_memory_bytes{{{}}} {}",
            label(service, r),
            r.memory_bytes
        );
    }
}

/// Each service's traffic in the latest step.
fn write_traffic(out: &mut String, names: &HashMap<i64, String>, latest: &[LatestTraffic]) {
    use std::fmt::Write as _;
    let esc = crate::proxy::export::esc;
    let mut services: Vec<(&String, &LatestTraffic)> = latest
        .iter()
        .filter_map(|s| Some((names.get(&s.service_id)?, s)))
        .collect();
    services.sort_by(|a, b| a.0.cmp(b.0));
    type Get = fn(&LatestTraffic) -> Option<f64>;
    let series: [(&str, &str, Get); 3] = [
        (
            "berth_service_requests_per_second",
            "Requests per second through the proxy to a service over the last history step.",
            |s| Some(s.requests_per_second),
        ),
        (
            "berth_service_error_ratio",
            "Failed or 5xx answers over all answers of a service in the last history step.",
            |s| s.error_rate,
        ),
        (
            "berth_service_p99_seconds",
            "The 99th percentile of a service's time to the answer's head in the last history step.",
            |s| s.p99_ms.map(|ms| ms / 1000.0),
        ),
    ];
    for (name, help, get) in series {
        gauge(out, name, help);
        for &(service, s) in &services {
            if let Some(v) = get(s) {
                let _ = writeln!(out, "{name}{{service=\"{}\"}} {v}", esc(service));
            }
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn step_ms(state: &AppState) -> i64 {
    state.history.every().as_millis() as i64
}

fn host_name(state: &AppState, host_id: i64) -> String {
    state
        .hosts
        .get(host_id)
        .map(|e| e.name())
        .unwrap_or_else(|| format!("host {host_id} (removed)"))
}

/// A service's traffic lined up with `t`; all `null` without any in the hour.
fn traffic(t: &Times, s: Option<&TrafficSeries>) -> TrafficHistory {
    let n = t.times_ms.len();
    match s {
        None => TrafficHistory {
            requests_per_second: vec![None; n],
            error_rate: vec![None; n],
            p99_ms: vec![None; n],
        },
        Some(s) => TrafficHistory {
            requests_per_second: s.requests_per_second.aligned(t.first, t.last),
            error_rate: s.error_rate.aligned(t.first, t.last),
            p99_ms: s.p99_ms.aligned(t.first, t.last),
        },
    }
}

/// Each service's team.
async fn teams(state: &AppState) -> Result<HashMap<i64, i64>, OpsError> {
    Ok(state
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|s| (s.id, s.team_id))
        .collect())
}
