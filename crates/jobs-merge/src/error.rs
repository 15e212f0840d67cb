//! The merge's error type.

use flowctl_lakehouse::LakehouseError;

/// Why a merge failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The step's fields do not fit the tables as they are at run time (an existing target
    /// that is not an SCD2 table, a key column silver lacks, a corrupt summary property,
    /// something that is not a bronze table as the source), or a state the merge cannot
    /// handle. Fields wrong on their own are refused before the merge starts (see
    /// [`crate::MergeConfig`]'s check). Retrying will not help.
    #[error("{0}")]
    Config(String),
    /// A failure inside the merge itself (a worker thread that panicked, a limit of its data
    /// structures): a flowctl bug or limit, not the step's configuration. Retrying will not help.
    #[error("internal error in the merge (please report it): {0}")]
    Internal(String),
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
    /// Whether running the step again may succeed. A lakehouse or catalog error is as
    /// [`LakehouseError::is_retryable`] decides (commit conflicts, the catalog database out of
    /// reach, transient I/O); the merge's own errors never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Lakehouse(e) => e.is_retryable(),
            Self::Config(_) | Self::Internal(_) | Self::Event { .. } => false,
        }
    }

    /// Whether this is a commit conflict (another writer committed first).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Lakehouse(LakehouseError::CommitConflict { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn lakehouse_errors_are_retryable_exactly_as_the_lakehouse_says() {
        let cases: [fn() -> LakehouseError; 6] = [
            || LakehouseError::Io(io::Error::other("disk full")),
            || LakehouseError::Io(io::Error::from(io::ErrorKind::PermissionDenied)),
            || LakehouseError::CommitConflict {
                table: "silver.t".into(),
                detail: "moved".into(),
            },
            || LakehouseError::Schema("no such column".into()),
            || LakehouseError::TableNotFound("bronze.x".into()),
            || LakehouseError::InvalidSettings("`iceberg.catalgo`".into()),
        ];
        for make in cases {
            let merge = MergeError::from(make());
            assert_eq!(merge.is_retryable(), make().is_retryable(), "{merge}");
        }
        assert!(MergeError::from(cases[0]()).is_retryable());
        assert!(!MergeError::from(cases[1]()).is_retryable());
    }

    #[test]
    fn the_merge_s_own_errors_are_fatal_and_not_worded_as_a_step_config() {
        let internal = MergeError::Internal("a merge apply thread panicked".into());
        assert!(!internal.is_retryable());
        assert_eq!(
            internal.to_string(),
            "internal error in the merge (please report it): a merge apply thread panicked"
        );
        let event = MergeError::Event {
            at: "t/0@1".into(),
            reason: "no key".into(),
        };
        assert!(!event.is_retryable());
    }
}
