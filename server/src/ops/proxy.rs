//! The proxy as people and programs read it: its table with counters, the same in
//! Prometheus's text format, and as nginx configuration. Members see their teams'
//! routes and series only; admins see all.

use domain::validate;
use domain::wire::ProxyView;

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::state::AppState;

/// Every route with its replicas and what went through them lately.
pub async fn view(state: &AppState, ctx: &Ctx) -> Result<ProxyView, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    Ok(state.proxy.view(|team| readable(ctx, team)))
}

/// Whether the caller may read the services of `team`.
fn readable(ctx: &Ctx, team: i64) -> bool {
    ctx.allowed(Action::ReadServices(team)).is_ok()
}

/// The routes as an nginx configuration whose servers listen on `listen`
/// (`80` unless said: a port, or an address and a port).
pub async fn nginx_conf(
    state: &AppState,
    ctx: &Ctx,
    listen: Option<&str>,
) -> Result<String, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let listen = listen.unwrap_or("80").trim();
    let ok = listen.parse::<u16>().is_ok()
        || listen
            .rsplit_once(':')
            .is_some_and(|(a, p)| p.parse::<u16>().is_ok() && validate::address(a).is_ok());
    if !ok {
        return Err(OpsError::Invalid(format!(
            "invalid listen {listen:?}: use a port (80) or an address and a port (127.0.0.1:8081)"
        )));
    }
    Ok(crate::proxy::export::nginx_conf(
        &state.proxy.table(),
        listen,
        |team| readable(ctx, team),
    ))
}

/// Berth's metrics in Prometheus's text format: the proxy's counters, each
/// service's wanted and ready replicas, the hosts' heartbeats, and (for admins)
/// the instance's own: reconcile passes, actions, errors, API requests.
pub async fn metrics(state: &AppState, ctx: &Ctx) -> Result<String, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let mut out = String::new();
    if p.is_admin() {
        state.metrics.write_instance(&mut out);
    }
    let hosts: Vec<(String, Option<bool>)> = state
        .hosts
        .entries()
        .iter()
        .map(|e| (e.name(), e.reachable()))
        .collect();
    state.metrics.write_hosts(&mut out, &hosts);
    super::certs::metrics(state, p, &mut out).await?;
    state.proxy.metrics(&mut out, |team| readable(ctx, team));
    let services: Vec<_> = state
        .store
        .list_services()
        .await?
        .into_iter()
        .filter(|s| readable(ctx, s.team_id))
        .collect();
    out.push_str("# HELP berth_service_replicas_wanted Replicas a service wants.\n# TYPE berth_service_replicas_wanted gauge\n");
    for s in &services {
        out.push_str(&format!(
            "berth_service_replicas_wanted{{service=\"{}\"}} {}\n",
            s.name, s.replicas
        ));
    }
    out.push_str("# HELP berth_service_replicas_ready Replicas of a service running its revision and healthy.\n# TYPE berth_service_replicas_ready gauge\n");
    for s in &services {
        let view = super::services::view(state, s, None);
        out.push_str(&format!(
            "berth_service_replicas_ready{{service=\"{}\"}} {}\n",
            s.name, view.healthy
        ));
    }
    super::history::metrics(state, &mut out, p.is_admin(), |team| readable(ctx, team)).await?;
    Ok(out)
}
