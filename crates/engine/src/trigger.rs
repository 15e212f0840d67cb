//! Creating runs: manual triggers, and the run rows the scheduler and backfill create.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use flowctl_model::dag::Dag;
use flowctl_model::schedule::DataInterval;
use flowctl_state::{NewRun, NewTask, RunRecord, RunType};
use serde_json::{Map, Value};

use crate::job::TargetInfo;
use crate::params::merge_params;
use crate::{Engine, EngineError, Result};

/// What `flowctl run` asks for.
#[derive(Debug, Clone, Default)]
pub struct TriggerRequest {
    /// `--date`: the run gets the data interval the DAG's schedule gives this date (logical
    /// date = interval start). `None`: a manual run now, interval `[now, now]`.
    pub date: Option<DateTime<Utc>>,
    /// `--param` overrides of the DAG's params. Strings are converted to the type of the
    /// param's default (see the CLI's `--param k=v`).
    pub params: BTreeMap<String, Value>,
    /// Target name; `None` = the default target.
    pub target: Option<String>,
}

/// The run id of a run: `manual__2026-01-01T00:00:00+00:00` (Airflow's format; fractions of a
/// second only when present).
pub fn run_id_for(run_type: RunType, logical_date: DateTime<Utc>) -> String {
    format!(
        "{}__{}",
        run_type.as_str(),
        logical_date.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    )
}

impl Engine {
    /// Creates a run of an applied DAG (not executed: see [`Engine::execute_run`]).
    ///
    /// Everything is checked before anything is written: the DAG is applied, the target
    /// exists and every step has a job for its kind, the job types are registered, the pools
    /// exist, the params are declared and of the right type, the run id is free.
    pub async fn trigger(&self, dag_id: &str, request: &TriggerRequest) -> Result<RunRecord> {
        let target = self.target(request.target.as_deref())?.clone();
        let (record, dag) = self.load_current(dag_id, target.kind).await?;
        self.check_runnable(&dag, &target)?;
        let params = merge_params(&dag.params, &request.params)?;
        let (logical_date, interval) = match request.date {
            Some(date) => {
                let interval = dag.interval_for_date(date);
                (interval.start, interval)
            }
            None => {
                // Microseconds: what the store keeps, so the run id matches the stored date.
                let now = truncate_to_micros(Utc::now());
                (
                    now,
                    DataInterval {
                        start: now,
                        end: now,
                    },
                )
            }
        };
        let run_id = run_id_for(RunType::Manual, logical_date);
        let new = new_run(
            &dag,
            &record.version_hash,
            &run_id,
            interval,
            logical_date,
            RunType::Manual,
            params,
            &target,
        );
        self.store()
            .create_run(&new)
            .await?
            .ok_or_else(|| EngineError::RunExists {
                dag_id: dag_id.to_string(),
                run_id,
            })
    }

    /// Checks that every step can run on `target` with this engine: a job for the target's
    /// kind, a registered job type, an existing pool.
    pub(crate) fn check_runnable(&self, dag: &Dag, target: &TargetInfo) -> Result<()> {
        let mut problems = Vec::new();
        for (id, step) in &dag.steps {
            match step.job_for(target.kind) {
                None => problems.push(format!(
                    "step `{id}` has no `{}` variant (target `{}`)",
                    target.kind, target.name
                )),
                Some(job) if self.registry().get(&job.job_type).is_none() => {
                    problems.push(format!(
                        "step `{id}` uses job type `{}`, which this build does not provide",
                        job.job_type
                    ))
                }
                Some(_) => {}
            }
            if let Some(pool) = &step.pool {
                match self.settings().pools.get(pool) {
                    None => problems.push(format!(
                        "step `{id}` uses pool `{pool}`, which the project file does not declare"
                    )),
                    Some(0) => problems.push(format!("pool `{pool}` of step `{id}` has size 0")),
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(format!(
                "DAG `{}` cannot run on target `{}`:\n  {}",
                dag.id,
                target.name,
                problems.join("\n  ")
            )))
        }
    }

    /// Creates a scheduled or backfill run for `interval`; `None` when its run id exists.
    pub(crate) async fn create_interval_run(
        &self,
        dag: &Dag,
        version_hash: &str,
        interval: DataInterval,
        run_type: RunType,
        target: &TargetInfo,
    ) -> Result<Option<RunRecord>> {
        let new = interval_run(dag, version_hash, interval, run_type, target);
        Ok(self.store().create_run(&new).await?)
    }
}

/// The run of one data interval, with the DAG's default params.
pub(crate) fn interval_run(
    dag: &Dag,
    version_hash: &str,
    interval: DataInterval,
    run_type: RunType,
    target: &TargetInfo,
) -> NewRun {
    let run_id = run_id_for(run_type, interval.start);
    new_run(
        dag,
        version_hash,
        &run_id,
        interval,
        interval.start,
        run_type,
        dag.params.clone(),
        target,
    )
}

#[allow(clippy::too_many_arguments)]
fn new_run(
    dag: &Dag,
    version_hash: &str,
    run_id: &str,
    interval: DataInterval,
    logical_date: DateTime<Utc>,
    run_type: RunType,
    params: Map<String, Value>,
    target: &TargetInfo,
) -> NewRun {
    NewRun {
        dag_id: dag.id.clone(),
        run_id: run_id.to_string(),
        version_hash: version_hash.to_string(),
        logical_date,
        interval_start: interval.start,
        interval_end: interval.end,
        run_type,
        params,
        target: target.name.clone(),
        tasks: dag
            .topological_order()
            .into_iter()
            .filter_map(|id| dag.steps.get(id))
            .map(|step| NewTask {
                task_id: step.id.clone(),
                max_tries: step.max_tries(),
            })
            .collect(),
    }
}

fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn run_ids_follow_airflow() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            run_id_for(RunType::Manual, t),
            "manual__2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            run_id_for(RunType::Scheduled, t),
            "scheduled__2026-01-01T00:00:00+00:00"
        );
        let t = t + chrono::Duration::microseconds(1500);
        assert_eq!(
            run_id_for(RunType::Backfill, t),
            "backfill__2026-01-01T00:00:00.001500+00:00"
        );
    }
}
