//! [`Store::apply_batch`]: one executor step written in one transaction, in as few round
//! trips as the backend allows.
//!
//! - SQLite: every statement, with `BEGIN IMMEDIATE` and `COMMIT`, goes as ONE multi-statement
//!   query: one round trip to its worker thread per batch, whatever the number of steps.
//! - Postgres: ONE statement whose parts are data-modifying CTEs (an implicit transaction,
//!   one round trip); a batch too large for one statement's parameters runs its statements
//!   one by one in a transaction instead.
//!
//! Statements that use another's effect read it from that statement in the CTE form (a
//! CTE does not see the others' writes) and from the table in the sequential form.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::exec::{Batch, BatchOutcome, Claimed, Finish};
use crate::logs::to_i64;
use crate::rows;
use crate::sql::{self, CHUNK_ROWS};
use crate::time::format_ts;
use crate::types::{AttemptState, RunState, TaskState};
use crate::{Backend, Result, Store};

/// Most parameters put in one Postgres statement (its limit is 65,535).
const MAX_STATEMENT_PARAMS: usize = 30_000;

/// A bound value.
enum Val {
    Int(Option<i64>),
    Text(Option<String>),
}

/// Claims of at least this many steps in one batch refresh Postgres' statistics of attempts.
const ANALYZE_AFTER_CLAIMS: usize = 500;

/// How the statements of a batch will run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// One after the other (each sees the previous ones' writes).
    Sequential,
    /// As CTEs of one Postgres statement.
    Cte,
}

/// One statement of a batch.
struct Part {
    /// CTE name; what dependent statements read in the CTE form.
    name: String,
    sql: String,
    values: Vec<Val>,
    /// Whether it returns `(kind, id, try_number)` rows for the outcome.
    reports: bool,
}

/// Statements with `?` placeholders and their values, in order.
struct Script {
    form: Form,
    parts: Vec<Part>,
    /// Claims lock their rows with `FOR UPDATE SKIP LOCKED` (Postgres): a row another
    /// transaction is claiming or finishing is skipped, not waited for.
    skip_locked: bool,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind(mut query: AnyQuery<'_>, values: Vec<Val>) -> AnyQuery<'_> {
    for value in values {
        query = match value {
            Val::Int(v) => query.bind(v),
            Val::Text(v) => query.bind(v),
        };
    }
    query
}

impl Script {
    fn new(form: Form) -> Self {
        Self {
            form,
            parts: Vec::new(),
            skip_locked: false,
        }
    }

    /// Adds a statement; returns its name.
    fn push(&mut self, sql: String, values: Vec<Val>, reports: bool) -> String {
        let name = format!("s{}", self.parts.len());
        self.parts.push(Part {
            name: name.clone(),
            sql,
            values,
            reports,
        });
        name
    }

    /// The single Postgres statement of the CTE form.
    fn into_cte(self) -> (String, Vec<Val>) {
        let mut sql = String::from("WITH ");
        let mut values = Vec::new();
        let mut selects = Vec::new();
        for (i, part) in self.parts.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(",\n");
            }
            sql.push_str(&format!("{} AS ({})", part.name, part.sql));
            values.extend(part.values);
            if part.reports {
                selects.push(format!("SELECT kind, id, try_number FROM {}", part.name));
            }
        }
        if selects.is_empty() {
            selects.push(
                "SELECT CAST(NULL AS TEXT) AS kind, CAST(NULL AS BIGINT) AS id, \
                 CAST(NULL AS BIGINT) AS try_number WHERE FALSE"
                    .into(),
            );
        }
        sql.push('\n');
        sql.push_str(&selects.join(" UNION ALL "));
        (sql, values)
    }
}

fn int(v: impl Into<i64>) -> Val {
    Val::Int(Some(v.into()))
}

fn text(v: impl Into<String>) -> Val {
    Val::Text(Some(v.into()))
}

impl Store {
    /// Writes one executor step in ONE transaction, in this order: finished attempts (task
    /// instance state and attempt row — only where the task instance is still this holder's
    /// current try —, outputs, last log chunk), skipped and upstream-failed task instances,
    /// claims (conditional: only `queued` or due `up_for_retry` rows are taken, so two
    /// processes never run the same try; an attempt row is created for each), the run state.
    pub async fn apply_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let form = match self.backend {
            Backend::Postgres if batch_params(batch) <= MAX_STATEMENT_PARAMS => Form::Cte,
            _ => Form::Sequential,
        };
        let script = build(batch, form, self.backend == Backend::Postgres);
        let rows = match (self.backend, form) {
            (Backend::Sqlite, _) => self.run_sqlite(script).await?,
            (Backend::Postgres, Form::Cte) => {
                let (cte, values) = script.into_cte();
                let sql = sql::positional(&cte, Backend::Postgres);
                let query = bind(sqlx::query(&sql), values);
                query.fetch_all(&self.pool).await?
            }
            (Backend::Postgres, Form::Sequential) => {
                let mut tx = self.begin_write().await?;
                let mut rows = Vec::new();
                for part in script.parts {
                    let sql = sql::positional(&part.sql, Backend::Postgres);
                    let query = bind(sqlx::query(&sql).persistent(false), part.values);
                    let found = query.fetch_all(&mut *tx).await?;
                    if part.reports {
                        rows.extend(found);
                    }
                }
                tx.commit().await?;
                rows
            }
        };
        if self.backend == Backend::Postgres && batch.claims.len() >= ANALYZE_AFTER_CLAIMS {
            // A big claim adds as many attempt rows at once. Without fresh statistics Postgres
            // keeps planning the next batches' attempt updates for the near-empty table it
            // last saw (a scan of every attempt per row): measured 10x slower with three
            // 5,000-step runs in one process.
            sqlx::query("ANALYZE attempts").execute(&self.pool).await?;
        }

        let mut outcome = BatchOutcome::default();
        let mut finished = std::collections::HashSet::new();
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            let ti_id: i64 = row.try_get("id")?;
            if kind == "claimed" {
                outcome.claimed.push(Claimed {
                    ti_id,
                    try_number: rows::count(row, "try_number")?,
                });
            } else {
                finished.insert(ti_id);
            }
        }
        outcome.stale = batch
            .finished
            .iter()
            .map(|f| f.ti_id)
            .filter(|id| !finished.contains(id))
            .collect();
        Ok(outcome)
    }

    /// Runs a sequential script on SQLite as one multi-statement query, inside
    /// `BEGIN IMMEDIATE` / `COMMIT`. On an error the connection is rolled back before it goes
    /// back to the pool (or closed, if even that fails).
    async fn run_sqlite(&self, script: Script) -> Result<Vec<AnyRow>> {
        let mut sql = String::from("BEGIN IMMEDIATE;\n");
        let mut values = Vec::new();
        for part in script.parts {
            sql.push_str(&part.sql);
            sql.push_str(";\n");
            values.extend(part.values);
        }
        sql.push_str("COMMIT;");
        let mut conn = self.pool.acquire().await?;
        // Batches of the same shape repeat: keep their prepared statements.
        let query = bind(sqlx::query(&sql).persistent(true), values);
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => Ok(rows),
            Err(err) => {
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
                    && let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await
                {
                    tracing::warn!("closing a broken SQLite connection: {e}");
                    let _ = conn.close().await;
                }
                Err(err.into())
            }
        }
    }
}

/// Parameters a batch binds (to choose the Postgres form).
fn batch_params(batch: &Batch) -> usize {
    let outputs: usize = batch.finished.iter().map(|f| f.outputs.len()).sum();
    batch.finished.len() * 17
        + outputs * 4
        + batch.skipped.len()
        + batch.upstream_failed.len()
        + batch.claims.len() * 2
        + 16
}

/// The statements of a batch.
fn build(batch: &Batch, form: Form, skip_locked: bool) -> Script {
    let now = format_ts(batch.now);
    let mut script = Script::new(form);
    script.skip_locked = skip_locked;
    for chunk in batch.finished.chunks(CHUNK_ROWS) {
        finish(&mut script, &batch.holder, chunk);
    }
    for (ids, state) in [
        (&batch.skipped, TaskState::Skipped),
        (&batch.upstream_failed, TaskState::UpstreamFailed),
    ] {
        for chunk in ids.chunks(CHUNK_ROWS) {
            let mut values = vec![text(state.as_str()), text(&now)];
            values.extend(chunk.iter().map(|id| int(*id)));
            script.push(
                format!(
                    "UPDATE task_instances SET state = ?, ended_at = ? \
                     WHERE state = 'queued' AND id IN ({})",
                    sql::list(chunk.len())
                ),
                values,
                false,
            );
        }
    }
    for chunk in batch.claims.chunks(CHUNK_ROWS) {
        claim(&mut script, batch, &now, chunk);
    }
    if let Some(run) = batch.run {
        run_state(&mut script, run.run_pk, run.state, &now);
    }
    script
}

/// Task instance and attempt of every finish still held by `holder` at that try; outputs of
/// successes; last log chunks.
fn finish(script: &mut Script, holder: &str, chunk: &[Finish]) {
    let mut values = Vec::with_capacity(chunk.len() * 6 + 1);
    for f in chunk {
        let ended = (f.task_state != TaskState::UpForRetry).then(|| format_ts(f.ended_at));
        values.extend([
            int(f.ti_id),
            int(f.try_number),
            text(f.task_state.as_str()),
            Val::Text(f.next_try_at.map(format_ts)),
            Val::Text(ended),
            int(f.extra_tries),
        ]);
    }
    values.push(text(holder));
    let finished = script.push(
        format!(
            "UPDATE task_instances SET state = v.column3, next_try_at = v.column4, \
               ended_at = v.column5, max_tries = task_instances.max_tries + v.column6, \
               holder = NULL, lease_expires_at = NULL \
             FROM (VALUES {}) AS v \
             WHERE task_instances.id = v.column1 AND task_instances.try_number = v.column2 \
               AND task_instances.state = 'running' AND task_instances.holder = ? \
             RETURNING CAST('finished' AS TEXT) AS kind, task_instances.id AS id, \
               task_instances.try_number AS try_number, task_instances.state AS state",
            sql::tuples(chunk.len(), 6)
        ),
        values,
        true,
    );

    // An attempt still `running` under this holder is this holder's: a recovered (lost) one
    // is not touched.
    let mut values = Vec::with_capacity(chunk.len() * 6 + 1);
    for f in chunk {
        values.extend([
            int(f.ti_id),
            int(f.try_number),
            text(f.attempt_state.as_str()),
            text(format_ts(f.ended_at)),
            Val::Int(f.exit_code.map(i64::from)),
            Val::Text(f.error.clone()),
        ]);
    }
    values.push(text(holder));
    script.push(
        format!(
            "UPDATE attempts SET state = v.column3, ended_at = v.column4, exit_code = v.column5, \
               error = v.column6 \
             FROM (VALUES {}) AS v \
             WHERE attempts.ti_id = v.column1 AND attempts.try_number = v.column2 \
               AND attempts.state = '{}' AND attempts.holder = ?",
            sql::tuples(chunk.len(), 6),
            AttemptState::Running.as_str()
        ),
        values,
        false,
    );

    let outputs: Vec<(&Finish, &String, &String)> = chunk
        .iter()
        .flat_map(|f| f.outputs.iter().map(move |(k, v)| (f, k, v)))
        .collect();
    for part in outputs.chunks(CHUNK_ROWS) {
        let mut values = Vec::with_capacity(part.len() * 4);
        for (f, key, value) in part {
            values.extend([
                int(f.ti_id),
                text(key.as_str()),
                text(value.as_str()),
                int(f.try_number),
            ]);
        }
        // Only on task instances this batch made `success` at that try (not stale finishes).
        let source = match script.form {
            Form::Sequential => "task_instances".to_string(),
            Form::Cte => finished.clone(),
        };
        script.push(
            format!(
                "INSERT INTO outputs (ti_id, key, value) \
                 SELECT v.column1, v.column2, v.column3 FROM (VALUES {}) AS v \
                 JOIN {source} t ON t.id = v.column1 \
                 WHERE t.state = 'success' AND t.try_number = v.column4 \
                 ON CONFLICT (ti_id, key) DO UPDATE SET value = excluded.value",
                sql::tuples(part.len(), 4)
            ),
            values,
            false,
        );
    }

    // The log is the try's, whoever holds the task instance now.
    let tails: Vec<(&Finish, u64, &str)> = chunk
        .iter()
        .filter_map(|f| match &f.log_tail {
            Some((offset, text)) if !text.is_empty() => Some((f, *offset, text.as_str())),
            _ => None,
        })
        .collect();
    if !tails.is_empty() {
        let mut values = Vec::with_capacity(tails.len() * 4);
        for (f, offset, data) in &tails {
            // Offsets are byte counts of text held in memory: they fit an i64.
            values.extend([
                int(f.ti_id),
                int(f.try_number),
                int(to_i64(*offset).unwrap_or(i64::MAX)),
                text(*data),
            ]);
        }
        script.push(
            format!(
                "INSERT INTO log_chunks (ti_id, try_number, start_offset, data) VALUES {}",
                sql::tuples(tails.len(), 4)
            ),
            values,
            false,
        );
    }
}

/// Conditional claims, and the attempt rows of what was claimed (read from the claim in the
/// CTE form; found by this holder and this batch's start time in the sequential form).
fn claim(script: &mut Script, batch: &Batch, now: &str, chunk: &[i64]) {
    let mut values = vec![
        text(&batch.holder),
        text(format_ts(batch.lease_until)),
        text(now),
    ];
    values.extend(chunk.iter().map(|id| int(*id)));
    values.push(text(now));
    let claimable = "(state = 'queued' OR (state = 'up_for_retry' AND next_try_at <= ?))";
    let filter = if script.skip_locked {
        format!(
            "id IN (SELECT id FROM task_instances WHERE id IN ({}) AND {claimable} \
             FOR UPDATE SKIP LOCKED)",
            sql::list(chunk.len())
        )
    } else {
        format!("id IN ({}) AND {claimable}", sql::list(chunk.len()))
    };
    let claimed = script.push(
        format!(
            "UPDATE task_instances SET state = 'running', try_number = try_number + 1, \
               holder = ?, lease_expires_at = ?, started_at = ?, ended_at = NULL, next_try_at = NULL \
             WHERE {filter} \
             RETURNING CAST('claimed' AS TEXT) AS kind, id, try_number, holder, started_at"
        ),
        values,
        true,
    );
    let running = AttemptState::Running.as_str();
    match script.form {
        Form::Cte => script.push(
            format!(
                "INSERT INTO attempts (ti_id, try_number, state, holder, started_at) \
                 SELECT id, try_number, '{running}', holder, started_at FROM {claimed} \
                 ON CONFLICT (ti_id, try_number) DO NOTHING"
            ),
            Vec::new(),
            false,
        ),
        Form::Sequential => {
            let mut values: Vec<Val> = chunk.iter().map(|id| int(*id)).collect();
            values.extend([text(&batch.holder), text(now)]);
            script.push(
                format!(
                    "INSERT INTO attempts (ti_id, try_number, state, holder, started_at) \
                     SELECT id, try_number, '{running}', holder, started_at FROM task_instances \
                     WHERE id IN ({}) AND state = 'running' AND holder = ? AND started_at = ? \
                     ON CONFLICT (ti_id, try_number) DO NOTHING",
                    sql::list(chunk.len())
                ),
                values,
                false,
            )
        }
    };
}

fn run_state(script: &mut Script, run_pk: i64, state: RunState, now: &str) {
    let (sql, values) = match state {
        RunState::Running => (
            "UPDATE runs SET state = ?, started_at = COALESCE(started_at, ?), ended_at = NULL \
             WHERE id = ?",
            vec![text(state.as_str()), text(now), int(run_pk)],
        ),
        RunState::Queued => (
            "UPDATE runs SET state = ?, ended_at = NULL WHERE id = ?",
            vec![text(state.as_str()), int(run_pk)],
        ),
        RunState::Success | RunState::Failed => (
            "UPDATE runs SET state = ?, ended_at = ? WHERE id = ?",
            vec![text(state.as_str()), text(now), int(run_pk)],
        ),
    };
    script.push(sql.into(), values, false);
}
