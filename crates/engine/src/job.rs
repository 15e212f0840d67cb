//! The contract between the engine and job plugins. The engine knows plugins only
//! through [`JobPlugin`] values registered in a [`JobRegistry`] by the binary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flowctl_model::catalog::{JobTypeCatalog, JobTypeSpec};
use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A job type: how to validate its fields offline, and how to run one attempt.
#[async_trait]
pub trait JobPlugin: Send + Sync + 'static {
    /// Validation and JSON Schema of this type's fields (pure; used by `validate`).
    fn spec(&self) -> Arc<dyn JobTypeSpec>;

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
    /// Target kind: which step variant applies (`local` or `aws`).
    pub kind: String,
    /// Target settings from the project file.
    pub settings: serde_json::Map<String, serde_json::Value>,
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

/// The job types the binary registered, by name.
#[derive(Clone, Default)]
pub struct JobRegistry {
    plugins: BTreeMap<String, Arc<dyn JobPlugin>>,
}

impl JobRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a job type; a later registration of the same name replaces the earlier one.
    pub fn register(&mut self, plugin: Arc<dyn JobPlugin>) -> &mut Self {
        let name = plugin.spec().name().to_string();
        self.plugins.insert(name, plugin);
        self
    }

    /// The plugin for a job type.
    pub fn get(&self, job_type: &str) -> Option<&Arc<dyn JobPlugin>> {
        self.plugins.get(job_type)
    }

    /// The validation catalog of every registered type (for the model layer).
    pub fn catalog(&self) -> JobTypeCatalog {
        let mut catalog = JobTypeCatalog::default();
        for plugin in self.plugins.values() {
            catalog.register(plugin.spec());
        }
        catalog
    }
}
