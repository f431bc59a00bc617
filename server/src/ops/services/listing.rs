//! The services list as pages and clients poll it, at any number of services:
//! every service's view built once per change (the reconciler's generation moves
//! with each service state that changed, each write and each host that came or
//! went; at most [`MAX_AGE`] old for what changes outside it, such as a
//! certificate running out), each kind of reader's answer serialized once per
//! build, and a weak ETag so a poll of an unchanged list costs a 304.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use domain::wire::{ServicePhase, ServiceQuery, ServiceSummary, ServiceView};

use super::{for_reader_key, may_write, view};
use crate::auth::policy::Action;
use crate::ops::{Ctx, OpsError};
use crate::state::AppState;

/// How old a built list may be served though nothing told of a change.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// The most services one page may hold.
pub const MAX_LIMIT: u32 = 1000;
/// Bytes and answers kept per build (kinds of reader × queries); past either
/// they start over (a whole list of 1,000 services is about 1 MB; a key, its
/// answer and its ETag about 256 bytes more).
const ANSWERS_KEPT_BYTES: usize = 32 << 20;
const ANSWERS_KEPT: usize = 1024;
const ANSWER_OVERHEAD: usize = 256;

/// The answers made from one build, by reader and query.
#[derive(Default)]
struct Answers {
    by_key: HashMap<AnswerKey, Arc<Answer>>,
    bytes: usize,
}

/// The views of one build, shared by every answer made from it.
struct Built {
    generation: u64,
    at: tokio::time::Instant,
    /// What the views say, the times of the passes that made them aside: a
    /// build that says the same keeps the answers of the one before.
    content: u64,
    views: Arc<Vec<ServiceView>>,
    teams: Arc<BTreeSet<i64>>,
    answers: Arc<Mutex<Answers>>,
}

/// The list for many readers; one per state.
#[derive(Default)]
pub struct Listing {
    current: RwLock<Option<Arc<Built>>>,
    /// Held while a build runs: one at a time, the others wait for it (or, when
    /// only its age ran out, take the one before).
    building: tokio::sync::Mutex<()>,
}

/// A page of the list, serialized, for one kind of reader and one query.
#[derive(Debug)]
pub struct Answer {
    pub body: Bytes,
    pub etag: String,
    /// How many match in all.
    pub total: usize,
    /// Where the next page starts, when there is one.
    pub next_offset: Option<u32>,
}

/// A query checked to its grammar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    limit: Option<u32>,
    offset: u32,
    team: Option<String>,
    /// Bit `i` set: phase `ServicePhase::ALL[i]` wanted; 0: any.
    phases: u8,
    q: Option<String>,
}

impl Filter {
    pub fn parse(q: &ServiceQuery) -> Result<Filter, OpsError> {
        let invalid = |m: String| Err(OpsError::Invalid(m));
        if let Some(limit) = q.limit {
            if limit == 0 || limit > MAX_LIMIT {
                return invalid(format!("limit must be 1 to {MAX_LIMIT}, not {limit}"));
            }
        }
        let mut phases = 0u8;
        for word in q.phase.iter().flat_map(|p| p.split(',')).map(str::trim) {
            match ServicePhase::ALL.iter().position(|p| p.as_str() == word) {
                Some(i) => phases |= 1 << i,
                None => {
                    return invalid(format!(
                        "unknown phase {word:?}: use running, progressing, degraded or stopped (several with commas)"
                    ))
                }
            }
        }
        let team = q.team.as_deref().filter(|t| !t.is_empty());
        if let Some(t) = team {
            domain::validate::team_name(t).map_err(OpsError::Invalid)?;
        }
        let text = q.q.as_deref().filter(|t| !t.is_empty());
        if let Some(t) = text {
            let ok = t.len() <= 63
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return invalid(format!(
                    "q {t:?} cannot be part of a service name: use up to 63 lowercase letters, digits or '-'"
                ));
            }
        }
        Ok(Filter {
            limit: q.limit,
            offset: q.offset.unwrap_or(0),
            team: team.map(str::to_string),
            phases,
            q: text.map(str::to_string),
        })
    }

    fn matches(&self, v: &ServiceView) -> bool {
        let phase = ServicePhase::ALL.iter().position(|p| *p == v.phase);
        self.team.as_ref().is_none_or(|t| *t == v.team)
            && (self.phases == 0 || phase.is_some_and(|i| self.phases & (1 << i) != 0))
            && self.q.as_ref().is_none_or(|q| v.name.contains(q.as_str()))
    }
}

/// Which teams' services a reader sees, and of those whose environment values.
type Reader = Vec<(i64, bool)>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    reader: Reader,
    filter: Filter,
}

impl Listing {
    /// The page of the list `ctx` asked for.
    pub async fn answer(
        &self,
        state: &AppState,
        ctx: &Ctx,
        query: &ServiceQuery,
    ) -> Result<Arc<Answer>, OpsError> {
        ctx.principal()?;
        let filter = Filter::parse(query)?;
        let built = self.current(state).await?;
        let key = AnswerKey {
            reader: reader(ctx, &built.teams),
            filter,
        };
        if let Some(a) = lock(&built.answers).by_key.get(&key) {
            return Ok(a.clone());
        }
        let answer = Arc::new(make_answer(&built, &key)?);
        let mut answers = lock(&built.answers);
        let size = answer.body.len() + ANSWER_OVERHEAD;
        if answers.bytes + size > ANSWERS_KEPT_BYTES || answers.by_key.len() >= ANSWERS_KEPT {
            *answers = Answers::default();
        }
        answers.bytes += size;
        answers.by_key.insert(key, answer.clone());
        Ok(answer)
    }

    /// The services `ctx` may see, counted by how they stand.
    pub async fn summary(&self, state: &AppState, ctx: &Ctx) -> Result<ServiceSummary, OpsError> {
        ctx.principal()?;
        let built = self.current(state).await?;
        let reader = reader(ctx, &built.teams);
        let mut s = ServiceSummary::default();
        for v in built.views.iter().filter(|v| sees(&reader, v.team_id)) {
            s.services += 1;
            match v.phase {
                ServicePhase::Running => s.running += 1,
                ServicePhase::Progressing => s.progressing += 1,
                ServicePhase::Degraded => s.degraded += 1,
                ServicePhase::Stopped => s.stopped += 1,
            }
            s.replicas_wanted += u64::from(v.replicas);
            s.replicas_ready += u64::from(v.healthy.min(v.replicas));
        }
        Ok(s)
    }

    /// The build to answer from: one at least as new as the generation when
    /// asked, and young; else a new one (one at a time: others wait for it).
    async fn current(&self, state: &AppState) -> Result<Arc<Built>, OpsError> {
        let wanted = state.reconciler.generation();
        let last = || {
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        };
        let fresh = |b: &Arc<Built>| b.generation >= wanted && b.at.elapsed() < MAX_AGE;
        if let Some(b) = last().filter(fresh) {
            return Ok(b);
        }
        let _building = match (self.building.try_lock(), last()) {
            (Ok(guard), _) => guard,
            // Only its age ran out and another request builds: this one is
            // current enough meanwhile.
            (Err(_), Some(b)) if b.generation >= wanted => return Ok(b),
            (Err(_), _) => self.building.lock().await,
        };
        // Built while this one waited?
        let before = last();
        if let Some(b) = before.clone().filter(fresh) {
            return Ok(b);
        }
        let built = Arc::new(build(state, before.as_deref()).await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(built.clone());
        Ok(built)
    }
}

/// Every service's view, read now; what the last build said is kept (with its
/// answers) when nothing but the passes' times moved.
async fn build(state: &AppState, last: Option<&Built>) -> Result<Built, OpsError> {
    // Read first: a change after this is a new generation, and the next request
    // builds again.
    let generation = state.reconciler.generation();
    let rows = state.store.list_services().await?;
    let rollouts = state.store.latest_rollouts().await?;
    let st = state.clone();
    let (views, content) = tokio::task::spawn_blocking(move || {
        let views: Vec<ServiceView> = rows
            .iter()
            .map(|row| view(&st, row, rollouts.get(&row.id)))
            .collect();
        let mut h = DefaultHasher::new();
        content_hash(&views, &mut h);
        (views, h.finish())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "building the services list failed");
        OpsError::Internal
    })?;
    let at = tokio::time::Instant::now();
    if let Some(last) = last.filter(|l| l.content == content) {
        return Ok(Built {
            generation,
            at,
            content,
            views: last.views.clone(),
            teams: last.teams.clone(),
            answers: last.answers.clone(),
        });
    }
    Ok(Built {
        generation,
        at,
        content,
        teams: Arc::new(views.iter().map(|v| v.team_id).collect()),
        views: Arc::new(views),
        answers: Default::default(),
    })
}

/// A hash of what the views say, the passes' times aside.
fn content_hash<'v>(views: impl IntoIterator<Item = &'v ServiceView>, h: &mut DefaultHasher) {
    struct Into<'a>(&'a mut DefaultHasher);
    impl std::io::Write for Into<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    for v in views {
        let timeless = ServiceView {
            observed_at_ms: 0,
            ..v.clone()
        };
        // Writing into a hasher cannot fail; a view that would not serialize
        // would not be listed either.
        let _ = serde_json::to_writer(Into(&mut *h), &timeless);
    }
}

fn reader(ctx: &Ctx, teams: &BTreeSet<i64>) -> Reader {
    teams
        .iter()
        .filter(|t| ctx.allowed(Action::ReadServices(**t)).is_ok())
        .map(|t| (*t, may_write(ctx, *t)))
        .collect()
}

fn sees(reader: &Reader, team: i64) -> bool {
    reader.iter().any(|(t, _)| *t == team)
}

fn make_answer(built: &Built, key: &AnswerKey) -> Result<Answer, OpsError> {
    let f = &key.filter;
    let matching: Vec<&ServiceView> = built
        .views
        .iter()
        .filter(|v| sees(&key.reader, v.team_id) && f.matches(v))
        .collect();
    let total = matching.len();
    let limit = f.limit.map_or(usize::MAX, |l| l as usize);
    let start = (f.offset as usize).min(total);
    let page: Vec<Cow<ServiceView>> = matching[start..]
        .iter()
        .take(limit)
        .map(|v| {
            let writes = key.reader.iter().any(|(t, w)| *t == v.team_id && *w);
            for_reader_key(writes, Cow::Borrowed(*v))
        })
        .collect();
    let end = start + page.len();
    let body = serde_json::to_vec(&page).map_err(|e| {
        tracing::error!(error = %e, "the services list does not serialize");
        OpsError::Internal
    })?;
    // What this reader's page says (and how many match), nothing of what it
    // does not see: another team's change is no new ETag here.
    let mut h = DefaultHasher::new();
    content_hash(page.iter().map(|v| v.as_ref()), &mut h);
    (total, end).hash(&mut h);
    Ok(Answer {
        body: Bytes::from(body),
        etag: format!("W/\"{:x}\"", h.finish()),
        total,
        next_offset: (end < total).then_some(end as u32),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
