//! What the certificate task does next, decided from the stored certificates and
//! the hosts routes want, at `now` (pure). A host without a row gets one; an ACME
//! certificate is ordered when it has none, renewed at two thirds of its life or
//! when the CA's renewal information (ARI) says, and a failed order waits out its
//! back-off. A row no route wants any more is left to serve until it ends, then
//! forgotten; one whose host a route of another team now wants follows it. Orders
//! share the account's budget. Nothing is planned when every certificate is
//! current.

use std::collections::VecDeque;

use domain::wire::{CertSource, CertState};

use crate::store::CertRow;

/// First wait after a failed order; doubled per failure in a row.
pub const BACKOFF_MS: i64 = 5 * 60 * 1000;
/// The longest wait between attempts.
pub const BACKOFF_MAX_MS: i64 = 24 * 60 * 60 * 1000;
/// How often the CA's renewal information is asked at most.
pub const ARI_MIN_MS: i64 = 60 * 60 * 1000;
/// Orders in any hour, for every team together: Let's Encrypt allows an account
/// 300 new orders in 3 hours; a third of that leaves room for a restart's retries.
pub const ORDERS_PER_HOUR: usize = 100;
const HOUR_MS: i64 = 60 * 60 * 1000;

/// A host an ACME route wants, and the team of its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub host: String,
    pub team_id: i64,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make the row (its first order follows).
    Want(Wanted),
    /// Order a certificate (first, renewal or retry) for the row at `generation`.
    Order { host: String, generation: i64 },
    /// Ask the CA's renewal information for the row's certificate.
    AskAri { host: String, generation: i64 },
    /// The row's host is now routed by another team's service: the row is theirs.
    Reown {
        host: String,
        generation: i64,
        team_id: i64,
    },
    /// No route wants the row and it serves nothing (none yet, or ended).
    Forget { host: String, generation: i64 },
}

/// The orders started in the last hour: no more than [`ORDERS_PER_HOUR`].
#[derive(Debug, Default)]
pub struct OrderBudget(VecDeque<i64>);

impl OrderBudget {
    /// Takes one order at `now`; false when the hour's are spent.
    pub fn take(&mut self, now: i64) -> bool {
        while self.0.front().is_some_and(|&t| t <= now - HOUR_MS) {
            self.0.pop_front();
        }
        if self.0.len() >= ORDERS_PER_HOUR {
            return false;
        }
        self.0.push_back(now);
        true
    }

    /// When the next order may start (the oldest one leaves the hour).
    pub fn free_at(&self) -> Option<i64> {
        if self.0.len() < ORDERS_PER_HOUR {
            return None;
        }
        self.0.front().map(|t| t + HOUR_MS)
    }
}

/// The steps, and when to look again when nothing is due before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub wake_at: Option<i64>,
}

/// The wait after `failures` failed orders in a row (at least one).
pub fn backoff(failures: i64) -> i64 {
    let doublings = (failures.max(1) - 1).min(20) as u32;
    BACKOFF_MS
        .saturating_mul(1i64 << doublings)
        .min(BACKOFF_MAX_MS)
}

/// When a held certificate is renewed: the CA's suggestion, else two thirds into
/// its life.
pub fn renew_time(row: &CertRow) -> Option<i64> {
    let (from, to) = (row.not_before?, row.not_after?);
    Some(row.renew_at.unwrap_or(from + (to - from) * 2 / 3))
}

/// When the row's next order is due; `None` for rows Berth does not order.
fn due(row: &CertRow) -> Option<i64> {
    if row.source != CertSource::Acme {
        return None;
    }
    let retry = row.next_attempt.unwrap_or(i64::MIN);
    match (row.chain_pem.is_some(), row.state) {
        // A renewal failed: its renewal time has passed, the back-off decides.
        (true, CertState::Failed) | (false, _) => Some(retry),
        (true, _) => Some(renew_time(row)?.max(retry)),
    }
}

/// Decides what to do at `now`. `ari`: the CA offers renewal information.
pub fn plan(rows: &[CertRow], wanted: &[Wanted], ari: bool, now: i64) -> Plan {
    let mut out = Plan::default();
    let mut wake = |t: i64| out_wake(&mut out.wake_at, t);
    let (mut steps, mut renewals, mut orders) = (Vec::new(), Vec::new(), Vec::new());
    for w in wanted {
        if !rows.iter().any(|r| r.host == w.host) && !steps.contains(&Step::Want(w.clone())) {
            steps.push(Step::Want(w.clone()));
        }
    }
    for row in rows {
        // Kept and served while valid, but ordered only while a route wants it.
        let Some(w) = wanted.iter().find(|w| w.host == row.host) else {
            match unwanted(row, now) {
                Ok(step) => steps.push(step),
                Err(Some(at)) => wake(at),
                Err(None) => {}
            }
            continue;
        };
        if row.source == CertSource::Acme && row.team_id != Some(w.team_id) {
            steps.push(Step::Reown {
                host: row.host.clone(),
                generation: row.generation,
                team_id: w.team_id,
            });
            continue;
        }
        let Some(at) = due(row) else { continue };
        if at <= now {
            let order = Step::Order {
                host: row.host.clone(),
                generation: row.generation,
            };
            match row.chain_pem {
                Some(_) => renewals.push(order),
                None => orders.push(order),
            }
            continue;
        }
        wake(at);
        if ari && row.chain_pem.is_some() {
            match row.ari_next {
                Some(t) if t > now => wake(t),
                _ => steps.push(Step::AskAri {
                    host: row.host.clone(),
                    generation: row.generation,
                }),
            }
        }
    }
    // Orders last, renewals of what is served first: when the hour's budget is
    // spent, what is left waits, and a certificate in use does not wait for
    // retries of ones that never came.
    steps.extend(renewals);
    steps.extend(orders);
    out.steps = steps;
    out
}

/// What becomes of an ACME row no route wants: forgotten once it serves nothing
/// and its back-off has passed (a route asking again does not skip the wait);
/// else when to look again.
fn unwanted(row: &CertRow, now: i64) -> Result<Step, Option<i64>> {
    if row.source != CertSource::Acme {
        return Err(None);
    }
    let ends = row
        .not_after
        .filter(|&t| row.chain_pem.is_some() && t > now);
    let retry = row.next_attempt.filter(|&t| t > now);
    match ends.max(retry) {
        Some(at) => Err(Some(at)),
        None => Ok(Step::Forget {
            host: row.host.clone(),
            generation: row.generation,
        }),
    }
}

fn out_wake(slot: &mut Option<i64>, t: i64) {
    *slot = Some(slot.map_or(t, |s| s.min(t)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;
    const DAY: i64 = 86_400_000;

    fn wanted(host: &str) -> Wanted {
        Wanted {
            host: host.into(),
            team_id: 1,
        }
    }

    /// A row as stored: `held` gives it a certificate from `NOW - age` lasting 90 days.
    fn row(host: &str, state: CertState, held: Option<i64>) -> CertRow {
        CertRow {
            host: host.into(),
            team_id: Some(1),
            source: CertSource::Acme,
            state,
            chain_pem: held.map(|_| "pem".into()),
            key: None,
            issuer: None,
            names: vec![],
            not_before: held.map(|age| NOW - age),
            not_after: held.map(|age| NOW - age + 90 * DAY),
            renew_at: None,
            ari_next: None,
            problem: None,
            failures: 0,
            last_attempt: None,
            next_attempt: None,
            generation: 3,
        }
    }

    fn order(host: &str) -> Step {
        Step::Order {
            host: host.into(),
            generation: 3,
        }
    }

    #[test]
    fn decides_from_the_rows_and_the_routes() {
        let failed_new = CertRow {
            failures: 2,
            next_attempt: Some(NOW + 1000),
            ..row("f.example.com", CertState::Failed, None)
        };
        let failed_due = CertRow {
            next_attempt: Some(NOW - 1),
            ..row("g.example.com", CertState::Failed, None)
        };
        let ari_says = CertRow {
            renew_at: Some(NOW - 5),
            ari_next: Some(NOW + DAY),
            ..row("ari.example.com", CertState::Valid, Some(DAY))
        };
        let uploaded = CertRow {
            source: CertSource::Uploaded,
            ..row("up.example.com", CertState::Valid, Some(89 * DAY))
        };
        type Case = (&'static str, Vec<CertRow>, Vec<Wanted>, Vec<Step>);
        let cases: Vec<Case> = vec![
            (
                "a new route's host gets a row",
                vec![],
                vec![wanted("a.example.com")],
                vec![Step::Want(wanted("a.example.com"))],
            ),
            (
                "a row without a certificate is ordered",
                vec![row("a.example.com", CertState::Ordering, None)],
                vec![wanted("a.example.com")],
                vec![order("a.example.com")],
            ),
            (
                "a young certificate waits",
                vec![row("a.example.com", CertState::Valid, Some(DAY))],
                vec![wanted("a.example.com")],
                vec![],
            ),
            (
                "at two thirds of its life it is renewed",
                vec![row("a.example.com", CertState::Valid, Some(60 * DAY))],
                vec![wanted("a.example.com")],
                vec![order("a.example.com")],
            ),
            (
                "ARI's earlier time wins",
                vec![ari_says],
                vec![wanted("ari.example.com")],
                vec![order("ari.example.com")],
            ),
            (
                "a failure waits out its back-off",
                vec![failed_new],
                vec![wanted("f.example.com")],
                vec![],
            ),
            (
                "then it is tried again",
                vec![failed_due],
                vec![wanted("g.example.com")],
                vec![order("g.example.com")],
            ),
            (
                "no route wants it: not renewed",
                vec![row("old.example.com", CertState::Valid, Some(80 * DAY))],
                vec![],
                vec![],
            ),
            (
                "no route wants it and it serves nothing: forgotten",
                vec![
                    row("never.example.com", CertState::Failed, None),
                    row("ended.example.com", CertState::Valid, Some(91 * DAY)),
                ],
                vec![],
                vec![
                    Step::Forget {
                        host: "never.example.com".into(),
                        generation: 3,
                    },
                    Step::Forget {
                        host: "ended.example.com".into(),
                        generation: 3,
                    },
                ],
            ),
            (
                "one waiting out its back-off is kept until it has",
                vec![CertRow {
                    next_attempt: Some(NOW + 1000),
                    ..row("waits.example.com", CertState::Failed, None)
                }],
                vec![],
                vec![],
            ),
            (
                "renewals are ordered before first orders and retries",
                vec![
                    row("new.example.com", CertState::Ordering, None),
                    row("old.example.com", CertState::Valid, Some(60 * DAY)),
                ],
                vec![wanted("new.example.com"), wanted("old.example.com")],
                vec![order("old.example.com"), order("new.example.com")],
            ),
            (
                "another team's route wants the host now: the row follows",
                vec![row("a.example.com", CertState::Valid, Some(DAY))],
                vec![Wanted {
                    host: "a.example.com".into(),
                    team_id: 2,
                }],
                vec![Step::Reown {
                    host: "a.example.com".into(),
                    generation: 3,
                    team_id: 2,
                }],
            ),
            (
                "an uploaded certificate is its owner's",
                vec![uploaded],
                vec![wanted("up.example.com")],
                vec![],
            ),
        ];
        for (what, rows, wanted, want) in cases {
            assert_eq!(plan(&rows, &wanted, false, NOW).steps, want, "{what}");
        }
    }

    #[test]
    fn it_wakes_for_the_earliest_renewal_and_asks_ari_when_offered() {
        let rows = [
            row("a.example.com", CertState::Valid, Some(DAY)),
            row("b.example.com", CertState::Valid, Some(2 * DAY)),
        ];
        let w = [wanted("a.example.com"), wanted("b.example.com")];
        let p = plan(&rows, &w, false, NOW);
        assert_eq!(p.wake_at, Some(NOW - 2 * DAY + 60 * DAY));
        let p = plan(&rows, &w, true, NOW);
        assert_eq!(
            p.steps,
            [
                Step::AskAri {
                    host: "a.example.com".into(),
                    generation: 3
                },
                Step::AskAri {
                    host: "b.example.com".into(),
                    generation: 3
                }
            ]
        );
    }

    #[test]
    fn orders_keep_to_the_hours_budget() {
        let mut b = OrderBudget::default();
        for i in 0..ORDERS_PER_HOUR as i64 {
            assert!(b.take(NOW + i), "order {i}");
        }
        assert!(!b.take(NOW + 1000), "the hour's orders are spent");
        assert_eq!(b.free_at(), Some(NOW + HOUR_MS));
        assert!(!b.take(NOW + HOUR_MS - 1));
        assert!(b.take(NOW + HOUR_MS), "the first one left the hour");
        assert_eq!(b.free_at(), Some(NOW + 1 + HOUR_MS));
    }

    #[test]
    fn an_unwanted_row_wakes_the_task_when_it_ends() {
        let rows = [row("old.example.com", CertState::Valid, Some(DAY))];
        let p = plan(&rows, &[], false, NOW);
        assert_eq!(p.wake_at, Some(NOW - DAY + 90 * DAY));
        assert!(p.steps.is_empty());
    }

    #[test]
    fn backoff_doubles_and_stops_at_a_day() {
        assert_eq!(
            (1..=4).map(backoff).collect::<Vec<_>>(),
            [BACKOFF_MS, 2 * BACKOFF_MS, 4 * BACKOFF_MS, 8 * BACKOFF_MS]
        );
        assert_eq!(backoff(40), BACKOFF_MAX_MS);
        // A converged set plans nothing, twice.
        let rows = [row("a.example.com", CertState::Valid, Some(DAY))];
        let w = [wanted("a.example.com")];
        assert_eq!(plan(&rows, &w, false, NOW), plan(&rows, &w, false, NOW));
        assert!(plan(&rows, &w, false, NOW).steps.is_empty());
    }
}
