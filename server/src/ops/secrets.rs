//! Team secrets: set (each time a new version), list (names, versions, where used;
//! never a value), delete; resolved into a replica's environment only when its
//! container is made. Setting a secret rolls out, health-gated like a deploy, the
//! services whose current revision takes a variable from it; the revision says why.

use domain::validate;
use domain::wire::{EnvValue, SecretSet, SecretView, ServiceSpec, SetSecretInput, TeamView};

use super::{audited, Ctx, OpsError};
use crate::auth::policy::Action;
use crate::clock;
use crate::runtime::ResolvedEnv;
use crate::secrets::{context, Plain};
use crate::state::AppState;
use crate::store::{SecretRow, ServiceRow};

async fn team(state: &AppState, id: i64) -> Result<TeamView, OpsError> {
    state
        .store
        .team(id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("there is no team {id}")))
}

/// Whether `spec` takes a variable from the secret `name`.
fn uses(spec: &ServiceSpec, name: &str) -> bool {
    spec.secret_refs().any(|(_, r)| r.secret == name)
}

fn view(s: &SecretRow, services: &[ServiceRow]) -> SecretView {
    SecretView {
        name: s.name.clone(),
        version: s.version,
        created_at_ms: s.created_at,
        updated_at_ms: s.updated_at,
        updated_by: s.updated_by.clone(),
        used_by: services
            .iter()
            .filter(|r| r.team_id == s.team_id && uses(&r.spec, &s.name))
            .map(|r| r.name.clone())
            .collect(),
    }
}

/// A team's secrets: names, versions, who changed them last, where they are used.
/// Who may not read them learns nothing of the team, not even that it exists.
pub async fn list(state: &AppState, ctx: &Ctx, team_id: i64) -> Result<Vec<SecretView>, OpsError> {
    ctx.allowed(Action::ReadSecrets(team_id))?;
    team(state, team_id).await?;
    let services = state.store.list_services().await?;
    Ok(state
        .store
        .list_secrets(team_id)
        .await?
        .iter()
        .map(|s| view(s, &services))
        .collect())
}

/// Sets a secret: its first version, or the next. The services that use it are
/// rolled out to the new version.
pub async fn set(
    state: &AppState,
    ctx: &Ctx,
    team_id: i64,
    name: &str,
    input: SetSecretInput,
) -> Result<SecretSet, OpsError> {
    let target = format!("secret:{team_id}/{}", shown(name));
    audited(state, ctx, "secret.set", &target, async {
        let author = ctx.allowed(Action::WriteSecrets(team_id))?.username.clone();
        let t = team(state, team_id).await?;
        validate::secret_name(name).map_err(OpsError::Invalid)?;
        validate::secret_value(&input.value).map_err(OpsError::Invalid)?;
        let now = clock::now_ms();
        let keyring = state.keyring.clone();
        let value = input.value;
        let version = state
            .store
            .put_secret(team_id, name, &author, now, |v| {
                keyring.seal(&context(team_id, name, v), value.as_bytes())
            })
            .await?;
        let (rolled_out, not_rolled_out) = roll_out(state, &t, name, version, &author, now).await?;
        let row = state
            .store
            .secret(team_id, name)
            .await?
            .ok_or(OpsError::Internal)?;
        let services = state.store.list_services().await?;
        Ok(SecretSet {
            secret: view(&row, &services),
            rolled_out,
            not_rolled_out,
        })
    })
    .await
}

/// A name as records may hold it: a valid one, else a placeholder (the name is
/// checked inside the use case; this keeps junk out of the audit log).
fn shown(name: &str) -> &str {
    if validate::secret_name(name).is_ok() {
        name
    } else {
        "(invalid name)"
    }
}

/// New revisions, with the secret's new version, for the team's services whose
/// current revision takes a variable from it; each rolled out like a deploy. The
/// services rolled out, and those that were not with why (the secret itself is
/// set whatever happens to them).
async fn roll_out(
    state: &AppState,
    team: &TeamView,
    name: &str,
    version: i64,
    author: &str,
    now: i64,
) -> Result<(Vec<String>, Vec<String>), OpsError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for row in state.store.list_services().await? {
        if row.team_id != team.id || !uses(&row.spec, name) {
            continue;
        }
        let mut spec = row.spec.clone();
        let mut before = None;
        for v in spec.env.values_mut() {
            if let EnvValue::Secret(r) = v {
                if r.secret == name {
                    before = before.or(r.version);
                    r.version = Some(version);
                }
            }
        }
        if spec == row.spec {
            continue;
        }
        // A spec from before today's rules is not rolled out again; it says why.
        if let Err(why) = domain::validate::service_spec(&spec) {
            let why = format!("its spec is no longer allowed ({why}); deploy one that is");
            crate::events::service(
                state,
                &crate::events::ServiceRef::from(&row),
                crate::events::Level::Warn,
                &format!("not rolled out to secret {name} version {version}: {why}"),
            )
            .await;
            skipped.push(format!("{}: {why}", row.name));
            continue;
        }
        let message = match before {
            Some(b) => format!("secret {name} changed: version {b} → {version}"),
            None => format!("secret {name} changed: version {version}"),
        };
        match super::services::roll_out(state, &row, &spec, author, &message, &message, now).await {
            Ok(_) => out.push(row.name.clone()),
            Err(e) => skipped.push(format!("{}: {e}", row.name)),
        }
    }
    Ok((out, skipped))
}

/// Deletes a secret (every version); refused while a service's current revision
/// uses it.
pub async fn delete(state: &AppState, ctx: &Ctx, team_id: i64, name: &str) -> Result<(), OpsError> {
    let target = format!("secret:{team_id}/{}", shown(name));
    audited(state, ctx, "secret.delete", &target, async {
        ctx.allowed(Action::WriteSecrets(team_id))?;
        team(state, team_id).await?;
        if state.store.secret(team_id, name).await?.is_none() {
            return Err(OpsError::NotFound(format!(
                "team {team_id} has no secret {:?}",
                shown(name)
            )));
        }
        let users: Vec<String> = state
            .store
            .list_services()
            .await?
            .into_iter()
            .filter(|r| r.team_id == team_id && uses(&r.spec, name))
            .map(|r| r.name)
            .collect();
        if !users.is_empty() {
            return Err(OpsError::Conflict(format!(
                "secret {name} is used by {}; deploy them without it first",
                users.join(", ")
            )));
        }
        state
            .store
            .delete_secret(team_id, name, clock::now_ms())
            .await?;
        Ok(())
    })
    .await
}

/// Writes the version of each secret a spec names (the current one where none is
/// given), checking that the team has it: a spec refers only to its own team's
/// secrets.
pub async fn pin(state: &AppState, team_id: i64, spec: &mut ServiceSpec) -> Result<(), OpsError> {
    for (k, v) in spec.env.iter_mut() {
        let EnvValue::Secret(r) = v else { continue };
        let Some(s) = state.store.secret(team_id, &r.secret).await? else {
            return Err(OpsError::Invalid(format!(
                "{k}: the team has no secret {:?}; add it on its Secrets page first",
                r.secret
            )));
        };
        match r.version {
            None => r.version = Some(s.version),
            Some(n) => {
                if state
                    .store
                    .secret_version(team_id, &r.secret, n)
                    .await?
                    .is_none()
                {
                    return Err(OpsError::Invalid(format!(
                        "{k}: secret {} has no version {n} (it is at version {})",
                        r.secret, s.version
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Why a replica's environment could not be made: in words for the service's
/// page, naming the variable, the secret and its version, never a value, and
/// never the database's own words (those go to the log).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{var}: secret {secret} has no version written down")]
    NoVersion { var: String, secret: String },
    #[error("{var}: secret {secret} version {version} no longer exists (deleted); deploy with a secret that does")]
    Gone {
        var: String,
        secret: String,
        version: i64,
    },
    #[error("{var}: secret {secret} version {version} cannot be read now (the server log has the details)")]
    Unreadable {
        var: String,
        secret: String,
        version: i64,
    },
    #[error("{var}: a hidden value is not a value")]
    Hidden { var: String },
}

/// A replica's environment with every value in it: written values as they are,
/// secrets opened now.
pub async fn resolve_env(
    state: &AppState,
    team_id: i64,
    spec: &ServiceSpec,
) -> Result<ResolvedEnv, ResolveError> {
    let mut out = Vec::with_capacity(spec.env.len());
    for (k, v) in &spec.env {
        let value = match v {
            EnvValue::Plain(v) => Plain(v.clone()),
            EnvValue::Secret(r) => open(state, team_id, k, r).await?,
            EnvValue::Hidden(_) => return Err(ResolveError::Hidden { var: k.clone() }),
        };
        out.push((k.clone(), value));
    }
    Ok(ResolvedEnv(out))
}

/// The value of the secret version `r` names, for the variable `var`.
async fn open(
    state: &AppState,
    team_id: i64,
    var: &str,
    r: &domain::wire::SecretRef,
) -> Result<Plain, ResolveError> {
    let (var, secret) = (var.to_string(), r.secret.clone());
    let Some(version) = r.version else {
        return Err(ResolveError::NoVersion { var, secret });
    };
    let unreadable = |cause: &dyn std::fmt::Display| {
        tracing::error!(%cause, secret = %r.secret, version, "cannot read a secret");
        ResolveError::Unreadable {
            var: var.clone(),
            secret: secret.clone(),
            version,
        }
    };
    let sealed = state
        .store
        .secret_version(team_id, &r.secret, version)
        .await
        .map_err(|e| unreadable(&e))?;
    let Some(sealed) = sealed else {
        return Err(ResolveError::Gone {
            var: var.clone(),
            secret: secret.clone(),
            version,
        });
    };
    state
        .keyring
        .open(&context(team_id, &r.secret, version), &sealed)
        .map_err(|e| unreadable(&e))
}
