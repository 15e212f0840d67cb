//! Task handles: small named values a job keeps across the attempts of one task instance —
//! the id of a remote run it started (a Glue JobRunId, an Athena QueryExecutionId) — so that a
//! retry, or an attempt restarted after its process died, reconnects to that run instead of
//! starting a second one. Clearing a task deletes its handles: a cleared task starts afresh.

use chrono::Utc;

use crate::time::format_ts;
use crate::{Result, Store};

/// A stored handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHandle {
    pub value: String,
    /// The try that saved it.
    pub try_number: u32,
}

impl Store {
    /// The handle `name` of task instance `ti_id`, if one is stored.
    pub async fn load_handle(&self, ti_id: i64, name: &str) -> Result<Option<TaskHandle>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT value, try_number FROM task_handles WHERE ti_id = $1 AND name = $2",
        )
        .bind(ti_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(value, try_number)| TaskHandle {
            value,
            try_number: u32::try_from(try_number).unwrap_or(u32::MAX),
        }))
    }

    /// Stores (or replaces) the handle `name` of task instance `ti_id`. Durable when it returns.
    pub async fn save_handle(
        &self,
        ti_id: i64,
        name: &str,
        value: &str,
        try_number: u32,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO task_handles (ti_id, name, value, try_number, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (ti_id, name) DO UPDATE SET value = excluded.value, \
               try_number = excluded.try_number, updated_at = excluded.updated_at",
        )
        .bind(ti_id)
        .bind(name)
        .bind(value)
        .bind(i64::from(try_number))
        .bind(format_ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the handle `name` of task instance `ti_id` (nothing if there is none).
    pub async fn remove_handle(&self, ti_id: i64, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM task_handles WHERE ti_id = $1 AND name = $2")
            .bind(ti_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
