//! Stacks: a team's services written as one file (Berth's own or a Compose file),
//! the plan that says what applying it would change, and the apply guarded by it.

#[allow(unused_imports)]
use super::*;
use serde::{Deserialize, Serialize};

/// The first line of a Berth stack file names its kind, so that a Compose file is
/// never read as one.
pub const STACK_KIND: &str = "berth/stack";

/// A Berth stack file: services as the API knows them. Export writes one, plan and
/// apply read one (or a Compose file).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// Always `berth/stack`.
    pub kind: String,
    /// The team its services belong to, unless a service names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// By name.
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, StackService>,
}

/// One service of a stack file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackService {
    /// Its team, when not the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub replicas: u32,
    pub spec: ServiceSpec,
    #[serde(default)]
    pub proxy: ProxyConfig,
}

/// How a file is read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackFormat {
    /// `kind: berth/stack` on top: a Berth stack file; otherwise Compose.
    #[default]
    Auto,
    Stack,
    Compose,
}

/// `POST /api/v1/stacks/plan`
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackPlanInput {
    /// The file's text (YAML; JSON is YAML too).
    pub file: String,
    #[serde(default)]
    pub format: StackFormat,
    /// The team for a Compose file's services (a stack file names its own; when
    /// both are given they must agree).
    #[serde(default)]
    pub team: Option<String>,
    /// Files the main file refers to (a Compose `env_file`), by the path written
    /// in it: the CLI sends them from beside the file, the page from an upload.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
}

/// `POST /api/v1/stacks/apply`: the file again, and what its plan saw.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackApplyInput {
    pub file: String,
    #[serde(default)]
    pub format: StackFormat,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
    /// The plan's `guard`: each service's revision when the plan was made (none for
    /// a service that did not exist). Anything else now is 409.
    pub guard: std::collections::BTreeMap<String, Option<i64>>,
    /// Why, for the revision history.
    #[serde(default)]
    pub message: Option<String>,
}

/// What applying a file does to one service.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    /// It does not exist yet.
    Create,
    /// It exists and something about it changes.
    Update,
    /// It is as the file says.
    Unchanged,
}

impl PlanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Unchanged => "unchanged",
        }
    }
}

/// One change to a service, as a plan lists it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlanChange {
    /// A new service with this many replicas.
    Create {
        replicas: u32,
    },
    /// A new revision, rolled out (the field diff is the plan's `diff`).
    Revision {
        from: i64,
    },
    /// Only the update policy changes: a new revision that replaces no replica.
    Policy {
        from: i64,
    },
    Scale {
        from: u32,
        to: u32,
    },
    /// Routes, balancing or exposure on the proxy.
    Proxy,
}

impl std::fmt::Display for PlanChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanChange::Create { replicas } => write!(
                f,
                "create with {replicas} replica{}",
                if *replicas == 1 { "" } else { "s" }
            ),
            PlanChange::Revision { from } => {
                write!(f, "new revision after {from}, rolled out")
            }
            PlanChange::Policy { from } => write!(
                f,
                "new revision after {from} (update policy only: no replica is replaced)"
            ),
            PlanChange::Scale { from, to } => write!(f, "scale {from} → {to}"),
            PlanChange::Proxy => f.write_str("routes on the proxy change"),
        }
    }
}

/// Where a plan's new replicas would go, as placement sees the cluster now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementPreview {
    /// Host name and how many new replicas it would take.
    pub hosts: Vec<HostCount>,
    /// New replicas no host takes.
    pub unplaced: u32,
    /// Why not, in words ("2 hosts lack memory, 1 host is cordoned").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A host and a count.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCount {
    pub host: String,
    pub replicas: u32,
}

/// What applying the file does to one of its services.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePlan {
    pub name: String,
    pub team: String,
    pub action: PlanAction,
    /// Its revision now; none when it does not exist.
    pub revision: Option<i64>,
    pub changes: Vec<PlanChange>,
    /// Each spec field that changes, as `path: old → new` (secret values never).
    #[serde(default)]
    pub diff: Vec<String>,
    /// Where the replicas it adds (or, for a new revision, all of them) would go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementPreview>,
}

/// What Berth does with a key of the file it does not take as it is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyVerdict {
    /// Left out; the rest applies.
    Ignored,
    /// Taken, but not quite as Compose means it (the reason says how).
    Adapted,
    /// The file cannot be applied while it has this key.
    Refused,
}

impl KeyVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyVerdict::Ignored => "ignored",
            KeyVerdict::Adapted => "adapted",
            KeyVerdict::Refused => "refused",
        }
    }
}

/// A key of the file Berth ignores or refuses, and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyNote {
    /// Where: `services.web.build`, `networks`.
    pub key: String,
    pub verdict: KeyVerdict,
    pub reason: String,
}

/// `POST /api/v1/stacks/plan`'s answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackPlan {
    /// How the file was read (`stack` or `compose`).
    pub format: StackFormat,
    pub services: Vec<ServicePlan>,
    /// Keys ignored or refused, with the reason.
    pub notes: Vec<KeyNote>,
    /// Services that change.
    pub changes: u32,
    /// False while a key is refused: apply answers 422.
    pub appliable: bool,
    /// Send it back with the apply: each service's revision now.
    pub guard: std::collections::BTreeMap<String, Option<i64>>,
}

/// `POST /api/v1/stacks/apply`'s answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackApplied {
    /// What was done, as the plan said it.
    pub services: Vec<ServicePlan>,
    pub changes: u32,
}
