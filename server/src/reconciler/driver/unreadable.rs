//! Services whose stored row does not read: the loop goes on for every other
//! service, and one it cannot read keeps running as it was last read (the same
//! replicas and routes) or, when it was never read since Berth started, is left
//! alone (nothing of it is started or removed). Either way an event says why,
//! once, until the row reads again.

use super::*;
use crate::store::Unreadable;

impl Driver {
    /// Puts the last good read of each unreadable service in its place; returns
    /// the services with none, whose replicas the pass must leave alone.
    pub(super) fn stand_in(
        &mut self,
        rows: &mut Vec<ServiceRow>,
        unreadable: &[Unreadable],
    ) -> HashSet<i64> {
        let wanted: HashSet<i64> = rows
            .iter()
            .map(|r| r.id)
            .chain(unreadable.iter().map(|u| u.id))
            .collect();
        self.last_read.retain(|id, _| wanted.contains(id));
        for row in rows.iter() {
            let fresh = self.last_read.get(&row.id).is_some_and(|old| {
                (old.revision, old.updated_at) == (row.revision, row.updated_at)
            });
            if !fresh {
                self.last_read.insert(row.id, row.clone());
            }
        }
        let mut held = HashSet::new();
        for u in unreadable {
            match self.last_read.get(&u.id) {
                Some(row) => rows.push(row.clone()),
                None => {
                    held.insert(u.id);
                }
            }
        }
        held
    }

    /// An event for each service that became unreadable (once), and forgets
    /// those that read again.
    pub(super) async fn tell_unreadable(&mut self, state: &AppState, unreadable: &[Unreadable]) {
        let now: HashSet<i64> = unreadable.iter().map(|u| u.id).collect();
        self.unreadable_told.retain(|id| now.contains(id));
        for u in unreadable {
            if !self.unreadable_told.insert(u.id) {
                continue;
            }
            tracing::error!(service = %u.name, error = %u.why, "reconciler: a stored service does not read");
            let kept = if self.last_read.contains_key(&u.id) {
                "its replicas and routes stay as last read"
            } else {
                "its replicas are left as they run"
            };
            let service = ServiceRef {
                id: u.id,
                team_id: Some(u.team_id),
                name: u.name.clone(),
            };
            let words = format!(
                "its stored spec cannot be read ({}): {kept}, and Berth changes nothing of it \
                 until it reads again",
                u.why
            );
            events::service(state, &service, Level::Error, &words).await;
        }
    }
}
