//! Runs and their task instances: creation, listing, clearing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::rows::{self, ATTEMPT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS};
use crate::sql::{self, CHUNK_ROWS};
use crate::time::{format_ts, parse_opt_ts};
use crate::types::{
    AttemptRecord, NewRun, RunRecord, RunState, RunType, TaskRecord, TaskReset, TaskState,
};
use crate::{Backend, Result, Store, StoreError};

/// Runs with at least this many steps refresh Postgres' statistics of task instances.
const ANALYZE_AFTER_TASKS: usize = 500;

impl Store {
    /// Creates a run and all its task instances (`queued`) in one transaction.
    ///
    /// Returns `None`, writing nothing, when the DAG already has a run with this `run_id`
    /// (so a scheduler never creates the same interval twice, even racing another one).
    pub async fn create_run(&self, new: &NewRun) -> Result<Option<RunRecord>> {
        let mut tx = self.begin_write().await?;
        let created = insert_run(&mut tx, self.backend, new).await?;
        tx.commit().await?;
        if created.is_some() {
            self.analyze_after(new.tasks.len()).await?;
        }
        Ok(created)
    }

    /// One scheduling decision for a DAG, made under a lock on the DAG's row: `plan` gets the
    /// end of the latest scheduled interval and the number of active runs, and returns the runs
    /// to create, which are inserted in the same transaction. Several schedulers sharing a
    /// Postgres store therefore never decide for the same DAG at once (so `max_active_runs`
    /// holds across processes): on Postgres the lock is taken with `FOR UPDATE SKIP LOCKED`
    /// and `None` is returned at once when another scheduler holds it; SQLite serialises
    /// writers anyway. Runs whose `run_id` exists are skipped.
    pub async fn schedule_runs(
        &self,
        dag_id: &str,
        plan: impl FnOnce(ScheduleState) -> Vec<NewRun>,
    ) -> Result<Option<Vec<RunRecord>>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            let locked: Option<String> = sqlx::query_scalar(
                "SELECT dag_id FROM dags WHERE dag_id = $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(dag_id)
            .fetch_optional(&mut *tx)
            .await?;
            if locked.is_none() {
                // Another scheduler is deciding for this DAG (or it was just removed).
                return Ok(None);
            }
        }
        let last_end: Option<String> = sqlx::query_scalar(
            "SELECT MAX(interval_end) FROM runs WHERE dag_id = $1 AND run_type = $2",
        )
        .bind(dag_id)
        .bind(RunType::Scheduled.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM runs WHERE dag_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(dag_id)
        .fetch_one(&mut *tx)
        .await?;
        let state = ScheduleState {
            last_scheduled_end: parse_opt_ts(last_end)?,
            active_runs: u32::try_from(active)
                .map_err(|_| StoreError::Corrupt(format!("run count {active}")))?,
        };
        let mut created = Vec::new();
        let mut tasks = 0;
        for new in plan(state) {
            if let Some(run) = insert_run(&mut tx, self.backend, &new).await? {
                tasks += new.tasks.len();
                created.push(run);
            }
        }
        tx.commit().await?;
        self.analyze_after(tasks).await?;
        Ok(Some(created))
    }

    /// A fresh or fast-growing table has stale planner statistics: Postgres would then scan
    /// all task instances for each claim of a few. Cheap next to a run this big.
    async fn analyze_after(&self, new_tasks: usize) -> Result<()> {
        if self.backend == Backend::Postgres && new_tasks >= ANALYZE_AFTER_TASKS {
            sqlx::query("ANALYZE task_instances")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A run by DAG and run id.
    pub async fn get_run(&self, dag_id: &str, run_id: &str) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE dag_id = $1 AND run_id = $2");
        let row = sqlx::query(&sql)
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::run).transpose()
    }

    /// A run by its store key ([`RunRecord::id`]).
    pub async fn get_run_by_pk(&self, run_pk: i64) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(run_pk)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::run).transpose()
    }

    /// The latest runs of a DAG (by logical date, newest first).
    pub async fn list_runs(&self, dag_id: &str, limit: u32) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE dag_id = $1 \
             ORDER BY logical_date DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(dag_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::run).collect()
    }

    /// Runs of a DAG whose logical date is in `[from, to]`, oldest first.
    pub async fn runs_between(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE dag_id = $1 \
             AND logical_date >= $2 AND logical_date <= $3 ORDER BY logical_date, id"
        );
        let rows = sqlx::query(&sql)
            .bind(dag_id)
            .bind(format_ts(from))
            .bind(format_ts(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::run).collect()
    }

    /// Every queued or running run (all DAGs), oldest logical date first.
    pub async fn active_runs(&self) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE state IN ('queued', 'running') \
             ORDER BY logical_date, id"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(rows::run).collect()
    }

    /// How many runs of a DAG are queued or running.
    pub async fn count_active_runs(&self, dag_id: &str) -> Result<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM runs WHERE dag_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(dag_id)
        .fetch_one(&self.pool)
        .await?;
        u32::try_from(count).map_err(|_| StoreError::Corrupt(format!("run count {count}")))
    }

    /// End of the latest data interval the scheduler created a run for.
    pub async fn last_scheduled_end(&self, dag_id: &str) -> Result<Option<DateTime<Utc>>> {
        let end: Option<String> = sqlx::query_scalar(
            "SELECT MAX(interval_end) FROM runs WHERE dag_id = $1 AND run_type = $2",
        )
        .bind(dag_id)
        .bind(RunType::Scheduled.as_str())
        .fetch_one(&self.pool)
        .await?;
        parse_opt_ts(end)
    }

    /// Sets a run's state: `running` records the start (once), a terminal state the end.
    pub async fn set_run_state(
        &self,
        run_pk: i64,
        state: RunState,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        crate::exec::set_run_state(&mut conn, run_pk, state, at).await
    }

    /// Takes the run's execution lease for `holder` until `until`, unless another holder's lease
    /// is still valid at `now`. Returns whether `holder` now executes the run.
    pub async fn claim_run(
        &self,
        run_pk: i64,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE runs SET holder = $1, lease_expires_at = $2 WHERE id = $3 \
             AND (holder IS NULL OR holder = $1 OR lease_expires_at < $4)",
        )
        .bind(holder)
        .bind(format_ts(until))
        .bind(run_pk)
        .bind(format_ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// Gives up `holder`'s execution lease on a run.
    pub async fn release_run(&self, run_pk: i64, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET holder = NULL, lease_expires_at = NULL WHERE id = $1 AND holder = $2",
        )
        .bind(run_pk)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Task instances of a run, in creation order.
    pub async fn list_tasks(&self, run_pk: i64) -> Result<Vec<TaskRecord>> {
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM task_instances WHERE run_pk = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(run_pk).fetch_all(&self.pool).await?;
        rows.iter().map(rows::task).collect()
    }

    /// One task instance of a run, by step id.
    pub async fn get_task(&self, run_pk: i64, task_id: &str) -> Result<Option<TaskRecord>> {
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM task_instances WHERE run_pk = $1 AND task_id = $2");
        let row = sqlx::query(&sql)
            .bind(run_pk)
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::task).transpose()
    }

    /// Every attempt of a task instance, first try first.
    pub async fn list_attempts(&self, ti_id: i64) -> Result<Vec<AttemptRecord>> {
        let sql =
            format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE ti_id = $1 ORDER BY try_number");
        let rows = sqlx::query(&sql).bind(ti_id).fetch_all(&self.pool).await?;
        rows.iter().map(rows::attempt).collect()
    }

    /// Outputs published by the steps of a run: step id -> key -> value.
    pub async fn run_outputs(
        &self,
        run_pk: i64,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        let rows = sqlx::query(
            "SELECT t.task_id, o.key, o.value FROM outputs o \
             JOIN task_instances t ON t.id = o.ti_id WHERE t.run_pk = $1",
        )
        .bind(run_pk)
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            out.entry(row.try_get("task_id")?)
                .or_default()
                .insert(row.try_get("key")?, row.try_get("value")?);
        }
        Ok(out)
    }

    /// Resets task instances of a run for a re-run, in one transaction: each goes back to
    /// `queued` with `tries` fresh tries (its try number, and so its attempt history and logs,
    /// are kept; the next try gets the next number), its outputs are deleted, and the run goes
    /// back to `queued`.
    ///
    /// Fails with [`StoreError::Conflict`] (writing nothing) while a step of the run is running
    /// or a live process is executing the run.
    pub async fn clear_tasks(&self, run_pk: i64, resets: &[TaskReset]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let executing: Option<String> = sqlx::query_scalar(
            "SELECT holder FROM runs WHERE id = $1 AND holder IS NOT NULL AND lease_expires_at >= $2",
        )
        .bind(run_pk)
        .bind(format_ts(Utc::now()))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(holder) = executing {
            return Err(StoreError::Conflict(format!(
                "the run is being executed by {holder}; wait for it to finish before clearing"
            )));
        }
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM task_instances WHERE run_pk = $1 AND state = 'running'",
        )
        .bind(run_pk)
        .fetch_one(&mut *tx)
        .await?;
        if running > 0 {
            return Err(StoreError::Conflict(format!(
                "the run has {running} running step(s); wait for them to finish before clearing"
            )));
        }
        for chunk in resets.chunks(CHUNK_ROWS) {
            let sql = sql::positional(
                &format!(
                    "UPDATE task_instances SET state = 'queued', max_tries = try_number + v.column2, \
                       lost_count = 0, next_try_at = NULL, holder = NULL, lease_expires_at = NULL, \
                       started_at = NULL, ended_at = NULL \
                     FROM (VALUES {}) AS v \
                     WHERE task_instances.id = v.column1 AND task_instances.run_pk = ?",
                    sql::tuples(chunk.len(), 2)
                ),
                self.backend,
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for reset in chunk {
                query = query.bind(reset.ti_id).bind(i64::from(reset.tries));
            }
            query.bind(run_pk).execute(&mut *tx).await?;
            let sql = sql::positional(
                &format!(
                    "DELETE FROM outputs WHERE ti_id IN ({})",
                    sql::list(chunk.len())
                ),
                self.backend,
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for reset in chunk {
                query = query.bind(reset.ti_id);
            }
            query.execute(&mut *tx).await?;
            // A cleared task starts afresh: it must not reconnect to the remote run of a
            // previous try.
            let sql = sql::positional(
                &format!(
                    "DELETE FROM task_handles WHERE ti_id IN ({})",
                    sql::list(chunk.len())
                ),
                self.backend,
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for reset in chunk {
                query = query.bind(reset.ti_id);
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE runs SET state = 'queued', ended_at = NULL WHERE id = $1")
            .bind(run_pk)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What a scheduling decision for one DAG starts from (see [`Store::schedule_runs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleState {
    /// End of the latest data interval a scheduled run exists for.
    pub last_scheduled_end: Option<DateTime<Utc>>,
    /// Queued or running runs of the DAG.
    pub active_runs: u32,
}

/// Inserts a run and its task instances in `tx`; `None` when the run id exists.
async fn insert_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    new: &NewRun,
) -> Result<Option<RunRecord>> {
    let created_at = Utc::now();
    let params = serde_json::Value::Object(new.params.clone()).to_string();
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO runs (dag_id, run_id, version_hash, logical_date, interval_start, \
           interval_end, state, run_type, params, target, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (dag_id, run_id) DO NOTHING RETURNING id",
    )
    .bind(&new.dag_id)
    .bind(&new.run_id)
    .bind(&new.version_hash)
    .bind(format_ts(new.logical_date))
    .bind(format_ts(new.interval_start))
    .bind(format_ts(new.interval_end))
    .bind(RunState::Queued.as_str())
    .bind(new.run_type.as_str())
    .bind(&params)
    .bind(&new.target)
    .bind(format_ts(created_at))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    for chunk in new.tasks.chunks(CHUNK_ROWS) {
        let sql = sql::positional(
            &format!(
                "INSERT INTO task_instances (run_pk, task_id, state, max_tries) VALUES {}",
                sql::tuples(chunk.len(), 4)
            ),
            backend,
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for task in chunk {
            query = query
                .bind(id)
                .bind(&task.task_id)
                .bind(TaskState::Queued.as_str())
                .bind(i64::from(task.max_tries));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(Some(RunRecord {
        id,
        dag_id: new.dag_id.clone(),
        run_id: new.run_id.clone(),
        version_hash: new.version_hash.clone(),
        logical_date: new.logical_date,
        interval_start: new.interval_start,
        interval_end: new.interval_end,
        state: RunState::Queued,
        run_type: new.run_type,
        params: new.params.clone(),
        target: new.target.clone(),
        // What a read returns: the store keeps microseconds.
        created_at: crate::parse_ts(&format_ts(created_at))?,
        started_at: None,
        ended_at: None,
        holder: None,
        lease_expires_at: None,
    }))
}
