//! The labels Berth puts on every container it makes. Observed state is read back
//! from them, so a restarted Berth adopts what runs instead of duplicating it, and
//! never touches containers it did not make.

/// Present on every container Berth made.
pub const MANAGED: &str = "berth.managed";
/// The service the container is a replica of.
pub const SERVICE: &str = "berth.service";
/// CPU the replica reserves, in millicores.
pub const RESERVE_CPU_MILLIS: &str = "berth.reserve.cpu_millis";
/// Memory the replica reserves, in bytes.
pub const RESERVE_MEMORY: &str = "berth.reserve.memory";
