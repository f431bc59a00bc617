//! Reading the audit log (admins only).

use domain::wire::{AuditPage, AuditQuery};

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::state::AppState;
use crate::store::AuditFilter;

pub async fn list(state: &AppState, ctx: &Ctx, q: AuditQuery) -> Result<AuditPage, OpsError> {
    ctx.allowed(Action::ReadAudit)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(OpsError::Invalid("limit must be from 1 to 200".into()));
    }
    let empty_to_none = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let entries = state
        .store
        .list_audit(&AuditFilter {
            actor: empty_to_none(q.actor),
            action: empty_to_none(q.action),
            target: empty_to_none(q.target),
            result: q.result,
            before: q.before,
            limit,
        })
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(AuditPage {
        entries,
        next_before,
    })
}
