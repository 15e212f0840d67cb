//! The `sql` job type: runs a query over the lakehouse with DataFusion and writes the result to
//! a target table (`mode: replace | append`). Gold tables are made with it.
//!
//! Its fields ([`SqlConfig`]) are checked offline and again before every attempt: one query
//! (`sql` or `file`), a target with a namespace, usable salt settings, and for an inline query
//! known before rendering its syntax, the columns `pseudonymize` names (when the select list
//! is explicit) and a salt for `pseudonymize()`. A `file:` query is a template file (validation
//! checks its variables). What only the run can know — the file's text, the tables and columns,
//! the salt's value — is refused before the target is created or changed.

mod config;

use std::collections::BTreeMap;

use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_lakehouse::{IcebergSettings, IcebergTarget, TableName};

pub use config::SqlConfig;

use crate::error::SqlError;
use crate::privacy::{pseudonymize_columns, pseudonymize_udf};
use crate::session::{lakehouse_session, run_sql};
use crate::write::write_result;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "sql";

/// The outputs of a successful `sql` step.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "rows",
        description: "Rows the query returned and the step wrote to the target table.",
    },
    OutputDoc {
        name: "target",
        description: "The table written, `namespace.table`.",
    },
    OutputDoc {
        name: "snapshot_id",
        description: "The Iceberg snapshot the write committed.",
    },
];

/// The `sql` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlJob;

impl Job for SqlJob {
    type Config = SqlConfig;
    const TYPE: &'static str = TYPE_NAME;

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: SqlConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx
            .target
            .section::<IcebergTarget>()?
            .resolve(&ctx.project_dir);
        let cancel = ctx.cancel.clone();
        tokio::select! {
            result = run_step(&config, &ctx, &settings) => result.map_err(SqlError::into_job_error),
            _ = cancel.cancelled() => Err(JobError::failed("sql step cancelled before it committed")),
        }
    }
}

/// The query text: inline, or the file rendered with the step's template context.
fn query_text(config: &SqlConfig, ctx: &JobContext) -> Result<String, SqlError> {
    if let Some(sql) = &config.sql {
        return Ok(sql.clone());
    }
    let Some(file) = &config.file else {
        return Err(SqlError::Internal(
            "a `sql` step without `sql` or `file` passed its check".into(),
        ));
    };
    let path = ctx.project_dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| SqlError::File {
        what: "SQL file",
        path: path.clone(),
        source,
    })?;
    flowctl_model::template::render_str(&text, &ctx.template_context)
        .map_err(|e| SqlError::Config(format!("SQL file {}: {e}", path.display())))
}

/// Everything that can refuse the step (file, salt, query, pseudonymisation) happens before
/// [`write_result`], the only step that creates or changes the target.
async fn run_step(
    config: &SqlConfig,
    ctx: &JobContext,
    settings: &IcebergSettings,
) -> Result<JobOutput, SqlError> {
    let sql = query_text(config, ctx)?;
    let target = TableName::parse(&config.target)?;
    let salt_source = config.salt_source();
    let salt = if salt_source.is_set() {
        Some(salt_source.load(&ctx.project_dir)?)
    } else {
        None
    };
    let lake = settings.open().await?;
    let session = lakehouse_session(&lake).await?;
    session.register_udf(pseudonymize_udf(salt.clone()));
    ctx.log.system(format!("running query for {target}"));
    let mut batches = run_sql(&session, &sql).await?;
    if let Some(salt) = &salt
        && !config.pseudonymize.is_empty()
    {
        batches = batches
            .iter()
            .map(|b| pseudonymize_columns(b, &config.pseudonymize, salt))
            .collect::<Result<_, _>>()?;
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let summary = BTreeMap::from([
        ("flowctl.dag-id".to_owned(), ctx.dag_id.clone()),
        ("flowctl.run-id".to_owned(), ctx.run_id.clone()),
        ("flowctl.task-id".to_owned(), ctx.task_id.clone()),
    ]);
    let snapshot = write_result(&lake, &target, batches, config.mode, summary).await?;
    ctx.log.system(format!(
        "wrote {rows} row(s) to {target} ({}, snapshot {snapshot})",
        config.mode.as_str()
    ));
    let mut output = JobOutput::default();
    output.outputs.insert("rows".into(), rows.to_string());
    output.outputs.insert("target".into(), target.to_string());
    output
        .outputs
        .insert("snapshot_id".into(), snapshot.to_string());
    Ok(output)
}
