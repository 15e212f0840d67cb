//! The `iceberg_merge` job: checked fields in, merge, outputs out.

use flowctl_engine::job::telemetry::{OutputCounter, OutputDoc};
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_lakehouse::{IcebergTarget, LakehouseError};

use crate::config::MergeConfig;
use crate::error::MergeError;
use crate::merge::{MergeHooks, MergeOutcome, merge};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "iceberg_merge";

/// The outputs a successful step sets.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "inserted",
        description: "Keys that were not live before this merge and are now.",
    },
    OutputDoc {
        name: "updated",
        description: "Live keys that changed and are still live.",
    },
    OutputDoc {
        name: "deleted",
        description: "Live keys that were deleted.",
    },
    OutputDoc {
        name: "rows",
        description: "Live rows (`mode: current`) or current versions (`mode: scd2`) in silver \
                      after the merge.",
    },
    OutputDoc {
        name: "source_snapshot",
        description: "The last bronze snapshot merged, by this run or an earlier one (empty \
                      while none was).",
    },
];

const MERGED_ROWS: &str = "flowctl_cdc_merged_rows";
const MERGED_ROWS_HELP: &str =
    "Rows changed by silver merges by DAG, step, table and change (insert, update, delete)";

/// `flowctl_cdc_merged_rows`, one series per kind of change.
const COUNTERS: &[OutputCounter] = &[
    OutputCounter {
        metric: MERGED_ROWS,
        help: MERGED_ROWS_HELP,
        output: "inserted",
        labels: &[("change", "insert")],
    },
    OutputCounter {
        metric: MERGED_ROWS,
        help: MERGED_ROWS_HELP,
        output: "updated",
        labels: &[("change", "update")],
    },
    OutputCounter {
        metric: MERGED_ROWS,
        help: MERGED_ROWS_HELP,
        output: "deleted",
        labels: &[("change", "delete")],
    },
];

/// The `iceberg_merge` job type.
#[derive(Default)]
pub struct MergeJob {
    hooks: MergeHooks,
}

impl MergeJob {
    /// The job, ready to register.
    pub fn new() -> Self {
        Self::with_hooks(MergeHooks::default())
    }

    /// The job with fault-injection hooks (tests).
    pub fn with_hooks(hooks: MergeHooks) -> Self {
        Self { hooks }
    }
}

/// A lakehouse or catalog error as a job failure: retryable as the lakehouse decides.
fn lakehouse_error(context: &str, e: &LakehouseError) -> JobError {
    JobError::classified(format!("{context}: {e}"), e.is_retryable())
}

fn merge_error(e: &MergeError) -> JobError {
    JobError::classified(e.to_string(), e.is_retryable())
}

/// The step outputs (see [`OUTPUTS`]).
fn outputs(outcome: &MergeOutcome) -> JobOutput {
    let mut out = JobOutput::default();
    let mut put = |k: &str, v: String| {
        out.outputs.insert(k.to_owned(), v);
    };
    put("inserted", outcome.inserted.to_string());
    put("updated", outcome.updated.to_string());
    put("deleted", outcome.deleted.to_string());
    put("rows", outcome.rows.to_string());
    put(
        "source_snapshot",
        outcome
            .source_snapshot
            .map(|s| s.to_string())
            .unwrap_or_default(),
    );
    out
}

/// The log line saying what the merge did.
fn summary(config: &MergeConfig, outcome: &MergeOutcome) -> String {
    match outcome.silver_snapshot {
        None => format!(
            "{}: no new bronze snapshot in {} (last merged: {})",
            config.target,
            config.source,
            outcome
                .source_snapshot
                .map_or("none".to_owned(), |s| s.to_string())
        ),
        Some(snapshot) => format!(
            "{}: merged {} change(s) up to bronze snapshot {}: {} inserted, {} updated, {} deleted, {} live row(s); rewrote {} file(s); snapshot {snapshot}{}",
            config.target,
            outcome.changes,
            outcome.source_snapshot.unwrap_or_default(),
            outcome.inserted,
            outcome.updated,
            outcome.deleted,
            outcome.rows,
            outcome.replaced_files.len(),
            [
                (outcome.truncates_ignored > 0)
                    .then(|| format!("; {} truncate event(s) ignored", outcome.truncates_ignored)),
                outcome.reread_for_toast.then(|| {
                    "; bronze read twice: a latest change had TOAST placeholders to fill from earlier changes".to_owned()
                }),
            ]
            .into_iter()
            .flatten()
            .collect::<String>()
        ),
    }
}

impl Job for MergeJob {
    type Config = MergeConfig;
    const TYPE: &'static str = TYPE_NAME;

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            table_field: Some("target"),
            counters: COUNTERS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: MergeConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx
            .target
            .section::<IcebergTarget>()?
            .resolve(&ctx.project_dir);
        let lake = settings
            .open()
            .await
            .map_err(|e| lakehouse_error("opening the target's Iceberg catalog", &e))?;
        let outcome = tokio::select! {
            r = merge(&lake, &config, &self.hooks) => r.map_err(|e| merge_error(&e))?,
            () = ctx.cancel.cancelled() => {
                return Err(JobError::failed("cancelled before the merge committed"));
            }
        };
        ctx.log.system(summary(&config, &outcome));
        Ok(outputs(&outcome))
    }
}
