//! Shows run events as they happen: a live status line on a terminal, plain one-line
//! events otherwise (CI logs, files, pipes).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::time::Duration;

use chrono::Local;
use flowctl_engine::{EventKind, EventSink, RunEvent};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::output::out;

/// A running progress view. Drop the sink handed to the engine, then `finish().await`.
pub struct Progress {
    handle: JoinHandle<()>,
}

impl Progress {
    /// Starts the view; events sent to the returned sink are shown until every sink is dropped.
    /// `show_run`: prefix lines with the DAG and run (when several runs interleave).
    pub fn start(show_run: bool) -> (EventSink, Progress) {
        let (tx, rx) = mpsc::unbounded_channel();
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let handle = tokio::spawn(show(rx, live, show_run));
        (EventSink::new(tx), Progress { handle })
    }

    /// Waits until every event was shown.
    pub async fn finish(self) {
        let _ = self.handle.await;
    }
}

/// Counts that the live status line shows.
#[derive(Default)]
struct Tally {
    running: BTreeSet<(String, String)>,
    retrying: BTreeSet<(String, String)>,
    done: usize,
    failed: usize,
    total: usize,
}

impl Tally {
    fn status(&self) -> String {
        let running: Vec<&str> = self
            .running
            .iter()
            .map(|(_, s)| s.as_str())
            .take(6)
            .collect();
        let more = self.running.len().saturating_sub(running.len());
        format!(
            "{}/{} done · {} failed · {} retrying · running: {}{}",
            self.done,
            self.total,
            self.failed,
            self.retrying.len(),
            if running.is_empty() {
                "-".to_string()
            } else {
                running.join(", ")
            },
            if more > 0 {
                format!(" +{more}")
            } else {
                String::new()
            }
        )
    }
}

async fn show(mut rx: mpsc::UnboundedReceiver<RunEvent>, live: bool, show_run: bool) {
    let bar = live.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut tally = Tally::default();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(event) = rx.recv().await {
        let line = describe(&event, &mut tally, &mut totals, show_run);
        match (&bar, line) {
            (Some(bar), Some(line)) => {
                bar.println(line);
                bar.set_message(tally.status());
            }
            (Some(bar), None) => bar.set_message(tally.status()),
            (None, Some(line)) => out!("{line}"),
            (None, None) => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// Updates the tally and returns the line to print for an event, if any.
fn describe(
    event: &RunEvent,
    tally: &mut Tally,
    totals: &mut BTreeMap<String, usize>,
    show_run: bool,
) -> Option<String> {
    let when = event.at.with_timezone(&Local).format("%H:%M:%S");
    let run = format!("{} {}", event.dag_id, event.run_id);
    let key = |step: &str| (run.clone(), step.to_string());
    let text = match &event.kind {
        EventKind::RunStarted { total, done } => {
            totals.insert(run.clone(), *total);
            tally.total = totals.values().sum();
            tally.done += done;
            if *done > 0 {
                format!("resuming: {done} of {total} steps already ended")
            } else {
                format!(
                    "started: {total} step{}",
                    if *total == 1 { "" } else { "s" }
                )
            }
        }
        EventKind::StepStarted {
            step,
            try_number,
            max_tries,
        } => {
            tally.retrying.remove(&key(step));
            tally.running.insert(key(step));
            if *try_number > 1 {
                format!("{step} started (try {try_number}/{max_tries})")
            } else {
                format!("{step} started")
            }
        }
        EventKind::StepSucceeded { step, duration, .. } => {
            tally.running.remove(&key(step));
            tally.done += 1;
            format!("{step} succeeded in {:.2}s", duration.as_secs_f64())
        }
        EventKind::StepFailed {
            step,
            try_number,
            error,
            will_retry,
            retry_at,
        } => {
            tally.running.remove(&key(step));
            if *will_retry {
                tally.retrying.insert(key(step));
                let at = retry_at
                    .map(|t| t.with_timezone(&Local).format("%H:%M:%S").to_string())
                    .unwrap_or_default();
                format!("{step} failed (try {try_number}): {error} — retrying at {at}")
            } else {
                tally.done += 1;
                tally.failed += 1;
                format!("{step} FAILED (try {try_number}): {error}")
            }
        }
        EventKind::StepSkipped { step } => {
            tally.done += 1;
            format!("{step} skipped (trigger rule not met)")
        }
        EventKind::StepUpstreamFailed { step } => {
            tally.done += 1;
            format!("{step} not run: an upstream step failed")
        }
        EventKind::StepLost { step, try_number } => {
            tally.running.remove(&key(step));
            format!(
                "{step} try {try_number} lost with its worker (lease expired); running it again"
            )
        }
        EventKind::RunFinished { state, duration } => {
            format!("run {state} in {:.2}s", duration.as_secs_f64())
        }
        EventKind::RunInterrupted => "run interrupted; it resumes when executed again".to_string(),
    };
    if show_run {
        Some(format!("{when} {run} {text}"))
    } else {
        Some(format!("{when} {text}"))
    }
}
