//! Store records and parsed DAGs to API types.

use std::collections::BTreeMap;

use flowctl_model::dag::{Dag, StepJob};
use flowctl_state::{AttemptRecord, DagRecord, RunRecord, TaskRecord};

use super::types::{AttemptInfo, DagInfo, RunInfo, RunSummary, StepInfo, TaskInfo};
use crate::Shared;
use crate::error::ApiResult;
use crate::read::next_run;

pub fn run_info(run: &RunRecord) -> RunInfo {
    RunInfo {
        dag_id: run.dag_id.clone(),
        run_id: run.run_id.clone(),
        state: run.state.to_string(),
        trigger: run.run_type.to_string(),
        logical_date: run.logical_date,
        interval_start: run.interval_start,
        interval_end: run.interval_end,
        params: run.params.clone(),
        target: run.target.clone(),
        version_hash: run.version_hash.clone(),
        created_at: run.created_at,
        started_at: run.started_at,
        ended_at: run.ended_at,
        holder: run.holder.clone(),
    }
}

pub fn attempt_info(a: &AttemptRecord) -> AttemptInfo {
    AttemptInfo {
        try_number: a.try_number,
        state: a.state.to_string(),
        holder: a.holder.clone(),
        started_at: a.started_at,
        ended_at: a.ended_at,
        duration_seconds: a
            .ended_at
            .map(|end| (end - a.started_at).num_microseconds().unwrap_or(0) as f64 / 1e6),
        exit_code: a.exit_code,
        error: a.error.clone(),
    }
}

pub fn task_info(t: &TaskRecord, attempts: &[AttemptRecord]) -> TaskInfo {
    TaskInfo {
        step_id: t.task_id.clone(),
        state: t.state.to_string(),
        try_number: t.try_number,
        max_tries: t.max_tries,
        next_try_at: t.next_try_at,
        holder: t.holder.clone(),
        started_at: t.started_at,
        ended_at: t.ended_at,
        attempts: attempts.iter().map(attempt_info).collect(),
    }
}

fn step_infos(dag: &Dag) -> Vec<StepInfo> {
    dag.steps
        .values()
        .map(|step| StepInfo {
            step_id: step.id.clone(),
            depends_on: step.depends_on.clone(),
            job_types: match &step.job {
                StepJob::Any(job) => BTreeMap::from([("*".to_string(), job.job_type.clone())]),
                StepJob::PerTarget(variants) => variants
                    .iter()
                    .map(|(kind, job)| (kind.clone(), job.job_type.clone()))
                    .collect(),
            },
            trigger_rule: serde_json::to_value(step.trigger_rule)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            retries: step.retries,
        })
        .collect()
}

impl Shared {
    /// A DAG with its newest `runs` runs. A stored version that no longer parses is shown
    /// with its `load_error` rather than failing the whole listing.
    pub async fn dag_info(&self, record: &DagRecord, runs: u32) -> ApiResult<DagInfo> {
        let latest = self
            .engine
            .store()
            .list_runs(&record.dag_id, runs.max(1))
            .await?;
        let parsed = self.current_dag(record).await;
        let (dag, load_error) = match parsed {
            Ok(dag) => (Some(dag), None),
            Err(err) => (None, Some(err.message)),
        };
        Ok(DagInfo {
            dag_id: record.dag_id.clone(),
            description: dag.as_ref().and_then(|d| d.description.clone()),
            schedule: dag
                .as_ref()
                .and_then(|d| d.schedule.as_ref().map(|s| s.expr().to_string())),
            timezone: dag
                .as_ref()
                .map(|d| d.timezone.to_string())
                .unwrap_or_else(|| "UTC".into()),
            paused: record.paused,
            next_run: dag
                .as_ref()
                .and_then(|d| next_run(d, record, latest.first())),
            params: dag.as_ref().map(|d| d.params.clone()).unwrap_or_default(),
            steps: dag.as_deref().map(step_infos).unwrap_or_default(),
            source_path: record.source_path.clone(),
            version_hash: record.version_hash.clone(),
            updated_at: record.updated_at,
            latest_runs: latest
                .iter()
                .take(runs as usize)
                .map(|r| RunSummary {
                    run_id: r.run_id.clone(),
                    state: r.state.to_string(),
                    logical_date: r.logical_date,
                })
                .collect(),
            load_error,
        })
    }
}
