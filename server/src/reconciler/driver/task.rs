//! One service's actions, run together in a task of the driver's set: starts
//! (the image pulled, the slot's home recorded, secrets opened, the container made)
//! and removals (out of the proxy, then stopped), and what they leave for the next
//! pass (the service's back-off, each slot's history).

use super::*;
use crate::metrics::ActionKind;

/// A service task's removals left to do after its service is free again: their
/// replicas are out of the proxy; they are drained and stopped here.
pub(super) struct Stops {
    task: ServiceTask,
    actions: Vec<Action>,
    ids: Vec<String>,
}

impl Stops {
    pub(super) fn service_id(&self) -> i64 {
        self.task.service_id
    }

    /// The containers it stops.
    pub(super) fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// Drains and stops the replicas; no longer marked as stopping after. A
    /// failure makes the service wait its back-off; the next pass sees the
    /// replica again and removes it anew.
    pub(super) async fn run(self) -> Option<Stops> {
        let task = &self.task;
        let outcome = task.execute_all(self.actions).await;
        let at = task.state.clock.now_ms();
        task.shared
            .lock()
            .expect("driver lock")
            .stopped(task.service_id, &self.ids, outcome, at);
        task.state.reconciler.poke();
        None
    }
}

fn container_ids(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { container_id, .. } => Some(container_id.clone()),
            Action::Start { .. } => None,
        })
        .collect()
}

/// One service's actions, run together.
pub(super) struct ServiceTask {
    pub(super) state: AppState,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) service_id: i64,
    pub(super) service: ServiceRef,
    pub(super) desired: Option<DesiredService>,
    pub(super) addresses: HashMap<i64, String>,
    pub(super) host_names: HashMap<i64, String>,
}

impl ServiceTask {
    fn host_name(&self, id: i64) -> String {
        self.host_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// Runs the actions; the service is free again once they are done, except
    /// for the stops that may wait ([`ServiceTask::stops_later`]): those replicas
    /// leave the proxy now, and are drained and stopped by the returned
    /// [`Stops`], which the driver runs next (a rollout's next batch starts
    /// meanwhile).
    pub(super) async fn run(self, actions: Vec<Action>) -> Option<Stops> {
        let (later, now): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(|a| self.stops_later(a));
        let ids = container_ids(&later);
        for id in &ids {
            self.state.proxy.start_drain(id);
        }
        if !ids.is_empty() {
            crate::leader::offer(&self.state);
        }
        let outcome = self.execute_all(now).await;
        let at = self.state.clock.now_ms();
        {
            let mut shared = self.shared.lock().expect("driver lock");
            if ids.is_empty() {
                shared.finished(self.service_id, outcome, at);
            } else {
                // Marked as the service is freed, so that no pass removes them twice.
                shared.handed_over(self.service_id, &ids, outcome, at);
            }
        }
        self.state.reconciler.poke();
        (!later.is_empty()).then(|| Stops {
            task: self,
            actions: later,
            ids,
        })
    }

    /// Whether a removal may stop its replica after the service is free again:
    /// the slot stays served (or is not wanted), and the service has no volume of
    /// a slot's own (whose one writer stops before another may start on it).
    fn stops_later(&self, action: &Action) -> bool {
        let Action::Remove { reason, .. } = action else {
            return false;
        };
        let own_volumes = self
            .desired
            .as_ref()
            .is_some_and(|d| d.moves_data() || d.pins_slots());
        !own_volumes && reason.leaves_slot_served()
    }

    /// Runs actions side by side; the first error, if any.
    async fn execute_all(&self, actions: Vec<Action>) -> Result<(), String> {
        let outcomes: Vec<Result<(), String>> = futures::stream::iter(actions)
            .map(|a| self.execute(a))
            .buffer_unordered(PARALLEL_ACTIONS)
            .collect()
            .await;
        match outcomes.into_iter().find_map(Result::err) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn execute(&self, action: Action) -> Result<(), String> {
        if !self.state.leadership.leads() {
            // Planned while it led; the lease ran out since (a pause): the next
            // leader plans from what runs.
            return Err("this instance no longer leads".to_string());
        }
        tracing::debug!(service = %self.service.name, reason = %action.reason(), "reconciler: executing");
        let kind = match action {
            Action::Start { .. } => ActionKind::Start,
            Action::Remove { .. } => ActionKind::Remove,
        };
        let outcome = match action {
            Action::Start {
                slot,
                host_id,
                reason,
                ..
            } => self.start(slot, host_id, &reason).await,
            Action::Remove {
                slot,
                host_id,
                container_id,
                reason,
                ..
            } => self.remove(slot, host_id, &container_id, &reason).await,
        };
        self.state.metrics.action(kind, outcome.is_ok());
        outcome
    }

    /// What Berth does to make the slot's replica on the host now; `None` once
    /// it is made (or failed).
    fn note(&self, slot: u32, host_id: i64, step: Option<Making>) {
        self.state
            .reconciler
            .update(self.service_id, |s| match step {
                Some(step) => {
                    for p in s
                        .pending
                        .iter_mut()
                        .filter(|p| p.slot == slot && p.host_id == host_id)
                    {
                        p.step = step.clone();
                    }
                }
                None => s
                    .pending
                    .retain(|p| !(p.slot == slot && p.host_id == host_id)),
            });
    }

    async fn start(&self, slot: u32, host_id: i64, reason: &Reason) -> Result<(), String> {
        let Some(d) = &self.desired else {
            return Ok(());
        };
        let host = self.host_name(host_id);
        let outcome = self.make(d, slot, host_id).await;
        self.note(slot, host_id, None);
        if let Err(e) = outcome {
            let message = format!("replica {slot} not started on {host}: {e}");
            self.state.reconciler.update(self.service_id, |s| {
                s.slots.entry(slot).or_default().start_failure = Some(StartFailure {
                    host_id,
                    error: e.clone(),
                    at_ms: self.state.clock.now_ms(),
                });
            });
            events::service(&self.state, &self.service, Level::Error, &message).await;
            return Err(message);
        }
        let (level, reason) = self.started_words(slot, reason);
        let words = format!("{reason} (on {host}, revision {})", d.revision);
        events::service(&self.state, &self.service, level, &words).await;
        Ok(())
    }

    /// Makes and starts the slot's container on the host: the image pulled if
    /// missing, the slot's home recorded, its secrets opened.
    async fn make(&self, d: &DesiredService, slot: u32, host_id: i64) -> Result<(), String> {
        // What is made meets today's rules, whatever revision asks for it (one from
        // before them may hold a bind mount).
        domain::validate::service_spec(&d.spec).map_err(|why| {
            format!(
                "revision {} is no longer allowed: {why}; deploy one that is",
                d.revision
            )
        })?;
        self.ensure_image(&d.spec.image, slot, host_id).await?;
        // Where this slot's own volumes are from now on: remembered before they are
        // made, so a Berth stopped in between still knows.
        if d.pins_slots() {
            let now = self.state.clock.now_ms();
            self.state
                .store
                .set_replica_home(d.id, slot, host_id, now)
                .await
                .map_err(|e| format!("cannot record where its volumes are: {e}"))?;
        }
        let address = self.addresses.get(&host_id).cloned().unwrap_or_default();
        // Secrets are opened now, for this container only.
        let env = crate::ops::secrets::resolve_env(&self.state, d.team_id, &d.spec)
            .await
            .map_err(|e| e.to_string())?;
        let replica = ReplicaSpec {
            service_id: d.id,
            service: d.name.clone(),
            slot,
            revision: d.revision,
            spec_hash: d.spec_hash.clone(),
            spec: d.spec.clone(),
            env,
            // Docker binds published ports to an IP; a host reached by name
            // publishes on all of its addresses.
            publish_ip: if address.parse::<std::net::Ipv4Addr>().is_ok() {
                address
            } else {
                String::new()
            },
            classes: d.classes.clone(),
        };
        if !crate::leader::may_act(&self.state).await {
            // The pull outlasted the lease: the next leader decides.
            return Err("this instance no longer leads".to_string());
        }
        let rt = &self.state.reconciler.runtime;
        rt.start(host_id, &replica)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Pulls `image` on the host unless it is there.
    async fn ensure_image(&self, image: &str, slot: u32, host_id: i64) -> Result<(), String> {
        let rt = &self.state.reconciler.runtime;
        if rt
            .has_image(host_id, image)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        let pulling = Making::Pulling {
            image: image.to_string(),
        };
        self.note(slot, host_id, Some(pulling));
        rt.pull(host_id, image).await.map_err(|e| e.to_string())?;
        let host = self.host_name(host_id);
        let words = format!("replica {slot}: pulled {image} on {host}");
        events::service(&self.state, &self.service, Level::Info, &words).await;
        self.note(slot, host_id, Some(Making::Starting));
        Ok(())
    }

    /// How a started replica is announced: a slot emptied by a failure earlier (its
    /// restart was delayed) is a restart, not a first start.
    fn started_words(&self, slot: u32, reason: &Reason) -> (Level, String) {
        let r = &self.state.reconciler;
        let history = r
            .service(self.service_id)
            .slots
            .get(&slot)
            .cloned()
            .unwrap_or_default();
        match (reason.fills_empty_slot(), &history.last_exit) {
            (true, Some(why)) if history.failures_in_row > 0 => {
                let n = history.failures_in_row;
                let s = if n == 1 { "" } else { "s" };
                let words =
                    format!("replica {slot} restarted after {n} failure{s} in a row ({why})");
                (Level::Warn, words)
            }
            (true, _) => (Level::Info, reason.to_string()),
            (false, _) => (Level::Warn, reason.to_string()),
        }
    }

    async fn remove(
        &self,
        slot: u32,
        host_id: i64,
        container_id: &str,
        reason: &Reason,
    ) -> Result<(), String> {
        let failure = reason.failure();
        let host = self.host_name(host_id);
        if failure.is_none() {
            // Out of the proxy first (this instance's, and the others' as they
            // follow); stopped once its requests are answered on every one.
            self.state.proxy.start_drain(container_id);
            crate::leader::offer(&self.state);
            let left = self.state.proxy.drain(container_id).await;
            if left > 0 {
                tracing::warn!(service = %self.service.name, slot, left, "stopping a replica with requests still in flight");
            }
            crate::leader::followers_drained(&self.state).await;
        }
        if !crate::leader::may_act(&self.state).await {
            // The waits above outlasted the lease: the next leader decides.
            return Err("this instance no longer leads".to_string());
        }
        let rt = self.state.reconciler.runtime.clone();
        match rt.remove(host_id, container_id).await {
            Ok(()) => {
                let level = if failure.is_some() {
                    Level::Warn
                } else {
                    Level::Info
                };
                if let Some(why) = failure {
                    let now = self.state.clock.now_ms();
                    self.state.reconciler.update(self.service_id, |s| {
                        let h = s.slots.entry(slot).or_default();
                        h.restarts += 1;
                        h.failures_in_row += 1;
                        h.last_failure_ms = now;
                        h.last_exit = Some(why.to_string());
                    });
                }
                events::service(
                    &self.state,
                    &self.service,
                    level,
                    &format!("{reason} (on {host})"),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let message = format!("replica {slot} not removed from {host}: {e}");
                events::service(&self.state, &self.service, Level::Error, &message).await;
                Err(message)
            }
        }
    }
}
