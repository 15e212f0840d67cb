//! The scheduler: creates runs for due data intervals of every applied, unpaused DAG with a
//! schedule, and executes queued and running runs (including runs a dead process left).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowctl_state::{RunRecord, RunType};
use tokio::task::JoinSet;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::events::EventSink;
use crate::executor::RunOutcome;
use crate::trigger::interval_run;
use crate::{Engine, EngineError, Result};

/// Called at the start of every scheduling pass with the loop's lag: how late the pass
/// started after it was due (zero when it was woken by a run ending or started at once).
pub type PassHook = std::sync::Arc<dyn Fn(Duration) + Send + Sync>;

/// How the scheduler runs.
#[derive(Clone)]
pub struct SchedulerOptions {
    /// One scheduling pass, then execute every queued/running run to completion and return.
    pub once: bool,
    /// Longest sleep between passes: how soon newly applied or unpaused DAGs, and runs left
    /// by a dead process, are noticed. Passes also happen when an interval falls due and
    /// when a run ends.
    pub poll_interval: Duration,
    /// Observes each pass's lag (the `flowctl_scheduler_loop_lag_seconds` metric).
    pub on_pass: Option<PassHook>,
    /// Most runs this process executes at once (`None`: all active runs). With several
    /// schedulers on one store, a cap leaves the other runs to the other processes.
    pub max_runs: Option<usize>,
}

impl std::fmt::Debug for SchedulerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerOptions")
            .field("once", &self.once)
            .field("poll_interval", &self.poll_interval)
            .field("on_pass", &self.on_pass.as_ref().map(|_| "Fn(Duration)"))
            .field("max_runs", &self.max_runs)
            .finish()
    }
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            once: false,
            poll_interval: Duration::from_secs(10),
            on_pass: None,
            max_runs: None,
        }
    }
}

/// What a scheduler session did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulerReport {
    /// Runs created for due intervals.
    pub created: Vec<RunRecord>,
    /// Runs executed to an end (or interrupted by shutdown).
    pub outcomes: Vec<RunOutcome>,
    /// Problems that did not stop the scheduler (a DAG that no longer loads, a run that
    /// could not be executed).
    pub errors: Vec<String>,
}

impl SchedulerReport {
    /// Whether every executed run succeeded and nothing went wrong.
    pub fn succeeded(&self) -> bool {
        self.errors.is_empty() && self.outcomes.iter().all(RunOutcome::succeeded)
    }
}

type Running = JoinSet<(i64, Result<RunOutcome>)>;

impl Engine {
    /// Runs the scheduler until `shutdown` fires (or, with `once`, for one pass and the runs
    /// it finds). On shutdown it stops creating and claiming, lets running steps finish within
    /// the `shutdown_grace` setting, then cancels the rest: their tries are recorded as failed
    /// and re-queued without consuming a retry.
    pub async fn scheduler(
        &self,
        options: &SchedulerOptions,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<SchedulerReport> {
        let mut report = SchedulerReport::default();
        let mut running: Running = JoinSet::new();
        let mut executing: HashSet<i64> = HashSet::new();
        // Runs another live process executes: not tried again until the next timed pass (so
        // a finished executor does not wake the loop into retrying them at once, forever).
        let mut held_elsewhere: HashSet<i64> = HashSet::new();
        // When the current pass was due, if it was started by its timer.
        let mut due_at: Option<DateTime<Utc>> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Some(hook) = &options.on_pass {
                let lag = due_at
                    .and_then(|due| (Utc::now() - due).to_std().ok())
                    .unwrap_or_default();
                hook(lag);
            }
            if due_at.take().is_some() {
                held_elsewhere.clear();
            }
            let recovered = self
                .store()
                .recover_expired_leases(Utc::now(), None, self.settings().free_losses)
                .await?;
            for task in &recovered {
                tracing::warn!(
                    "step {} (try {}) lost its worker {}: queued again",
                    task.task_id,
                    task.try_number,
                    task.holder.as_deref().unwrap_or("?")
                );
            }
            let pass = self.schedule_pass(Utc::now(), &mut report).await?;
            let mut capped = false;
            for run in self.store().active_runs().await? {
                if pass.paused.contains(&run.dag_id)
                    || held_elsewhere.contains(&run.id)
                    || executing.contains(&run.id)
                {
                    continue;
                }
                if options.max_runs.is_some_and(|max| executing.len() >= max) {
                    capped = true;
                    break;
                }
                executing.insert(run.id);
                let (engine, events, shutdown) = (self.clone(), events.clone(), shutdown.clone());
                running.spawn(async move {
                    let outcome = engine.execute_run(&run, &events, &shutdown).await;
                    (run.id, outcome)
                });
            }
            if options.once {
                if capped {
                    // At the cap: take the next run as soon as one of ours ends.
                    if let Some(joined) = running.join_next().await {
                        record(joined, &mut executing, &mut held_elsewhere, &mut report);
                    }
                    continue;
                }
                while let Some(joined) = running.join_next().await {
                    record(joined, &mut executing, &mut held_elsewhere, &mut report);
                }
                break;
            }
            let now = Utc::now();
            let poll = now
                + chrono::Duration::from_std(options.poll_interval)
                    .unwrap_or(chrono::Duration::MAX);
            let wake = pass.next_due.map_or(poll, |due| due.min(poll));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = running.join_next() => record(joined, &mut executing, &mut held_elsewhere, &mut report),
                _ = sleep_until(instant_at(wake)) => due_at = Some(wake),
            }
        }
        // Executors watch the same token: they stop within their grace periods.
        while let Some(joined) = running.join_next().await {
            record(joined, &mut executing, &mut held_elsewhere, &mut report);
        }
        Ok(report)
    }

    /// Creates the runs of due intervals of every unpaused scheduled DAG.
    async fn schedule_pass(
        &self,
        now: DateTime<Utc>,
        report: &mut SchedulerReport,
    ) -> Result<Pass> {
        let mut pass = Pass {
            paused: HashSet::new(),
            next_due: None,
        };
        let target = self.target(None)?.clone();
        for record in self.store().list_dags().await? {
            if record.paused {
                pass.paused.insert(record.dag_id.clone());
                continue;
            }
            let dag = match self
                .load_version(&record.dag_id, &record.version_hash, Some(target.kind))
                .await
            {
                Ok(dag) => dag,
                Err(err) => {
                    note(
                        report,
                        format!("DAG `{}` is not scheduled: {err}", record.dag_id),
                    );
                    continue;
                }
            };
            let Some(schedule) = &dag.schedule else {
                continue;
            };
            if let Err(err) = self.check_runnable(&dag, &target) {
                note(
                    report,
                    format!("DAG `{}` is not scheduled: {err}", record.dag_id),
                );
                continue;
            }
            // One decision per DAG under its row lock: several schedulers on one Postgres
            // store never create the same interval twice nor exceed `max_active_runs`.
            let decided = self
                .store()
                .schedule_runs(&dag.id, |state| {
                    let limit = dag.max_active_runs.saturating_sub(state.active_runs) as usize;
                    dag.due_intervals(state.last_scheduled_end, now, limit)
                        .into_iter()
                        .map(|interval| {
                            interval_run(
                                &dag,
                                &record.version_hash,
                                interval,
                                RunType::Scheduled,
                                &target,
                            )
                        })
                        .collect()
                })
                .await?;
            match decided {
                Some(created) => {
                    for run in created {
                        tracing::info!("created run {} of DAG {}", run.run_id, run.dag_id);
                        report.created.push(run);
                    }
                }
                None => tracing::debug!("another scheduler is scheduling DAG {}", dag.id),
            }
            // The next interval falls due when the next tick passes.
            if let Some(next) = schedule.next_after(now, dag.timezone) {
                pass.next_due = Some(pass.next_due.map_or(next, |d: DateTime<Utc>| d.min(next)));
            }
        }
        Ok(pass)
    }
}

/// What a scheduling pass found.
struct Pass {
    /// Paused DAGs: their runs are not executed.
    paused: HashSet<String>,
    /// The earliest time an interval of some DAG falls due.
    next_due: Option<DateTime<Utc>>,
}

fn record(
    joined: std::result::Result<(i64, Result<RunOutcome>), tokio::task::JoinError>,
    executing: &mut HashSet<i64>,
    held_elsewhere: &mut HashSet<i64>,
    report: &mut SchedulerReport,
) {
    match joined {
        Ok((run_pk, outcome)) => {
            executing.remove(&run_pk);
            match outcome {
                Ok(outcome) => {
                    tracing::info!(
                        "run {} of DAG {} ended {}",
                        outcome.run.run_id,
                        outcome.run.dag_id,
                        outcome.run.state
                    );
                    // A run picked up again after it ended (it was still listed as active
                    // when this pass read the list) is reported once.
                    match report
                        .outcomes
                        .iter_mut()
                        .find(|o| o.run.id == outcome.run.id)
                    {
                        Some(seen) => *seen = outcome,
                        None => report.outcomes.push(outcome),
                    }
                }
                // Another live process executes it: not a problem.
                Err(EngineError::Conflict(message)) if message.contains("is being executed by") => {
                    tracing::debug!("{message}");
                    held_elsewhere.insert(run_pk);
                }
                Err(err) => note(report, err.to_string()),
            }
        }
        Err(join) => note(report, format!("a run executor panicked: {join}")),
    }
}

fn note(report: &mut SchedulerReport, message: String) {
    tracing::error!("{message}");
    report.errors.push(message);
}

/// The tokio instant at which the wall clock reads `at` (now, when it has passed).
fn instant_at(at: DateTime<Utc>) -> tokio::time::Instant {
    let ahead = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + ahead
}
