//! The JSON the API returns and accepts (also the OpenAPI document's schemas).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An applied DAG.
#[derive(Debug, Serialize, ToSchema)]
pub struct DagInfo {
    pub dag_id: String,
    pub description: Option<String>,
    /// The cron expression or preset; `null` = manual runs only.
    pub schedule: Option<String>,
    /// IANA time zone the schedule is evaluated in.
    pub timezone: String,
    pub paused: bool,
    /// When the scheduler creates the next run (`null` when paused or unscheduled).
    pub next_run: Option<DateTime<Utc>>,
    /// Declared params with their defaults.
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    pub steps: Vec<StepInfo>,
    pub source_path: String,
    pub version_hash: String,
    pub updated_at: DateTime<Utc>,
    /// The newest runs, newest first.
    pub latest_runs: Vec<RunSummary>,
    /// Set when the applied file does not validate with this build (then `steps` is empty).
    pub load_error: Option<String>,
}

/// A step of a DAG.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepInfo {
    pub step_id: String,
    pub depends_on: Vec<String>,
    /// Job type per target kind (`local`, `aws`; `*` = every target).
    pub job_types: BTreeMap<String, String>,
    pub trigger_rule: String,
    pub retries: u32,
}

/// A run, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub state: String,
    pub logical_date: DateTime<Utc>,
}

/// A run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunInfo {
    pub dag_id: String,
    pub run_id: String,
    /// `queued`, `running`, `success`, `failed`.
    pub state: String,
    /// `manual`, `scheduled`, `backfill`.
    pub trigger: String,
    pub logical_date: DateTime<Utc>,
    pub interval_start: DateTime<Utc>,
    pub interval_end: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    pub target: String,
    pub version_hash: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The process executing it, while one does.
    pub holder: Option<String>,
}

/// A task instance (one step of one run) with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskInfo {
    pub step_id: String,
    /// `queued`, `running`, `success`, `failed`, `up_for_retry`, `skipped`, `upstream_failed`.
    pub state: String,
    pub try_number: u32,
    pub max_tries: u32,
    pub next_try_at: Option<DateTime<Utc>>,
    pub holder: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptInfo>,
}

/// One try of a step.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptInfo {
    pub try_number: u32,
    /// `running`, `success`, `failed`, `lost`.
    pub state: String,
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// Part of an attempt's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogChunk {
    pub try_number: u32,
    /// The log from `offset` to what is stored now.
    pub text: String,
    /// The offset this chunk starts at.
    pub offset: u64,
    /// Ask for this offset next time to get only what is new.
    pub next_offset: u64,
    /// Whether the attempt still runs (more text may come).
    pub running: bool,
    /// The attempt's state: `running`, `success`, `failed`, `lost`.
    pub state: String,
}

/// A run's outputs: step id → key → value.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOutputs {
    pub run_id: String,
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
}

/// What `POST /dags/{dag}/runs` accepts (every field optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// Overrides of the DAG's params. A string given for a param whose default is a number,
    /// boolean, list or map is parsed as JSON, like `flowctl run --param`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The run gets the data interval the schedule gives this date (`2026-01-01`,
    /// `2026-01-01T06:00`, RFC 3339; without an offset in the DAG's time zone).
    #[serde(default)]
    pub date: Option<String>,
    /// Target name (default: the default target).
    #[serde(default)]
    pub target: Option<String>,
}

/// What `POST /dags/{dag}/runs/{run}/clear` accepts.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    /// Only `failed`/`upstream_failed` steps (and what depends on them); default: every step.
    #[serde(default)]
    pub failed_only: bool,
}

/// What a clear did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClearResult {
    pub run: RunInfo,
    /// Steps reset to `queued` (empty = nothing to clear).
    pub cleared: Vec<String>,
    /// Whether this server executes the run now (else a scheduler will).
    pub executing: bool,
}

/// A created run.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerResult {
    pub run: RunInfo,
    /// Whether this server executes the run now (else a scheduler will).
    pub executing: bool,
}

/// The quality results of one `quality` step of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityStep {
    pub step_id: String,
    /// The checked table.
    pub table: Option<String>,
    /// The step's state.
    pub state: String,
    pub passed: u32,
    pub failed: u32,
    pub warned: u32,
    /// One entry per check of the latest attempt.
    pub checks: Vec<QualityCheck>,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QualityCheck {
    pub name: String,
    /// `error` or `warn`.
    pub severity: String,
    /// `passed`, `failed` or `warn`.
    pub status: String,
    pub message: String,
}

/// Query of list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Most runs to return (default 25, at most 1000).
    pub limit: Option<u32>,
}

/// Query of the log endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Try number (default: the latest).
    pub attempt: Option<u32>,
    /// Byte offset to read from (default 0); pass the previous `next_offset` to follow.
    pub offset: Option<u64>,
}
