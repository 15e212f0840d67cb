//! One attempt of a step: render its fields, run its job under a timeout and a cancel
//! token, collect its log into chunks, and report the result to the executor.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use flowctl_model::duration::format_duration;
use flowctl_model::schedule::DataInterval;
use flowctl_model::template::{RunContext, render_config, task_context};
use flowctl_state::Store;
use futures::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::TaskHandles;
use crate::job::{
    JobContext, JobError, JobOutput, JobPlugin, LogLine, LogSink, LogStream, TargetInfo,
};

/// A log is written to the store when this much is pending...
const LOG_CHUNK_BYTES: usize = 64 * 1024;
/// ...or when its oldest pending line is this old.
const LOG_FLUSH_DELAY: Duration = Duration::from_millis(200);

/// What every attempt of a run shares.
pub(crate) struct RunInfo {
    pub dag_id: String,
    pub run_id: String,
    pub logical_date: DateTime<Utc>,
    pub interval: DataInterval,
    pub timezone: Tz,
    pub params: Map<String, Value>,
    pub target: TargetInfo,
    pub project_dir: PathBuf,
    pub store: Store,
    /// How long a cancelled job may take to stop before it is dropped.
    pub cancel_grace: Duration,
}

/// One attempt to run.
pub(crate) struct AttemptSpec {
    /// Node index in the executor's view.
    pub idx: usize,
    pub ti_id: i64,
    pub try_number: u32,
    pub task_id: String,
    /// `None` when the job type is not registered (fails the attempt without retry).
    pub plugin: Option<Arc<dyn JobPlugin>>,
    pub job_type: String,
    /// The step's fields, templates not rendered.
    pub config: Map<String, Value>,
    pub timeout: Option<Duration>,
    /// Outputs of upstream steps, by step id.
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Fired by the executor on shutdown: cancel the job; the try does not count.
    pub interrupt: CancellationToken,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Job(JobError),
    TimedOut(Duration),
    Render(String),
    MissingJobType(String),
    Panicked(String),
    /// Cancelled by a shutdown; does not count against the retries.
    Interrupted,
}

impl Failure {
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Job(e) => e.retryable,
            Failure::TimedOut(_) | Failure::Panicked(_) | Failure::Interrupted => true,
            Failure::Render(_) | Failure::MissingJobType(_) => false,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Job(e) => e.message.clone(),
            Failure::TimedOut(d) => format!("timed out after {}", format_duration(*d)),
            Failure::Render(e) => format!("template error {e}"),
            Failure::MissingJobType(t) => format!("job type `{t}` is not available in this build"),
            Failure::Panicked(m) => format!("job panicked: {m}"),
            Failure::Interrupted => "interrupted: flowctl shut down before the step ended".into(),
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Failure::Job(e) => e.exit_code,
            _ => None,
        }
    }
}

/// The end of an attempt, sent to the executor.
pub(crate) struct Completion {
    pub idx: usize,
    pub try_number: u32,
    pub ended_at: DateTime<Utc>,
    pub duration: Duration,
    pub result: Result<JobOutput, Failure>,
    /// Log text not written yet: `(byte offset, text)`, written with the attempt's end.
    pub log_tail: Option<(u64, String)>,
}

/// Runs one attempt and reports it on `done`.
pub(crate) async fn run_attempt(
    info: Arc<RunInfo>,
    spec: AttemptSpec,
    done: UnboundedSender<Completion>,
) {
    let started = Instant::now();
    let mut log = LogBuffer::new(info.store.clone(), spec.ti_id, spec.try_number);
    let result = execute(&info, &spec, &mut log).await;
    if let Err(failure) = &result {
        log.push_system(&format!(
            "attempt {} failed: {}",
            spec.try_number,
            failure.message()
        ));
    }
    let completion = Completion {
        idx: spec.idx,
        try_number: spec.try_number,
        ended_at: Utc::now(),
        duration: started.elapsed(),
        result,
        log_tail: log.take_tail(),
    };
    // The executor may have stopped on a store error: then the lease expires and the try
    // is recovered as lost, which is all that can be done.
    let _ = done.send(completion);
}

async fn execute(
    info: &RunInfo,
    spec: &AttemptSpec,
    log: &mut LogBuffer,
) -> Result<JobOutput, Failure> {
    let Some(plugin) = spec.plugin.clone() else {
        return Err(Failure::MissingJobType(spec.job_type.clone()));
    };
    let run_ctx = RunContext {
        dag_id: &info.dag_id,
        run_id: &info.run_id,
        logical_date: info.logical_date,
        data_interval: info.interval,
        timezone: info.timezone,
        params: &info.params,
        target: &info.target.name,
    };
    let ctx = task_context(&run_ctx, &spec.task_id, spec.try_number, &spec.outputs);
    let config = render_config(&spec.config, &ctx).map_err(|e| Failure::Render(e.to_string()))?;

    let (sink, mut lines) = LogSink::channel();
    let cancel = CancellationToken::new();
    let job_ctx = JobContext {
        dag_id: info.dag_id.clone(),
        run_id: info.run_id.clone(),
        task_id: spec.task_id.clone(),
        try_number: spec.try_number,
        logical_date: info.logical_date,
        timezone: info.timezone,
        data_interval_start: info.interval.start,
        data_interval_end: info.interval.end,
        target: info.target.clone(),
        project_dir: info.project_dir.clone(),
        log: sink,
        cancel: cancel.clone(),
        template_context: ctx,
        handles: TaskHandles::in_store(info.store.clone(), spec.ti_id, spec.try_number),
    };
    // A panicking plugin fails its attempt, not the executor.
    let job = AssertUnwindSafe(plugin.run(config, job_ctx)).catch_unwind();
    tokio::pin!(job);

    let timeout_at = spec.timeout.map(|t| Instant::now() + t);
    let mut stopping: Option<(Failure, Instant)> = None;
    let outcome = loop {
        let flush_at = log.flush_at();
        let grace_end = stopping.as_ref().map(|(_, at)| *at);
        tokio::select! {
            biased;
            result = &mut job => break Some(result),
            Some(line) = lines.recv() => log.push(line).await,
            _ = sleep_until(timeout_at.unwrap_or_else(Instant::now)), if timeout_at.is_some() && stopping.is_none() => {
                let failure = Failure::TimedOut(spec.timeout.unwrap_or_default());
                log.push_system(&format!("{}; cancelling the job", failure.message()));
                cancel.cancel();
                stopping = Some((failure, Instant::now() + info.cancel_grace));
            }
            _ = spec.interrupt.cancelled(), if stopping.is_none() => {
                log.push_system("flowctl is shutting down; cancelling the job");
                cancel.cancel();
                stopping = Some((Failure::Interrupted, Instant::now() + info.cancel_grace));
            }
            _ = sleep_until(grace_end.unwrap_or_else(Instant::now)), if grace_end.is_some() => {
                log.push_system(&format!(
                    "the job did not stop within {} of being cancelled; abandoning it",
                    format_duration(info.cancel_grace)
                ));
                break None;
            }
            _ = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => log.flush().await,
        }
    };
    // Lines written just before the job returned.
    while let Ok(line) = lines.try_recv() {
        log.push_line(line);
    }
    let stopped_by = stopping.map(|(failure, _)| failure);
    match outcome {
        // A job that still succeeds while being cancelled did its work: keep the success.
        Some(Ok(Ok(output))) => Ok(output),
        Some(Ok(Err(err))) => Err(stopped_by.unwrap_or(Failure::Job(err))),
        Some(Err(panic)) => {
            Err(stopped_by.unwrap_or_else(|| Failure::Panicked(panic_message(&panic))))
        }
        None => Err(stopped_by.unwrap_or(Failure::Interrupted)),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// An attempt's log on its way to the store: lines are batched into chunks, written when
/// 64 KiB are pending or the oldest pending line is 200 ms old; the rest goes with the
/// attempt's end (so an attempt that logs nothing costs no log write).
struct LogBuffer {
    store: Store,
    ti_id: i64,
    try_number: u32,
    /// Bytes already written.
    written: u64,
    pending: String,
    pending_since: Option<Instant>,
}

impl LogBuffer {
    fn new(store: Store, ti_id: i64, try_number: u32) -> Self {
        Self {
            store,
            ti_id,
            try_number,
            written: 0,
            pending: String::new(),
            pending_since: None,
        }
    }

    fn push_line(&mut self, line: LogLine) {
        if line.stream == LogStream::System {
            self.push_system(&line.text);
        } else {
            self.append(&line.text);
        }
    }

    fn push_system(&mut self, text: &str) {
        self.append(&format!("[flowctl] {text}"));
    }

    fn append(&mut self, text: &str) {
        if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        self.pending.push_str(text);
        self.pending.push('\n');
    }

    async fn push(&mut self, line: LogLine) {
        self.push_line(line);
        if self.pending.len() >= LOG_CHUNK_BYTES {
            self.flush().await;
        }
    }

    fn flush_at(&self) -> Option<Instant> {
        self.pending_since.map(|since| since + LOG_FLUSH_DELAY)
    }

    async fn flush(&mut self) {
        if self.pending.is_empty() {
            self.pending_since = None;
            return;
        }
        match self
            .store
            .append_log(self.ti_id, self.try_number, self.written, &self.pending)
            .await
        {
            Ok(()) => {
                self.written += self.pending.len() as u64;
                self.pending.clear();
                self.pending_since = None;
            }
            Err(err) => {
                // Keep the text: it is written with the next flush or the attempt's end.
                tracing::warn!(ti_id = self.ti_id, "cannot write log chunk: {err}");
                self.pending_since = Some(Instant::now());
            }
        }
    }

    fn take_tail(&mut self) -> Option<(u64, String)> {
        if self.pending.is_empty() {
            None
        } else {
            Some((self.written, std::mem::take(&mut self.pending)))
        }
    }
}
