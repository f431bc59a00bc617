//! Volumes: how a spec declares them, and as the volumes page shows them.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// Whose a volume is: each replica's own, or one per host shared by the service's
/// replicas there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeScope {
    /// Each slot has its own volume, and the slot stays on the host that holds it.
    #[default]
    PerReplica,
    /// One volume per host, mounted by every replica of the service there.
    Shared,
}

impl VolumeScope {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeScope::PerReplica => "per-replica",
            VolumeScope::Shared => "shared",
        }
    }
}

/// A volume a service declares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Lowercase letters, digits and `-`; part of the Docker volume's name.
    pub name: String,
    /// Where it is mounted in the container: an absolute path.
    pub path: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub scope: VolumeScope,
    /// Docker's volume driver; `local` (with `options` such as `type`, `o` and
    /// `device`, an NFS or bind-backed volume can be declared).
    #[serde(default = "defaults::volume_driver")]
    pub driver: String,
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// The volume class it is made from (an admin's: driver, options, scope);
    /// with a class, `driver` and `options` stay at their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// A volume of Berth's on a host, as the volumes page and `GET /api/v1/volumes`
/// show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeView {
    pub host: String,
    pub host_id: i64,
    /// Docker's name: `berth.<service>.<volume>` or `berth.<service>.<volume>.<slot>`.
    pub name: String,
    /// The service it belongs to; `None` once that service is deleted.
    pub service: Option<String>,
    pub service_id: i64,
    /// The volume's name in the spec.
    pub volume: String,
    /// The slot it belongs to (per-replica volumes).
    pub slot: Option<u32>,
    pub scope: VolumeScope,
    pub driver: String,
    /// Where the current spec mounts it.
    pub path: Option<String>,
    /// Space used, from the engine (unknown for hosts reached over TLS).
    pub size_bytes: Option<i64>,
    /// When the engine made it (RFC 3339).
    pub created_at: String,
    /// The replica that uses it now, e.g. `replica 2 (3f2a9c1b2d4e)`.
    pub used_by: Option<String>,
    /// Why nothing uses it, when nothing does.
    pub note: Option<String>,
    /// Whether it may be deleted now: nothing uses it and no replica will.
    pub deletable: bool,
    /// Its host does not answer and the slot waits for it: an admin may move the
    /// replica elsewhere (its data stays behind).
    #[serde(default)]
    pub stranded: bool,
    /// The class it was made from, when the spec names one.
    #[serde(default)]
    pub class: Option<String>,
    /// Where the class keeps its data: on one host, or reachable from any.
    #[serde(default)]
    pub class_scope: Option<ClassScope>,
    /// The host whose replica mounts it now (a global volume follows its replica,
    /// and the hosts it was on before still list it).
    #[serde(default)]
    pub attached_on: Option<String>,
}

/// Where a volume class keeps its data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassScope {
    /// On the host that made it: a replica's own volume keeps the replica there.
    #[default]
    Host,
    /// The driver attaches it on any host: a replica's own volume follows it.
    Global,
}

impl ClassScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassScope::Host => "host",
            ClassScope::Global => "global",
        }
    }
}

impl std::fmt::Display for ClassScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClassScope::Host => "on one host",
            ClassScope::Global => "follows its replica",
        })
    }
}

/// A volume class as an admin gives it (`POST /api/v1/volume-classes`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeClassInput {
    /// Lowercase letters, digits and `-`, as a spec's volume names it.
    pub name: String,
    /// A Docker volume driver: `local`, or a plugin's name such as `rclone`.
    pub driver: String,
    /// The driver's options. In a value, `{volume}` is replaced by the Docker
    /// volume's name, so that one class gives each volume a place of its own.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub scope: ClassScope,
    /// The teams whose services may use it (by name).
    #[serde(default)]
    pub teams: Vec<String>,
}

/// A volume class as `GET /api/v1/volume-classes` shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeClassView {
    pub name: String,
    pub driver: String,
    /// Its options (admins only: they may name where the data lives).
    pub options: Option<std::collections::BTreeMap<String, String>>,
    pub scope: ClassScope,
    pub teams: Vec<String>,
    /// Hosts whose engine lists the driver, of those registered.
    pub hosts_with_driver: u32,
    pub hosts: u32,
    /// Services whose spec names it.
    pub used_by: Vec<String>,
    pub created_at_ms: i64,
}

/// The placeholder a class option's value may hold.
pub const VOLUME_PLACEHOLDER: &str = "{volume}";

impl VolumeClassInput {
    /// The options for the Docker volume `volume`.
    pub fn options_for(
        options: &std::collections::BTreeMap<String, String>,
        volume: &str,
    ) -> std::collections::BTreeMap<String, String> {
        options
            .iter()
            .map(|(k, v)| (k.clone(), v.replace(VOLUME_PLACEHOLDER, volume)))
            .collect()
    }
}
