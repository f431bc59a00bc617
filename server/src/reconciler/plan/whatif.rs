//! What-if: what losing some hosts would do to the services, answered before it
//! happens by the planner the reconciler runs. Pure: the same inputs as `plan()`
//! and the hosts to lose in; which replicas would move where, which could not be
//! placed and why, and which slots would wait for volumes left on a lost host out.
//!
//! A lost host is taken as one that stopped answering longer ago than the grace:
//! the moment the reconciler moves its replicas. What the plan would do then to
//! slots that had a replica there is the answer; everything else it would do
//! anyway (a rollout under way, a crashed replica) is not part of it. Replicas
//! being stopped count as gone (the loop waits for their room quietly).
//!
//! One what-if plans every service, as the loop would ([`Planned::All`]); the
//! N-1 check, one what-if per host, plans only the services a host held
//! ([`Planned::Affected`]): at thousands of services most of a plan's cost, and
//! the same answer unless other services start replicas in the same pass.

use std::collections::{BTreeMap, BTreeSet};

use domain::wire::HostState;

use crate::model::{DesiredService, HostInfo, ObservedReplica, Problem};
use crate::reconciler::plan::{self, Action, Scope, Settings};

/// How much of the cluster a what-if plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// Every service, as the loop's pass would.
    All,
    /// Only the services that lose a replica.
    Affected,
}

/// A replica that would start on another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub service_id: i64,
    pub slot: u32,
    pub from: i64,
    pub to: i64,
}

/// A replica that would be lost and not started anywhere, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub service_id: i64,
    pub slot: u32,
    pub from: i64,
    pub why: Problem,
}

/// A slot whose own volumes are on a lost host: it would wait for that host
/// rather than start elsewhere on empty volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stranded {
    pub service_id: i64,
    pub slot: u32,
    pub host: i64,
    pub volumes: Vec<String>,
}

/// What losing the hosts would do, in service and slot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consequences {
    pub moves: Vec<Move>,
    pub unplaced: Vec<Unplaced>,
    pub stranded: Vec<Stranded>,
}

impl Consequences {
    /// Every service would keep all of its replicas.
    pub fn whole(&self) -> bool {
        self.unplaced.is_empty() && self.stranded.is_empty()
    }

    /// How many moves, replicas not placed and slots stranded concern the
    /// services `keep` says yes to (the N-1 check's counts, per reader, without a
    /// copy of the answer).
    pub fn counts(&self, keep: impl Fn(i64) -> bool) -> (u32, u32, u32) {
        let n = |ids: &mut dyn Iterator<Item = i64>| ids.filter(|id| keep(*id)).count() as u32;
        (
            n(&mut self.moves.iter().map(|m| m.service_id)),
            n(&mut self.unplaced.iter().map(|u| u.service_id)),
            n(&mut self.stranded.iter().map(|s| s.service_id)),
        )
    }

    /// Keeps what concerns the services `keep` says yes to.
    pub fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        self.moves.retain(|m| keep(m.service_id));
        self.unplaced.retain(|u| keep(u.service_id));
        self.stranded.retain(|s| keep(s.service_id));
    }
}

/// What losing `lose` (host ids) would do to `desired`, given what runs where.
pub fn what_if(
    desired: &[DesiredService],
    observed: &[ObservedReplica],
    hosts: &[HostInfo],
    lose: &BTreeSet<i64>,
    now: i64,
    settings: Settings,
    planned: Planned,
) -> Consequences {
    // The slots with a replica on a lost host, and which host.
    let wanted: BTreeMap<i64, u32> = desired.iter().map(|d| (d.id, d.replicas)).collect();
    let hit: BTreeMap<(i64, u32), i64> = observed
        .iter()
        .filter(|r| lose.contains(&r.host_id) && r.status.alive() && !r.stopping)
        .filter(|r| wanted.get(&r.service_id).is_some_and(|n| r.slot <= *n))
        .map(|r| ((r.service_id, r.slot), r.host_id))
        .collect();
    if hit.is_empty() {
        return Consequences::default();
    }
    let gone = lost(hosts, lose, now, settings);
    let affected: BTreeSet<i64> = hit.keys().map(|(service_id, _)| *service_id).collect();
    let scope = Scope {
        only: (planned == Planned::Affected).then_some(&affected),
        stopped_gone: true,
    };
    let p = plan::plan_some(desired, observed, &gone, now, settings, scope);
    let mut out = Consequences::default();
    for a in &p.actions {
        if let Action::Start {
            service_id,
            slot,
            host_id,
            ..
        } = a
        {
            if let Some(&from) = hit.get(&(*service_id, *slot)) {
                out.moves.push(Move {
                    service_id: *service_id,
                    slot: *slot,
                    from,
                    to: *host_id,
                });
            }
        }
    }
    let by_id: BTreeMap<i64, &DesiredService> = desired.iter().map(|d| (d.id, d)).collect();
    for (service_id, problems) in &p.problems {
        for problem in problems {
            let slot = problem.slot();
            let Some(&from) = hit.get(&(*service_id, slot)) else {
                continue;
            };
            match problem {
                Problem::WaitsForHome { .. } => out.stranded.push(Stranded {
                    service_id: *service_id,
                    slot,
                    host: by_id[service_id].homes.get(&slot).copied().unwrap_or(from),
                    volumes: by_id[service_id]
                        .pinned_volumes()
                        .map(str::to_string)
                        .collect(),
                }),
                _ => out.unplaced.push(Unplaced {
                    service_id: *service_id,
                    slot,
                    from,
                    why: problem.clone(),
                }),
            }
        }
    }
    out.moves.sort_by_key(|m| (m.service_id, m.slot));
    out.unplaced.sort_by_key(|u| (u.service_id, u.slot));
    out.stranded.sort_by_key(|s| (s.service_id, s.slot));
    out
}

/// The hosts as they would be: the lost ones silent for longer than the grace.
fn lost(hosts: &[HostInfo], lose: &BTreeSet<i64>, now: i64, settings: Settings) -> Vec<HostInfo> {
    hosts
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if lose.contains(&h.id) {
                h.state = HostState::Unreachable;
                h.unreachable_since_ms = Some(now - settings.host_grace_ms);
            }
            h
        })
        .collect()
}
