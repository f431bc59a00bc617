//! The plan of a stack: the services as they stand and as a file wants them in,
//! what applying the file changes out; and a placement dry-run of the replicas it
//! adds, as the scheduler would place them on the cluster now. Pure.

use std::collections::HashMap;

use domain::wire::{
    HostCount, PlacementPreview, PlanAction, PlanChange, ProxyConfig, ServicePlan, ServiceSpec,
};

use super::Wanted;
use crate::model::{HostInfo, ObservedReplica};
use crate::scheduler::{self, Need, Slot};

/// A service as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub revision: i64,
    pub replicas: u32,
    pub spec: ServiceSpec,
    pub proxy: ProxyConfig,
}

/// What applying `wanted` does to each of its services, by name.
pub fn plan(current: &[Current], wanted: &[Wanted]) -> Vec<ServicePlan> {
    let mut out: Vec<ServicePlan> = wanted
        .iter()
        .map(|w| match current.iter().find(|c| c.name == w.name) {
            None => ServicePlan {
                name: w.name.clone(),
                team: w.team.clone(),
                action: PlanAction::Create,
                revision: None,
                changes: vec![PlanChange::Create {
                    replicas: w.replicas,
                }],
                diff: Vec::new(),
                placement: None,
            },
            Some(c) => update(c, w),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn update(c: &Current, w: &Wanted) -> ServicePlan {
    let mut changes = Vec::new();
    if w.spec != c.spec {
        changes.push(if w.spec.same_replicas(&c.spec) {
            PlanChange::Policy { from: c.revision }
        } else {
            PlanChange::Revision { from: c.revision }
        });
    }
    if w.replicas != c.replicas {
        changes.push(PlanChange::Scale {
            from: c.replicas,
            to: w.replicas,
        });
    }
    if w.proxy != c.proxy {
        changes.push(PlanChange::Proxy);
    }
    ServicePlan {
        name: w.name.clone(),
        team: c.team.clone(),
        action: if changes.is_empty() {
            PlanAction::Unchanged
        } else {
            PlanAction::Update
        },
        revision: Some(c.revision),
        diff: crate::ops::services::spec_diff(&c.spec, &w.spec),
        changes,
        placement: None,
    }
}

/// Replicas to place for one service of the plan.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    /// The service's id when it exists (its replicas count for spreading).
    pub service_id: Option<i64>,
    /// Whether its running replicas go away (a new revision replaces them all).
    pub replaces: bool,
    pub count: u32,
    pub need: Need<'a>,
}

/// Where each ask's replicas would go, asks taken in turn (each sees the ones
/// before it placed), over the hosts and the replicas alive now.
pub fn dry_run(
    hosts: &[HostInfo],
    alive: &[ObservedReplica],
    asks: &[Ask],
) -> Vec<PlacementPreview> {
    let index: HashMap<i64, usize> = hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
    let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
    let replaced: Vec<i64> = asks
        .iter()
        .filter(|a| a.replaces)
        .filter_map(|a| a.service_id)
        .collect();
    for r in alive.iter().filter(|r| !replaced.contains(&r.service_id)) {
        if let Some(&i) = index.get(&r.host_id) {
            slots[i].take(r.cpu_millis, r.memory_bytes, r.host_port);
        }
    }
    asks.iter()
        .map(|ask| {
            let mut counts = vec![0u32; slots.len()];
            if !ask.replaces {
                for r in alive
                    .iter()
                    .filter(|r| Some(r.service_id) == ask.service_id)
                {
                    if let Some(&i) = index.get(&r.host_id) {
                        counts[i] += 1;
                    }
                }
            }
            place_all(ask, &mut slots, &mut counts)
        })
        .collect()
}

fn place_all(ask: &Ask, slots: &mut [Slot], counts: &mut [u32]) -> PlacementPreview {
    let fixed = scheduler::fixed_refusals(&ask.need, slots);
    let mut placed = vec![0u32; slots.len()];
    let mut preview = PlacementPreview::default();
    for _ in 0..ask.count {
        match scheduler::place_with(&ask.need, slots, counts, &fixed) {
            Ok(i) => {
                slots[i].take(
                    ask.need.cpu_millis,
                    ask.need.memory_bytes,
                    ask.need.host_port,
                );
                counts[i] += 1;
                placed[i] += 1;
            }
            Err(why) => {
                preview.unplaced += 1;
                preview.reason.get_or_insert(why);
            }
        }
    }
    preview.hosts = slots
        .iter()
        .zip(placed)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| HostCount {
            host: s.host.name.clone(),
            replicas: n,
        })
        .collect();
    preview
}

#[cfg(test)]
mod tests;
