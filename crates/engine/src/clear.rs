//! Clearing a run: re-run failed (or all) steps and everything downstream of them.

use std::collections::BTreeSet;

use chrono::{SecondsFormat, Utc};
use flowctl_state::{RunRecord, RunState, StoreError, TaskReset, TaskState};

use crate::{Engine, EngineError, Result};

/// Which steps [`Engine::clear`] resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearScope {
    /// `failed` and `upstream_failed` steps, and everything downstream of them.
    Failed,
    /// Every step.
    All,
}

/// What [`Engine::clear`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearReport {
    /// The run after clearing (`queued` when something was cleared).
    pub run: RunRecord,
    /// Step ids reset to `queued`, in the DAG's order. Empty = nothing to clear.
    pub cleared: Vec<String>,
}

impl Engine {
    /// Resets steps of a run for a re-run: each goes back to `queued` with fresh tries (its
    /// attempt history and logs are kept), its outputs are dropped, and the run goes back to
    /// `queued`; then [`Engine::execute_run`] runs it again. Refused while the run is being
    /// executed by a live process (its execution lease is valid); steps left `running` by a
    /// process that is gone (their leases expired) are recovered as lost tries and cleared.
    pub async fn clear(
        &self,
        dag_id: &str,
        run_id: &str,
        scope: ClearScope,
    ) -> Result<ClearReport> {
        let store = self.store();
        let unknown = || EngineError::UnknownRun {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
        };
        let run = store.get_run(dag_id, run_id).await?.ok_or_else(unknown)?;
        let dag = self.load_version(dag_id, &run.version_hash, None).await?;
        let now = Utc::now();
        if let (Some(holder), Some(until)) = (&run.holder, run.lease_expires_at)
            && until >= now
        {
            return Err(EngineError::Conflict(format!(
                "run `{run_id}` is being executed by {holder}; wait for it to finish before \
                 clearing (if that process is gone, its lease expires at {})",
                until.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
        // Steps left `running` by a process that is gone (killed, crashed: its leases
        // expired) are recovered first, their tries marked lost; they are cleared with the
        // failed ones.
        let recovered: BTreeSet<String> = store
            .recover_expired_leases(now, Some(run.id), self.settings().free_losses)
            .await?
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        let tasks = store.list_tasks(run.id).await?;

        let downstream = dag.downstream();
        let mut selected: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = tasks
            .iter()
            .filter(|t| match scope {
                ClearScope::All => true,
                ClearScope::Failed => {
                    matches!(t.state, TaskState::Failed | TaskState::UpstreamFailed)
                        || recovered.contains(&t.task_id)
                        // A run that ended while some steps had not (stopped by a signal
                        // in the foreground): those are cleared too.
                        || (run.state == RunState::Failed && !t.state.is_terminal())
                }
            })
            .map(|t| t.task_id.as_str())
            .collect();
        while let Some(step) = stack.pop() {
            if selected.insert(step)
                && let Some(next) = downstream.get(step)
            {
                stack.extend(next.iter().copied());
            }
        }
        if selected.is_empty() {
            return Ok(ClearReport {
                run,
                cleared: Vec::new(),
            });
        }
        let mut resets = Vec::new();
        let mut cleared = Vec::new();
        for task in &tasks {
            if let Some(step) = dag.steps.get(&task.task_id)
                && selected.contains(task.task_id.as_str())
            {
                resets.push(TaskReset {
                    ti_id: task.id,
                    tries: step.max_tries(),
                });
                cleared.push(task.task_id.clone());
            }
        }
        store
            .clear_tasks(run.id, &resets)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(message) => EngineError::Conflict(message),
                other => other.into(),
            })?;
        let run = store.get_run_by_pk(run.id).await?.ok_or_else(unknown)?;
        Ok(ClearReport { run, cleared })
    }
}
