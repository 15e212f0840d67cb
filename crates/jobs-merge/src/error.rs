//! The merge's error type.

use flowctl_lakehouse::LakehouseError;

/// Why a merge failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The step's configuration cannot work (unknown type, key column missing, bad table name).
    #[error("invalid iceberg_merge step: {0}")]
    Config(String),
    /// A bronze event that cannot be merged (no key, undecodable value): the data must be fixed
    /// or the step's declared `columns` changed; retrying will not help.
    #[error("bronze event {at}: {reason}")]
    Event {
        /// Where the event came from (`topic/partition@offset`).
        at: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the tables failed.
    #[error(transparent)]
    Lakehouse(#[from] LakehouseError),
}

impl MergeError {
    /// Whether running the step again may succeed (commit conflicts, transient I/O).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Lakehouse(e) => e.is_retryable() || matches!(e, LakehouseError::Io(_)),
            _ => false,
        }
    }

    /// Whether this is a commit conflict (another writer committed first).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Lakehouse(LakehouseError::CommitConflict { .. }))
    }
}
