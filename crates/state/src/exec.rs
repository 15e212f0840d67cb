//! The executor's and scheduler's operations: batched claim/finish, leases, recovery.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::rows;
use crate::time::format_ts;
use crate::types::{AttemptState, RunState, TaskState};
use crate::{Result, Store};

/// The end of one attempt, as the executor reports it in a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub ti_id: i64,
    /// The try that ended (must still be the task instance's current try).
    pub try_number: u32,
    /// `Success` or `Failed`.
    pub attempt_state: AttemptState,
    /// What becomes of the task instance: `Success`, `Failed` or `UpForRetry`.
    pub task_state: TaskState,
    pub ended_at: DateTime<Utc>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// For `UpForRetry`: when the next try may start.
    pub next_try_at: Option<DateTime<Utc>>,
    /// Tries added to the task instance's allowance: 1 when this try must not count against
    /// the retries (interrupted by a shutdown), else 0.
    pub extra_tries: u32,
    /// Outputs published by a successful attempt.
    pub outputs: Vec<(String, String)>,
    /// The last unwritten part of the attempt's log: `(byte offset, text)`.
    pub log_tail: Option<(u64, String)>,
}

/// A run state change written with a [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTransition {
    pub run_pk: i64,
    /// `Running` records the start (once); a terminal state records the end.
    pub state: RunState,
}

/// Everything one executor step writes, in ONE transaction (see [`Store::apply_batch`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// The process id written as lease holder (and checked on finish).
    pub holder: String,
    pub now: DateTime<Utc>,
    /// Lease expiry of newly claimed task instances.
    pub lease_until: DateTime<Utc>,
    /// Attempts that ended.
    pub finished: Vec<Finish>,
    /// `queued` task instances to mark `skipped` (trigger rule cannot be met).
    pub skipped: Vec<i64>,
    /// `queued` task instances to mark `upstream_failed`.
    pub upstream_failed: Vec<i64>,
    /// Task instances to claim (`queued`, or `up_for_retry` whose `next_try_at` has passed).
    pub claims: Vec<i64>,
    /// Run state change, applied last.
    pub run: Option<RunTransition>,
}

impl Batch {
    /// `true` when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty()
            && self.skipped.is_empty()
            && self.upstream_failed.is_empty()
            && self.claims.is_empty()
            && self.run.is_none()
    }
}

/// A task instance this process now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub ti_id: i64,
    /// The try it starts (1 for the first).
    pub try_number: u32,
}

/// What [`Store::apply_batch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Claims that succeeded; the others were taken (or resolved) by someone else.
    pub claimed: Vec<Claimed>,
    /// Finishes NOT recorded because the task instance was no longer this holder's try (its
    /// lease expired and another process recovered it).
    pub stale: Vec<i64>,
}

/// A task instance whose lease had expired, as recovered by [`Store::recover_expired_leases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTask {
    pub ti_id: i64,
    pub run_pk: i64,
    pub task_id: String,
    /// The try that was lost.
    pub try_number: u32,
    /// The previous holder.
    pub holder: Option<String>,
    /// The task instance's new state: `queued` (the loss did not count against its retries),
    /// `up_for_retry` or `failed` (losses beyond the free ones count like failures).
    pub new_state: TaskState,
}

/// Error recorded on an attempt whose worker disappeared.
pub const LOST_ERROR: &str = "worker lost (lease expired)";

impl Store {
    /// Extends to `until` the leases held by `holder`: its running task instances and the runs
    /// it executes. Returns how many task instances were renewed.
    pub async fn renew_leases(&self, holder: &str, until: DateTime<Utc>) -> Result<u64> {
        let until = format_ts(until);
        let mut tx = self.begin_write().await?;
        let renewed = sqlx::query(
            "UPDATE task_instances SET lease_expires_at = $1 WHERE holder = $2 AND state = 'running'",
        )
        .bind(&until)
        .bind(holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE runs SET lease_expires_at = $1 WHERE holder = $2")
            .bind(&until)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(renewed)
    }

    /// Recovers running task instances whose lease expired before `now` (their worker died):
    /// the attempt is marked `lost` ("worker lost (lease expired)") and the task instance
    /// goes back to `queued` without consuming a try while it has been lost fewer than
    /// `free_losses` times; after that a loss counts like a failure (`up_for_retry` due now
    /// if tries remain, else `failed`). Limited to one run when `run_pk` is given.
    ///
    /// Each recovery is conditional on the lease still being expired, so concurrent
    /// recoverers never recover the same try twice.
    pub async fn recover_expired_leases(
        &self,
        now: DateTime<Utc>,
        run_pk: Option<i64>,
        free_losses: u32,
    ) -> Result<Vec<RecoveredTask>> {
        let now_s = format_ts(now);
        let sql = format!(
            "SELECT id, run_pk, task_id, try_number, max_tries, lost_count, holder \
             FROM task_instances WHERE state = 'running' AND lease_expires_at < $1 {}",
            if run_pk.is_some() {
                "AND run_pk = $2"
            } else {
                ""
            }
        );
        let mut query = sqlx::query(&sql).bind(&now_s);
        if let Some(pk) = run_pk {
            query = query.bind(pk);
        }
        let candidates = query.fetch_all(&self.pool).await?;
        let mut recovered = Vec::new();
        for row in candidates {
            let ti_id: i64 = row.try_get("id")?;
            let try_number = rows::count(&row, "try_number")?;
            let max_tries = rows::count(&row, "max_tries")?;
            let lost_count = rows::count(&row, "lost_count")?;
            let (new_state, extra, next_try_at, ended_at) = if lost_count < free_losses {
                (TaskState::Queued, 1_i64, None, None)
            } else if try_number < max_tries {
                (TaskState::UpForRetry, 0, Some(now_s.clone()), None)
            } else {
                (TaskState::Failed, 0, None, Some(now_s.clone()))
            };
            let mut tx = self.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE task_instances SET state = $1, max_tries = max_tries + $2, \
                   lost_count = lost_count + 1, next_try_at = $3, ended_at = $4, \
                   holder = NULL, lease_expires_at = NULL \
                 WHERE id = $5 AND try_number = $6 AND state = 'running' AND lease_expires_at < $7",
            )
            .bind(new_state.as_str())
            .bind(extra)
            .bind(next_try_at)
            .bind(ended_at)
            .bind(ti_id)
            .bind(i64::from(try_number))
            .bind(&now_s)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE attempts SET state = $1, ended_at = $2, error = $3 \
                 WHERE ti_id = $4 AND try_number = $5 AND state = 'running'",
            )
            .bind(AttemptState::Lost.as_str())
            .bind(&now_s)
            .bind(LOST_ERROR)
            .bind(ti_id)
            .bind(i64::from(try_number))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            recovered.push(RecoveredTask {
                ti_id,
                run_pk: row.try_get("run_pk")?,
                task_id: row.try_get("task_id")?,
                try_number,
                holder: row.try_get("holder")?,
                new_state,
            });
        }
        Ok(recovered)
    }
}

pub(crate) async fn set_run_state(
    conn: &mut sqlx::AnyConnection,
    run_pk: i64,
    state: RunState,
    at: DateTime<Utc>,
) -> Result<()> {
    let at = format_ts(at);
    let query = match state {
        RunState::Running => sqlx::query(
            "UPDATE runs SET state = $1, started_at = COALESCE(started_at, $2), ended_at = NULL \
             WHERE id = $3",
        )
        .bind(state.as_str())
        .bind(at),
        RunState::Queued => {
            sqlx::query("UPDATE runs SET state = $1, ended_at = NULL WHERE id = $2")
                .bind(state.as_str())
        }
        RunState::Success | RunState::Failed => {
            sqlx::query("UPDATE runs SET state = $1, ended_at = $2 WHERE id = $3")
                .bind(state.as_str())
                .bind(at)
        }
    };
    query.bind(run_pk).execute(&mut *conn).await?;
    Ok(())
}
