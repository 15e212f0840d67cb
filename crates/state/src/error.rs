//! Errors of the state store.

/// What went wrong talking to the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot open state store {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    /// A file-system step of opening the store failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The embedded schema migrations could not be applied.
    #[error("state store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("state store error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value could not be read back (written by another version, or edited by hand).
    #[error("state store holds an invalid value: {0}")]
    Corrupt(String),
    /// The store's schema is not this build's (migrations missing or unknown).
    #[error("{0}")]
    Schema(String),
    /// The operation conflicts with the current state (e.g. clearing a run that is running).
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// Whether retrying the operation may succeed: the database was busy or locked, a
    /// transaction was chosen as a deadlock victim, or the connection failed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
            StoreError::Db(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                // SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT.
                Some("5" | "6" | "517")
                    // Postgres: serialization failure, deadlock, admin shutdown.
                    | Some("40001" | "40P01" | "57P01")
            ),
            _ => false,
        }
    }
}
