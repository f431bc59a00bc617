//! Reading the events Berth recorded, filtered by what the caller may see.

use domain::wire::{EventPage, EventQuery};

use super::{Ctx, OpsError};
use crate::auth::policy::Action;
use crate::state::AppState;
use crate::store::EventFilter;

/// Events, newest first: every one for admins; for members, those about hosts and
/// about their teams' services.
pub async fn list(state: &AppState, ctx: &Ctx, q: EventQuery) -> Result<EventPage, OpsError> {
    let p = ctx.allowed(Action::ReadCluster)?;
    let teams = (!p.is_admin()).then(|| p.teams.iter().map(|t| t.id).collect());
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(OpsError::Invalid("limit must be from 1 to 200".into()));
    }
    let events = state
        .store
        .list_events(&EventFilter {
            kind: q.kind.filter(|s| !s.is_empty()),
            subject: q.subject.filter(|s| !s.is_empty()),
            service_id: None,
            teams,
            before: q.before,
            limit,
        })
        .await?;
    let next_before = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(EventPage {
        events,
        next_before,
    })
}
