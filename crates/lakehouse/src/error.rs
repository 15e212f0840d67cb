//! The crate's error type.

use iceberg::ErrorKind;

/// Result alias used throughout the crate.
pub type Result<T, E = LakehouseError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading or writing lakehouse tables.
///
/// [`LakehouseError::CommitConflict`] is the one callers are expected to handle: another writer
/// committed to the table after it was loaded. Reload the table, redo the work, commit again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakehouseError {
    /// Another writer changed the table after the caller loaded it; nothing was committed.
    /// Retryable after reloading the table.
    #[error("commit conflict on table {table}: {detail}")]
    CommitConflict {
        /// The table, `namespace.name`.
        table: String,
        /// What was found instead of the expected state.
        detail: String,
    },
    /// The table does not exist in the catalog.
    #[error("table {0} does not exist")]
    TableNotFound(String),
    /// A table name that cannot be used (empty parts, missing namespace, ...).
    #[error("invalid table name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Record batches that do not fit the table's schema, or an unsupported column type.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// A commit that would change nothing: no rows, no removed files, no summary properties.
    #[error("nothing to commit to {0}: no rows, no removed files and no summary properties")]
    NothingToCommit(String),
    /// An overwrite named a data file that is not live in the table's current snapshot.
    #[error("data file {path} is not part of table {table}'s current snapshot")]
    UnknownDataFile {
        /// The table.
        table: String,
        /// The path given by the caller.
        path: String,
    },
    /// A snapshot id that is not in the table's history.
    #[error("snapshot {snapshot_id} is not in the history of table {table}")]
    SnapshotNotFound {
        /// The table.
        table: String,
        /// The unknown snapshot id.
        snapshot_id: i64,
    },
    /// Snapshot-summary keys that Iceberg itself owns (`operation`) cannot be set by callers.
    #[error("summary property `{0}` is reserved")]
    ReservedSummaryKey(String),
    /// A configuration this build cannot serve (e.g. an object-store warehouse).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An error reported by the `iceberg` crate.
    #[error("iceberg: {0}")]
    Iceberg(#[source] iceberg::Error),
    /// An error from the SQL catalog database.
    #[error("catalog database: {0}")]
    Database(#[from] sqlx::Error),
    /// An Arrow error (casting, batch construction).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A local file-system error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl LakehouseError {
    /// Whether retrying the whole read-modify-commit cycle can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::CommitConflict { .. } => true,
            Self::Iceberg(e) => e.retryable(),
            _ => false,
        }
    }
}

impl From<iceberg::Error> for LakehouseError {
    fn from(e: iceberg::Error) -> Self {
        match e.kind() {
            ErrorKind::CatalogCommitConflicts => Self::CommitConflict {
                table: String::new(),
                detail: e.to_string(),
            },
            _ => Self::Iceberg(e),
        }
    }
}
