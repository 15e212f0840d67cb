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
    /// A target's `iceberg:` settings that do not parse or break its rules (see
    /// [`crate::IcebergTarget`]).
    #[error("invalid target settings: {0}")]
    InvalidSettings(String),
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
    /// Whether running the work again (reloading the table, redoing the read-modify-commit
    /// cycle, or a later try of the step) can succeed. The one place that decides it for
    /// lakehouse and catalog errors: jobs map with this and add no rules of their own.
    ///
    /// Retryable: a commit conflict; the catalog database out of reach or overloaded (its
    /// connection, pool and I/O errors, a Postgres connection/resource/shutdown/serialization
    /// error, SQLite busy or locked), whether it comes straight from this crate's queries or
    /// through the `iceberg` crate; local I/O that may pass (disk full, interrupted, timed out).
    ///
    /// Not retryable: what the request itself gets wrong and a retry repeats (a bad table name,
    /// a schema mismatch, an unsupported or invalid setting, a missing table or snapshot, a
    /// reserved summary key, an empty commit), I/O that says the same (permission denied, not
    /// found, invalid input or data), and any error not known to be transient.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::CommitConflict { .. } => true,
            Self::Iceberg(e) => {
                e.retryable()
                    || e.kind() == ErrorKind::CatalogCommitConflicts
                    || transient_cause(e).unwrap_or(false)
            }
            Self::Database(e) => sqlx_is_transient(e),
            Self::Io(e) => io_is_transient(e),
            Self::Arrow(arrow_schema::ArrowError::IoError(_, e)) => io_is_transient(e),
            Self::Arrow(e) => transient_cause(e).unwrap_or(false),
            Self::TableNotFound(_)
            | Self::InvalidName { .. }
            | Self::Schema(_)
            | Self::NothingToCommit(_)
            | Self::UnknownDataFile { .. }
            | Self::SnapshotNotFound { .. }
            | Self::ReservedSummaryKey(_)
            | Self::Unsupported(_)
            | Self::InvalidSettings(_) => false,
        }
    }
}

/// How the first database or I/O error in `error`'s chain of causes classifies (`None`: the
/// chain holds neither). The `iceberg` crate wraps the SQL catalog's `sqlx` errors and some
/// I/O errors as its sources.
fn transient_cause(error: &(dyn std::error::Error + 'static)) -> Option<bool> {
    let mut cause = error.source();
    while let Some(e) = cause {
        if let Some(db) = e.downcast_ref::<sqlx::Error>() {
            return Some(sqlx_is_transient(db));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io_is_transient(io));
        }
        cause = e.source();
    }
    None
}

/// Whether a catalog database error may pass: the database cannot be reached, is restarting,
/// overloaded or busy, or a transaction lost a race. Not: a bad URL, a missing column, a
/// constraint violation.
fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io_is_transient(io),
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        // The connection broke off mid-message (a server going away).
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_code_is_transient(&code)
            } else {
                sqlstate_is_transient(&code)
            }
        }
        _ => false,
    }
}

/// Postgres SQLSTATEs that say "try again": connection exceptions (class 08), insufficient
/// resources (53), operator intervention (57P01–57P03: shutdown, crash, cannot connect now),
/// serialization failure (40001), deadlock (40P01), lock not available (55P03).
fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03"
        )
}

/// SQLite result codes that say "try again": busy (5), locked (6), I/O error (10), disk full
/// (13); extended codes keep the primary code in their low byte.
fn sqlite_code_is_transient(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
}

/// Whether a local or network I/O error may pass on a retry (disk full, interrupted, a
/// connection refused or reset, a timeout, an I/O error of the device); not when it says the
/// path or the request is wrong, which a retry repeats.
fn io_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as Kind;
    !matches!(
        e.kind(),
        Kind::NotFound
            | Kind::PermissionDenied
            | Kind::AlreadyExists
            | Kind::InvalidInput
            | Kind::InvalidData
            | Kind::Unsupported
            | Kind::NotADirectory
            | Kind::IsADirectory
            | Kind::DirectoryNotEmpty
            | Kind::ReadOnlyFilesystem
            | Kind::InvalidFilename
            | Kind::CrossesDevices
            | Kind::FileTooLarge
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "injected")
    }

    #[test]
    fn an_unreachable_or_busy_catalog_database_is_retryable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(io(io::ErrorKind::ConnectionRefused)),
            sqlx::Error::Io(io(io::ErrorKind::ConnectionReset)),
        ] {
            let shown = e.to_string();
            assert!(LakehouseError::Database(e).is_retryable(), "{shown}");
        }
        // The same errors as the `iceberg` crate's SQL catalog reports them: as a source.
        let wrapped = iceberg::Error::new(
            ErrorKind::Unexpected,
            "operation failed for hitting sqlx error",
        )
        .with_source(sqlx::Error::PoolTimedOut);
        assert!(LakehouseError::from(wrapped).is_retryable());
        let refused = iceberg::Error::new(ErrorKind::Unexpected, "sqlx")
            .with_source(sqlx::Error::Io(io(io::ErrorKind::ConnectionRefused)));
        assert!(LakehouseError::from(refused).is_retryable());
        for code in [
            "08006", "08001", "53300", "57P01", "57P03", "40001", "40P01",
        ] {
            assert!(sqlstate_is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "42601", "28P01", "3D000"] {
            assert!(!sqlstate_is_transient(code), "{code}");
        }
        for code in ["5", "517", "6", "10", "13"] {
            assert!(sqlite_code_is_transient(code), "{code}");
        }
        for code in ["1", "14", "19", "2067"] {
            assert!(!sqlite_code_is_transient(code), "{code}");
        }
    }

    #[test]
    fn transient_io_is_retryable_and_a_wrong_request_is_not() {
        assert!(LakehouseError::Io(io::Error::other("disk full")).is_retryable());
        assert!(LakehouseError::Io(io(io::ErrorKind::Interrupted)).is_retryable());
        assert!(LakehouseError::Io(io(io::ErrorKind::TimedOut)).is_retryable());
        assert!(LakehouseError::Io(io(io::ErrorKind::StorageFull)).is_retryable());
        assert!(
            LakehouseError::Io(io::Error::from_raw_os_error(5)).is_retryable(),
            "EIO"
        );
        for kind in [
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::NotFound,
            io::ErrorKind::InvalidInput,
            io::ErrorKind::Unsupported,
            io::ErrorKind::NotADirectory,
            io::ErrorKind::ReadOnlyFilesystem,
        ] {
            assert!(!LakehouseError::Io(io(kind)).is_retryable(), "{kind:?}");
        }
        let arrow_io =
            arrow_schema::ArrowError::IoError("write".into(), io(io::ErrorKind::TimedOut));
        assert!(LakehouseError::Arrow(arrow_io).is_retryable());
        let parquet = iceberg::Error::new(ErrorKind::Unexpected, "write")
            .with_source(io(io::ErrorKind::PermissionDenied));
        assert!(!LakehouseError::from(parquet).is_retryable());
    }

    #[test]
    fn a_bad_request_or_setting_is_not_retryable() {
        let conflict = LakehouseError::CommitConflict {
            table: "s.t".into(),
            detail: "moved".into(),
        };
        assert!(conflict.is_retryable());
        let iceberg_conflict = iceberg::Error::new(ErrorKind::CatalogCommitConflicts, "stale");
        assert!(LakehouseError::from(iceberg_conflict).is_retryable());
        assert!(
            LakehouseError::Iceberg(
                iceberg::Error::new(ErrorKind::Unexpected, "x").with_retryable(true)
            )
            .is_retryable()
        );
        for e in [
            LakehouseError::InvalidName {
                name: "x".into(),
                reason: "expected `namespace.table`".into(),
            },
            LakehouseError::Schema("bad".into()),
            LakehouseError::Unsupported("mysql://".into()),
            LakehouseError::InvalidSettings("`iceberg.catalgo`".into()),
            LakehouseError::TableNotFound("bronze.x".into()),
            LakehouseError::NothingToCommit("s.t".into()),
            LakehouseError::ReservedSummaryKey("operation".into()),
            LakehouseError::SnapshotNotFound {
                table: "b.x".into(),
                snapshot_id: 1,
            },
            LakehouseError::Database(sqlx::Error::Configuration("bad url".into())),
            LakehouseError::Database(sqlx::Error::RowNotFound),
            LakehouseError::Iceberg(iceberg::Error::new(ErrorKind::DataInvalid, "corrupt")),
            LakehouseError::Iceberg(iceberg::Error::new(ErrorKind::FeatureUnsupported, "v3")),
            LakehouseError::Arrow(arrow_schema::ArrowError::CastError("x".into())),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }
}
