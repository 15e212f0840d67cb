//! The contract between the engine and job plugins.
//!
//! A job type is a config struct implementing [`JobConfig`] (its fields, their JSON Schema
//! and a pure check returning every problem) plus one implementation of [`Job`] (what an
//! attempt does with the parsed, checked fields), registered by the binary with
//! [`JobRegistry::add`]. The engine knows job types only through the registry: it never
//! names one.
//!
//! - [`typed`]: the [`Job`] trait and the adapter that parses and checks a step's rendered
//!   fields before every attempt (a refused config fails the attempt before the job runs).
//! - [`registry`]: the registered job types, their offline [`JobTypeCatalog`].
//! - [`telemetry`]: what a job type's outputs mean to `/metrics` and the UI.
//! - this module: what an attempt knows ([`JobContext`]) and returns ([`JobOutput`],
//!   [`JobError`]), and where it logs ([`LogSink`]).

mod registry;
pub mod telemetry;
mod typed;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
pub use flowctl_model::catalog::{ConfigError, JobConfig, JobTypeSpec, Problems, TemplateFile};
pub use flowctl_model::dag::TargetKind;
use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use registry::JobRegistry;
pub use telemetry::Telemetry;
pub use typed::Job;

/// A job type as the engine holds it: its offline spec, its telemetry, and how to run one
/// attempt on a step's rendered fields. Implemented for every [`Job`] by
/// [`JobRegistry::add`]; implement it directly only for a job type whose fields have no
/// struct (test probes).
#[async_trait]
pub trait JobPlugin: Send + Sync + 'static {
    /// Validation and JSON Schema of this type's fields (pure; used by `validate`).
    fn spec(&self) -> Arc<dyn JobTypeSpec>;

    /// What this type's outputs mean to metrics and the UI.
    fn telemetry(&self) -> Telemetry {
        Telemetry::default()
    }

    /// Runs one attempt. `config` is the step's fields with templates rendered (no `type`).
    ///
    /// The job must return promptly after `ctx.cancel` fires (timeout or cancel), after
    /// stopping whatever it started (a process group, a remote job run): the engine waits a
    /// bounded grace period and then drops the future.
    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError>;
}

/// Everything an attempt knows about where it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    /// 1 for the first try.
    pub try_number: u32,
    pub logical_date: DateTime<Utc>,
    /// The DAG's time zone: `ds` is the logical date in it.
    pub timezone: chrono_tz::Tz,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    pub target: TargetInfo,
    /// The project directory (relative paths in steps resolve against it).
    pub project_dir: PathBuf,
    /// Where the attempt's stdout/stderr-like output goes.
    pub log: LogSink,
    /// Fires on timeout or cancellation.
    pub cancel: CancellationToken,
    /// The template context the step's fields were rendered with (`ds`, `params`, `outputs`…),
    /// for plugins that render more text themselves (e.g. a SQL file named by `file:`).
    pub template_context: serde_json::Value,
    /// Values kept across the attempts of this task instance (a remote run's id), so a retry
    /// or a restarted attempt reconnects instead of starting the remote work twice.
    pub handles: crate::TaskHandles,
}

impl JobContext {
    /// A context for tests and benchmarks of job plugins: DAG `test_dag`, run
    /// `manual__2026-03-04T05:06:07Z`, task `step`, first try, a daily interval ending at the
    /// logical date (UTC), the `local` target with no settings, handles in memory, and a log
    /// whose lines arrive on the returned receiver. Adjust the public fields as a test needs.
    pub fn for_test(project_dir: impl Into<PathBuf>) -> (Self, mpsc::UnboundedReceiver<LogLine>) {
        let (log, lines) = LogSink::channel();
        let logical_date = Utc
            .with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
            .single()
            .unwrap_or_default();
        let ctx = Self {
            dag_id: "test_dag".into(),
            run_id: "manual__2026-03-04T05:06:07Z".into(),
            task_id: "step".into(),
            try_number: 1,
            logical_date,
            timezone: chrono_tz::Tz::UTC,
            data_interval_start: logical_date - chrono::Duration::days(1),
            data_interval_end: logical_date,
            target: TargetInfo {
                name: "local".into(),
                kind: TargetKind::Local,
                settings: serde_json::Map::new(),
            },
            project_dir: project_dir.into(),
            log,
            cancel: CancellationToken::new(),
            template_context: serde_json::Value::Null,
            handles: crate::TaskHandles::in_memory(),
        };
        (ctx, lines)
    }

    /// This context on another target: `kind`, named after it, with `settings` (the
    /// target's keys in `flowctl.yaml` besides `kind`).
    pub fn on_target(mut self, kind: TargetKind, settings: serde_json::Value) -> Self {
        self.target = TargetInfo {
            name: kind.as_str().into(),
            kind,
            settings: match settings {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
        };
        self
    }

    /// The logical date as `YYYY-MM-DD` in the DAG's time zone (the templates' `ds`).
    pub fn ds(&self) -> String {
        self.logical_date
            .with_timezone(&self.timezone)
            .format("%Y-%m-%d")
            .to_string()
    }
}

/// The target an attempt runs on.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    /// Target name from the project file (`local`, `aws`, `ci`, ...).
    pub name: String,
    /// Target kind: which step variant applies.
    pub kind: TargetKind,
    /// Target settings from the project file (every key but `kind`), already checked
    /// against the registered setting sections when the project file was read: read a
    /// section with [`TargetInfo::section`].
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl TargetInfo {
    /// The typed settings of `S` (for example the `kafka:` block) on this target; its
    /// defaults when the target does not set them. The project file was checked when it
    /// was read, so an error here means a target built by hand (tests): it is fatal.
    pub fn section<S: flowctl_model::target::TargetSection>(&self) -> Result<S, JobError> {
        flowctl_model::target::read_section::<S>(&self.settings)
            .map_err(|e| JobError::fatal(format!("target `{}` in flowctl.yaml: {e}", self.name)))
    }
}

/// What a successful attempt produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutput {
    /// `key=value` outputs visible to downstream templates as `outputs.<step>.<key>`.
    pub outputs: IndexMap<String, String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    /// Process exit code, when the job ran a process.
    pub exit_code: Option<i32>,
    /// `false` = retrying cannot help (bad configuration, bad SQL): skip remaining retries.
    pub retryable: bool,
}

impl JobError {
    /// A failure that the step's retry policy applies to.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: None,
            retryable: true,
        }
    }

    /// A failure that no retry can fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: None,
            retryable: false,
        }
    }

    /// The step's rendered fields break its job type's rules: the attempt fails before the
    /// job starts (nothing was done), and no retry can fix it. Only for configuration
    /// problems: failures while running are [`JobError::failed`] or [`JobError::fatal`].
    pub fn invalid_config(job_type: &str, problems: &[ConfigError]) -> Self {
        let list = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Self::fatal(format!("invalid `{job_type}` step: {list}"))
    }

    /// Whether retrying can help, as a lower layer decided (see
    /// `flowctl_lakehouse::LakehouseError::is_retryable`): one place classifies, every job
    /// maps with this.
    pub fn classified(message: impl Into<String>, retryable: bool) -> Self {
        if retryable {
            Self::failed(message)
        } else {
            Self::fatal(message)
        }
    }

    /// Attaches a process exit code.
    pub fn with_exit_code(mut self, code: Option<i32>) -> Self {
        self.exit_code = code;
        self
    }
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Messages from flowctl itself about the attempt.
    System,
}

/// One line of an attempt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub stream: LogStream,
    pub text: String,
}

/// Where a job writes its log. Cheap to clone; writing never blocks.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: Option<mpsc::UnboundedSender<LogLine>>,
}

impl LogSink {
    /// A sink and the receiver that collects what is written to it.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<LogLine>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        Self { tx: None }
    }

    /// Writes one line (without its trailing newline).
    pub fn line(&self, stream: LogStream, text: impl Into<String>) {
        if let Some(tx) = &self.tx {
            // A closed receiver means the attempt is over; late lines are dropped on purpose.
            let _ = tx.send(LogLine {
                at: Utc::now(),
                stream,
                text: text.into(),
            });
        }
    }

    /// Writes a flowctl message about the attempt.
    pub fn system(&self, text: impl Into<String>) {
        self.line(LogStream::System, text);
    }
}
