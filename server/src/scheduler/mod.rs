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
        // The verb agrees with the count: "1 host lacks", "2 hosts lack".
        let agree = |n: usize, one: &str, many: &str, what: String| {
            format!("{} {what}", if n == 1 { one } else { many })
        };
        let cpu = format::cpus(need.cpu_millis as i64);
        let memory = format::bytes(need.memory_bytes as i64);
        let port = need.host_port.unwrap_or_default();
        let mut parts: Vec<(usize, String)> = vec![
            (self.unreachable, "unreachable".into()),
            (self.pending, "not heard from yet".into()),
            (self.cordoned, "cordoned".into()),
            (self.draining, "draining".into()),
            (
                self.cpu,
                agree(self.cpu, "lacks", "lack", format!("{cpu} CPU free")),
            ),
            (
                self.memory,
                agree(
                    self.memory,
                    "lacks",
                    "lack",
                    format!("{memory} free memory"),
                ),
            ),
            (
                self.port,
                agree(self.port, "has", "have", format!("port {port} taken")),
            ),
        ];
        for (i, n) in self.constraints.iter().enumerate() {
            let what = need.constraints[i].to_string();
            parts.push((*n, agree(*n, "does not match", "do not match", what)));
        }
        for (i, n) in self.drivers.iter().enumerate() {
            let what = format!("volume driver {}", need.drivers[i]);
            parts.push((*n, agree(*n, "lacks", "lack", what)));
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
    let mut best: Option<(usize, Key)> = None;
    let mut tally: Option<Tally> = None;
    let mut refuse = |r: Refusal| tally.get_or_insert_with(Tally::default).add(r);
    for (i, slot) in slots.iter().enumerate() {
        if let Some(r) = fixed[i].or_else(|| misfit(need, slot)) {
            refuse(r);
            continue;
        }
        let key = key(need, slot, service_counts[i]);
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

/// How good a host is for the need: smaller is better; ties go to the lower index.
type Key = (i64, i64, i64);

fn key(need: &Need, slot: &Slot, service_count: u32) -> Key {
    let after_mem = slot.free_memory_bytes - need.memory_bytes as i64;
    let after_cpu = slot.free_cpu_millis - need.cpu_millis as i64;
    match need.strategy {
        Strategy::Spread => (i64::from(service_count), -after_mem, -after_cpu),
        Strategy::Binpack => (after_mem, after_cpu, 0),
    }
}

/// Why the host has no room for the need now, if it has none.
fn misfit(need: &Need, slot: &Slot) -> Option<Refusal> {
    let (cpu, memory) = (need.cpu_millis as i64, need.memory_bytes as i64);
    if cpu > 0 && slot.free_cpu_millis < cpu {
        return Some(Refusal::Cpu);
    }
    if memory > 0 && slot.free_memory_bytes < memory {
        return Some(Refusal::Memory);
    }
    match need.host_port {
        Some(port) if slot.ports.contains(&port) => Some(Refusal::Port),
        _ => None,
    }
}

/// Places one service's replicas one after another, each on the host
/// [`place_with`] would choose, without scanning every host each time: the hosts
/// its labels and states allow wait in a heap by [`Key`]. Within a service a host
/// only loses room (so one that does not fit is dropped for good); a host whose
/// key moved (a replica placed on it, or one of the service leaving it) is told
/// with [`Placer::changed`] and pushed again, and an entry whose key is no longer
/// the host's is skipped when it comes up.
#[derive(Debug, Default)]
pub struct Placer {
    heap: Option<std::collections::BinaryHeap<std::cmp::Reverse<(Key, usize)>>>,
}

impl Placer {
    /// The host (an index into `slots`) for the next replica, or why none fits.
    pub fn place(
        &mut self,
        need: &Need,
        slots: &[Slot],
        service_counts: &[u32],
        fixed: &[Option<Refusal>],
    ) -> Result<usize, String> {
        let heap = self.heap.get_or_insert_with(|| {
            (0..slots.len())
                .filter(|i| fixed[*i].is_none())
                .map(|i| std::cmp::Reverse((key(need, &slots[i], service_counts[i]), i)))
                .collect()
        });
        while let Some(&std::cmp::Reverse((k, i))) = heap.peek() {
            if fixed[i].is_some()
                || k != key(need, &slots[i], service_counts[i])
                || misfit(need, &slots[i]).is_some()
            {
                heap.pop();
                continue;
            }
            // Left in the heap: once placed on, `changed` pushes its new key and
            // this entry is stale; a placement not taken leaves it good.
            return Ok(i);
        }
        // No host fits: the full look says why, in words.
        place_with(need, slots, service_counts, fixed)
    }

    /// Host `i`'s key moved: placed on, or a replica of the service leaves it.
    pub fn changed(&mut self, need: &Need, slots: &[Slot], service_counts: &[u32], i: usize) {
        if let Some(heap) = &mut self.heap {
            heap.push(std::cmp::Reverse((
                key(need, &slots[i], service_counts[i]),
                i,
            )));
        }
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

    /// The placer chooses as a look at every host would, replica after replica,
    /// with replicas leaving hosts in between; and says why when none fits.
    #[test]
    fn the_placer_agrees_with_a_full_look() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let hosts: Vec<HostInfo> = (1..=40)
            .map(|i| {
                let state = [
                    HostState::Ready,
                    HostState::Ready,
                    HostState::Ready,
                    HostState::Cordoned,
                ][(i % 4) as usize];
                let zone = ["a", "b"][(i % 2) as usize];
                let mut h = host(i, state, &[("zone", zone)]);
                h.cpu_millis = 1000 * (1 + (i as u64 % 3));
                h.memory_bytes = GIB * (1 + (i as u64 % 5));
                h
            })
            .collect();
        let constraints = [constraint("zone=a").unwrap()];
        for round in 0..12 {
            let mut n = need(100 + next(400), (64 + next(512)) * MIB);
            n.strategy = if round % 2 == 0 {
                Strategy::Spread
            } else {
                Strategy::Binpack
            };
            if round % 3 == 0 {
                n.host_port = Some(8080);
            }
            if round % 4 == 1 {
                n.constraints = &constraints;
            }
            let mut slots: Vec<Slot> = hosts.iter().map(Slot::new).collect();
            // Some room already taken, by others.
            for s in slots.iter_mut() {
                let cpu = next(800);
                s.take(cpu, next(GIB / MIB) * MIB, None);
            }
            let mut counts = vec![0u32; hosts.len()];
            let fixed = fixed_refusals(&n, &slots);
            let mut placer = Placer::default();
            for step in 0..200 {
                if step % 7 == 3 {
                    // A replica of the service leaves a host (it is being replaced).
                    if let Some(i) = (0..counts.len()).find(|i| counts[*i] > 0 && next(3) == 0) {
                        counts[i] -= 1;
                        placer.changed(&n, &slots, &counts, i);
                    }
                }
                let want = place_with(&n, &slots, &counts, &fixed);
                let got = placer.place(&n, &slots, &counts, &fixed);
                assert_eq!(got, want, "round {round}, step {step}");
                let Ok(i) = got else { break };
                slots[i].take(n.cpu_millis, n.memory_bytes, n.host_port);
                counts[i] += 1;
                placer.changed(&n, &slots, &counts, i);
            }
        }
    }
}
