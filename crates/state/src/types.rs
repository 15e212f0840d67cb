//! The records the store reads and writes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::StoreError;

/// Defines a string-valued enum stored as TEXT, with `as_str`, `Display` and `FromStr`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and displayed) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        "unknown {} {other:?}",
                        stringify!($name)
                    ))),
                }
            }
        }
    };
}

text_enum! {
    /// State of a run.
    RunState {
        /// Created, nothing started yet (or cleared for a re-run).
        Queued = "queued",
        Running = "running",
        Success = "success",
        Failed = "failed",
    }
}

text_enum! {
    /// What created a run.
    RunType {
        /// `flowctl run`.
        Manual = "manual",
        /// The scheduler, for a due data interval.
        Scheduled = "scheduled",
        /// `flowctl backfill`.
        Backfill = "backfill",
    }
}

text_enum! {
    /// State of a task instance (one step in one run).
    TaskState {
        /// Waiting for its upstream steps (or cleared for a re-run).
        Queued = "queued",
        /// Claimed by a worker holding a lease.
        Running = "running",
        Success = "success",
        /// Failed with no tries left (or a non-retryable error).
        Failed = "failed",
        /// Failed with tries left; runs again at `next_try_at`.
        UpForRetry = "up_for_retry",
        /// Its trigger rule cannot be met (e.g. an upstream was skipped).
        Skipped = "skipped",
        /// Cannot run because an upstream failed.
        UpstreamFailed = "upstream_failed",
    }
}

impl TaskState {
    /// `true` when nothing more will happen to the task instance (until it is cleared).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }
}

text_enum! {
    /// State of one attempt (one try of a task instance).
    AttemptState {
        Running = "running",
        Success = "success",
        Failed = "failed",
        /// Its worker disappeared (lease expired) before reporting a result.
        Lost = "lost",
    }
}

/// A DAG as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagRecord {
    pub dag_id: String,
    pub paused: bool,
    /// Content hash of the current version (see [`DagVersion`]).
    pub version_hash: String,
    /// Path of the file it was applied from.
    pub source_path: String,
    pub created_at: DateTime<Utc>,
    /// When the current version was applied.
    pub updated_at: DateTime<Utc>,
}

/// One applied version of a DAG file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagVersion {
    pub dag_id: String,
    /// Lowercase hex SHA-256 of `source`.
    pub hash: String,
    pub source_path: String,
    /// The file's text, verbatim.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// A DAG to store with [`Store::apply_dags`](crate::Store::apply_dags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagUpsert {
    pub dag_id: String,
    pub hash: String,
    pub source_path: String,
    pub source: String,
}

/// What applying one DAG changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum DagChange {
    Created,
    Updated { previous_hash: String },
    Unchanged,
}

/// The outcome of [`Store::apply_dags`](crate::Store::apply_dags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Every upserted DAG id (sorted) with what changed.
    pub applied: Vec<(String, DagChange)>,
    /// Pruned DAG ids that existed (and are now deleted with their runs).
    pub removed: Vec<String>,
}

/// A run to create with [`Store::create_run`](crate::Store::create_run).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub dag_id: String,
    /// Unique per DAG, e.g. `manual__2026-01-01T00:00:00+00:00`.
    pub run_id: String,
    /// The DAG version the run executes.
    pub version_hash: String,
    pub logical_date: DateTime<Utc>,
    pub interval_start: DateTime<Utc>,
    pub interval_end: DateTime<Utc>,
    pub run_type: RunType,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Target name.
    pub target: String,
    /// Task instances, created `queued` (their order is the listing order).
    pub tasks: Vec<NewTask>,
}

/// A task instance to create with its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub task_id: String,
    /// Tries allowed (first try + retries).
    pub max_tries: u32,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Store-wide key of the run.
    pub id: i64,
    pub dag_id: String,
    pub run_id: String,
    pub version_hash: String,
    pub logical_date: DateTime<Utc>,
    pub interval_start: DateTime<Utc>,
    pub interval_end: DateTime<Utc>,
    pub state: RunState,
    pub run_type: RunType,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub target: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The process executing the run (see [`Store::claim_run`](crate::Store::claim_run)).
    pub holder: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// A stored task instance (one step of one run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRecord {
    /// Store-wide key of the task instance.
    pub id: i64,
    /// Key of its run ([`RunRecord::id`]).
    pub run_pk: i64,
    /// The step id.
    pub task_id: String,
    pub state: TaskState,
    /// Number of the latest try (0 = never started).
    pub try_number: u32,
    /// Tries allowed; raised when a try is lost or interrupted, which does not consume one.
    pub max_tries: u32,
    /// How many tries were lost with their worker.
    pub lost_count: u32,
    /// When an `up_for_retry` task instance may run again.
    pub next_try_at: Option<DateTime<Utc>>,
    /// Process holding the lease of a running task instance.
    pub holder: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// One try of a task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub id: i64,
    /// Key of its task instance ([`TaskRecord::id`]).
    pub ti_id: i64,
    pub try_number: u32,
    pub state: AttemptState,
    /// Process that ran it.
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// A task instance to reset with [`Store::clear_tasks`](crate::Store::clear_tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskReset {
    pub ti_id: i64,
    /// Fresh tries granted from now on (first try + retries of the step).
    pub tries: u32,
}
