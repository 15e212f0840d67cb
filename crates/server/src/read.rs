//! Reads shared by the JSON API, the web UI and the metrics: DAGs parsed from their stored
//! versions (cached: a version never changes), runs and steps looked up with 404s that say
//! what exists.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowctl_model::dag::{Dag, JobSpec};
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::{DagRecord, RunRecord, TaskRecord};

use crate::Shared;
use crate::error::{ApiError, ApiResult};

/// Runs shown per DAG in lists and the grid unless the caller asks otherwise.
pub const DEFAULT_RUN_LIMIT: u32 = 25;

/// Most runs one request may list.
pub const MAX_RUN_LIMIT: u32 = 1000;

impl Shared {
    /// An applied DAG, or a 404 naming the applied ones.
    pub async fn dag_record(&self, dag_id: &str) -> ApiResult<DagRecord> {
        let store = self.engine.store();
        if let Some(record) = store.get_dag(dag_id).await? {
            return Ok(record);
        }
        let applied: Vec<String> = store
            .list_dags()
            .await?
            .into_iter()
            .map(|d| d.dag_id)
            .collect();
        Err(ApiError::not_found(format!(
            "DAG `{dag_id}` is not applied{}",
            if applied.is_empty() {
                " (no DAG is: run `flowctl apply`)".to_string()
            } else {
                format!("; applied DAGs: {}", applied.join(", "))
            }
        )))
    }

    /// A stored version of a DAG, parsed for its structure (every target's variants).
    pub async fn dag_version(&self, dag_id: &str, hash: &str) -> ApiResult<Arc<Dag>> {
        let key = (dag_id.to_string(), hash.to_string());
        if let Some(dag) = self.dags.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(dag);
        }
        let version = self
            .engine
            .store()
            .get_dag_version(dag_id, hash)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no version {hash}")))?;
        let catalog = self.engine.registry().catalog();
        let options = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        let dag = parse_dag(&version.source_path, &version.source, &options).map_err(|diags| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "DAG `{dag_id}` as applied is not valid with this build:\n{}",
                    diags
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            )
        })?;
        let dag = Arc::new(dag);
        if let Ok(mut cache) = self.dags.lock() {
            cache.insert(key, dag.clone());
        }
        Ok(dag)
    }

    /// The current version of an applied DAG.
    pub async fn current_dag(&self, record: &DagRecord) -> ApiResult<Arc<Dag>> {
        self.dag_version(&record.dag_id, &record.version_hash).await
    }

    /// A run by id (`latest` = the newest), or a 404.
    pub async fn find_run(&self, dag_id: &str, run_id: &str) -> ApiResult<RunRecord> {
        self.dag_record(dag_id).await?;
        let store = self.engine.store();
        let found = if run_id == "latest" {
            store.list_runs(dag_id, 1).await?.into_iter().next()
        } else {
            store.get_run(dag_id, run_id).await?
        };
        found.ok_or_else(|| {
            ApiError::not_found(if run_id == "latest" {
                format!("DAG `{dag_id}` has no runs yet")
            } else {
                format!(
                    "DAG `{dag_id}` has no run `{run_id}` (list them at /api/v1/dags/{dag_id}/runs)"
                )
            })
        })
    }

    /// A step of a run, or a 404 naming the run's steps.
    pub async fn find_task(&self, run: &RunRecord, step: &str) -> ApiResult<TaskRecord> {
        let store = self.engine.store();
        if let Some(task) = store.get_task(run.id, step).await? {
            return Ok(task);
        }
        let steps: Vec<String> = store
            .list_tasks(run.id)
            .await?
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        Err(ApiError::not_found(format!(
            "run `{}` of DAG `{}` has no step `{step}`; steps: {}",
            run.run_id,
            run.dag_id,
            steps.join(", ")
        )))
    }

    /// The kind (`local`, `aws`) of a run's target; `local` when this process does not know
    /// the target.
    pub fn target_kind(&self, target: &str) -> flowctl_model::dag::TargetKind {
        self.engine
            .target(Some(target))
            .map(|t| t.kind)
            .unwrap_or_default()
    }

    /// The job a step of `dag` ran for a run on `target`.
    pub fn step_job<'d>(&self, dag: &'d Dag, step: &str, target: &str) -> Option<&'d JobSpec> {
        dag.steps.get(step)?.job_for(self.target_kind(target))
    }
}

/// When the scheduler creates the DAG's next run: the next schedule tick after the end of
/// the latest run's interval (and after now). `None` when paused or unscheduled.
pub fn next_run(dag: &Dag, record: &DagRecord, last: Option<&RunRecord>) -> Option<DateTime<Utc>> {
    if record.paused {
        return None;
    }
    let schedule = dag.schedule.as_ref()?;
    let now = Utc::now();
    let after = last.map(|r| r.interval_end).unwrap_or(now).max(now);
    schedule.next_after(after, dag.timezone)
}

/// Steps in layers: a step's layer is one more than its deepest upstream step's (roots are
/// layer 0), each layer in the DAG's topological order.
pub fn layers(dag: &Dag) -> Vec<Vec<&str>> {
    let mut depth: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<Vec<&str>> = Vec::new();
    for id in dag.topological_order() {
        let Some(step) = dag.steps.get(id) else {
            continue;
        };
        let d = step
            .depends_on
            .iter()
            .filter_map(|up| depth.get(up.as_str()))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(id, d);
        if out.len() <= d {
            out.resize_with(d + 1, Vec::new);
        }
        out[d].push(id);
    }
    out
}
