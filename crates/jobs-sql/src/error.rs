//! The crate's error type and its mapping onto the engine's retry semantics.

use datafusion::error::DataFusionError;
use flowctl_engine::job::JobError;
use flowctl_lakehouse::LakehouseError;

/// Everything that can go wrong while querying or writing the lakehouse with SQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// A step configuration or request that cannot work (no retry can fix it).
    #[error("{0}")]
    Config(String),
    /// A query DataFusion rejected while planning it (syntax, unknown table or column, types).
    #[error("query rejected: {0}")]
    Plan(#[source] DataFusionError),
    /// A query that failed while running (reading files, a function error).
    #[error("query failed: {0}")]
    Execution(#[source] DataFusionError),
    /// The Iceberg catalog or a table write failed.
    #[error("{0}")]
    Lakehouse(#[from] LakehouseError),
    /// Formatting results failed.
    #[error("formatting results: {0}")]
    Format(#[from] datafusion::arrow::error::ArrowError),
}

impl SqlError {
    /// The engine's view: planning errors and bad configuration are fatal (retrying runs the
    /// same SQL again); I/O, catalog and commit-conflict errors may pass on a retry.
    pub fn into_job_error(self) -> JobError {
        match &self {
            SqlError::Config(_) | SqlError::Plan(_) => JobError::fatal(self.to_string()),
            SqlError::Lakehouse(e) if !e.is_retryable() && is_permanent(e) => {
                JobError::fatal(self.to_string())
            }
            _ => JobError::failed(self.to_string()),
        }
    }
}

/// Lakehouse errors that say the request itself is wrong (not the environment).
fn is_permanent(e: &LakehouseError) -> bool {
    matches!(
        e,
        LakehouseError::InvalidName { .. }
            | LakehouseError::Schema(_)
            | LakehouseError::Unsupported(_)
    )
}

/// Sorts a DataFusion error into planning (the SQL is wrong) or execution.
pub(crate) fn classify(e: DataFusionError) -> SqlError {
    match e.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => SqlError::Plan(e),
        _ => SqlError::Execution(e),
    }
}
