//! Batch writes: the state changes of one turn of the loop, written in ONE store transaction.
//!
//! Everything the loop decides between two writes (ended tries, steps resolved by trigger
//! rules, claims, the run's state) is collected in the pending [`Batch`] and written with
//! [`Store::apply_batch`]: one round trip per turn rather than one per change, and the store
//! never holds half of a decision (a step's end without the skips it implies downstream).
//! Parts of a batch are refused when another process changed the run meanwhile (a clear, a
//! recovery); the executor then re-reads the run's steps.
//!
//! [`Batch`]: flowctl_state::Batch
//! [`Store::apply_batch`]: flowctl_state::Store::apply_batch

use std::time::Duration;

use chrono::Utc;
use flowctl_state::{RunState, RunTransition};

use super::{Executor, chrono_duration};
use crate::Result;
use crate::rules::run_succeeded;

/// Store writes are retried this many times (with backoff) before the executor gives up.
const STORE_RETRIES: u32 = 4;

impl Executor<'_> {
    /// Adds the run's state change to the pending batch: its final state once every step
    /// ended (`finished`), else `running` when the run was still `queued` and its first
    /// steps are being claimed.
    pub(super) fn stage_run_state(&mut self, finished: bool) {
        if finished {
            let leaves = self
                .view
                .nodes
                .iter()
                .filter(|n| n.downstream.is_empty())
                .map(|n| &n.state);
            let state = if run_succeeded(leaves) {
                RunState::Success
            } else {
                RunState::Failed
            };
            self.batch.run = Some(RunTransition {
                run_pk: self.run.id,
                state,
            });
        } else if self.run.state == RunState::Queued && !self.batch.claims.is_empty() {
            self.batch.run = Some(RunTransition {
                run_pk: self.run.id,
                state: RunState::Running,
            });
        }
    }

    /// Writes the pending batch (retrying transient store errors), then starts the claimed
    /// steps the store granted; re-reads the run's steps when the store refused a claim or a
    /// finish (it changed under us).
    pub(super) async fn write_batch(&mut self) -> Result<()> {
        let mut batch = std::mem::take(&mut self.batch);
        let settings = self.engine.settings();
        batch.holder.clone_from(&settings.holder_id);
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        let outcome = loop {
            batch.now = Utc::now();
            batch.lease_until = batch.now + chrono_duration(settings.lease_duration);
            let started = std::time::Instant::now();
            let written = self.engine.store().apply_batch(&batch).await;
            tracing::trace!(
                finished = batch.finished.len(),
                claims = batch.claims.len(),
                elapsed = ?started.elapsed(),
                "batch written"
            );
            match written {
                Ok(outcome) => break outcome,
                Err(err) if tries < STORE_RETRIES && err.is_transient() => {
                    tracing::warn!("state store write failed, retrying in {delay:?}: {err}");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                    tries += 1;
                }
                Err(err) => return Err(err.into()),
            }
        };
        if let Some(run) = batch.run {
            self.run.state = run.state;
        }
        // Claims refused, or finishes not recorded: the store changed under us (a clear, a
        // recovery by another process). Re-read the run's steps.
        let refused = self.start_claimed(&outcome.claimed);
        if refused || !outcome.stale.is_empty() {
            self.resync().await?;
        }
        Ok(())
    }
}
