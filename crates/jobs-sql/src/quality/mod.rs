//! The `quality` job type: checks on a lakehouse table whose results are appended to a results
//! table. Error-severity failures fail the step after every check ran; warnings only log.
//!
//! Its fields ([`QualityConfig`]) are checked offline and again before every attempt: tables
//! with a namespace, at least one check, each check exactly one kind with valid parameters
//! (columns named, `range` and `row_count` bounds in order, `accepted_values` not empty,
//! durations that parse, queries known before rendering that parse, usable environment
//! variable names), each problem at `checks.N.field`, and unique check names. A check that
//! cannot be evaluated at run time (an unknown column, an unreachable Postgres) counts as
//! failed with the reason; the results are appended once every check ran.

mod checks;
mod config;
mod postgres;
mod results;

use chrono::Utc;
use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_lakehouse::{IcebergSettings, IcebergTarget, TableName};

pub use config::{
    AcceptedValues, Check, CheckKind, DEFAULT_RESULTS_TABLE, Freshness, QualityConfig, RangeCheck,
    RowCount, Severity,
};
pub use results::{CheckResult, Status};

use crate::error::SqlError;
use crate::session::lakehouse_session;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "quality";

/// The outputs of a successful `quality` step.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "passed",
        description: "Checks that held.",
    },
    OutputDoc {
        name: "failed",
        description: "Error-severity checks that did not hold (0 on success: any fails the step).",
    },
    OutputDoc {
        name: "warned",
        description: "Warn-severity checks that did not hold.",
    },
];

/// The `quality` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct QualityJob;

impl Job for QualityJob {
    type Config = QualityConfig;
    const TYPE: &'static str = TYPE_NAME;

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            reports_checks: true,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: QualityConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx
            .target
            .section::<IcebergTarget>()?
            .resolve(&ctx.project_dir);
        let cancel = ctx.cancel.clone();
        let results = tokio::select! {
            r = run_checks(&config, &ctx, &settings) => r.map_err(SqlError::into_job_error)?,
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
    settings: &IcebergSettings,
) -> Result<Vec<CheckResult>, SqlError> {
    let kinds = config
        .checks
        .iter()
        .enumerate()
        .map(|(i, check)| {
            check.kind().ok_or_else(|| {
                SqlError::Internal(format!(
                    "quality check {i} has no valid kind after its check"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let table = TableName::parse(&config.table)?;
    let results_table = TableName::parse(&config.results_table)?;
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
    for (check, kind) in config.checks.iter().zip(kinds) {
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
