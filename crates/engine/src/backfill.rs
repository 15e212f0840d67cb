//! Backfill: create and run the runs of every interval in a date range.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use flowctl_state::RunType;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::events::EventSink;
use crate::executor::RunOutcome;
use crate::{Engine, EngineError, Result};

/// What [`Engine::backfill`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillReport {
    /// One outcome per run created and executed, oldest interval first.
    pub outcomes: Vec<RunOutcome>,
    /// Logical dates of intervals skipped because they already had a run.
    pub skipped: Vec<DateTime<Utc>>,
}

impl BackfillReport {
    /// Whether every executed run succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcomes.iter().all(RunOutcome::succeeded)
    }
}

impl Engine {
    /// Creates (run id `backfill__<logical date>`) and executes a run for every interval of
    /// the DAG's schedule starting in `[from, to]`, skipping intervals that already have a
    /// run, at most `max_active_runs` at once. Stops starting runs when `shutdown` fires.
    pub async fn backfill(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<BackfillReport> {
        if from > to {
            return Err(EngineError::Invalid(format!(
                "--from {from} is after --to {to}"
            )));
        }
        let target = self.target(None)?.clone();
        let (record, dag) = self.load_current(dag_id, target.kind).await?;
        self.check_runnable(&dag, &target)?;
        if dag.schedule.is_none() {
            return Err(EngineError::Invalid(format!(
                "DAG `{dag_id}` has no schedule: backfill needs one to know its intervals"
            )));
        }
        let existing: BTreeSet<DateTime<Utc>> = self
            .store()
            .runs_between(dag_id, from, to)
            .await?
            .into_iter()
            .map(|r| r.logical_date)
            .collect();
        let (todo, skipped): (Vec<_>, Vec<_>) = dag
            .intervals_between(from, to)
            .into_iter()
            .partition(|i| !existing.contains(&i.start));
        let skipped = skipped.into_iter().map(|i| i.start).collect();

        let limit = dag.max_active_runs.max(1) as usize;
        let mut running: JoinSet<Result<RunOutcome>> = JoinSet::new();
        let mut outcomes = Vec::new();
        let mut first_error = None;
        let mut todo = todo.into_iter();
        loop {
            while running.len() < limit && !shutdown.is_cancelled() && first_error.is_none() {
                let Some(interval) = todo.next() else { break };
                let Some(run) = self
                    .create_interval_run(
                        &dag,
                        &record.version_hash,
                        interval,
                        RunType::Backfill,
                        &target,
                    )
                    .await?
                else {
                    continue; // created meanwhile by a concurrent backfill
                };
                let (engine, events, shutdown) = (self.clone(), events.clone(), shutdown.clone());
                running.spawn(async move { engine.execute_run(&run, &events, &shutdown).await });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            match joined {
                Ok(Ok(outcome)) => outcomes.push(outcome),
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(join) => {
                    first_error.get_or_insert(EngineError::Conflict(format!(
                        "a backfill run panicked: {join}"
                    )));
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        outcomes.sort_by_key(|o| o.run.logical_date);
        Ok(BackfillReport { outcomes, skipped })
    }
}
