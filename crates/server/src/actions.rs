//! The actions, shared by the API and the UI: the same engine calls as `flowctl run`,
//! `pause`/`unpause` and `clear`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flowctl_engine::{ClearReport, ClearScope, TriggerRequest};
use flowctl_model::schedule::parse_local_datetime;
use flowctl_state::RunRecord;

use crate::Shared;
use crate::error::{ApiError, ApiResult};

impl Shared {
    /// Creates a manual run (params validated by the engine, like `flowctl run --param`) and
    /// starts executing it when this server executes runs.
    pub async fn trigger_run(
        &self,
        dag_id: &str,
        params: BTreeMap<String, serde_json::Value>,
        date: Option<&str>,
        target: Option<String>,
    ) -> ApiResult<RunRecord> {
        let record = self.dag_record(dag_id).await?;
        let date = match date.map(str::trim).filter(|d| !d.is_empty()) {
            Some(text) => Some(self.parse_date(&record, text).await?),
            None => None,
        };
        let request = TriggerRequest {
            date,
            params,
            target,
        };
        let run = self.engine.trigger(dag_id, &request).await?;
        tracing::info!("triggered run {} of DAG {dag_id}", run.run_id);
        self.start_execution(run.clone());
        Ok(run)
    }

    /// A date given for a run, in the DAG's time zone unless it has an offset.
    async fn parse_date(
        &self,
        record: &flowctl_state::DagRecord,
        text: &str,
    ) -> ApiResult<DateTime<Utc>> {
        let dag = self.current_dag(record).await?;
        parse_local_datetime(text, dag.timezone)
            .map_err(|why| ApiError::bad_request(format!("invalid date `{text}`: {why}")))
    }

    /// Pauses or unpauses a DAG.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> ApiResult<()> {
        self.dag_record(dag_id).await?;
        if !self.engine.store().set_paused(dag_id, paused).await? {
            return Err(ApiError::not_found(format!(
                "DAG `{dag_id}` is not applied"
            )));
        }
        tracing::info!(
            "DAG {dag_id} {}",
            if paused { "paused" } else { "unpaused" }
        );
        Ok(())
    }

    /// Clears a run's steps (all, or the failed ones and what depends on them) and starts
    /// executing it again when this server executes runs.
    pub async fn clear_run(
        &self,
        dag_id: &str,
        run_id: &str,
        failed_only: bool,
    ) -> ApiResult<ClearReport> {
        let run = self.find_run(dag_id, run_id).await?;
        let scope = if failed_only {
            ClearScope::Failed
        } else {
            ClearScope::All
        };
        let report = self.engine.clear(dag_id, &run.run_id, scope).await?;
        if !report.cleared.is_empty() {
            tracing::info!(
                "cleared {} of run {} of DAG {dag_id}",
                report.cleared.join(", "),
                run.run_id
            );
            self.start_execution(report.run.clone());
        }
        Ok(report)
    }
}
