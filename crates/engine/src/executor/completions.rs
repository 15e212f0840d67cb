//! Completions: what the end of an attempt does to its step and the run.
//!
//! An attempt reports its end on the executor's channel (see [`Completion`]); here the end
//! becomes a step state. A success keeps the step's outputs for downstream templates; a
//! retryable failure is retried after the step's (jittered) delay while tries remain, any
//! other failure fails the step; a try cut short by a shutdown is given back and runs again
//! at once (or, with [`OnShutdown::Fail`](super::OnShutdown::Fail), fails its step and
//! decides nothing downstream). A step that ends decides its downstream steps' trigger rules in the view, and
//! the steps that can no longer run are resolved (`skipped` / `upstream_failed`). All of it
//! goes into the pending batch, and the notifications it calls for are queued until that
//! batch is written.

use std::time::Duration;

use flowctl_model::dag::NotifyEvent;
use flowctl_state::{AttemptState, Finish, TaskState};
use rand::Rng;

use super::attempt::{Completion, Failure};
use super::view::Resolved;
use super::{Executor, chrono_duration};
use crate::events::EventKind;

impl Executor<'_> {
    /// Records an attempt's end in the view and the pending batch.
    pub(super) fn complete(&mut self, c: Completion) {
        if self.in_flight.remove(&c.idx).is_none() {
            return;
        }
        let Some((task_id, step)) = self.dag.steps.get_index(c.idx) else {
            return;
        };
        let task_id = task_id.clone();
        let node = &self.view.nodes[c.idx];
        let ti_id = node.ti_id;
        let max_tries = node.max_tries;
        let mut finish = Finish {
            ti_id,
            try_number: c.try_number,
            attempt_state: AttemptState::Success,
            task_state: TaskState::Success,
            ended_at: c.ended_at,
            exit_code: None,
            error: None,
            next_try_at: None,
            extra_tries: 0,
            outputs: Vec::new(),
            log_tail: c.log_tail,
        };
        match c.result {
            Ok(output) => {
                finish.outputs = output
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !output.outputs.is_empty() {
                    self.outputs
                        .insert(task_id.clone(), output.outputs.into_iter().collect());
                }
                self.batch.finished.push(finish);
                let resolved = self.view.set_terminal(c.idx, TaskState::Success);
                self.emit(EventKind::StepSucceeded {
                    step: task_id,
                    try_number: c.try_number,
                    duration: c.duration,
                });
                self.queue_notices(c.idx, NotifyEvent::Success, c.try_number, None);
                self.record_resolved(resolved);
            }
            Err(Failure::Interrupted) if self.fail_on_shutdown => {
                // The run ends with the process: the try cut short fails its step, and
                // nothing downstream is decided (those steps did not run; a clear runs them).
                finish.attempt_state = AttemptState::Failed;
                finish.task_state = TaskState::Failed;
                let error = Failure::Interrupted.message();
                finish.error = Some(error.clone());
                self.batch.finished.push(finish);
                self.view.set_cut_short(c.idx);
                self.cut_short += 1;
                self.emit(EventKind::StepFailed {
                    step: task_id,
                    try_number: c.try_number,
                    error,
                    will_retry: false,
                    retry_at: None,
                });
            }
            Err(failure) => {
                finish.attempt_state = AttemptState::Failed;
                finish.exit_code = failure.exit_code();
                finish.error = Some(failure.message());
                let retry_at = if failure == Failure::Interrupted {
                    // Not the step's fault: the try is given back and runs again at once.
                    finish.extra_tries = 1;
                    self.view.nodes[c.idx].max_tries += 1;
                    Some(c.ended_at)
                } else if failure.retryable() && c.try_number < max_tries {
                    let delay = jittered(step.retry_delay_before(c.try_number + 1));
                    Some(c.ended_at + chrono_duration(delay))
                } else {
                    None
                };
                self.emit(EventKind::StepFailed {
                    step: task_id,
                    try_number: c.try_number,
                    error: failure.message(),
                    will_retry: retry_at.is_some(),
                    retry_at,
                });
                // A try cut short by a shutdown is not the step failing: nobody is told.
                if failure != Failure::Interrupted {
                    let event = if retry_at.is_some() {
                        NotifyEvent::Retry
                    } else {
                        NotifyEvent::Failure
                    };
                    self.errors.insert(c.idx, failure.message());
                    self.queue_notices(c.idx, event, c.try_number, Some(failure.message()));
                }
                match retry_at {
                    Some(at) => {
                        finish.task_state = TaskState::UpForRetry;
                        finish.next_try_at = Some(at);
                        self.batch.finished.push(finish);
                        self.view.set_retrying(c.idx, at);
                    }
                    None => {
                        finish.task_state = TaskState::Failed;
                        self.batch.finished.push(finish);
                        let resolved = self.view.set_terminal(c.idx, TaskState::Failed);
                        self.record_resolved(resolved);
                    }
                }
            }
        }
    }

    /// Adds steps resolved without running to the batch, with their events.
    pub(super) fn record_resolved(&mut self, resolved: Vec<Resolved>) {
        for (i, state) in resolved {
            let ti_id = self.view.nodes[i].ti_id;
            let step = self
                .dag
                .steps
                .get_index(i)
                .map(|(id, _)| id.clone())
                .unwrap_or_default();
            if state == TaskState::Skipped {
                self.batch.skipped.push(ti_id);
                self.emit(EventKind::StepSkipped { step });
            } else {
                self.batch.upstream_failed.push(ti_id);
                self.emit(EventKind::StepUpstreamFailed { step });
            }
        }
    }
}

/// `delay` ± up to 10 %, never negative.
///
/// Spreads the retries of steps that failed together (a shared source going down), so they
/// do not all hit it again at the same instant.
fn jittered(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    let factor: f64 = rand::rng().random_range(0.9..=1.1);
    delay.mul_f64(factor)
}
