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
}
