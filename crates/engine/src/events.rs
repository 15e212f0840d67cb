//! Progress events of runs, for the CLI's progress view and the scheduler's log.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowctl_state::RunState;
use tokio::sync::mpsc::UnboundedSender;

/// Something that happened while executing a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub dag_id: Arc<str>,
    pub run_id: Arc<str>,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
}

/// What happened (see [`RunEvent`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Execution (re)started; `done` of `total` steps had already ended (a resumed run).
    RunStarted { total: usize, done: usize },
    /// A try of a step started.
    StepStarted {
        step: String,
        try_number: u32,
        max_tries: u32,
    },
    /// A step succeeded.
    StepSucceeded {
        step: String,
        try_number: u32,
        duration: Duration,
    },
    /// A try failed; `will_retry` says whether another try is scheduled (at `retry_at`).
    StepFailed {
        step: String,
        try_number: u32,
        error: String,
        will_retry: bool,
        retry_at: Option<DateTime<Utc>>,
    },
    /// A step will not run: its trigger rule cannot be met.
    StepSkipped { step: String },
    /// A step will not run: an upstream failed.
    StepUpstreamFailed { step: String },
    /// A try's worker disappeared (lease expired); the step runs again.
    StepLost { step: String, try_number: u32 },
    /// The run reached a terminal state.
    RunFinished { state: RunState, duration: Duration },
    /// Execution stopped before the run ended (shutdown); it resumes when executed again.
    RunInterrupted,
}

/// Where events go: a channel, or nowhere. Sending never blocks; a dropped receiver is ignored.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    tx: Option<UnboundedSender<RunEvent>>,
}

impl EventSink {
    /// Events go to `tx`.
    pub fn new(tx: UnboundedSender<RunEvent>) -> Self {
        Self { tx: Some(tx) }
    }

    /// Events are dropped.
    pub fn none() -> Self {
        Self { tx: None }
    }

    /// Whether anyone listens (lets callers skip building events).
    pub fn is_active(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }

    pub(crate) fn send(&self, event: RunEvent) {
        if let Some(tx) = &self.tx {
            // A receiver that went away (the progress view ended) must not stop the run.
            let _ = tx.send(event);
        }
    }
}

impl From<UnboundedSender<RunEvent>> for EventSink {
    fn from(tx: UnboundedSender<RunEvent>) -> Self {
        Self::new(tx)
    }
}
