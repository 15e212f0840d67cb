//! The `quality` job type: checks on a lakehouse table whose results are appended to a results
//! table. Error-severity failures fail the step after every check ran; warnings only log.

mod checks;
mod config;
mod postgres;
mod results;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_lakehouse::{IcebergSettings, TableName};
use flowctl_model::catalog::{ConfigError, JobTypeSpec, TypedJobSpec};

pub use config::{
    AcceptedValues, Check, CheckKind, DEFAULT_RESULTS_TABLE, Freshness, QualityConfig, RangeCheck,
    RowCount, Severity,
};
pub use results::{CheckResult, Status};

use crate::error::SqlError;
use crate::session::lakehouse_session;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "quality";

/// The `quality` plugin.
pub struct QualityJob {
    spec: Arc<dyn JobTypeSpec>,
}

impl QualityJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::with_rules(TYPE_NAME, quality_rules)),
        }
    }
}

impl Default for QualityJob {
    fn default() -> Self {
        Self::new()
    }
}

/// Exactly one kind per check, with valid parameters: the rules serde alone cannot express.
fn quality_rules(config: &QualityConfig) -> Result<(), ConfigError> {
    config::check(config).map_err(|(path, message)| ConfigError { path, message })
}

#[async_trait]
impl JobPlugin for QualityJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: QualityConfig = serde_json::from_value(config)
            .map_err(|err| JobError::fatal(format!("invalid quality step: {err}")))?;
        config::check(&config).map_err(|(path, e)| {
            JobError::fatal(format!("invalid quality step at {}: {e}", path.join(".")))
        })?;
        let cancel = ctx.cancel.clone();
        let results = tokio::select! {
            r = run_checks(&config, &ctx) => r.map_err(SqlError::into_job_error)?,
            _ = cancel.cancelled() => return Err(JobError::failed("quality step cancelled")),
        };
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        let (passed, failed, warned) = (
            count(Status::Passed),
            count(Status::Failed),
            count(Status::Warn),
        );
        ctx.log.system(format!(
            "{} checks on {}: {passed} passed, {failed} failed, {warned} warned",
            results.len(),
            config.table
        ));
        if failed > 0 {
            let names: Vec<String> = results
                .iter()
                .filter(|r| r.status == Status::Failed)
                .map(|r| format!("{} ({})", r.check_name, r.message))
                .collect();
            // Retryable on purpose: freshness and reconciliation checks can pass once
            // upstream catches up, and the step's retry policy says how long to wait.
            return Err(JobError::failed(format!(
                "{failed} quality check(s) failed on {}: {}",
                config.table,
                names.join("; ")
            )));
        }
        let mut output = JobOutput::default();
        output.outputs.insert("passed".into(), passed.to_string());
        output.outputs.insert("failed".into(), failed.to_string());
        output.outputs.insert("warned".into(), warned.to_string());
        Ok(output)
    }
}

/// Runs every check (a check that cannot be evaluated counts as failed, with the reason),
/// appends the results, and returns them.
async fn run_checks(
    config: &QualityConfig,
    ctx: &JobContext,
) -> Result<Vec<CheckResult>, SqlError> {
    let table = TableName::parse(&config.table)?;
    let results_table = TableName::parse(&config.results_table)?;
    let settings = IcebergSettings::from_target(&ctx.target.settings, &ctx.project_dir)?;
    let lake = settings.open().await?;
    let session = lakehouse_session(&lake).await?;
    let table_ref = table
        .namespace()
        .iter()
        .map(|p| checks::ident(p))
        .chain([checks::ident(table.name())])
        .collect::<Vec<_>>()
        .join(".");
    let mut results = Vec::with_capacity(config.checks.len());
    for check in &config.checks {
        let kind = check.kind().map_err(SqlError::Config)?;
        let name = check.name.clone().unwrap_or_else(|| kind.default_name());
        let now = Utc::now();
        let outcome = match &kind {
            CheckKind::RowCountEqualsPostgres { query, url_env } => {
                match postgres::count(url_env, query).await {
                    Ok(n) => checks::evaluate(&session, &table_ref, &kind, Some(n), now).await,
                    Err(e) => Err(e),
                }
            }
            _ => checks::evaluate(&session, &table_ref, &kind, None, now).await,
        };
        let (status, observed, message) = match outcome {
            Ok(o) if o.passed => (Status::Passed, o.observed, o.message),
            Ok(o) => (Status::failure(check.severity), o.observed, o.message),
            Err(e) => (
                Status::failure(check.severity),
                String::new(),
                format!("could not evaluate: {e}"),
            ),
        };
        let line = format!(
            "check {name} [{}]: {} — {message}",
            check.severity.as_str(),
            status.as_str()
        );
        ctx.log.system(line);
        results.push(CheckResult {
            dag_id: ctx.dag_id.clone(),
            run_id: ctx.run_id.clone(),
            task_id: ctx.task_id.clone(),
            table_name: table.to_string(),
            check_name: name,
            kind: kind.kind_name().to_owned(),
            severity: check.severity,
            status,
            observed,
            message,
            checked_at: now,
        });
    }
    results::append(&lake, &results_table, &results).await?;
    Ok(results)
}
