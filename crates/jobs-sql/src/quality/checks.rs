//! Evaluating one check: the SQL it runs and how the observed value decides the outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::execution::context::SessionContext;

use super::config::CheckKind;
use crate::error::SqlError;
use crate::session::run_sql;

/// What a check observed and whether that passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Whether the check passed.
    pub passed: bool,
    /// The observed value as text (a count, an age, a row count).
    pub observed: String,
    /// A sentence for people.
    pub message: String,
}

/// A SQL identifier, quoted (so mixed case and keywords work).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs `sql` and returns the first column of its first row as an integer.
async fn scalar_i64(session: &SessionContext, sql: &str) -> Result<Option<i64>, SqlError> {
    let batches = run_sql(session, sql).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    if batch.num_columns() == 0 {
        return Err(SqlError::Config(format!("`{sql}` returned no column")));
    }
    let column = cast(batch.column(0), &DataType::Int64)?;
    let ints = column
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| SqlError::Config(format!("`{sql}` did not return a number")))?;
    Ok((!ints.is_null(0)).then(|| ints.value(0)))
}

async fn count(session: &SessionContext, sql: &str) -> Result<i64, SqlError> {
    Ok(scalar_i64(session, sql).await?.unwrap_or(0))
}

/// Evaluates a check that runs on the lakehouse (`table` is the quoted table reference).
/// `external_count` is the number a Postgres `row_count` check compares against.
pub(crate) async fn evaluate(
    session: &SessionContext,
    table: &str,
    kind: &CheckKind,
    external_count: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Observation, SqlError> {
    Ok(match kind {
        CheckKind::NotNull(column) => {
            let nulls = count(
                session,
                &format!(
                    "SELECT count(*) FROM {table} WHERE {} IS NULL",
                    ident(column)
                ),
            )
            .await?;
            violations(nulls, &format!("null value(s) in `{column}`"))
        }
        CheckKind::Unique(columns) => {
            let cols = columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            let dups = count(
                session,
                &format!(
                    "SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY {cols} \
                     HAVING count(*) > 1) AS duplicates"
                ),
            )
            .await?;
            violations(
                dups,
                &format!("duplicated value(s) of ({})", columns.join(", ")),
            )
        }
        CheckKind::AcceptedValues { column, values } => {
            let list = values
                .iter()
                .map(|v| literal(v))
                .collect::<Vec<_>>()
                .join(", ");
            let bad = count(
                session,
                &format!(
                    "SELECT count(*) FROM {table} WHERE {col} IS NOT NULL \
                     AND CAST({col} AS VARCHAR) NOT IN ({list})",
                    col = ident(column)
                ),
            )
            .await?;
            violations(
                bad,
                &format!("value(s) of `{column}` not in [{}]", values.join(", ")),
            )
        }
        CheckKind::Range { column, min, max } => {
            let col = ident(column);
            let mut conditions = Vec::new();
            if let Some(min) = min {
                conditions.push(format!("{col} < {min}"));
            }
            if let Some(max) = max {
                conditions.push(format!("{col} > {max}"));
            }
            let out = count(
                session,
                &format!(
                    "SELECT count(*) FROM {table} WHERE {}",
                    conditions.join(" OR ")
                ),
            )
            .await?;
            let bounds = match (min, max) {
                (Some(a), Some(b)) => format!("[{a}, {b}]"),
                (Some(a), None) => format!("≥ {a}"),
                (None, Some(b)) => format!("≤ {b}"),
                (None, None) => "any".to_owned(),
            };
            violations(out, &format!("value(s) of `{column}` outside {bounds}"))
        }
        CheckKind::RowCountBounds { min, max } => {
            let rows = count(session, &format!("SELECT count(*) FROM {table}")).await?;
            let low = min.is_some_and(|m| (rows as u64) < m);
            let high = max.is_some_and(|m| (rows as u64) > m);
            let bounds = format!(
                "[{}, {}]",
                min.map_or("-".into(), |m| m.to_string()),
                max.map_or("-".into(), |m| m.to_string())
            );
            Observation {
                passed: !low && !high,
                observed: rows.to_string(),
                message: format!("{rows} row(s), expected within {bounds}"),
            }
        }
        CheckKind::RowCountEqualsSql(sql) => {
            let rows = count(session, &format!("SELECT count(*) FROM {table}")).await?;
            let expected = scalar_i64(session, sql).await?.ok_or_else(|| {
                SqlError::Config("`row_count.equals_sql` returned no number".into())
            })?;
            equal_counts(rows, expected, "the `equals_sql` query")
        }
        CheckKind::RowCountEqualsPostgres { .. } => {
            let rows = count(session, &format!("SELECT count(*) FROM {table}")).await?;
            let expected = external_count
                .ok_or_else(|| SqlError::Internal("no count from the Postgres query".into()))?;
            equal_counts(rows, expected, "the Postgres source")
        }
        CheckKind::Freshness { column, max_age } => {
            freshness(session, table, column, *max_age, now).await?
        }
        CheckKind::Sql(sql) => {
            // Run as written (a trailing `;` or comment is fine) and count the rows here,
            // rather than wrapping the text in a subquery.
            let rows: usize = run_sql(session, sql)
                .await?
                .iter()
                .map(|b| b.num_rows())
                .sum();
            violations(
                i64::try_from(rows).unwrap_or(i64::MAX),
                "row(s) returned by the check query",
            )
        }
    })
}

fn violations(n: i64, what: &str) -> Observation {
    Observation {
        passed: n == 0,
        observed: n.to_string(),
        message: if n == 0 {
            format!("no {what}")
        } else {
            format!("{n} {what}")
        },
    }
}

fn equal_counts(rows: i64, expected: i64, source: &str) -> Observation {
    Observation {
        passed: rows == expected,
        observed: rows.to_string(),
        message: if rows == expected {
            format!("{rows} row(s), as in {source}")
        } else {
            format!("{rows} row(s), but {source} has {expected}")
        },
    }
}

async fn freshness(
    session: &SessionContext,
    table: &str,
    column: &str,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<Observation, SqlError> {
    let batches = run_sql(
        session,
        &format!("SELECT max({}) AS newest FROM {table}", ident(column)),
    )
    .await?;
    let newest = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(newest_millis)
        .transpose()?
        .flatten();
    let Some(newest) = newest else {
        return Ok(Observation {
            passed: false,
            observed: String::new(),
            message: format!("`{column}` has no value: the table is empty"),
        });
    };
    let age_ms = now.timestamp_millis().saturating_sub(newest).max(0);
    let age = Duration::from_millis(age_ms as u64);
    let newest_text = DateTime::from_timestamp_millis(newest)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| newest.to_string());
    Ok(Observation {
        passed: age <= max_age,
        observed: format!("{}s", age.as_secs()),
        message: format!(
            "newest `{column}` is {newest_text}, {}s old (max {}s)",
            age.as_secs(),
            max_age.as_secs()
        ),
    })
}

/// The first value of a one-column batch as milliseconds since the epoch: integers are taken
/// as milliseconds (Debezium `ts_ms`), timestamps converted (a zone-less timestamp as UTC).
fn newest_millis(batch: &RecordBatch) -> Result<Option<i64>, SqlError> {
    let column = batch.column(0);
    if column.is_null(0) {
        return Ok(None);
    }
    let target = match column.data_type() {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt32
        | DataType::UInt64 => DataType::Int64,
        other => {
            return Err(SqlError::Config(format!(
                "freshness needs a column of milliseconds since the epoch or a timestamp, \
                 not {other}"
            )));
        }
    };
    let millis = cast(&cast(column, &target)?, &DataType::Int64)?;
    let ints = millis
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| SqlError::Internal("freshness: cannot read the newest value".into()))?;
    Ok(Some(ints.value(0)))
}
