//! The quality results table: one row per check and run.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use flowctl_lakehouse::{Column, ColumnType, Lakehouse, LakehouseError, TableName, TableSchema};

use super::config::Severity;
use crate::error::SqlError;
use crate::write::ensure_table;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The check held.
    Passed,
    /// An error-severity check did not hold.
    Failed,
    /// A warn-severity check did not hold.
    Warn,
}

impl Status {
    /// `passed`, `failed` or `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Warn => "warn",
        }
    }

    pub(crate) fn failure(severity: Severity) -> Self {
        match severity {
            Severity::Error => Status::Failed,
            Severity::Warn => Status::Warn,
        }
    }
}

/// One row of the results table.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The quality step.
    pub task_id: String,
    /// The checked table.
    pub table_name: String,
    /// The check's name.
    pub check_name: String,
    /// `not_null`, `unique`, ...
    pub kind: String,
    /// The check's severity.
    pub severity: Severity,
    /// The outcome.
    pub status: Status,
    /// The observed value as text (empty when the check could not be evaluated).
    pub observed: String,
    /// What was found.
    pub message: String,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
}

const TEXT_COLUMNS: [&str; 10] = [
    "dag_id",
    "run_id",
    "task_id",
    "table_name",
    "check_name",
    "kind",
    "severity",
    "status",
    "observed",
    "message",
];

fn table_schema() -> TableSchema {
    let mut columns: Vec<Column> = TEXT_COLUMNS
        .iter()
        .map(|c| Column::optional(*c, ColumnType::String))
        .collect();
    columns.push(Column::optional("checked_at", ColumnType::Timestamptz));
    TableSchema::Columns(columns)
}

/// Appends `results` to `table` (created when missing) in one snapshot.
pub(crate) async fn append(
    lake: &Lakehouse,
    table: &TableName,
    results: &[CheckResult],
) -> Result<(), SqlError> {
    if results.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&CheckResult) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(results.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        text(|r| &r.dag_id),
        text(|r| &r.run_id),
        text(|r| &r.task_id),
        text(|r| &r.table_name),
        text(|r| &r.check_name),
        text(|r| &r.kind),
        text(|r| r.severity.as_str()),
        text(|r| r.status.as_str()),
        text(|r| &r.observed),
        text(|r| &r.message),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                results.iter().map(|r| r.checked_at.timestamp_micros()),
            )
            .with_timezone("+00:00"),
        ),
    ];
    let mut fields: Vec<Field> = TEXT_COLUMNS
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, true))
        .collect();
    fields.push(Field::new(
        "checked_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        true,
    ));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    // Several quality steps of a run may append to the same results table at once: a lost
    // race is retried on the reloaded table (an append commits nothing until it wins).
    let mut attempt = 1;
    loop {
        let target = ensure_table(lake, table, &table_schema()).await?;
        match lake
            .append(&target, vec![batch.clone()], BTreeMap::new())
            .await
        {
            Ok(_) => return Ok(()),
            Err(e @ LakehouseError::CommitConflict { .. }) if attempt >= MAX_APPEND_ATTEMPTS => {
                return Err(e.into());
            }
            Err(LakehouseError::CommitConflict { .. }) => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Appends tried before a results-table conflict fails the step.
const MAX_APPEND_ATTEMPTS: u32 = 5;
