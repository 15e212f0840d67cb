//! Claims: which ready steps this process takes, and keeping hold of them.
//!
//! A claim is a step's lease in the store. Claims are only *picked* here (bounded by the
//! run's `max_active_tasks` and the process's pools) and go into the pending batch; the
//! store grants or refuses them when the batch is written, and only a granted claim starts
//! an attempt (so two processes never run the same try). While attempts run, their leases
//! are renewed on every heartbeat; leases of a process that died expire and their steps are
//! recovered here ("orphans"), so a run never waits forever on a try nobody runs. The run
//! itself is leased too, before it is executed: one process executes a run at a time.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use flowctl_state::{Claimed, RunRecord, TaskState};
use tokio_util::sync::CancellationToken;

use super::attempt::{AttemptSpec, run_attempt};
use super::{Executor, InFlight, chrono_duration};
use crate::events::EventKind;
use crate::pools::PoolSlot;
use crate::{Engine, EngineError, Result};

impl Engine {
    /// Takes the execution lease of `run` for this process; a run executed by another live
    /// process is an [`EngineError::Conflict`] naming that process.
    pub(super) async fn take_run_lease(&self, run: &RunRecord) -> Result<()> {
        let settings = self.settings();
        let holder = settings.holder_id.as_str();
        let now = Utc::now();
        let until = now + chrono_duration(settings.lease_duration);
        if !self.store().claim_run(run.id, holder, now, until).await? {
            let current = self.store().get_run_by_pk(run.id).await?;
            let other = current
                .and_then(|r| r.holder)
                .unwrap_or_else(|| "another process".into());
            return Err(EngineError::Conflict(format!(
                "run `{}` of DAG `{}` is being executed by {other}",
                run.run_id, run.dag_id
            )));
        }
        Ok(())
    }
}

impl Executor<'_> {
    /// Picks ready steps (due retries first) up to the free capacity, taking pool slots.
    ///
    /// The picked steps go into the pending batch as claims, each with its pool slot kept in
    /// `claim_slots` until the batch is written; sets `pool_blocked` when a step waits for a
    /// slot, so the loop also wakes when another run frees one.
    pub(super) fn pick_claims(&mut self, now: DateTime<Utc>) {
        let running = self.in_flight.len() + self.view.orphans().0;
        let mut free = self
            .max_active
            .saturating_sub(running + self.batch.claims.len());
        self.pool_blocked = false;
        if free == 0 {
            return;
        }
        // Due retries.
        let due: Vec<usize> = self
            .view
            .retrying
            .iter()
            .copied()
            .filter(|i| self.view.nodes[*i].next_try_at.is_none_or(|at| at <= now))
            .collect();
        for i in due {
            if free == 0 {
                return;
            }
            // A step whose earlier try still runs here (it was recovered as lost while this
            // process was too slow to renew its lease) is claimed again once that try ends.
            if self.claim_slots.contains_key(&i) || self.in_flight.contains_key(&i) {
                continue;
            }
            let pool = self.view.nodes[i].pool;
            match self.take_slot(pool) {
                Ok(slot) => {
                    self.claim_slots.insert(i, slot);
                    self.batch.claims.push(self.view.nodes[i].ti_id);
                    free -= 1;
                }
                Err(()) => self.pool_blocked = true,
            }
        }
        // Ready steps, lowest step index first across pools.
        let mut exhausted: HashSet<usize> = HashSet::new();
        while free > 0 {
            let next = (0..self.view.ready.len())
                .filter(|p| !exhausted.contains(p))
                .filter_map(|p| self.view.ready[p].front().map(|i| (*i, p)))
                .min();
            let Some((i, pool)) = next else {
                break;
            };
            if self.in_flight.contains_key(&i) {
                // Its earlier try still runs here (see above): the step becomes ready again
                // when the re-read after that try's end finds it queued.
                self.view.ready[pool].pop_front();
                self.view.nodes[i].ready = false;
                continue;
            }
            match self.take_slot(pool) {
                Ok(slot) => {
                    self.view.ready[pool].pop_front();
                    self.claim_slots.insert(i, slot);
                    self.batch.claims.push(self.view.nodes[i].ti_id);
                    free -= 1;
                }
                Err(()) => {
                    self.pool_blocked = true;
                    exhausted.insert(pool);
                }
            }
        }
    }

    /// A slot of the pool at `pool` (index into the view's pool names); `Ok(None)` = no pool.
    fn take_slot(&self, pool: usize) -> std::result::Result<Option<PoolSlot>, ()> {
        match &self.view.pool_names[pool] {
            None => Ok(None),
            Some(name) => self.engine.inner.pools.try_take(name).map(Some).ok_or(()),
        }
    }

    /// Starts the steps whose claims the store granted, handing each its pool slot; returns
    /// whether some claim was refused (another process took or resolved the step).
    ///
    /// Pool slots of refused claims are dropped here, which frees them.
    pub(super) fn start_claimed(&mut self, granted: &[Claimed]) -> bool {
        let by_ti: HashMap<i64, usize> = self
            .claim_slots
            .keys()
            .map(|i| (self.view.nodes[*i].ti_id, *i))
            .collect();
        let mut claimed = HashSet::new();
        for c in granted {
            if let Some(&i) = by_ti.get(&c.ti_id) {
                claimed.insert(i);
                let slot = self.claim_slots.remove(&i).flatten();
                self.start_attempt(i, c.try_number, slot);
            }
        }
        let refused = by_ti.values().any(|i| !claimed.contains(i));
        self.claim_slots.clear();
        refused
    }

    /// Starts a granted claim's attempt: marks the step running (and ours) in the view,
    /// spawns the attempt, and keeps its cancel token and pool slot until it ends.
    fn start_attempt(&mut self, i: usize, try_number: u32, slot: Option<PoolSlot>) {
        let node = &mut self.view.nodes[i];
        node.state = TaskState::Running;
        node.mine = true;
        node.ready = false;
        node.try_number = try_number;
        node.next_try_at = None;
        let max_tries = node.max_tries;
        let ti_id = node.ti_id;
        self.view.retrying.retain(|r| *r != i);
        let Some((task_id, step)) = self.dag.steps.get_index(i) else {
            return;
        };
        let job = step.job_for(self.info.target.kind);
        let job_type = job.map(|j| j.job_type.clone()).unwrap_or_default();
        let plugin = self.engine.registry().get(&job_type).cloned();
        let interrupt = CancellationToken::new();
        let spec = AttemptSpec {
            idx: i,
            ti_id,
            try_number,
            task_id: task_id.clone(),
            plugin,
            job_type,
            config: job.map(|j| j.config.clone()).unwrap_or_default(),
            timeout: step.timeout,
            outputs: self.upstream_outputs(i),
            interrupt: interrupt.clone(),
        };
        self.in_flight.insert(
            i,
            InFlight {
                interrupt,
                _slot: slot,
            },
        );
        self.emit(EventKind::StepStarted {
            step: task_id.clone(),
            try_number,
            max_tries,
        });
        tokio::spawn(run_attempt(self.info.clone(), spec, self.done_tx.clone()));
    }

    /// Outputs of the steps upstream (transitively) of step `i`.
    fn upstream_outputs(&self, i: usize) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if self.outputs.is_empty() {
            return out;
        }
        let mut seen = HashSet::new();
        let mut stack = self.view.nodes[i].upstream.clone();
        while let Some(u) = stack.pop() {
            if !seen.insert(u) {
                continue;
            }
            if let Some((id, _)) = self.dag.steps.get_index(u)
                && let Some(values) = self.outputs.get(id)
            {
                out.insert(id.clone(), values.clone());
            }
            stack.extend(self.view.nodes[u].upstream.iter().copied());
        }
        out
    }

    /// Renews every lease this process holds (its running steps, in all runs, and the runs
    /// it executes), so that no other process recovers them as lost.
    pub(super) async fn renew_leases(&mut self) {
        let settings = self.engine.settings();
        let until = Utc::now() + chrono_duration(settings.lease_duration);
        if let Err(err) = self
            .engine
            .store()
            .renew_leases(&settings.holder_id, until)
            .await
        {
            // The next beat tries again; leases last several beats.
            tracing::warn!("cannot renew leases: {err}");
        }
    }

    /// Recovers this run's steps whose lease expired (their process died): each goes back to
    /// the ready queue, to retrying, or ends, as the store decided.
    pub(super) async fn recover_orphans(&mut self) -> Result<()> {
        let free_losses = self.engine.settings().free_losses;
        let recovered = self
            .engine
            .store()
            .recover_expired_leases(Utc::now(), Some(self.run.id), free_losses)
            .await?;
        for task in recovered {
            let Some(i) = self.view.nodes.iter().position(|n| n.ti_id == task.ti_id) else {
                continue;
            };
            self.emit(EventKind::StepLost {
                step: task.task_id.clone(),
                try_number: task.try_number,
            });
            match task.new_state {
                TaskState::Queued => {
                    // A free loss: the store gave the try back (max_tries + 1); so does the view.
                    self.view.nodes[i].max_tries += 1;
                    self.view.requeue(i);
                }
                TaskState::UpForRetry => self.view.set_retrying(i, Utc::now()),
                state => {
                    let resolved = self.view.set_terminal(i, state);
                    self.record_resolved(resolved);
                }
            }
        }
        // A lease renewed meanwhile: look again at its new expiry.
        self.resync().await
    }
}
