//! Leadership: several Berth instances on one database, one of them the leader.
//! Every instance serves the dashboard, the API and the proxy, and keeps its
//! hosts' heartbeats (for its pages); the leader alone runs the loops that change
//! things (the reconciler, its health checks, the host pools, the certificates)
//! and records the hosts' events. It holds a lease in the database (10 s,
//! renewed every 2 s) whose term is a fencing number: its loops write through a
//! store that checks the term in each write's transaction, and act on engines
//! and providers only while the lease is theirs by their own monotonic clock, so
//! a leader that was paused past its lease changes nothing when it wakes. The
//! leader publishes its route table and the services' states (`publish.rs`); the
//! others follow them (`follow.rs`: PostgreSQL's LISTEN/NOTIFY and a poll).
//!
//! The lease decision is pure ([`decide`]); [`run`] is the election loop. Tests
//! that start the loops by hand use a [`Leadership::solo`], which always leads;
//! `run` (the `berth` binary) puts an elected one in its state first.

mod follow;
mod publish;

pub use follow::{follow, forward_writes};
pub use publish::{followers_drained, offer, Published};

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{self, Level};
use crate::state::AppState;
use crate::store::{Fence, Lease, StoreError, LEADER_CHANNEL};

/// How long a lease runs without a renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the leader renews it, and the others try to take it.
pub const RENEW: Duration = Duration::from_secs(2);
/// A leader stops believing in its lease this long before the database would
/// let it go (a renewal's own round trip, a slow clock).
const MARGIN: Duration = Duration::from_secs(1);
/// How long the leader's loops get to stop when it steps down.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Instances not seen this long are forgotten.
const FORGET_MS: i64 = 24 * 3600 * 1000;

/// This instance's part in leadership, shared through `AppState`.
pub struct Leadership {
    /// This process's id (a new one at every start).
    pub instance: String,
    fence: Arc<Fence>,
    /// Until when this instance may act as leader (its own monotonic clock).
    until: Mutex<Option<Instant>>,
    /// Tests' loops, started by hand, always lead.
    solo: bool,
    /// Held while a follower takes a published state in, and while a new
    /// leader clears what it followed: the two never interleave.
    taking: Mutex<()>,
    /// The leader's latest state, numbered, for its publisher.
    offered: watch::Sender<Option<(u64, Arc<Published>)>>,
    /// The number of the latest offer.
    last_offer: AtomicU64,
    /// The latest offer written for the followers.
    written: watch::Sender<publish::Written>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("instance", &self.instance)
            .field("term", &self.fence.term())
            .finish()
    }
}

impl Leadership {
    /// An instance that takes part in elections; it leads once it holds the lease.
    pub fn elected() -> Leadership {
        Leadership::new(new_instance_id(), false)
    }

    /// An instance that always leads (tests that start the loops themselves).
    pub fn solo() -> Leadership {
        Leadership::new(new_instance_id(), true)
    }

    fn new(instance: String, solo: bool) -> Leadership {
        Leadership {
            fence: Arc::new(Fence::new(&instance)),
            instance,
            until: Mutex::new(None),
            solo,
            taking: Mutex::new(()),
            offered: watch::channel(None).0,
            last_offer: AtomicU64::new(0),
            written: watch::channel(publish::Written::default()).0,
        }
    }

    /// Whether this instance may act as leader now: it holds the lease and, by
    /// its own clock, the lease has not run out.
    pub fn leads(&self) -> bool {
        if self.solo {
            return true;
        }
        let until = *self.until.lock().unwrap_or_else(PoisonError::into_inner);
        self.fence.term() != 0 && until.is_some_and(|u| Instant::now() < u)
    }

    fn hold(&self, term: i64, until: Instant) {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner) = Some(until);
        self.fence.set(term);
    }

    fn let_go(&self) {
        self.fence.set(0);
        *self.until.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

fn new_instance_id() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 6];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `me`, leading with `held` (0: not leading), takes or keeps `lease`,
/// and with which term: kept with the same term while it runs; taken with a new
/// term when it is free or has run out (also by its last holder: a leader that
/// let its lease run out starts over, its loops' memory being stale).
pub fn decide(lease: &Lease, me: &str, held: i64) -> Option<i64> {
    match lease.current_holder() {
        Some(h) if h == me && held != 0 && held == lease.term => Some(held),
        Some(_) => None,
        None => Some(lease.term + 1),
    }
}

/// The leader's loops while it leads: stopped (and waited for) when it does not.
struct Leading {
    term: i64,
    /// The fence of this term's store: closed (term 0) when it ends, so a task
    /// of this term that outlived it writes nothing even if this instance leads
    /// again under a new term.
    fence: Arc<Fence>,
    token: CancellationToken,
    tasks: JoinSet<()>,
}

impl Leading {
    /// Stops the loops; whether they all stopped within [`STOP_WAIT`] (the rest
    /// are aborted, perhaps in the middle of an action on an engine).
    async fn stop(mut self) -> bool {
        self.fence.set(0);
        self.token.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_WAIT, all).await.is_err() {
            tracing::warn!("the leader's loops did not stop within {STOP_WAIT:?}; aborted");
            self.tasks.abort_all();
            return false;
        }
        true
    }
}

/// Starts the leader's loops on a store fenced by this instance's term. What it
/// followed of the last leader's replicas being made is dropped first: only the
/// task that makes a replica clears its entry, and those tasks were the other
/// leader's.
fn start_leading(state: &AppState, term: i64) -> Leading {
    {
        let _taking = state
            .leadership
            .taking
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.reconciler.forget_pending();
    }
    let fence = Arc::new(Fence::new(&state.leadership.instance));
    fence.set(term);
    let fenced = AppState {
        store: state.store.fenced(fence.clone()),
        ..state.clone()
    };
    let token = state.shutdown.child_token();
    let mut tasks = JoinSet::new();
    for task in crate::leading_tasks(&fenced, &token) {
        tasks.spawn(task);
    }
    tasks.spawn(publish::publisher(fenced.clone(), term, token.clone()));
    tasks.spawn(follow::hear_writes(fenced, token.clone()));
    Leading {
        term,
        fence,
        token,
        tasks,
    }
}

/// The election loop: every [`RENEW`], note this instance, then take or keep the
/// lease when it is free or ours; start the leader's loops on winning it and stop
/// them on losing it. At shutdown the leader stops its loops and lets the lease
/// go at once, so another takes it without waiting for it to run out.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut leading: Option<Leading> = None;
    let mut listener = None;
    let mut renew = every(RENEW);
    loop {
        if listener.is_none() {
            listener = listen(&state, LEADER_CHANNEL).await;
        }
        // The lease first: the rest waits on nothing it needs.
        leading = turn(&state, leading).await;
        note_instance(&state, leading.is_some()).await;
        tokio::select! {
            _ = token.cancelled() => break,
            _ = renew.tick() => {}
            _ = next(&mut listener) => {}
        }
    }
    if let Some(l) = leading.take() {
        step_down(&state, l, "it stopped").await;
    }
    let me = &state.leadership.instance;
    if let Err(e) = bounded(state.store.forget_instance(me)).await {
        tracing::warn!(error = %e, "cannot take this instance off the list");
    }
}

/// Stops the loops and lets the lease go at once, telling the others; a loop
/// that had to be aborted may have left an action half done, so then the lease
/// is left to run out instead.
async fn step_down(state: &AppState, l: Leading, why: &str) {
    let (me, term) = (&state.leadership.instance, l.term);
    state.leadership.let_go();
    if !l.stop().await {
        return;
    }
    match bounded(state.store.release_lease(me, term)).await {
        Ok(()) => {
            let words = format!("instance {me} let the lead go as {why} (term {term})");
            leadership_event(state, &words).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot let the lease go; another instance takes it when it runs out")
        }
    }
}

/// A store call given at most [`RENEW`]: the election never waits on a database
/// that does not answer (the lease runs out meanwhile, as it should).
async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, String> {
    match tokio::time::timeout(RENEW, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the database did not answer within {} s",
            RENEW.as_secs()
        )),
    }
}

/// One turn of the election: returns the loops running after it.
async fn turn(state: &AppState, leading: Option<Leading>) -> Option<Leading> {
    let me = state.leadership.instance.as_str();
    let held = leading.as_ref().map_or(0, |l| l.term);
    let sent = Instant::now();
    let lease_ms = LEASE.as_millis() as i64;
    let claim = state
        .store
        .claim_lease(|l| decide(l, me, held), me, lease_ms);
    match bounded(claim).await {
        Ok((lease, true)) if lease.term == held => {
            state.leadership.hold(lease.term, sent + LEASE - MARGIN);
            leading
        }
        Ok((lease, true)) => {
            if let Some(old) = leading {
                state.leadership.let_go();
                old.stop().await;
            }
            state.leadership.hold(lease.term, sent + LEASE - MARGIN);
            // The hosts as stored now: some may have come through others.
            match tokio::time::timeout(RENEW, crate::ops::hosts::sync(state)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the hosts"),
                Err(_) => tracing::warn!("the hosts did not read in time"),
            }
            let words = format!(
                "instance {me} ({}) leads now (term {})",
                state.info.listen, lease.term
            );
            leadership_event(state, &words).await;
            Some(start_leading(state, lease.term))
        }
        Ok((lease, false)) => {
            if let Some(old) = leading {
                state.leadership.let_go();
                old.stop().await;
                let who = lease.current_holder().unwrap_or("no instance");
                let words = format!("instance {me} no longer leads: {who} does");
                leadership_event(state, &words).await;
            }
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or renew the leader's lease");
            match leading {
                Some(old) if !state.leadership.leads() => {
                    state.leadership.let_go();
                    old.stop().await;
                    let words = format!(
                        "instance {me} stopped leading: its lease could not be renewed ({e})"
                    );
                    leadership_event(state, &words).await;
                    None
                }
                other => other,
            }
        }
    }
}

/// Records a change of leader (an admin's event, and the log), given at most
/// [`RENEW`] so the election goes on.
async fn leadership_event(state: &AppState, words: &str) {
    let subject = events::Subject::Instance(&state.leadership.instance);
    let record = events::record(state, subject, Level::Info, words);
    if tokio::time::timeout(RENEW, record).await.is_err() {
        tracing::warn!("{words} (not recorded: the database did not answer in time)");
    }
}

/// Whether this instance may act on an engine or a provider now: it leads by
/// its own clock and, asked at this moment, by the database's (a machine that
/// was suspended has a monotonic clock that stood still).
pub async fn may_act(state: &AppState) -> bool {
    if !state.leadership.leads() {
        return false;
    }
    match bounded(state.store.holds_lease()).await {
        Ok(holds) => holds,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask whether this instance still leads");
            false
        }
    }
}

/// Notes this instance as running; the leader also forgets those gone for a
/// day (one instance is enough to do it).
async fn note_instance(state: &AppState, leads: bool) {
    let (info, me) = (&state.info, &state.leadership.instance);
    let noted = state
        .store
        .note_instance(me, &info.listen, info.version, info.started_at_ms);
    if let Err(e) = bounded(noted).await {
        tracing::warn!(error = %e, "cannot note this instance in the database");
    }
    if !leads {
        return;
    }
    if let Err(e) = bounded(state.store.forget_instances(FORGET_MS)).await {
        tracing::warn!(error = %e, "cannot forget old instances");
    }
}

/// A PostgreSQL listener on `channel` (none on SQLite, or when it cannot be
/// made: the poll stands in).
async fn listen(state: &AppState, channel: &str) -> Option<sqlx::postgres::PgListener> {
    match bounded(state.store.listen(&[channel])).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, channel, "cannot listen for notifications; polling instead");
            None
        }
    }
}

/// A tick every `period`, the first one `period` from now; one missed (a slow
/// turn) is taken late rather than in a burst.
fn every(period: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// The next notification's payload; never, without a listener. A broken
/// listener is dropped (made again on the next turn).
async fn next(listener: &mut Option<sqlx::postgres::PgListener>) -> Option<String> {
    let Some(l) = listener else {
        return std::future::pending().await;
    };
    match l.recv().await {
        Ok(n) => Some(n.payload().to_string()),
        Err(_) => {
            *listener = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, term: i64, expires_at_ms: i64) -> Lease {
        Lease {
            holder: holder.map(str::to_string),
            term,
            expires_at_ms,
            now_ms: 1_000,
        }
    }

    #[test]
    fn the_lease_is_kept_by_its_holder_and_taken_when_free_or_run_out() {
        let cases = [
            // (lease, me, held, expected)
            (lease(None, 0, 0), "a", 0, Some(1)),
            (lease(Some("a"), 3, 5_000), "a", 3, Some(3)),
            (lease(Some("a"), 3, 5_000), "b", 0, None),
            (lease(Some("a"), 3, 500), "b", 0, Some(4)),
            // Its own lease ran out: taken again with a new term.
            (lease(Some("a"), 3, 500), "a", 3, Some(4)),
            // Held by a process of the same id that is not this one's term.
            (lease(Some("a"), 3, 5_000), "a", 0, None),
            (lease(Some("a"), 3, 5_000), "a", 2, None),
            // Let go: taken at once, a new term.
            (lease(None, 7, 0), "b", 0, Some(8)),
            // The expiry is exclusive.
            (lease(Some("a"), 3, 1_000), "b", 0, Some(4)),
        ];
        for (l, me, held, want) in cases {
            assert_eq!(decide(&l, me, held), want, "{l:?} {me} {held}");
        }
    }

    #[test]
    fn an_instance_leads_only_while_its_own_clock_says_the_lease_runs() {
        let l = Leadership::elected();
        assert!(!l.leads());
        l.hold(4, Instant::now() + Duration::from_secs(9));
        assert!(l.leads());
        // A leader that wakes past its lease: the deadline it noted has passed.
        l.hold(4, Instant::now() - Duration::from_millis(1));
        assert!(!l.leads(), "past its lease: not leading");
        l.hold(5, Instant::now() + Duration::from_secs(9));
        assert!(l.leads());
        l.let_go();
        assert!(!l.leads());
        assert!(Leadership::solo().leads());
    }
}
