//! `flowctl sql "SELECT …"`: query the target's Iceberg tables and print the result.

use flowctl_jobs_sql::{Format, SqlError, format_batches, query};
use flowctl_lakehouse::IcebergSettings;

use crate::error::{CliError, CliResult};
use crate::output::{out, out_text};
use crate::project::Project;

/// Runs `flowctl sql`.
pub async fn run(project: &Project, sql: &str, format: &str, target: &str) -> CliResult {
    let format: Format = format.parse().map_err(|_| {
        CliError::usage(format!("unknown format `{format}`: use table, csv or json"))
    })?;
    let target = project.target(target)?;
    let settings = IcebergSettings::from_target(&target.settings, &project.dir)
        .map_err(|e| CliError::usage(format!("target settings: {e}")))?;
    let batches = query(&settings, sql).await.map_err(|e| match e {
        SqlError::Config(_) | SqlError::Plan(_) | SqlError::Execution(_) => {
            CliError::failed(e.to_string())
        }
        other => CliError::environment(other.to_string()),
    })?;
    let text =
        format_batches(&batches, format).map_err(|e| CliError::environment(e.to_string()))?;
    out_text(&text);
    if !text.ends_with('\n') {
        out!();
    }
    Ok(())
}
