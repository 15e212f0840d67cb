//! Helpers shared by the job types' tests.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, JobRegistry, LogLine};
use tokio::sync::mpsc::UnboundedReceiver;

/// An attempt context from [`JobContext::for_test`] with the values the tests assert on:
/// DAG `orders`, task `extract`, second try, the interval 2026-03-04..05 (UTC), target `ci`.
/// Its log lines arrive on the receiver.
pub(crate) fn context(project_dir: PathBuf) -> (JobContext, UnboundedReceiver<LogLine>) {
    let (mut ctx, lines) = JobContext::for_test(project_dir);
    ctx.dag_id = "orders".into();
    ctx.task_id = "extract".into();
    ctx.try_number = 2;
    ctx.data_interval_start = Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).single().unwrap();
    ctx.data_interval_end = Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).single().unwrap();
    ctx.target.name = "ci".into();
    (ctx, lines)
}

/// Runs one attempt of `job` the way the engine does: the step's fields (JSON, rendered)
/// are parsed and checked first, and a refused config never reaches [`Job::run`].
pub(crate) async fn run_checked<J: Job>(
    job: J,
    config: serde_json::Value,
    ctx: JobContext,
) -> Result<JobOutput, JobError> {
    let mut registry = JobRegistry::new();
    registry.add(job);
    let plugin = registry.get(J::TYPE).expect("just registered");
    plugin.run(config, ctx).await
}
