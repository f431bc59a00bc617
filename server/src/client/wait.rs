//! `--wait`: follows each changed service's rollout by polling
//! `GET /api/v1/services/{name}` until it runs its new revision, rolls back, pauses
//! or is aborted, or the time is up; a progress bar per service shows the replicas
//! on the new revision out of those wanted.

use std::time::Duration;

use domain::wire::{Health, ReplicaState, RolloutState, ServiceDetail, ServicePhase};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::http::{Api, HttpError};

/// How often a followed service is asked for.
const POLL: Duration = Duration::from_millis(500);

/// Which revision a followed service should end up running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This one (a deploy's answer names it).
    Revision(i64),
    /// The newest after this one (an apply made a new revision from it).
    After(i64),
    /// The one it has now (created or scaled: no new revision).
    Current,
}

/// A service to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub name: String,
    pub target: Target,
}

/// Why waiting ended without every service running its new revision.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// A rollout rolled back, paused or was aborted.
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    TimedOut(String),
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Where a followed service stands at one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Waiting {
        ready: u32,
        wanted: u32,
        phase: String,
    },
    Done {
        ready: u32,
    },
    Failed(String),
}

/// The revision `target` means, as the service stands now.
pub fn resolve(detail: &ServiceDetail, target: Target) -> i64 {
    let now = detail.service.revision;
    match target {
        Target::Revision(n) => n,
        Target::Current => now,
        // Newest first; a rolled-back deploy's revision is no longer the service's.
        Target::After(from) => detail
            .rollouts
            .iter()
            .map(|r| r.to_revision)
            .chain([now])
            .filter(|&r| r > from)
            .max()
            .unwrap_or(now),
    }
}

/// Where the service stands on its way to `target` (pure: one look).
pub fn standing(detail: &ServiceDetail, target: i64) -> Standing {
    let s = &detail.service;
    let rollout = detail.rollouts.iter().find(|r| r.to_revision == target);
    if let Some(r) = rollout {
        let words = match r.state {
            RolloutState::RolledBack => Some("rolled back"),
            RolloutState::Aborted => Some("aborted"),
            RolloutState::Paused => Some("paused"),
            RolloutState::Running | RolloutState::Succeeded => None,
        };
        if let Some(words) = words {
            let reason = r.reason.strip_prefix(words).unwrap_or(&r.reason);
            let reason = reason.trim_start_matches(':').trim();
            let mut line = format!("{}: the rollout to revision {target} {words}", s.name);
            if !reason.is_empty() {
                line = format!("{line}: {reason}");
            }
            return Standing::Failed(line);
        }
    }
    if s.revision != target {
        return Standing::Failed(format!(
            "{}: now at revision {}, not {target}: another deploy or rollback came first",
            s.name, s.revision
        ));
    }
    let ready = s
        .instances
        .iter()
        .filter(|i| i.current && i.state == ReplicaState::Running)
        .filter(|i| matches!(i.health, Health::Healthy | Health::None))
        .count() as u32;
    let settled = matches!(s.phase, ServicePhase::Running | ServicePhase::Stopped);
    if settled && ready >= s.replicas && rollout.is_none_or(|r| !r.state.active()) {
        return Standing::Done { ready };
    }
    Standing::Waiting {
        ready,
        wanted: s.replicas,
        // The rollout's own words say the revision ("0 of 3 replicas on revision
        // 3…"); the service's one word does not.
        phase: rollout
            .filter(|r| r.state.active() && !r.phase.is_empty())
            .map(|r| r.phase.clone())
            .unwrap_or_else(|| format!("revision {target}: {}", s.phase.as_str())),
    }
}

/// One followed service while it is followed.
struct Followed {
    name: String,
    target: Target,
    revision: Option<i64>,
    bar: ProgressBar,
    end: Option<Result<String, String>>,
}

/// Follows every service until each is done or failed, or `timeout` passes; says
/// how each ended on `report` (one line each).
pub async fn follow(
    api: &Api,
    services: &[Follow],
    timeout: Duration,
    report: &mut dyn std::io::Write,
) -> Result<(), WaitError> {
    let bars = MultiProgress::new();
    let width = services.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:<{width}}} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"
    ))
    .expect("a valid template")
    .progress_chars("=> ");
    let mut followed: Vec<Followed> = services
        .iter()
        .map(|f| Followed {
            name: f.name.clone(),
            target: f.target,
            revision: None,
            bar: bars
                .add(ProgressBar::new(0))
                .with_style(style.clone())
                .with_prefix(f.name.clone()),
            end: None,
        })
        .collect();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while followed.iter().any(|f| f.end.is_none()) {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tick.tick().await;
        for f in followed.iter_mut().filter(|f| f.end.is_none()) {
            look(api, f).await?;
        }
    }
    finish(followed, timeout, report)
}

/// One look at a followed service, its bar moved.
async fn look(api: &Api, f: &mut Followed) -> Result<(), WaitError> {
    let value = api.get(&format!("/api/v1/services/{}", f.name)).await?;
    let detail: ServiceDetail = serde_json::from_value(value).map_err(|e| HttpError::Decode {
        url: format!("{}/api/v1/services/{}", api.base(), f.name),
        cause: e.to_string(),
    })?;
    let target = *f.revision.get_or_insert_with(|| resolve(&detail, f.target));
    f.bar.set_length(detail.service.replicas as u64);
    match standing(&detail, target) {
        Standing::Waiting {
            ready,
            wanted,
            phase,
        } => {
            f.bar.set_position(ready.min(wanted) as u64);
            f.bar.set_message(phase);
        }
        Standing::Done { ready } => {
            f.bar
                .set_position(ready.min(detail.service.replicas) as u64);
            let line = format!(
                "{}: revision {target} runs on {ready}/{} replicas",
                f.name, detail.service.replicas
            );
            f.bar
                .finish_with_message(format!("revision {target}: running"));
            f.end = Some(Ok(line));
        }
        Standing::Failed(line) => {
            f.bar.abandon_with_message("failed");
            f.end = Some(Err(line));
        }
    }
    Ok(())
}

/// Reports how each service ended: success lines on `report`, and the first
/// failure (or the time-out) as the error.
fn finish(
    followed: Vec<Followed>,
    timeout: Duration,
    report: &mut dyn std::io::Write,
) -> Result<(), WaitError> {
    let mut failures = Vec::new();
    let mut late = Vec::new();
    for f in followed {
        match f.end {
            Some(Ok(line)) => {
                let _ = writeln!(report, "{line}");
            }
            Some(Err(line)) => failures.push(line),
            None => {
                f.bar.abandon();
                late.push(format!(
                    "{} at {}/{} of revision {}",
                    f.name,
                    f.bar.position(),
                    f.bar.length().unwrap_or(0),
                    f.revision.map_or("?".into(), |r| r.to_string())
                ));
            }
        }
    }
    if !failures.is_empty() {
        return Err(WaitError::Failed(failures.join("; ")));
    }
    if !late.is_empty() {
        return Err(WaitError::TimedOut(format!(
            "gave up waiting after {}: {} (see --timeout)",
            super::table::age(timeout.as_millis() as i64),
            late.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
