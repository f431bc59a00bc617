//! What-if, as everyone reads it: the hosts named, the planner asked what losing
//! them would do (a whole cluster's plan, on a blocking thread, one at a time),
//! and the answer in names, of the services the caller may read only. The N-1
//! check (one what-if per host) is worked out for every reader at once and given
//! again while it is fresh.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use domain::validate;
use domain::wire::{
    EachHostView, HostLossView, WhatIfMove, WhatIfQuery, WhatIfStranded, WhatIfUnplaced, WhatIfView,
};
use tokio::sync::{Mutex, Semaphore};

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::reconciler::driver::{self, Inputs};
use crate::reconciler::plan::whatif::{self, Consequences, Planned};
use crate::state::AppState;

/// An N-1 answer is given again for at least this long, and for ten times what
/// working it out took (at thousands of hosts, a plan per host takes a while:
/// this keeps it to a tenth of one core however many dashboards are open).
const EACH_HOST_FRESH_MS: i64 = 10_000;

/// The what-ifs of one state: one plan at a time, and the last N-1 check.
pub struct WhatIfs {
    /// One plan at a time: what-ifs wait for their turn rather than take every
    /// core (a member may ask as often as they like). Held by the planning thread
    /// itself, so a caller that goes away frees nothing early. The N-1 check takes
    /// it per host, so a what-if waits for one host's plan at most.
    turn: Arc<Semaphore>,
    /// Held by the task working out an N-1 check; readers meanwhile get the last
    /// one (or, before the first, wait for it).
    checking: Arc<Mutex<()>>,
    last: RwLock<Option<Arc<EachHost>>>,
}

impl Default for WhatIfs {
    fn default() -> Self {
        WhatIfs {
            turn: Arc::new(Semaphore::new(1)),
            checking: Arc::new(Mutex::new(())),
            last: RwLock::new(None),
        }
    }
}

/// Losing each host in turn, for every service: filtered per reader after.
struct EachHost {
    /// When it was worked out, and how long that took.
    at_ms: i64,
    took_ms: i64,
    teams: HashMap<i64, i64>,
    each: Vec<(String, Consequences)>,
}

impl EachHost {
    fn fresh(&self, now: i64) -> bool {
        (0..EACH_HOST_FRESH_MS.max(self.took_ms * 10)).contains(&(now - self.at_ms))
    }
}

/// What losing the hosts `q.lose` names would do.
pub async fn lose(state: &AppState, ctx: &Ctx, q: WhatIfQuery) -> Result<WhatIfView, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let names = validate::host_list(&q.lose).map_err(OpsError::Invalid)?;
    let mut lose = BTreeSet::new();
    for name in &names {
        let host = state.hosts.by_name(name);
        let host = host.ok_or_else(|| OpsError::NotFound(format!("there is no host {name:?}")))?;
        lose.insert(host.id());
    }
    let inputs = read(state).await?;
    let at_ms = state.clock.now_ms();
    let settings = state.reconciler.plan_settings();
    let turn = state.whatif.turn.clone().acquire_owned().await;
    let turn = turn.map_err(|_| OpsError::Internal)?;
    let (c, inputs) = blocking(move || {
        let _turn = turn;
        let i = &inputs;
        let c = whatif::what_if(
            &i.desired,
            &i.observed,
            &i.hosts,
            &lose,
            at_ms,
            settings,
            Planned::All,
        );
        (c, inputs)
    })
    .await?;
    let teams = teams_of(&inputs);
    let c = visible(ctx, &teams, c);
    Ok(view(&Names::new(&inputs), names, c, at_ms))
}

/// Losing each host in turn (the N-1 check), in the order of their names.
pub async fn each_host(state: &AppState, ctx: &Ctx) -> Result<EachHostView, OpsError> {
    ctx.allowed(Action::ReadCluster)?;
    let all = recent_each_host(state).await?;
    let hosts: Vec<HostLossView> = all
        .each
        .iter()
        .map(|(host, c)| {
            let (moves, unplaced, stranded) = c.counts(|id| may_read(ctx, &all.teams, id));
            HostLossView {
                host: host.clone(),
                whole: unplaced == 0 && stranded == 0,
                moves,
                unplaced,
                stranded,
            }
        })
        .collect();
    Ok(EachHostView {
        whole: hosts.iter().all(|h| h.whole),
        hosts,
        at_ms: all.at_ms,
    })
}

/// The last N-1 answer while it is fresh; else a new one, worked out by a task
/// of its own (one at a time) while readers take the last one, or, before the
/// first, wait for it. The task outlives a reader that goes away, so what it
/// worked out is kept; it stops at shutdown.
async fn recent_each_host(state: &AppState) -> Result<Arc<EachHost>, OpsError> {
    let w = &state.whatif;
    let last = || w.last.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(all) = last().filter(|a| a.fresh(state.clock.now_ms())) {
        return Ok(all);
    }
    match w.checking.clone().try_lock_owned() {
        Ok(guard) => {
            let task = tokio::spawn(check_each_host(state.clone(), guard));
            match last() {
                Some(all) => Ok(all),
                None => task.await.map_err(|_| OpsError::Internal)?,
            }
        }
        Err(_) => match last() {
            Some(all) => Ok(all),
            None => {
                // The first check is under way: its end frees the lock.
                drop(w.checking.lock().await);
                last().ok_or(OpsError::Internal)
            }
        },
    }
}

/// Works out losing each host in turn (one plan per host, each in its turn) and
/// keeps it as the last answer; `_checking` is held until then.
async fn check_each_host(
    state: AppState,
    _checking: tokio::sync::OwnedMutexGuard<()>,
) -> Result<Arc<EachHost>, OpsError> {
    let w = &state.whatif;
    let inputs = Arc::new(read(&state).await?);
    let settings = state.reconciler.plan_settings();
    let started = state.clock.now_ms();
    let mut hosts: Vec<(String, i64)> = inputs
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.id))
        .collect();
    hosts.sort();
    let mut each = Vec::with_capacity(hosts.len());
    for (name, id) in hosts {
        let turn = tokio::select! {
            turn = w.turn.clone().acquire_owned() => turn.map_err(|_| OpsError::Internal)?,
            _ = state.shutdown.cancelled() => return Err(OpsError::Internal),
        };
        let i = inputs.clone();
        let c = blocking(move || {
            let _turn = turn;
            let lose = BTreeSet::from([id]);
            whatif::what_if(
                &i.desired,
                &i.observed,
                &i.hosts,
                &lose,
                started,
                settings,
                Planned::Affected,
            )
        })
        .await?;
        each.push((name, c));
    }
    let at_ms = state.clock.now_ms();
    let all = Arc::new(EachHost {
        at_ms,
        took_ms: at_ms - started,
        teams: teams_of(&inputs),
        each,
    });
    *w.last.write().unwrap_or_else(|e| e.into_inner()) = Some(all.clone());
    Ok(all)
}

async fn read(state: &AppState) -> Result<Inputs, OpsError> {
    driver::inputs(state).await.map_err(|e| {
        tracing::error!(error = %e, "what-if: cannot read what planning needs");
        OpsError::Internal
    })
}

/// Runs the planner off the async threads: at thousands of hosts it takes a
/// while.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OpsError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "what-if: the planner's thread failed");
        OpsError::Internal
    })
}

/// Each service's team.
fn teams_of(inputs: &Inputs) -> HashMap<i64, i64> {
    inputs.desired.iter().map(|d| (d.id, d.team_id)).collect()
}

/// Only what concerns the services the caller may read (every one for an admin).
fn visible(ctx: &Ctx, teams: &HashMap<i64, i64>, mut c: Consequences) -> Consequences {
    c.retain(|service_id| may_read(ctx, teams, service_id));
    c
}

/// Whether the caller may read the service (of the team `teams` names).
pub(super) fn may_read(ctx: &Ctx, teams: &HashMap<i64, i64>, service_id: i64) -> bool {
    teams
        .get(&service_id)
        .is_some_and(|team| ctx.allowed(Action::ReadServices(*team)).is_ok())
}

/// The answer in names.
fn view(n: &Names, lose: Vec<String>, c: Consequences, at_ms: i64) -> WhatIfView {
    let moves = c.moves.iter().map(|m| WhatIfMove {
        service: n.service(m.service_id),
        team: n.team(m.service_id),
        slot: m.slot,
        from: n.host(m.from),
        to: n.host(m.to),
    });
    let unplaced = c.unplaced.iter().map(|u| WhatIfUnplaced {
        service: n.service(u.service_id),
        team: n.team(u.service_id),
        slot: u.slot,
        from: n.host(u.from),
        why: u.why.to_string(),
    });
    let stranded = c.stranded.iter().map(|s| WhatIfStranded {
        service: n.service(s.service_id),
        team: n.team(s.service_id),
        slot: s.slot,
        host: n.host(s.host),
        volumes: s.volumes.clone(),
    });
    WhatIfView {
        lose,
        whole: c.whole(),
        moves: moves.collect(),
        unplaced: unplaced.collect(),
        stranded: stranded.collect(),
        at_ms,
    }
}

/// Names for the ids of an answer.
struct Names<'a> {
    services: HashMap<i64, (&'a str, &'a str)>,
    hosts: HashMap<i64, &'a str>,
}

impl<'a> Names<'a> {
    fn new(inputs: &'a Inputs) -> Self {
        Names {
            services: inputs
                .rows
                .iter()
                .map(|r| (r.id, (r.name.as_str(), r.team.as_str())))
                .collect(),
            hosts: inputs
                .hosts
                .iter()
                .map(|h| (h.id, h.name.as_str()))
                .collect(),
        }
    }

    fn service(&self, id: i64) -> String {
        self.services
            .get(&id)
            .map_or_else(|| format!("#{id}"), |s| s.0.to_string())
    }

    fn team(&self, id: i64) -> String {
        self.services
            .get(&id)
            .map_or_else(String::new, |s| s.1.to_string())
    }

    fn host(&self, id: i64) -> String {
        self.hosts
            .get(&id)
            .map_or_else(|| format!("#{id}"), |h| h.to_string())
    }
}
