//! Errors of the engine.

use flowctl_state::StoreError;

/// Why an engine operation could not be done (a failed run is not an error: see
/// [`RunOutcome`](crate::RunOutcome)).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No DAG with this id has been applied.
    #[error("DAG `{0}` is not applied (run `flowctl apply` first)")]
    UnknownDag(String),
    /// No such run.
    #[error("DAG `{dag_id}` has no run `{run_id}`")]
    UnknownRun { dag_id: String, run_id: String },
    /// The stored DAG version does not validate with this build (a job type is missing...).
    #[error("DAG `{dag_id}` as applied is not valid here:\n{details}")]
    InvalidDag { dag_id: String, details: String },
    /// A request that cannot be carried out as asked (unknown param, target, pool...).
    #[error("{0}")]
    Invalid(String),
    /// A run with this id exists already.
    #[error("DAG `{dag_id}` already has a run `{run_id}` (use `flowctl clear` to run it again)")]
    RunExists { dag_id: String, run_id: String },
    /// The operation conflicts with the run's current state.
    #[error("{0}")]
    Conflict(String),
}

/// Result type of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
