//! Executing one run in-process until it ends (or the process shuts down).
//!
//! The loop works from the in-memory [`View`]: completions of attempts arrive on a channel;
//! every available completion is drained, the steps that became ready are picked (bounded by
//! the run's `max_active_tasks` and the process's pools), and everything is written in ONE
//! store transaction ([`Store::apply_batch`](flowctl_state::Store::apply_batch)); the claimed
//! steps start at once. The loop sleeps only on the completion channel, the next retry time,
//! the heartbeat, a pool slot freed by another run, or shutdown: it never polls the store.
//!
//! This module holds the loop; the steps it takes live in submodules: `load` (reading the
//! run's steps into the view), `completions` (an attempt's end), `claims` (picking ready
//! steps, starting them, leases), `batch` (the one-transaction write), `attempt` (running
//! one try), `notices` (notifications) and `view` (the in-memory state).

mod attempt;
mod batch;
mod claims;
mod completions;
mod load;
mod notices;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowctl_model::dag::Dag;
use flowctl_state::{Batch, RunRecord, RunState, RunTransition};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tokio_util::sync::CancellationToken;

use self::attempt::{Completion, RunInfo};
use self::view::View;
use crate::events::{EventKind, EventSink, RunEvent};
use crate::notify::Notice;
use crate::pools::PoolSlot;
use crate::{Engine, EngineError, Result};

/// How a run's execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run as stored at the end.
    pub run: RunRecord,
    /// `true` when a shutdown stopped the execution before the run ended by itself. With
    /// [`OnShutdown::Resume`] the run is still `running` and resumes when executed again;
    /// with [`OnShutdown::Fail`] it ended `failed`.
    pub interrupted: bool,
}

/// What an execution stopped by its `shutdown` token leaves behind (see
/// [`Engine::set_on_shutdown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnShutdown {
    /// For a process that hands its work over (the scheduler): running steps get the
    /// `shutdown_grace` setting to finish, then are cancelled; the tries cut short are given
    /// back (they do not count against the retries) and the run stays `running`, without a
    /// holder, for whoever executes it next.
    #[default]
    Resume,
    /// For a run in the foreground of a command stopped by its user or its supervisor
    /// (`flowctl run`, `backfill`, `clear` on SIGINT/SIGTERM): running steps are cancelled at
    /// once (each job still gets the `cancel_grace` setting to stop: a shell step's process
    /// group is terminated); the attempts cut short end `failed`, and so do their steps (no
    /// retry, no notification); steps that had not started keep their state; the run ends
    /// `failed` (no run notification either) and its lease is released. Nothing is left
    /// `running`; [`Engine::clear`] runs it again.
    Fail,
}

impl RunOutcome {
    /// Whether the run ended `success`.
    pub fn succeeded(&self) -> bool {
        self.run.state == RunState::Success
    }
}

impl Engine {
    /// Executes a run until it ends (or `shutdown` fires: then no step is started any more,
    /// running steps are cancelled, and the outcome says `interrupted`; what the run is left
    /// in depends on [`Engine::on_shutdown`]: resumable, or ended `failed`).
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
        self.take_run_lease(run).await?;
        let result = match Executor::start(self, run, events, shutdown).await {
            Ok(executor) => executor.run().await,
            Err(err) => Err(err),
        };
        let holder = self.settings().holder_id.as_str();
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

/// The state of one run's execution in this process; its methods are spread over the
/// submodules by concern.
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
    /// [`OnShutdown::Fail`]: a shutdown ends the run `failed`.
    fail_on_shutdown: bool,
    /// Steps whose try was cut short by a shutdown with [`OnShutdown::Fail`].
    cut_short: usize,
    started: Instant,
    /// Notifications of ended tries, sent once the batch recording those ends is written.
    notices: Vec<Notice>,
    /// The latest error of each step that failed here (for the run's `on_failure`).
    errors: HashMap<usize, String>,
}

impl Executor<'_> {
    /// Drives the run to its end (or interruption); on an error, stops the attempts still
    /// running here.
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

    /// The loop: drain completions, claim ready steps, write the batch, then sleep until
    /// something can change.
    async fn drive(&mut self, heartbeat: &mut tokio::time::Interval) -> Result<RunOutcome> {
        loop {
            while let Ok(completion) = self.done_rx.try_recv() {
                self.complete(completion);
            }
            if self.shutdown.is_cancelled() && self.stop_deadline.is_none() {
                // Fired before the loop saw it (e.g. before execution started): no claim.
                self.begin_stop();
            }
            if self.stop_deadline.is_none() {
                self.pick_claims(Utc::now());
            }
            let finished = self.view.all_terminal();
            let stopped = self.stop_deadline.is_some() && self.in_flight.is_empty();
            if stopped && !finished && self.fail_on_shutdown {
                self.batch.run = Some(RunTransition {
                    run_pk: self.run.id,
                    state: RunState::Failed,
                });
            } else {
                self.stage_run_state(finished);
            }
            if !self.batch.is_empty() {
                self.write_batch().await?;
            }
            self.send_notices();
            if finished {
                return self.finish().await;
            }
            if stopped {
                let run = self.reload_run().await?;
                if self.fail_on_shutdown {
                    self.emit(EventKind::RunFinished {
                        state: run.state,
                        duration: self.started.elapsed(),
                    });
                } else {
                    self.emit(EventKind::RunInterrupted);
                }
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
                _ = self.shutdown.cancelled(), if self.stop_deadline.is_none() => self.begin_stop(),
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

    /// Stops taking work: running steps are cancelled when the deadline passes, at once with
    /// [`OnShutdown::Fail`], after the `shutdown_grace` setting otherwise.
    fn begin_stop(&mut self) {
        let grace = if self.fail_on_shutdown {
            Duration::ZERO
        } else {
            self.engine.settings().shutdown_grace
        };
        self.stop_deadline = Some(Instant::now() + grace);
    }

    /// Ends the run's execution: its final record, notifications and event.
    async fn finish(&mut self) -> Result<RunOutcome> {
        let run = self.reload_run().await?;
        // A run that ended because steps were cut short by a shutdown did not fail on its
        // own: nobody is told (like the tries cut short).
        let cut_short = self.cut_short > 0;
        if !cut_short {
            self.queue_run_notices(run.state);
            self.send_notices();
        }
        self.emit(EventKind::RunFinished {
            state: run.state,
            duration: self.started.elapsed(),
        });
        Ok(RunOutcome {
            run,
            interrupted: cut_short,
        })
    }

    /// The run as stored now.
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

    /// Sends an event of this run to the event sink (when anyone listens).
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

/// A std duration as a chrono one (saturating: a huge duration is "forever").
fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The tokio instant at which the wall clock reads `at` (now, when `at` has passed).
fn instant_at(at: DateTime<Utc>) -> Instant {
    let ahead = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + ahead
}
