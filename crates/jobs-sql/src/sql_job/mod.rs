//! The `sql` job type: runs a query over the lakehouse with DataFusion and writes the result to
//! a target table (`mode: replace | append`). Gold tables are made with it.

mod config;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_lakehouse::{IcebergSettings, TableName};
use flowctl_model::catalog::{ConfigError, JobTypeSpec, TypedJobSpec};

pub use config::SqlConfig;

use crate::error::SqlError;
use crate::privacy::{pseudonymize_columns, pseudonymize_udf};
use crate::session::{lakehouse_session, run_sql};
use crate::write::write_result;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "sql";

/// The `sql` plugin.
pub struct SqlJob {
    spec: Arc<dyn JobTypeSpec>,
}

impl SqlJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::with_rules(TYPE_NAME, sql_rules)),
        }
    }
}

impl Default for SqlJob {
    fn default() -> Self {
        Self::new()
    }
}

/// `sql` xor `file`, a salt for `pseudonymize`: the rules serde alone cannot express.
fn sql_rules(config: &SqlConfig) -> Result<(), ConfigError> {
    config::check(config).map_err(|message| ConfigError {
        path: Vec::new(),
        message,
    })
}

#[async_trait]
impl JobPlugin for SqlJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: SqlConfig = serde_json::from_value(config)
            .map_err(|err| JobError::fatal(format!("invalid sql step: {err}")))?;
        config::check(&config).map_err(|e| JobError::fatal(format!("invalid sql step: {e}")))?;
        let cancel = ctx.cancel.clone();
        tokio::select! {
            result = run_step(&config, &ctx) => result.map_err(SqlError::into_job_error),
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
        return Err(SqlError::Config("missing `sql` or `file`".into()));
    };
    let path = ctx.project_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| SqlError::Config(format!("cannot read SQL file {}: {e}", path.display())))?;
    flowctl_model::template::render_str(&text, &ctx.template_context)
        .map_err(|e| SqlError::Config(format!("SQL file {}: {e}", path.display())))
}

async fn run_step(config: &SqlConfig, ctx: &JobContext) -> Result<JobOutput, SqlError> {
    let sql = query_text(config, ctx)?;
    let target = TableName::parse(&config.target)?;
    let salt_source = config.salt_source();
    let salt = if salt_source.is_set() {
        Some(salt_source.load(&ctx.project_dir)?)
    } else {
        None
    };
    let settings = IcebergSettings::from_target(&ctx.target.settings, &ctx.project_dir)?;
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
