//! Placement: which host gets a replica. Pure: hosts with what is left on them in,
//! a host (or, when none fits, why not in words) out. Filters first, each naming
//! what it refuses; then a ranking: spread (fewest replicas of the service, then
//! most room) or binpack (least room left that still fits). Refusals are counted
//! by kind and put into words only when nothing fits; what depends on the host
//! alone (state, labels) is worked out once per service.

use std::collections::HashSet;

use domain::format;
use domain::validate::Constraint;
use domain::wire::{HostState, Strategy};

use crate::model::HostInfo;

/// A host with what placements so far have left on it.
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    pub host: &'a HostInfo,
    pub free_cpu_millis: i64,
    pub free_memory_bytes: i64,
    /// Host ports taken on the host.
    pub ports: HashSet<u16>,
}

impl<'a> Slot<'a> {
    pub fn new(host: &'a HostInfo) -> Self {
        Slot {
            host,
            free_cpu_millis: host.cpu_millis as i64,
            free_memory_bytes: host.memory_bytes as i64,
            ports: HashSet::new(),
        }
    }

    /// Counts a replica against the host.
    pub fn take(&mut self, cpu_millis: u64, memory_bytes: u64, port: Option<u16>) {
        self.free_cpu_millis -= cpu_millis as i64;
        self.free_memory_bytes -= memory_bytes as i64;
        if let Some(p) = port {
            self.ports.insert(p);
        }
    }
}

/// What one replica needs.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub host_port: Option<u16>,
    pub constraints: &'a [Constraint],
    pub strategy: Strategy,
    /// Volume drivers its volumes' classes use: a host must have each.
    pub drivers: &'a [String],
}

/// Why a host does not fit. Counted by kind while placing, put into words only when
/// nothing fits, so that placing is cheap however full the cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unreachable,
    Pending,
    Cordoned,
    Draining,
    /// The need's constraint at this index does not match.
    Constraint(usize),
    /// The host lacks the need's volume driver at this index.
    Driver(usize),
    Cpu,
    Memory,
    Port,
}

/// What fits a host for a service whatever is placed: its state and its labels.
/// Worked out once per service, not once per replica.
pub fn fixed_refusals(need: &Need, slots: &[Slot]) -> Vec<Option<Refusal>> {
    slots
        .iter()
        .map(|slot| {
            match slot.host.state {
                HostState::Unreachable => return Some(Refusal::Unreachable),
                HostState::Pending => return Some(Refusal::Pending),
                HostState::Cordoned => return Some(Refusal::Cordoned),
                HostState::Draining => return Some(Refusal::Draining),
                HostState::Ready => {}
            }
            need.constraints
                .iter()
                .position(|c| !c.matches(&slot.host.labels))
                .map(Refusal::Constraint)
                .or_else(|| {
                    need.drivers
                        .iter()
                        .position(|d| !slot.host.volume_drivers.contains(d))
                        .map(Refusal::Driver)
                })
        })
        .collect()
}

fn bump(counts: &mut Vec<usize>, i: usize) {
    if counts.len() <= i {
        counts.resize(i + 1, 0);
    }
    counts[i] += 1;
}

/// Refusals so far, by kind.
#[derive(Default)]
struct Tally {
    unreachable: usize,
    pending: usize,
    cordoned: usize,
    draining: usize,
    cpu: usize,
    memory: usize,
    port: usize,
    constraints: Vec<usize>,
    drivers: Vec<usize>,
}

impl Tally {
    fn add(&mut self, r: Refusal) {
        match r {
            Refusal::Unreachable => self.unreachable += 1,
            Refusal::Pending => self.pending += 1,
            Refusal::Cordoned => self.cordoned += 1,
            Refusal::Draining => self.draining += 1,
            Refusal::Cpu => self.cpu += 1,
            Refusal::Memory => self.memory += 1,
            Refusal::Port => self.port += 1,
            Refusal::Constraint(i) => bump(&mut self.constraints, i),
            Refusal::Driver(i) => bump(&mut self.drivers, i),
        }
    }

    /// "2 hosts lack 512 MiB free memory, 1 host cordoned": most common first.
    fn words(&self, need: &Need) -> String {
        let mut parts: Vec<(usize, String)> = vec![
            (self.unreachable, "unreachable".into()),
            (self.pending, "not heard from yet".into()),
            (self.cordoned, "cordoned".into()),
            (self.draining, "draining".into()),
            (
                self.cpu,
                format!("lack {} CPU free", format::cpus(need.cpu_millis as i64)),
            ),
            (
                self.memory,
                format!(
                    "lack {} free memory",
                    format::bytes(need.memory_bytes as i64)
                ),
            ),
            (
                self.port,
                format!("have port {} taken", need.host_port.unwrap_or_default()),
            ),
        ];
        for (i, n) in self.constraints.iter().enumerate() {
            parts.push((*n, format!("do not match {}", need.constraints[i])));
        }
        for (i, n) in self.drivers.iter().enumerate() {
            parts.push((*n, format!("lack volume driver {}", need.drivers[i])));
        }
        parts.retain(|(n, _)| *n > 0);
        parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        parts
            .into_iter()
            .map(|(n, why)| format!("{n} host{} {why}", if n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The host (an index into `slots`) for one replica, given how many replicas of the
/// service each host has; or why no host fits.
pub fn place(need: &Need, slots: &[Slot], service_counts: &[u32]) -> Result<usize, String> {
    place_with(need, slots, service_counts, &fixed_refusals(need, slots))
}

/// [`place`] with the refusals that do not change while placing a service's
/// replicas worked out already ([`fixed_refusals`]).
pub fn place_with(
    need: &Need,
    slots: &[Slot],
    service_counts: &[u32],
    fixed: &[Option<Refusal>],
) -> Result<usize, String> {
    let cpu = need.cpu_millis as i64;
    let memory = need.memory_bytes as i64;
    let mut best: Option<(usize, (i64, i64, i64))> = None;
    let mut tally: Option<Tally> = None;
    let mut refuse = |r: Refusal| tally.get_or_insert_with(Tally::default).add(r);
    for (i, slot) in slots.iter().enumerate() {
        if let Some(r) = fixed[i] {
            refuse(r);
            continue;
        }
        if cpu > 0 && slot.free_cpu_millis < cpu {
            refuse(Refusal::Cpu);
            continue;
        }
        if memory > 0 && slot.free_memory_bytes < memory {
            refuse(Refusal::Memory);
            continue;
        }
        if let Some(port) = need.host_port {
            if slot.ports.contains(&port) {
                refuse(Refusal::Port);
                continue;
            }
        }
        let after_mem = slot.free_memory_bytes - memory;
        let after_cpu = slot.free_cpu_millis - cpu;
        // Smaller is better.
        let key = match need.strategy {
            Strategy::Spread => (service_counts[i] as i64, -after_mem, -after_cpu),
            Strategy::Binpack => (after_mem, after_cpu, 0),
        };
        if best.as_ref().is_none_or(|(_, k)| key < *k) {
            best = Some((i, key));
        }
    }
    match best {
        Some((i, _)) => Ok(i),
        None if slots.is_empty() => Err("no host is registered".into()),
        None => Err(tally.unwrap_or_default().words(need)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::validate::constraint;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn host(id: i64, state: HostState, labels: &[(&str, &str)]) -> HostInfo {
        HostInfo {
            id,
            name: format!("h{id}"),
            state,
            unreachable_since_ms: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpu_millis: 2000,
            memory_bytes: GIB,
            volume_drivers: vec!["local".into()],
        }
    }

    fn need(cpu: u64, mem: u64) -> Need<'static> {
        Need {
            cpu_millis: cpu,
            memory_bytes: mem,
            host_port: None,
            constraints: &[],
            strategy: Strategy::Spread,
            drivers: &[],
        }
    }

    #[test]
    fn spread_prefers_the_host_with_fewest_replicas_of_the_service() {
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
            host(3, HostState::Ready, &[]),
        ];
        let slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        assert_eq!(place(&need(0, 0), &slots, &[2, 1, 2]), Ok(1));
        assert_eq!(
            place(&need(0, 0), &slots, &[0, 0, 0]),
            Ok(0),
            "ties go to the first"
        );
    }

    #[test]
    fn spread_then_room() {
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
        ];
        let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        slots[0].take(0, 512 * MIB, None);
        assert_eq!(place(&need(0, 0), &slots, &[1, 1]), Ok(1));
    }

    #[test]
    fn binpack_fills_the_fullest_host_that_fits() {
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
            host(3, HostState::Ready, &[]),
        ];
        let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        slots[0].take(0, 900 * MIB, None);
        slots[1].take(0, 600 * MIB, None);
        let n = Need {
            strategy: Strategy::Binpack,
            ..need(0, 200 * MIB)
        };
        // Host 1 has 124 MiB left: too little. Host 2 is the fullest that fits.
        assert_eq!(place(&n, &slots, &[5, 1, 0]), Ok(1));
    }

    #[test]
    fn constraints_filter_hosts() {
        let hosts = [
            host(1, HostState::Ready, &[("zone", "a"), ("gpu", "")]),
            host(2, HostState::Ready, &[("zone", "a")]),
            host(3, HostState::Ready, &[("zone", "b")]),
        ];
        let slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        let cs = [constraint("zone=a").unwrap(), constraint("!gpu").unwrap()];
        let n = Need {
            constraints: &cs,
            ..need(0, 0)
        };
        assert_eq!(place(&n, &slots, &[0, 9, 0]), Ok(1));
    }

    #[test]
    fn fixed_host_ports_allow_one_replica_per_host() {
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
        ];
        let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        slots[0].take(0, 0, Some(8080));
        let n = Need {
            host_port: Some(8080),
            ..need(0, 0)
        };
        assert_eq!(place(&n, &slots, &[0, 5]), Ok(1));
        slots[1].take(0, 0, Some(8080));
        assert_eq!(
            place(&n, &slots, &[0, 0]),
            Err("2 hosts have port 8080 taken".into())
        );
    }

    #[test]
    fn when_nothing_fits_the_reason_counts_hosts_by_why() {
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
            host(3, HostState::Cordoned, &[]),
            host(4, HostState::Unreachable, &[]),
        ];
        let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        slots[0].take(0, 800 * MIB, None);
        slots[1].take(0, 700 * MIB, None);
        assert_eq!(
            place(&need(0, 512 * MIB), &slots, &[0; 4]),
            Err("2 hosts lack 512 MiB free memory, 1 host cordoned, 1 host unreachable".into())
        );
        assert_eq!(
            place(&need(2500, 0), &slots, &[0; 4]),
            Err("2 hosts lack 2.5 CPU free, 1 host cordoned, 1 host unreachable".into())
        );
        assert_eq!(
            place(&need(0, 0), &[], &[]),
            Err("no host is registered".into())
        );
        let cs = [constraint("zone=z").unwrap()];
        let n = Need {
            constraints: &cs,
            ..need(0, 0)
        };
        assert_eq!(
            place(&n, &slots[..2], &[0, 0]),
            Err("2 hosts do not match zone=z".into())
        );
    }

    #[test]
    fn hosts_lacking_a_volume_driver_are_filtered_out_by_name() {
        let mut with = host(3, HostState::Ready, &[]);
        with.volume_drivers.push("rclone".into());
        let hosts = [
            host(1, HostState::Ready, &[]),
            host(2, HostState::Ready, &[]),
            with,
        ];
        let slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        let drivers = ["rclone".to_string()];
        let n = Need {
            drivers: &drivers,
            ..need(0, 0)
        };
        assert_eq!(place(&n, &slots, &[0; 3]), Ok(2));
        assert_eq!(
            place(&n, &slots[..2], &[0; 2]),
            Err("2 hosts lack volume driver rclone".into())
        );
        // `local` is every engine's.
        let local = ["local".to_string()];
        let n = Need {
            drivers: &local,
            ..need(0, 0)
        };
        assert_eq!(place(&n, &slots[..2], &[0; 2]), Ok(0));
    }

    #[test]
    fn draining_and_pending_hosts_take_nothing() {
        let hosts = [
            host(1, HostState::Draining, &[]),
            host(2, HostState::Pending, &[]),
        ];
        let slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
        assert_eq!(
            place(&need(0, 0), &slots, &[0, 0]),
            Err("1 host draining, 1 host not heard from yet".into())
        );
    }
}
