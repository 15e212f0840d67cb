//! The `iceberg_merge` job plugin: configuration in, merge, outputs out.

use std::sync::Arc;

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_lakehouse::IcebergSettings;
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};

use crate::config::MergeConfig;
use crate::error::MergeError;
use crate::merge::{MergeHooks, MergeOutcome, merge};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "iceberg_merge";

/// The `iceberg_merge` plugin.
pub struct MergeJob {
    spec: Arc<dyn JobTypeSpec>,
    hooks: MergeHooks,
}

impl MergeJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self::with_hooks(MergeHooks::default())
    }

    /// The plugin with fault-injection hooks (tests).
    pub fn with_hooks(hooks: MergeHooks) -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::<MergeConfig>::new(TYPE_NAME)),
            hooks,
        }
    }
}

impl Default for MergeJob {
    fn default() -> Self {
        Self::new()
    }
}

fn job_error(e: MergeError) -> JobError {
    if e.is_retryable() {
        JobError::failed(e.to_string())
    } else {
        JobError::fatal(e.to_string())
    }
}

/// The step outputs: `inserted`, `updated`, `deleted`, `rows`, `source_snapshot`.
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

#[async_trait]
impl JobPlugin for MergeJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: MergeConfig = serde_json::from_value(config)
            .map_err(|e| JobError::fatal(format!("invalid iceberg_merge step: {e}")))?;
        let settings = IcebergSettings::from_target(&ctx.target.settings, &ctx.project_dir)
            .map_err(|e| JobError::fatal(e.to_string()))?;
        let lake = settings
            .open()
            .await
            .map_err(|e| JobError::failed(e.to_string()))?;
        let outcome = tokio::select! {
            r = merge(&lake, &config, &self.hooks) => r.map_err(job_error)?,
            () = ctx.cancel.cancelled() => return Err(JobError::failed("cancelled before the merge committed")),
        };
        ctx.log.system(match outcome.silver_snapshot {
            None => format!(
                "{}: no new bronze snapshot in {} (last merged: {})",
                config.target,
                config.source,
                outcome.source_snapshot.map_or("none".to_owned(), |s| s.to_string())
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
        });
        Ok(outputs(&outcome))
    }
}
