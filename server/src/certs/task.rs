//! The certificate task: the one writer of ACME certificates' state. Each pass
//! reads the routes and the stored certificates, asks `plan` what is due, does it
//! (an order, a renewal, a question to the CA's renewal information), and swaps
//! what the proxy serves. It sleeps until the next renewal or retry is due, or a
//! route is saved, and at most a minute.

use std::collections::BTreeMap;
use std::time::Duration;

use instant_acme::Account;
use tokio_util::sync::CancellationToken;

use super::acme::{self, AcmeError, AcmeSettings};
use super::plan::{self, Step, Wanted};
use crate::events::{self, Level, ServiceRef};
use crate::state::AppState;
use crate::store::{Issued, StoreError};

/// The longest wait between passes (expired certificates leave what is served).
const PASS_EVERY: Duration = Duration::from_secs(60);

/// Why a pass stopped early (it is tried again at the next one).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the task keeps between passes.
#[derive(Default)]
struct Task {
    account: Option<Account>,
    /// Whether the CA has renewal information: unknown until asked once.
    ari: Option<bool>,
    /// The account's orders in the last hour, every team's together.
    budget: plan::OrderBudget,
}

/// Runs until the token is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut task = Task::default();
    loop {
        let pass = tokio::select! {
            _ = token.cancelled() => return,
            pass = task.pass(&state) => pass,
        };
        let wake_at = match pass {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "the certificate pass failed; trying again shortly");
                None
            }
        };
        let now = state.clock.now_ms();
        let wait = wake_at.map_or(PASS_EVERY, |t| {
            Duration::from_millis((t - now).clamp(0, PASS_EVERY.as_millis() as i64) as u64)
        });
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::timeout(wait, state.certs.wake.notified()) => {}
        }
    }
}

/// One pass by a task that has kept nothing yet (tests drive the task's steps
/// with it); returns when it would look again.
pub async fn pass_once(state: &AppState) -> Result<Option<i64>, TaskError> {
    Task::default().pass(state).await
}

/// The hosts ACME routes want, with the services that route them; and whether
/// every service could be read (else no row is forgotten for want of a route).
async fn wanted(
    state: &AppState,
) -> Result<(BTreeMap<String, (i64, Vec<ServiceRef>)>, bool), StoreError> {
    let (services, unreadable) = state.store.read_services().await?;
    let mut out: BTreeMap<String, (i64, Vec<ServiceRef>)> = BTreeMap::new();
    for s in services.iter().filter(|s| s.proxy.expose) {
        for r in s.proxy.routes.iter().filter(|r| r.acme) {
            let Some(host) = &r.host else { continue };
            let entry = out
                .entry(host.clone())
                .or_insert_with(|| (s.team_id, Vec::new()));
            if !entry.1.iter().any(|x| x.id == s.id) {
                entry.1.push(ServiceRef::from(s));
            }
        }
    }
    Ok((out, unreadable.is_empty()))
}

impl Task {
    /// One pass; returns when to look again (`now` for at once).
    async fn pass(&mut self, state: &AppState) -> Result<Option<i64>, TaskError> {
        let now = state.clock.now_ms();
        if !state.leadership.leads() {
            // Paused past its lease: orders nothing (its loop is being stopped).
            return Ok(None);
        }
        let rows = state.store.list_certs().await?;
        let Some(settings) = state.certs.acme.clone() else {
            reload(state).await?;
            return Ok(None);
        };
        let (by_host, complete) = wanted(state).await?;
        let wanted: Vec<Wanted> = by_host
            .iter()
            .map(|(host, (team_id, _))| Wanted {
                host: host.clone(),
                team_id: *team_id,
            })
            .collect();
        let plan = plan::plan(&rows, &wanted, self.ari != Some(false), now);
        let (mut again, mut spent) = (false, None);
        for step in plan.steps {
            match step {
                Step::Want(w) => {
                    state.store.want_acme_cert(&w.host, w.team_id, now).await?;
                    again = true;
                }
                Step::Order { host, generation } => {
                    if !self.budget.take(state.clock.now_ms()) {
                        tracing::warn!(host, "the hour's ACME orders are spent; ordering later");
                        spent = self.budget.free_at();
                        break;
                    }
                    let services = by_host.get(&host).map(|(_, s)| s.as_slice()).unwrap_or(&[]);
                    self.order(state, &settings, &host, generation, services)
                        .await?;
                    again = true;
                }
                Step::Reown {
                    host,
                    generation,
                    team_id,
                } => {
                    state
                        .store
                        .reown_acme_cert(&host, generation, team_id, now)
                        .await?;
                    again = true;
                }
                Step::Forget { host, generation } if complete => {
                    state.store.forget_acme_cert(&host, generation).await?;
                }
                Step::Forget { .. } => {}
                Step::AskAri { host, generation } => {
                    self.ask_ari(state, &settings, &host, generation).await?;
                }
            }
        }
        if again && spent.is_none() {
            return Ok(Some(now));
        }
        reload(state).await?;
        Ok([plan.wake_at, spent].into_iter().flatten().min())
    }

    async fn account(
        &mut self,
        state: &AppState,
        settings: &AcmeSettings,
    ) -> Result<Account, AcmeError> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let context = super::account_context(&settings.directory);
        let stored = state
            .store
            .acme_account(&settings.directory)
            .await
            .map_err(account_error)?;
        let opened = match &stored {
            Some(sealed) => Some(
                state
                    .keyring
                    .open(&context, sealed)
                    .map_err(account_error)?,
            ),
            None => None,
        };
        let (account, made) = tokio::time::timeout(
            acme::ORDER_TIMEOUT,
            acme::account(settings, opened.as_ref().map(|p| p.0.as_str())),
        )
        .await
        .unwrap_or(Err(AcmeError::Timeout(acme::ORDER_TIMEOUT.as_secs())))?;
        if let Some(json) = made {
            let sealed = state.keyring.seal(&context, json.as_bytes());
            state
                .store
                .put_acme_account(&settings.directory, &sealed, state.clock.now_ms())
                .await
                .map_err(account_error)?;
        }
        self.account = Some(account.clone());
        Ok(account)
    }

    /// Orders a certificate for a host and records what came of it.
    async fn order(
        &mut self,
        state: &AppState,
        settings: &AcmeSettings,
        host: &str,
        generation: i64,
        services: &[ServiceRef],
    ) -> Result<(), TaskError> {
        let started = state.clock.now_ms();
        let Some(row) = state.store.cert(host).await? else {
            return Ok(());
        };
        let lease = started + plan::backoff(row.failures + 1);
        if !state
            .store
            .begin_cert_order(host, generation, started, lease)
            .await?
        {
            return Ok(());
        }
        let renewal = row.chain_pem.is_some();
        let result = match self.account(state, settings).await {
            Ok(account) => {
                let replaces = match (self.ari, &row.chain_pem) {
                    (Some(true), Some(chain)) => acme::identifier(chain),
                    _ => None,
                };
                acme::order(&account, host, &state.certs.challenges, replaces).await
            }
            Err(e) => Err(e),
        };
        let now = state.clock.now_ms();
        let issued = result.and_then(|o| seal(state, host, generation + 1, &o, now));
        match issued {
            Ok(issued) => {
                if state
                    .store
                    .cert_issued(host, generation, &issued, now)
                    .await?
                {
                    let what = if renewal { "renewed" } else { "issued" };
                    let message = format!(
                        "the certificate for {host} was {what} by {} in {}; valid until {}",
                        issued.issuer.as_deref().unwrap_or("the CA"),
                        domain::format::duration_words(now - started),
                        domain::format::utc_datetime(issued.not_after),
                    );
                    say(state, services, Level::Info, &message).await;
                }
            }
            Err(e) => {
                let next = now + plan::backoff(row.failures + 1);
                if state
                    .store
                    .cert_failed(host, generation, &e.to_string(), next, now)
                    .await?
                {
                    let message = format!(
                        "the certificate for {host} could not be {}: {e}; trying again at {}",
                        if renewal { "renewed" } else { "had" },
                        domain::format::utc_datetime(next),
                    );
                    say(state, services, Level::Error, &message).await;
                }
            }
        }
        reload(state).await?;
        Ok(())
    }

    async fn ask_ari(
        &mut self,
        state: &AppState,
        settings: &AcmeSettings,
        host: &str,
        generation: i64,
    ) -> Result<(), TaskError> {
        let now = state.clock.now_ms();
        let Some(chain) = state.store.cert(host).await?.and_then(|r| r.chain_pem) else {
            return Ok(());
        };
        let asked = match self.account(state, settings).await {
            Ok(account) => tokio::time::timeout(
                acme::ORDER_TIMEOUT,
                acme::renewal_info(&account, &chain, now),
            )
            .await
            .unwrap_or(Err(AcmeError::Timeout(acme::ORDER_TIMEOUT.as_secs()))),
            Err(e) => Err(e),
        };
        match asked {
            Ok(Some((renew_at, again))) => {
                self.ari = Some(true);
                state
                    .store
                    .cert_renewal_info(host, generation, Some(renew_at), again)
                    .await?;
            }
            Ok(None) => self.ari = Some(false),
            Err(e) => {
                tracing::info!(host, error = %e, "the CA's renewal information could not be had");
                state
                    .store
                    .cert_renewal_info(host, generation, None, now + plan::ARI_MIN_MS)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Why the account cannot be used goes to the log; team members read that an
/// admin should look (store and key errors are Berth's internals).
fn account_error(e: impl std::fmt::Display) -> AcmeError {
    tracing::error!(error = %e, "Berth's ACME account cannot be read or kept");
    AcmeError::Account("an admin finds why in Berth's log".into())
}

/// Checks what the CA sent for the host and seals its key for `generation`.
fn seal(
    state: &AppState,
    host: &str,
    generation: i64,
    o: &acme::Ordered,
    now: i64,
) -> Result<Issued, AcmeError> {
    let p = super::pem::read(&o.chain_pem, &o.key_pem, host, now / 1000)
        .map_err(|e| AcmeError::BadCertificate(e.to_string()))?;
    Ok(Issued {
        chain_pem: p.chain_pem,
        key: state
            .keyring
            .seal(&super::key_context(host, generation), o.key_pem.as_bytes()),
        issuer: p.issuer,
        names: p.names,
        not_before: p.not_before * 1000,
        not_after: p.not_after * 1000,
    })
}

/// Swaps what the proxy serves for the stored certificates as they are now.
pub async fn reload(state: &AppState) -> Result<(), StoreError> {
    let _one_at_a_time = state.certs.loading().await;
    let rows = state.store.list_certs().await?;
    for (host, why) in state
        .certs
        .load(&rows, &state.keyring, state.clock.now_ms())
    {
        tracing::error!(host, "a stored certificate cannot be served: {why}");
    }
    Ok(())
}

/// Tells the services that route a host (or the log, when none does).
async fn say(state: &AppState, services: &[ServiceRef], level: Level, message: &str) {
    if services.is_empty() {
        tracing::info!("{message}");
    }
    for s in services {
        events::service(state, s, level, message).await;
    }
}
