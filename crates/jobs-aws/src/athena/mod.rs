//! The `athena_query` job type: runs one query on Athena (inline SQL, or a templated `file:`),
//! waits for it, and optionally checks how many rows it returned.
//!
//! Durable like `glue_job`: the query's id is stored in the task's handles
//! (`athena_query_execution_id`) before waiting, so a retry or a restarted attempt
//! reconnects to it; and each submission carries an idempotency token derived from the
//! DAG, run, step and try, so a submission the SDK resends is not a second query. A query
//! that ends FAILED or CANCELLED fails the attempt with Athena's `StateChangeReason`; a
//! timeout or cancel calls StopQueryExecution.

pub mod config;
mod results;
#[cfg(test)]
mod tests;

use std::time::Duration;

use aws_sdk_athena::types::{
    QueryExecution, QueryExecutionContext, QueryExecutionState, ResultConfiguration, StatementType,
};
use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use sha2::{Digest, Sha256};

pub use config::{AthenaQueryConfig, Expect};

use crate::error::AwsError;
use crate::glue::STOP_TIMEOUT;
use crate::settings::{AwsClients, AwsSettings};
use crate::wait::{backoff, sleep_or_cancel};

/// The task handle holding the id of the query this task instance started.
pub const EXECUTION_ID_HANDLE: &str = "athena_query_execution_id";

/// How many times a throttled submission is retried inside one attempt.
const START_RETRIES: u32 = 8;

/// Consecutive failed reads of a query's state tolerated while waiting.
const POLL_ERRORS_TOLERATED: u32 = 5;

/// Athena's `AthenaError.ErrorCategory` for a problem in the query itself.
const USER_ERROR: i32 = 2;

/// The `athena_query` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct AthenaQuery;

/// The outputs of a successful query.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "query_execution_id",
        description: "The Athena query execution's id.",
    },
    OutputDoc {
        name: "data_scanned_bytes",
        description: "Bytes the query scanned (what Athena bills).",
    },
    OutputDoc {
        name: "rows",
        description: "Data rows of the result, over every page (the header row of a SELECT is not counted; 0 for DDL).",
    },
    OutputDoc {
        name: "update_count",
        description: "Rows written by INSERT INTO, CTAS or UPDATE (only when Athena reports it).",
    },
];

impl Job for AthenaQuery {
    type Config = AthenaQueryConfig;
    const TYPE: &'static str = "athena_query";

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: AthenaQueryConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx.target.section::<AwsSettings>()?;
        let clients = settings.clients().await?;
        run_step(&clients, &settings, &config, &ctx).await
    }
}

/// The idempotency token of an attempt: the same for a resubmission within the attempt,
/// different for the next try. Athena wants 32–128 characters: a hex SHA-256 is 64.
pub fn client_request_token(ctx: &JobContext) -> String {
    let mut hasher = Sha256::new();
    for part in [
        ctx.dag_id.as_str(),
        ctx.run_id.as_str(),
        ctx.task_id.as_str(),
        &ctx.try_number.to_string(),
    ] {
        // Length-prefixed, so that ("a/b", "c") and ("a", "b/c") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The query text: inline, or the file rendered with the step's template context; wrapped
/// in `CREATE OR REPLACE VIEW` with `create_view`.
fn query_text(config: &AthenaQueryConfig, ctx: &JobContext) -> Result<String, JobError> {
    let query = select_text(config, ctx)?;
    Ok(match &config.create_view {
        Some(view) => as_view(view, &query),
        None => query,
    })
}

/// `CREATE OR REPLACE VIEW view AS query`, without the query's final `;` (Athena runs one
/// statement).
pub(crate) fn as_view(view: &str, query: &str) -> String {
    let body = query.trim().trim_end_matches(';').trim_end();
    format!("CREATE OR REPLACE VIEW {view} AS\n{body}")
}

/// The inline query, or the file's rendered text (`check` made sure there is exactly one).
fn select_text(config: &AthenaQueryConfig, ctx: &JobContext) -> Result<String, JobError> {
    let Some(file) = &config.file else {
        return Ok(config.sql.clone().unwrap_or_default());
    };
    let path = ctx.project_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| JobError::fatal(format!("cannot read SQL file {}: {e}", path.display())))?;
    flowctl_model::template::render_str(&text, &ctx.template_context)
        .map_err(|e| JobError::fatal(format!("SQL file {}: {e}", path.display())))
}

/// One attempt with the given clients.
pub(crate) async fn run_step(
    clients: &AwsClients,
    settings: &AwsSettings,
    config: &AthenaQueryConfig,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let athena = &clients.athena;
    let poll = config.poll_interval();
    let mut execution_id = None;
    if let Some(saved) = ctx.handles.load(EXECUTION_ID_HANDLE).await? {
        match athena
            .get_query_execution()
            .query_execution_id(&saved)
            .send()
            .await
        {
            Ok(_) => {
                ctx.log.system(format!(
                    "reconnecting to Athena query {saved}, started by an earlier attempt"
                ));
                execution_id = Some(saved);
            }
            Err(e) => {
                let err = AwsError::from_sdk(&format!("athena:GetQueryExecution {saved}"), &e);
                if err.transient {
                    return Err(err.into_job_error());
                }
                // Athena answers InvalidRequestException for an id it does not know
                // (results are kept 45 days).
                ctx.log.system(format!(
                    "Athena query {saved} (from an earlier attempt) cannot be read ({}): starting a new query",
                    err.message
                ));
                ctx.handles.remove(EXECUTION_ID_HANDLE).await?;
            }
        }
    }
    let execution_id = match execution_id {
        Some(id) => id,
        None => {
            let sql = query_text(config, ctx)?;
            let id = start_query(athena, settings, config, &sql, poll, ctx).await?;
            if let Err(e) = ctx.handles.save(EXECUTION_ID_HANDLE, &id).await {
                // Unrecorded, the query could be run again by the next try: stop it.
                stop_query(athena, &id, ctx).await;
                return Err(e);
            }
            ctx.log.system(format!("started Athena query {id}"));
            id
        }
    };
    let execution = wait_for_query(athena, &execution_id, poll, ctx).await?;
    let mut out = JobOutput::default();
    out.outputs
        .insert("query_execution_id".into(), execution_id.clone());
    let scanned = execution
        .statistics()
        .and_then(|s| s.data_scanned_in_bytes())
        .unwrap_or(0);
    out.outputs
        .insert("data_scanned_bytes".into(), scanned.to_string());
    let counted = if execution.statement_type() == Some(&StatementType::Ddl) {
        results::Counted::default()
    } else {
        results::count_rows(athena, &execution_id, &ctx.cancel).await?
    };
    out.outputs.insert("rows".into(), counted.rows.to_string());
    if let Some(n) = counted.update_count {
        out.outputs.insert("update_count".into(), n.to_string());
    }
    ctx.log.system(format!(
        "Athena query {execution_id}: {} row(s), {scanned} byte(s) scanned",
        counted.rows
    ));
    if let Some(expect) = config.expect
        && let Some(wanted) = expect.violation(counted.rows)
    {
        // A rerun would query the same data again: the next run starts a new query.
        ctx.handles.remove(EXECUTION_ID_HANDLE).await?;
        return Err(JobError::fatal(format!(
            "result check failed: Athena query {execution_id} returned {} row(s), expected {wanted}",
            counted.rows
        )));
    }
    Ok(out)
}

/// StartQueryExecution with the attempt's idempotency token, retried with backoff (and the
/// same token) while throttled.
async fn start_query(
    athena: &aws_sdk_athena::Client,
    settings: &AwsSettings,
    config: &AthenaQueryConfig,
    sql: &str,
    base_delay: Duration,
    ctx: &JobContext,
) -> Result<String, JobError> {
    let defaults = &settings.athena;
    let context = QueryExecutionContext::builder()
        .set_database(
            config
                .database
                .clone()
                .or_else(|| defaults.database.clone()),
        )
        .catalog(
            config
                .catalog
                .as_deref()
                .unwrap_or_else(|| defaults.catalog()),
        )
        .build();
    let output = config
        .output_location
        .clone()
        .or_else(|| defaults.output_location.clone());
    let workgroup = config
        .workgroup
        .clone()
        .or_else(|| defaults.workgroup.clone());
    let token = client_request_token(ctx);
    let mut refusals = 0;
    loop {
        let request = athena
            .start_query_execution()
            .query_string(sql)
            .client_request_token(&token)
            .query_execution_context(context.clone())
            .set_work_group(workgroup.clone())
            .set_result_configuration(
                output
                    .clone()
                    .map(|o| ResultConfiguration::builder().output_location(o).build()),
            );
        let err = match request.send().await {
            Ok(out) => {
                return out.query_execution_id.ok_or_else(|| {
                    JobError::failed(
                        "athena:StartQueryExecution: the answer had no QueryExecutionId",
                    )
                });
            }
            Err(e) => AwsError::from_sdk("athena:StartQueryExecution", &e),
        };
        if !err.transient || refusals >= START_RETRIES {
            return Err(err.into_job_error());
        }
        let delay = backoff(base_delay, refusals);
        ctx.log
            .system(format!("{}; trying again in {delay:?}", err.message));
        refusals += 1;
        if !sleep_or_cancel(delay, &ctx.cancel).await {
            return Err(JobError::failed(
                "cancelled before the Athena query could start (nothing is running)",
            ));
        }
    }
}

/// Polls the query until it ends; stops it if the attempt is cancelled. The execution as
/// last read when it SUCCEEDED.
async fn wait_for_query(
    athena: &aws_sdk_athena::Client,
    id: &str,
    poll: Duration,
    ctx: &JobContext,
) -> Result<QueryExecution, JobError> {
    let mut last_state = None;
    let mut poll_errors = 0;
    loop {
        let read = tokio::select! {
            r = athena.get_query_execution().query_execution_id(id).send() => r,
            _ = ctx.cancel.cancelled() => return Err(cancelled(athena, id, ctx).await),
        };
        let execution = match read {
            Ok(out) => {
                poll_errors = 0;
                out.query_execution
                    .unwrap_or_else(|| QueryExecution::builder().build())
            }
            Err(e) => {
                let err = AwsError::from_sdk(&format!("athena:GetQueryExecution {id}"), &e);
                poll_errors += 1;
                if !err.transient || poll_errors > POLL_ERRORS_TOLERATED {
                    return Err(err.into_job_error());
                }
                ctx.log.system(format!("{}; reading again", err.message));
                if !sleep_or_cancel(poll, &ctx.cancel).await {
                    return Err(cancelled(athena, id, ctx).await);
                }
                continue;
            }
        };
        let status = execution.status();
        let state = status
            .and_then(|s| s.state())
            .cloned()
            .unwrap_or(QueryExecutionState::Queued);
        if last_state.as_ref() != Some(&state) {
            ctx.log
                .system(format!("Athena query {id}: {}", state.as_str()));
            last_state = Some(state.clone());
        }
        match state {
            QueryExecutionState::Succeeded => return Ok(execution),
            QueryExecutionState::Failed | QueryExecutionState::Cancelled => {
                // The next try must start a new query, not reconnect to this one.
                ctx.handles.remove(EXECUTION_ID_HANDLE).await?;
                let reason = status
                    .and_then(|s| s.state_change_reason())
                    .unwrap_or("Athena gave no reason");
                let message = format!("Athena query {id} ended {}: {reason}", state.as_str());
                // Bad SQL or a missing table: the same query fails again.
                let user_error = status
                    .and_then(|s| s.athena_error())
                    .is_some_and(|e| e.error_category() == Some(USER_ERROR) && !e.retryable());
                return Err(if user_error {
                    JobError::fatal(message)
                } else {
                    JobError::failed(message)
                });
            }
            // QUEUED, RUNNING, and states newer than this SDK.
            _ => {
                if !sleep_or_cancel(poll, &ctx.cancel).await {
                    return Err(cancelled(athena, id, ctx).await);
                }
            }
        }
    }
}

/// Stops the query after a cancel or timeout and says so.
async fn cancelled(athena: &aws_sdk_athena::Client, id: &str, ctx: &JobContext) -> JobError {
    if stop_query(athena, id, ctx).await {
        if let Err(e) = ctx.handles.remove(EXECUTION_ID_HANDLE).await {
            ctx.log.system(e.message);
        }
        JobError::failed(format!(
            "cancelled (timeout or cancel): Athena query {id} was stopped"
        ))
    } else {
        JobError::failed(format!(
            "cancelled (timeout or cancel), but Athena query {id} could not be stopped: it may still be running"
        ))
    }
}

/// StopQueryExecution; `true` when Athena accepted it.
async fn stop_query(athena: &aws_sdk_athena::Client, id: &str, ctx: &JobContext) -> bool {
    let request = athena.stop_query_execution().query_execution_id(id).send();
    let Ok(answer) = tokio::time::timeout(STOP_TIMEOUT, request).await else {
        ctx.log.system(format!(
            "athena:StopQueryExecution {id}: no answer within {STOP_TIMEOUT:?}"
        ));
        return false;
    };
    match answer {
        Ok(_) => {
            ctx.log.system(format!("asked Athena to stop query {id}"));
            true
        }
        Err(e) => {
            let err = AwsError::from_sdk(&format!("athena:StopQueryExecution {id}"), &e);
            ctx.log.system(err.message);
            false
        }
    }
}
