//! Decoding rows into records.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::time::{parse_opt_ts, parse_ts};
use crate::types::{AttemptRecord, DagRecord, RunRecord, TaskRecord};
use crate::{Result, StoreError};

pub(crate) const DAG_COLUMNS: &str =
    "dag_id, paused, version_hash, source_path, created_at, updated_at";

pub(crate) const RUN_COLUMNS: &str = "id, dag_id, run_id, version_hash, logical_date, \
     interval_start, interval_end, state, run_type, params, target, created_at, started_at, ended_at, \
     holder, lease_expires_at";

pub(crate) const TASK_COLUMNS: &str = "id, run_pk, task_id, state, try_number, max_tries, \
     lost_count, next_try_at, holder, lease_expires_at, started_at, ended_at";

pub(crate) const ATTEMPT_COLUMNS: &str =
    "id, ti_id, try_number, state, holder, started_at, ended_at, exit_code, error";

/// A non-negative stored count as `u32`.
pub(crate) fn count(row: &AnyRow, column: &str) -> Result<u32> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
}

pub(crate) fn dag(row: &AnyRow) -> Result<DagRecord> {
    Ok(DagRecord {
        dag_id: row.try_get("dag_id")?,
        paused: row.try_get::<i64, _>("paused")? != 0,
        version_hash: row.try_get("version_hash")?,
        source_path: row.try_get("source_path")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

pub(crate) fn run(row: &AnyRow) -> Result<RunRecord> {
    let params: String = row.try_get("params")?;
    let params = serde_json::from_str(&params)
        .map_err(|e| StoreError::Corrupt(format!("run params {params:?}: {e}")))?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        dag_id: row.try_get("dag_id")?,
        run_id: row.try_get("run_id")?,
        version_hash: row.try_get("version_hash")?,
        logical_date: parse_ts(&row.try_get::<String, _>("logical_date")?)?,
        interval_start: parse_ts(&row.try_get::<String, _>("interval_start")?)?,
        interval_end: parse_ts(&row.try_get::<String, _>("interval_end")?)?,
        state: row.try_get::<String, _>("state")?.parse()?,
        run_type: row.try_get::<String, _>("run_type")?.parse()?,
        params,
        target: row.try_get("target")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        started_at: parse_opt_ts(row.try_get("started_at")?)?,
        ended_at: parse_opt_ts(row.try_get("ended_at")?)?,
        holder: row.try_get("holder")?,
        lease_expires_at: parse_opt_ts(row.try_get("lease_expires_at")?)?,
    })
}

pub(crate) fn task(row: &AnyRow) -> Result<TaskRecord> {
    Ok(TaskRecord {
        id: row.try_get("id")?,
        run_pk: row.try_get("run_pk")?,
        task_id: row.try_get("task_id")?,
        state: row.try_get::<String, _>("state")?.parse()?,
        try_number: count(row, "try_number")?,
        max_tries: count(row, "max_tries")?,
        lost_count: count(row, "lost_count")?,
        next_try_at: parse_opt_ts(row.try_get("next_try_at")?)?,
        holder: row.try_get("holder")?,
        lease_expires_at: parse_opt_ts(row.try_get("lease_expires_at")?)?,
        started_at: parse_opt_ts(row.try_get("started_at")?)?,
        ended_at: parse_opt_ts(row.try_get("ended_at")?)?,
    })
}

pub(crate) fn attempt(row: &AnyRow) -> Result<AttemptRecord> {
    let exit_code: Option<i64> = row.try_get("exit_code")?;
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        ti_id: row.try_get("ti_id")?,
        try_number: count(row, "try_number")?,
        state: row.try_get::<String, _>("state")?.parse()?,
        holder: row.try_get("holder")?,
        started_at: parse_ts(&row.try_get::<String, _>("started_at")?)?,
        ended_at: parse_opt_ts(row.try_get("ended_at")?)?,
        exit_code: exit_code
            .map(|c| i32::try_from(c).map_err(|_| StoreError::Corrupt(format!("exit code {c}"))))
            .transpose()?,
        error: row.try_get("error")?,
    })
}
