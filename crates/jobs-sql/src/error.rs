//! The crate's error type and its mapping onto the engine's retry semantics.
//!
//! A step's fields were checked before it ran (see the config structs' `JobConfig::check`),
//! so these are failures found while running: whether a retry can help is decided here for
//! DataFusion and file errors, and by [`LakehouseError::is_retryable`] alone for catalog and
//! table errors.

use std::io::ErrorKind;
use std::path::PathBuf;

use datafusion::error::DataFusionError;
use flowctl_engine::job::JobError;
use flowctl_lakehouse::LakehouseError;

/// Everything that can go wrong while querying or writing the lakehouse with SQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// A request that cannot work as given, found while running (a salt variable that is not
    /// set, a result column an Iceberg table cannot store, a template that does not render):
    /// no retry can fix it.
    #[error("{0}")]
    Config(String),
    /// A query DataFusion rejected while planning it (syntax, unknown table or column, types).
    #[error("query rejected: {0}")]
    Plan(#[source] DataFusionError),
    /// A query that failed while running (reading files, a function error).
    #[error("query failed: {0}")]
    Execution(#[source] DataFusionError),
    /// A file the step names (its SQL file, its salt file) could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    File {
        /// What the file is for (`SQL file`).
        what: &'static str,
        /// The path read.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The Iceberg catalog or a table write failed.
    #[error("{0}")]
    Lakehouse(#[from] LakehouseError),
    /// Formatting results failed.
    #[error("formatting results: {0}")]
    Format(#[from] datafusion::arrow::error::ArrowError),
    /// Something that cannot happen did (a bug in flowctl).
    #[error("internal error: {0}")]
    Internal(String),
}

impl SqlError {
    /// The engine's view: planning errors and requests that cannot work are fatal (retrying
    /// runs the same SQL again); a lakehouse error is retryable exactly when
    /// [`LakehouseError::is_retryable`] says so; a file that is missing, forbidden or not text
    /// is fatal, other I/O and query execution errors may pass on a retry.
    pub fn into_job_error(self) -> JobError {
        let retryable = match &self {
            SqlError::Config(_) | SqlError::Plan(_) | SqlError::Internal(_) => false,
            SqlError::Lakehouse(e) => e.is_retryable(),
            SqlError::File { source, .. } => !matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidData
            ),
            SqlError::Execution(_) | SqlError::Format(_) => true,
        };
        JobError::classified(self.to_string(), retryable)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lakehouse_errors_are_classified_by_the_lakehouse_alone() {
        for e in [
            LakehouseError::CommitConflict {
                table: "gold.t".into(),
                detail: "moved".into(),
            },
            LakehouseError::TableNotFound("gold.t".into()),
            LakehouseError::Schema("column `x`".into()),
            LakehouseError::Io(std::io::Error::other("disk")),
            LakehouseError::Unsupported("s3".into()),
        ] {
            let expected = e.is_retryable();
            let shown = e.to_string();
            let job = SqlError::Lakehouse(e).into_job_error();
            assert_eq!(job.retryable, expected, "{shown}");
            assert_eq!(job.message, shown);
        }
    }

    #[test]
    fn sql_and_file_errors_keep_their_retry_semantics() {
        let plan = SqlError::Plan(DataFusionError::Plan("no column `x`".into()));
        assert!(!plan.into_job_error().retryable);
        let run = SqlError::Execution(DataFusionError::Execution("object store".into()));
        assert!(run.into_job_error().retryable);
        assert!(
            !SqlError::Config("salt variable unset".into())
                .into_job_error()
                .retryable
        );
        let file = |kind: ErrorKind| SqlError::File {
            what: "SQL file",
            path: "/p/q.sql".into(),
            source: std::io::Error::from(kind),
        };
        let missing = file(ErrorKind::NotFound).into_job_error();
        assert!(!missing.retryable);
        assert!(
            missing
                .message
                .starts_with("cannot read SQL file /p/q.sql: "),
            "{missing}"
        );
        assert!(!missing.message.contains("invalid"), "{missing}");
        assert!(file(ErrorKind::Interrupted).into_job_error().retryable);
    }
}
