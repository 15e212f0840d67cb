//! Executing one run in-process until it ends (or the process shuts down).
//!
//! The loop works from the in-memory [`View`]: completions of attempts arrive on a channel;
//! every available completion is drained, the steps that became ready are picked (bounded by
//! the run's `max_active_tasks` and the process's pools), and everything is written in ONE
//! store transaction ([`Store::apply_batch`](flowctl_state::Store::apply_batch)); the claimed
//! steps start at once. The loop sleeps only on the completion channel, the next retry time,
//! the heartbeat, a pool slot freed by another run, or shutdown: it never polls the store.

mod attempt;
mod notices;
mod view;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowctl_model::dag::{Dag, NotifyEvent};
use flowctl_state::{AttemptState, Batch, Finish, RunRecord, RunState, RunTransition, TaskState};
use rand::Rng;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tokio_util::sync::CancellationToken;

use self::attempt::{AttemptSpec, Completion, Failure, RunInfo, run_attempt};
use self::view::View;
use crate::events::{EventKind, EventSink, RunEvent};
use crate::notify::Notice;
use crate::pools::PoolSlot;
use crate::rules::run_succeeded;
use crate::{Engine, EngineError, Result};

/// How a run's execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run as stored at the end.
    pub run: RunRecord,
    /// `true` when execution stopped before the run ended (shutdown): the run is still
    /// `running` and resumes when executed again.
    pub interrupted: bool,
}

impl RunOutcome {
    /// Whether the run ended `success`.
    pub fn succeeded(&self) -> bool {
        self.run.state == RunState::Success
    }
}

/// Store writes are retried this many times (with backoff) before the executor gives up.
const STORE_RETRIES: u32 = 4;

impl Engine {
    /// Executes a run until it ends (or `shutdown` fires: then running steps get
    /// `shutdown_grace` to finish before they are cancelled and re-queued without consuming a
    /// try, and the outcome says `interrupted`).
    ///
    /// The process takes the run's execution lease first: a run executed by another live
    /// process is an error ([`EngineError::Conflict`]). Expired leases of the run's steps (a
    /// process that died) are recovered; steps that succeeded are never run again.
    pub async fn execute_run(
        &self,
        run: &RunRecord,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<RunOutcome> {
        if matches!(run.state, RunState::Success | RunState::Failed) {
            return Ok(RunOutcome {
                run: run.clone(),
                interrupted: false,
            });
        }
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
        let result = match Executor::start(self, run, events, shutdown).await {
            Ok(executor) => executor.run().await,
            Err(err) => Err(err),
        };
        match self.store().release_run(run.id, holder).await {
            Ok(()) => result.map(|mut outcome| {
                outcome.run.holder = None;
                outcome.run.lease_expires_at = None;
                outcome
            }),
            Err(err) => {
                // The lease expires by itself.
                tracing::warn!("cannot release run {}: {err}", run.run_id);
                result
            }
        }
    }
}

/// An attempt this executor runs.
struct InFlight {
    interrupt: CancellationToken,
    /// Held until the attempt ends.
    _slot: Option<PoolSlot>,
}

struct Executor<'e> {
    engine: &'e Engine,
    run: RunRecord,
    dag: Arc<Dag>,
    info: Arc<RunInfo>,
    view: View,
    events: EventSink,
    dag_id: Arc<str>,
    run_id: Arc<str>,
    shutdown: CancellationToken,
    max_active: usize,
    in_flight: HashMap<usize, InFlight>,
    /// Pool slots taken for the claims of the pending batch.
    claim_slots: HashMap<usize, Option<PoolSlot>>,
    /// Outputs of ended steps, by step id (for templates of downstream steps).
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    batch: Batch,
    done_tx: UnboundedSender<Completion>,
    done_rx: UnboundedReceiver<Completion>,
    pool_changes: watch::Receiver<u64>,
    /// Some ready step waits for a pool slot.
    pool_blocked: bool,
    /// Set on shutdown: when running steps are cancelled.
    stop_deadline: Option<Instant>,
    interrupted: bool,
    started: Instant,
    /// Notifications of ended tries, sent once the batch recording those ends is written.
    notices: Vec<Notice>,
    /// The latest error of each step that failed here (for the run's `on_failure`).
    errors: HashMap<usize, String>,
}

impl<'e> Executor<'e> {
    async fn start(
        engine: &'e Engine,
        run: &RunRecord,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<Self> {
        let store = engine.store();
        let target = engine.target(Some(&run.target))?.clone();
        let dag = engine
            .load_version(&run.dag_id, &run.version_hash, Some(&target.kind))
            .await?;
        engine.check_runnable(&dag, &target)?;
        // Steps left running by a process that died: recover those whose lease expired.
        let settings = engine.settings();
        store
            .recover_expired_leases(Utc::now(), Some(run.id), settings.free_losses)
            .await?;
        let records = store.list_tasks(run.id).await?;
        let view = View::new(&dag, records)?;
        let outputs = store.run_outputs(run.id).await?;
        let info = Arc::new(RunInfo {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            logical_date: run.logical_date,
            interval: flowctl_model::schedule::DataInterval {
                start: run.interval_start,
                end: run.interval_end,
            },
            timezone: dag.timezone,
            params: run.params.clone(),
            target,
            project_dir: settings.project_dir.clone(),
            store: store.clone(),
            cancel_grace: settings.cancel_grace,
        });
        let max_active = dag
            .max_active_tasks
            .unwrap_or(settings.default_max_active_tasks)
            .max(1) as usize;
        let (done_tx, done_rx) = unbounded_channel();
        let mut executor = Self {
            engine,
            run: run.clone(),
            dag,
            info,
            view,
            events: events.clone(),
            dag_id: Arc::from(run.dag_id.as_str()),
            run_id: Arc::from(run.run_id.as_str()),
            shutdown: shutdown.clone(),
            max_active,
            in_flight: HashMap::new(),
            claim_slots: HashMap::new(),
            outputs,
            batch: Batch::default(),
            done_tx,
            done_rx,
            pool_changes: engine.inner.pools.subscribe(),
            pool_blocked: false,
            stop_deadline: None,
            interrupted: false,
            started: Instant::now(),
            notices: Vec::new(),
            errors: HashMap::new(),
        };
        let resolved = executor.view.decide_all();
        executor.record_resolved(resolved);
        Ok(executor)
    }

    async fn run(mut self) -> Result<RunOutcome> {
        self.emit(EventKind::RunStarted {
            total: self.view.nodes.len(),
            done: self.view.terminal_count(),
        });
        let settings = self.engine.settings();
        let beat = settings.heartbeat_interval.max(Duration::from_millis(10));
        let mut heartbeat = interval_at(Instant::now() + beat, beat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let result = self.drive(&mut heartbeat).await;
        if result.is_err() {
            // Stop what still runs: its task instances keep our lease, which expires, and the
            // tries are then recovered as lost by whoever executes the run next.
            for flight in self.in_flight.values() {
                flight.interrupt.cancel();
            }
        }
        result
    }

    async fn drive(&mut self, heartbeat: &mut tokio::time::Interval) -> Result<RunOutcome> {
        loop {
            while let Ok(completion) = self.done_rx.try_recv() {
                self.complete(completion);
            }
            if self.stop_deadline.is_none() {
                self.pick_claims(Utc::now());
            }
            let finished = self.view.all_terminal();
            if finished {
                let leaves = self
                    .view
                    .nodes
                    .iter()
                    .filter(|n| n.downstream.is_empty())
                    .map(|n| &n.state);
                let state = if run_succeeded(leaves) {
                    RunState::Success
                } else {
                    RunState::Failed
                };
                self.batch.run = Some(RunTransition {
                    run_pk: self.run.id,
                    state,
                });
            } else if self.run.state == RunState::Queued && !self.batch.claims.is_empty() {
                self.batch.run = Some(RunTransition {
                    run_pk: self.run.id,
                    state: RunState::Running,
                });
            }
            if !self.batch.is_empty() {
                self.write_batch().await?;
            }
            self.send_notices();
            if finished {
                return self.finish().await;
            }
            if self.stop_deadline.is_some() && self.in_flight.is_empty() {
                self.emit(EventKind::RunInterrupted);
                let run = self.reload_run().await?;
                return Ok(RunOutcome {
                    run,
                    interrupted: true,
                });
            }
            let (orphans, orphan_expiry) = self.view.orphans();
            let next_retry = self.view.next_retry_at();
            if self.in_flight.is_empty()
                && !self.view.has_ready()
                && next_retry.is_none()
                && orphans == 0
            {
                return Err(EngineError::Conflict(format!(
                    "run `{}` cannot progress: no step is running, ready or retrying",
                    self.run.run_id
                )));
            }
            // Orphans are recovered just after their lease expires (or a second from now, when
            // it should have been and was not). A retry already due but not claimed waits for
            // capacity: a completion or a freed pool slot wakes the loop, not the clock.
            let now = Utc::now();
            let orphan_wake = orphan_expiry.map(|at| {
                let at = at + chrono::Duration::milliseconds(50);
                if at > now {
                    at
                } else {
                    now + chrono::Duration::seconds(1)
                }
            });
            let next_retry = next_retry.filter(|at| *at > now);
            let wake = [next_retry, orphan_wake]
                .into_iter()
                .flatten()
                .min()
                .map(instant_at);
            let stop_at = self.stop_deadline.filter(|_| !self.interrupted);
            tokio::select! {
                biased;
                Some(completion) = self.done_rx.recv() => self.complete(completion),
                _ = self.shutdown.cancelled(), if self.stop_deadline.is_none() => {
                    let grace = self.engine.settings().shutdown_grace;
                    self.stop_deadline = Some(Instant::now() + grace);
                }
                _ = sleep_until(stop_at.unwrap_or_else(Instant::now)), if stop_at.is_some() => {
                    self.interrupted = true;
                    for flight in self.in_flight.values() {
                        flight.interrupt.cancel();
                    }
                }
                _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    if orphans > 0 && orphan_expiry.is_some_and(|at| at <= Utc::now()) {
                        self.recover_orphans().await?;
                    }
                }
                _ = heartbeat.tick() => self.renew_leases().await,
                changed = self.pool_changes.changed(), if self.pool_blocked => {
                    if changed.is_err() {
                        self.pool_blocked = false;
                    }
                }
            }
        }
    }

    /// Picks ready steps (due retries first) up to the free capacity, taking pool slots.
    fn pick_claims(&mut self, now: DateTime<Utc>) {
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

    /// Writes the pending batch (retrying transient store errors), then starts the claimed steps.
    async fn write_batch(&mut self) -> Result<()> {
        let mut batch = std::mem::take(&mut self.batch);
        let settings = self.engine.settings();
        batch.holder.clone_from(&settings.holder_id);
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        let outcome = loop {
            batch.now = Utc::now();
            batch.lease_until = batch.now + chrono_duration(settings.lease_duration);
            let started = std::time::Instant::now();
            let written = self.engine.store().apply_batch(&batch).await;
            tracing::trace!(
                finished = batch.finished.len(),
                claims = batch.claims.len(),
                elapsed = ?started.elapsed(),
                "batch written"
            );
            match written {
                Ok(outcome) => break outcome,
                Err(err) if tries < STORE_RETRIES && err.is_transient() => {
                    tracing::warn!("state store write failed, retrying in {delay:?}: {err}");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                    tries += 1;
                }
                Err(err) => return Err(err.into()),
            }
        };
        if let Some(run) = batch.run {
            self.run.state = run.state;
        }
        let by_ti: HashMap<i64, usize> = self
            .claim_slots
            .keys()
            .map(|i| (self.view.nodes[*i].ti_id, *i))
            .collect();
        let mut claimed = HashSet::new();
        for c in &outcome.claimed {
            if let Some(&i) = by_ti.get(&c.ti_id) {
                claimed.insert(i);
                let slot = self.claim_slots.remove(&i).flatten();
                self.start_attempt(i, c.try_number, slot);
            }
        }
        // Claims refused, or finishes not recorded: the store changed under us (a clear, a
        // recovery by another process). Re-read the run's steps.
        let refused = by_ti.values().any(|i| !claimed.contains(i));
        self.claim_slots.clear();
        if refused || !outcome.stale.is_empty() {
            self.resync().await?;
        }
        Ok(())
    }

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
        let job = step.job_for(&self.info.target.kind);
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

    /// Records an attempt's end in the view and the pending batch.
    fn complete(&mut self, c: Completion) {
        if self.in_flight.remove(&c.idx).is_none() {
            return;
        }
        let Some((task_id, step)) = self.dag.steps.get_index(c.idx) else {
            return;
        };
        let task_id = task_id.clone();
        let node = &self.view.nodes[c.idx];
        let ti_id = node.ti_id;
        let max_tries = node.max_tries;
        let mut finish = Finish {
            ti_id,
            try_number: c.try_number,
            attempt_state: AttemptState::Success,
            task_state: TaskState::Success,
            ended_at: c.ended_at,
            exit_code: None,
            error: None,
            next_try_at: None,
            extra_tries: 0,
            outputs: Vec::new(),
            log_tail: c.log_tail,
        };
        match c.result {
            Ok(output) => {
                finish.outputs = output
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !output.outputs.is_empty() {
                    self.outputs
                        .insert(task_id.clone(), output.outputs.into_iter().collect());
                }
                self.batch.finished.push(finish);
                let resolved = self.view.set_terminal(c.idx, TaskState::Success);
                self.emit(EventKind::StepSucceeded {
                    step: task_id,
                    try_number: c.try_number,
                    duration: c.duration,
                });
                self.queue_notices(c.idx, NotifyEvent::Success, c.try_number, None);
                self.record_resolved(resolved);
            }
            Err(failure) => {
                finish.attempt_state = AttemptState::Failed;
                finish.exit_code = failure.exit_code();
                finish.error = Some(failure.message());
                let retry_at = if failure == Failure::Interrupted {
                    // Not the step's fault: the try is given back and runs again at once.
                    finish.extra_tries = 1;
                    self.view.nodes[c.idx].max_tries += 1;
                    Some(c.ended_at)
                } else if failure.retryable() && c.try_number < max_tries {
                    let delay = jittered(step.retry_delay_before(c.try_number + 1));
                    Some(c.ended_at + chrono_duration(delay))
                } else {
                    None
                };
                self.emit(EventKind::StepFailed {
                    step: task_id,
                    try_number: c.try_number,
                    error: failure.message(),
                    will_retry: retry_at.is_some(),
                    retry_at,
                });
                // A try cut short by a shutdown is not the step failing: nobody is told.
                if failure != Failure::Interrupted {
                    let event = if retry_at.is_some() {
                        NotifyEvent::Retry
                    } else {
                        NotifyEvent::Failure
                    };
                    self.errors.insert(c.idx, failure.message());
                    self.queue_notices(c.idx, event, c.try_number, Some(failure.message()));
                }
                match retry_at {
                    Some(at) => {
                        finish.task_state = TaskState::UpForRetry;
                        finish.next_try_at = Some(at);
                        self.batch.finished.push(finish);
                        self.view.set_retrying(c.idx, at);
                    }
                    None => {
                        finish.task_state = TaskState::Failed;
                        self.batch.finished.push(finish);
                        let resolved = self.view.set_terminal(c.idx, TaskState::Failed);
                        self.record_resolved(resolved);
                    }
                }
            }
        }
    }

    /// Adds steps resolved without running to the batch, with their events.
    fn record_resolved(&mut self, resolved: Vec<(usize, TaskState)>) {
        for (i, state) in resolved {
            let ti_id = self.view.nodes[i].ti_id;
            let step = self
                .dag
                .steps
                .get_index(i)
                .map(|(id, _)| id.clone())
                .unwrap_or_default();
            if state == TaskState::Skipped {
                self.batch.skipped.push(ti_id);
                self.emit(EventKind::StepSkipped { step });
            } else {
                self.batch.upstream_failed.push(ti_id);
                self.emit(EventKind::StepUpstreamFailed { step });
            }
        }
    }

    /// Recovers this run's steps whose lease expired (their process died).
    async fn recover_orphans(&mut self) -> Result<()> {
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

    /// Re-reads the run's steps from the store, keeping the attempts this executor runs.
    async fn resync(&mut self) -> Result<()> {
        let records = self.engine.store().list_tasks(self.run.id).await?;
        let mut view = View::new(&self.dag, records)?;
        for &i in self.in_flight.keys() {
            view.nodes[i].mine = true;
        }
        let resolved = view.decide_all();
        self.view = view;
        self.record_resolved(resolved);
        Ok(())
    }

    async fn renew_leases(&mut self) {
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

    async fn finish(&mut self) -> Result<RunOutcome> {
        let run = self.reload_run().await?;
        self.queue_run_notices(run.state);
        self.send_notices();
        self.emit(EventKind::RunFinished {
            state: run.state,
            duration: self.started.elapsed(),
        });
        Ok(RunOutcome {
            run,
            interrupted: false,
        })
    }

    async fn reload_run(&self) -> Result<RunRecord> {
        self.engine
            .store()
            .get_run_by_pk(self.run.id)
            .await?
            .ok_or_else(|| EngineError::UnknownRun {
                dag_id: self.run.dag_id.clone(),
                run_id: self.run.run_id.clone(),
            })
    }

    fn emit(&self, kind: EventKind) {
        if self.events.is_active() {
            self.events.send(RunEvent {
                dag_id: self.dag_id.clone(),
                run_id: self.run_id.clone(),
                at: Utc::now(),
                kind,
            });
        }
    }
}

/// `delay` ± up to 10 %, never negative.
fn jittered(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    let factor: f64 = rand::rng().random_range(0.9..=1.1);
    delay.mul_f64(factor)
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The tokio instant at which the wall clock reads `at` (now, when `at` has passed).
fn instant_at(at: DateTime<Utc>) -> Instant {
    let ahead = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + ahead
}
