//! `plan()`: what to do so that what runs matches what is wanted. Pure: desired
//! services, observed replicas, hosts and `now` in; actions with their reasons, and
//! the problems that block some replicas, out. It is never told why it runs, and on
//! a converged cluster it returns nothing.
//!
//! Each service has slots 1..=replicas; each slot wants one replica of the current
//! revision, healthy, on a usable host. Per slot:
//! - a dead container is removed and replaced (per the restart policy), an
//!   unhealthy one too;
//! - a replica on a host unreachable for longer than the grace is replaced
//!   elsewhere; when the host returns, the leftover is removed;
//! - a replica of an old revision, or on a draining host, is replaced start-first:
//!   the new one starts (within the update policy's surge), and the old one goes
//!   once the new one is healthy;
//! - slots above the replica count are emptied;
//! - a slot with per-replica volumes starts only on the host that holds them (its
//!   home): when that host is lost the slot waits, and says so, until the host is
//!   back or an admin moves the slot (forgets its home).

use std::collections::{BTreeMap, HashMap};

use domain::wire::{Health, HostState, RestartPolicy, UpdateOrder};

use crate::model::{DesiredService, HostInfo, ObservedReplica, Problem, Status};
use crate::scheduler::{self, Need, Slot};

/// Settings that are not part of any service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a host may be unreachable before its replicas are placed elsewhere.
    pub host_grace_ms: i64,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a replica of the service's current revision in `slot` on `host_id`.
    Start {
        service_id: i64,
        slot: u32,
        host_id: i64,
        /// Why; a first start of an empty slot is `Reason::Started`.
        reason: Reason,
    },
    /// Stop and remove a container of the service.
    Remove {
        service_id: i64,
        slot: u32,
        host_id: i64,
        container_id: String,
        /// Why; one removed because it failed says what failed
        /// ([`Reason::failure`]).
        reason: Reason,
    },
}

impl Action {
    pub fn service_id(&self) -> i64 {
        match self {
            Action::Start { service_id, .. } | Action::Remove { service_id, .. } => *service_id,
        }
    }

    pub fn reason(&self) -> &Reason {
        match self {
            Action::Start { reason, .. } | Action::Remove { reason, .. } => reason,
        }
    }
}

/// How far a service is on its way to its current revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RolloutReport {
    pub wanted: u32,
    /// Slots with a replica of the current revision, ready.
    pub new_ready: u32,
    /// Replicas of other revisions still alive.
    pub old_remaining: u32,
    /// Slots whose new replica is on its way (starting, or not there yet).
    pub in_transition: u32,
    /// Replicas of the current revision that failed since the rollout began:
    /// (slot, container id, why).
    pub failures: Vec<(u32, String, String)>,
    /// Replicas of the current revision made since the rollout began (none
    /// for a policy-only change).
    #[serde(default)]
    pub made: u32,
}

/// What to do, and what cannot be done yet and why (by service id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub problems: BTreeMap<i64, Vec<Problem>>,
    /// Every service's progress towards its current revision.
    pub rollouts: BTreeMap<i64, RolloutReport>,
    /// When the plan would change by the clock alone (a host's grace ends).
    pub wake_at_ms: Option<i64>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// How a replica stands, for its slot's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its host has been unreachable longer than the grace: replaced elsewhere.
    Lost,
    /// Its host is unreachable, within the grace: wait.
    Hidden,
    /// Stopped; replace it per the restart policy (`true`) or leave it (`false`).
    Dead { replace: bool },
    /// Running but failing its health check.
    Unhealthy,
    /// Alive.
    Alive,
    /// Out of the proxy and being stopped: it neither serves nor is removed again.
    Stopping,
}

/// How long a container may sit made but not started before it counts as
/// abandoned: Berth starts what it makes in the same call, so one older than this
/// was left by an instance stopped in between (a leader killed mid-rollout).
const NEVER_STARTED_MS: i64 = 20_000;

struct Ctx<'a> {
    hosts: &'a [HostInfo],
    host_index: HashMap<i64, usize>,
    now: i64,
    settings: Settings,
    /// Some replica is being stopped: the room it holds is free in a moment.
    stopping_anywhere: bool,
}

impl Ctx<'_> {
    fn host(&self, id: i64) -> Option<&HostInfo> {
        self.host_index.get(&id).map(|i| &self.hosts[*i])
    }

    fn host_name(&self, id: i64) -> String {
        self.host(id)
            .map(|h| h.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn kind(&self, r: &ObservedReplica, restart: RestartPolicy) -> Kind {
        match self.host(r.host_id) {
            None => return Kind::Lost,
            Some(h) if h.state == HostState::Unreachable => {
                let since = h.unreachable_since_ms.unwrap_or(self.now);
                return if self.now - since >= self.settings.host_grace_ms {
                    Kind::Lost
                } else {
                    Kind::Hidden
                };
            }
            Some(_) => {}
        }
        if r.stopping {
            return Kind::Stopping;
        }
        match r.status {
            Status::Exited { code } => Kind::Dead {
                replace: match restart {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => code != 0,
                    RestartPolicy::Never => false,
                },
            },
            Status::Dead => Kind::Dead {
                replace: restart != RestartPolicy::Never,
            },
            Status::Removing => Kind::Dead { replace: true },
            // Never ran, so replaced whatever the restart policy (and not a
            // failure of its revision: see `rollout_failure`).
            Status::Created if self.abandoned(r) => Kind::Dead { replace: true },
            _ if r.health == Health::Unhealthy => Kind::Unhealthy,
            _ => Kind::Alive,
        }
    }

    /// Made but not started, long ago, and not one Berth is making now.
    fn abandoned(&self, r: &ObservedReplica) -> bool {
        r.status == Status::Created && !r.pending && self.now - r.created_ms > NEVER_STARTED_MS
    }

    fn draining(&self, host_id: i64) -> bool {
        self.host(host_id)
            .is_some_and(|h| h.state == HostState::Draining)
    }
}

fn exit_words(status: Status) -> String {
    match status {
        Status::Exited { code } => format!("exited with code {code}"),
        Status::Created => "was made but never started".to_string(),
        other => format!("is {}", other.as_str()),
    }
}

/// Ready to serve: running, and healthy if the service has a check.
fn ready(r: &ObservedReplica) -> bool {
    r.status == Status::Running && matches!(r.health, Health::Healthy | Health::None)
}

/// The plan for `desired` given `observed` on `hosts` at `now`.
pub fn plan(
    desired: &[DesiredService],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    now: i64,
    settings: Settings,
) -> Plan {
    plan_some(desired, observed, hosts, now, settings, Scope::default())
}

/// What a plan for the what-if leaves out; the loop's plan leaves out nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Only these services are planned. The room every replica takes is still
    /// counted, but not the room the other services' own starts of the same pass
    /// would take.
    pub only: Option<&'a std::collections::BTreeSet<i64>>,
    /// Replicas being stopped count as gone, their room free: the loop waits for
    /// them quietly, and the what-if asks how things stand once they are.
    pub stopped_gone: bool,
}

/// The plan within `scope`. The replicas of services no longer wanted are
/// removed only in a plan of every service.
pub fn plan_some(
    desired: &[DesiredService],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    now: i64,
    settings: Settings,
    scope: Scope,
) -> Plan {
    let ctx = Ctx {
        hosts,
        host_index: hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect(),
        now,
        stopping_anywhere: !scope.stopped_gone && observed.iter().any(|r| r.stopping),
        settings,
    };
    let mut out = Plan {
        wake_at_ms: hosts
            .iter()
            .filter(|h| h.state == HostState::Unreachable)
            .filter_map(|h| h.unreachable_since_ms)
            .map(|since| since + settings.host_grace_ms)
            .filter(|at| *at > now)
            .min(),
        ..Plan::default()
    };

    // What is left on each host once the replicas already there are counted. A
    // replica being made whose container the host lists already is one replica,
    // counted once (the loop reads what is being made before it lists the hosts).
    let holds_room = |r: &&ObservedReplica| r.status.alive() && !(scope.stopped_gone && r.stopping);
    let listed: std::collections::HashSet<(i64, u32, i64, &str)> = observed
        .iter()
        .filter(|r| !r.pending && holds_room(r))
        .map(|r| (r.service_id, r.slot, r.host_id, r.spec_hash.as_str()))
        .collect();
    let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
    for r in observed.iter().filter(holds_room) {
        let twice =
            r.pending && listed.contains(&(r.service_id, r.slot, r.host_id, r.spec_hash.as_str()));
        if let (Some(&i), false) = (ctx.host_index.get(&r.host_id), twice) {
            slots[i].take(r.cpu_millis, r.memory_bytes, r.host_port);
        }
    }

    let mut by_service: HashMap<i64, Vec<&ObservedReplica>> = HashMap::new();
    for r in observed {
        by_service.entry(r.service_id).or_default().push(r);
    }

    for s in desired {
        let replicas = by_service.remove(&s.id).unwrap_or_default();
        if scope.only.is_none_or(|o| o.contains(&s.id)) {
            plan_service(&ctx, s, &replicas, &mut slots, &mut out);
        }
    }
    if scope.only.is_some() {
        return out;
    }

    // Replicas of services that are no longer wanted.
    let mut orphans: Vec<&ObservedReplica> = by_service.into_values().flatten().collect();
    orphans.sort_by(|a, b| {
        (a.service_id, a.slot, &a.container_id).cmp(&(b.service_id, b.slot, &b.container_id))
    });
    for r in orphans {
        let untouched = matches!(
            ctx.kind(r, RestartPolicy::Never),
            Kind::Lost | Kind::Hidden | Kind::Stopping
        );
        if r.pending || untouched {
            continue;
        }
        out.actions.push(Action::Remove {
            service_id: r.service_id,
            slot: r.slot,
            host_id: r.host_id,
            container_id: r.container_id.clone(),
            reason: Reason::ServiceDeleted { slot: r.slot },
        });
    }
    out
}

mod reason;
mod service;
pub mod whatif;
pub use reason::Reason;
use service::plan_service;

#[cfg(test)]
mod tests;
