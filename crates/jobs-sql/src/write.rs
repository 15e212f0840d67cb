//! Writing a query result into a lakehouse table, creating the table from the result's schema.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use flowctl_lakehouse::{
    Column, ColumnType, LakeTable, Lakehouse, LakehouseError, TableName, TableSchema,
};

use crate::error::SqlError;

/// How a result lands in its target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// The table's content becomes the result (one overwrite snapshot).
    #[default]
    Replace,
    /// The result's rows are added to the table.
    Append,
}

impl WriteMode {
    /// `replace` or `append`, as written in the DAG.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
        }
    }
}

/// Writes `batches` to `target` in one snapshot and returns the new snapshot id. A missing
/// table is created from the result's schema (every column nullable; decimals and timestamps
/// kept); result columns the table lacks are added first.
pub async fn write_result(
    lake: &Lakehouse,
    target: &TableName,
    batches: Vec<RecordBatch>,
    mode: WriteMode,
    summary: BTreeMap<String, String>,
) -> Result<i64, SqlError> {
    let batches = batches
        .iter()
        .map(icebergable_batch)
        .collect::<Result<Vec<_>, _>>()?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Err(SqlError::Internal("the query produced no schema".into())),
    };
    let table = ensure_table(lake, target, &TableSchema::Arrow(schema.clone())).await?;
    let table = add_new_columns(lake, table, &batches).await?;
    let rows: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let snapshot = match mode {
        WriteMode::Replace => lake.replace_all(&table, rows, summary).await?,
        WriteMode::Append => lake.append(&table, rows, summary).await?,
    };
    Ok(snapshot)
}

/// Adds the result columns the table lacks (a gold query that gained a column), so `replace`
/// and `append` keep working after the SQL changes; columns the result no longer has are
/// written as nulls. The schema is changed only once the result is known to fit the table's
/// existing columns, so a refused write leaves the table as it was.
async fn add_new_columns(
    lake: &Lakehouse,
    table: LakeTable,
    batches: &[RecordBatch],
) -> Result<LakeTable, SqlError> {
    let Some(result) = batches.first().map(RecordBatch::schema) else {
        return Ok(table);
    };
    let existing = table.arrow_schema()?;
    let mut new = Vec::new();
    for field in result.fields() {
        if existing.field_with_name(field.name()).is_ok() {
            continue;
        }
        let ty = column_type(field.data_type()).ok_or_else(|| {
            SqlError::Config(format!(
                "result column `{}` ({}) is new to table {} and cannot be added with that type; \
                 CAST it or recreate the table",
                field.name(),
                field.data_type(),
                table.name()
            ))
        })?;
        new.push(Column::optional(field.name(), ty));
    }
    if new.is_empty() {
        return Ok(table);
    }
    ensure_fits(&existing, batches, table.name())?;
    Ok(lake.add_columns(&table, &new).await?)
}

/// Refuses `batches` if writing them to a table with columns `existing` would fail: a value
/// that does not convert to its column's type, a null (or a missing column) where the table
/// requires a value. The same rules as the write, checked before anything changes.
fn ensure_fits(
    existing: &Schema,
    batches: &[RecordBatch],
    table: &TableName,
) -> Result<(), SqlError> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        for field in existing.fields() {
            let Some(column) = batch.column_by_name(field.name()) else {
                if field.is_nullable() {
                    continue;
                }
                return Err(SqlError::Config(format!(
                    "table {table} requires column `{}`, which the result does not have",
                    field.name()
                )));
            };
            if column.data_type() != field.data_type() {
                cast_with_options(column, field.data_type(), &options).map_err(|e| {
                    SqlError::Config(format!(
                        "result column `{}` ({}) does not fit column `{}` ({}) of table \
                         {table}: {e}",
                        field.name(),
                        column.data_type(),
                        field.name(),
                        field.data_type()
                    ))
                })?;
            }
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(SqlError::Config(format!(
                    "table {table} requires a value in column `{}`; the result has {} null(s)",
                    field.name(),
                    column.null_count()
                )));
            }
        }
    }
    Ok(())
}

/// The lakehouse column type of an (already normalised) Arrow type.
fn column_type(ty: &DataType) -> Option<ColumnType> {
    Some(match ty {
        DataType::Utf8 => ColumnType::String,
        DataType::Int64 => ColumnType::Long,
        DataType::Int32 => ColumnType::Int,
        DataType::Boolean => ColumnType::Boolean,
        DataType::Float64 => ColumnType::Double,
        DataType::Decimal128(p, s) => ColumnType::Decimal {
            precision: u32::from(*p),
            scale: u32::try_from(*s).ok()?,
        },
        DataType::Date32 => ColumnType::Date,
        DataType::Timestamp(_, None) => ColumnType::Timestamp,
        DataType::Timestamp(_, Some(_)) => ColumnType::Timestamptz,
        DataType::Binary => ColumnType::Binary,
        _ => return None,
    })
}

/// How often [`ensure_table`] tries.
const CREATE_ATTEMPTS: u32 = 5;

/// `create_table_if_missing`, retried: steps running in parallel may create the same namespace
/// or table at once, and the SQL catalog reports the loser's duplicate insert as a plain
/// database error rather than "already exists". A retry finds what the winner created.
pub(crate) async fn ensure_table(
    lake: &Lakehouse,
    name: &TableName,
    schema: &TableSchema,
) -> Result<LakeTable, SqlError> {
    let mut attempt = 1;
    loop {
        match lake.create_table_if_missing(name, schema).await {
            Ok(table) => return Ok(table),
            Err(e) if attempt >= CREATE_ATTEMPTS || !may_be_a_creation_race(&e) => {
                return Err(e.into());
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
            }
        }
    }
}

/// Errors a concurrent creator can cause (not: a bad name or schema).
fn may_be_a_creation_race(e: &LakehouseError) -> bool {
    matches!(
        e,
        LakehouseError::Iceberg(_)
            | LakehouseError::Database(_)
            | LakehouseError::CommitConflict { .. }
    )
}

/// The Arrow type Iceberg can store for `ty` (`None` = unsupported): timestamps become
/// microseconds (Iceberg v2's precision) with UTC for any zone, views and large types their
/// plain forms, unsigned integers the next signed size, untyped nulls strings.
fn iceberg_type(ty: &DataType) -> Option<DataType> {
    Some(match ty {
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        }
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Date64 => DataType::Date32,
        DataType::Dictionary(_, value) => iceberg_type(value)?,
        DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Decimal128(..) => ty.clone(),
        _ => return None,
    })
}

/// Casts a result batch to types Iceberg stores, drops field metadata (DataFusion carries the
/// source tables' field ids along) and makes every column nullable.
pub(crate) fn icebergable_batch(batch: &RecordBatch) -> Result<RecordBatch, SqlError> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let ty = iceberg_type(field.data_type()).ok_or_else(|| {
            SqlError::Config(format!(
                "result column `{}` has type {}, which an Iceberg table cannot store; CAST it",
                field.name(),
                field.data_type()
            ))
        })?;
        let column = if &ty == column.data_type() {
            column.clone()
        } else {
            cast(column, &ty)?
        };
        fields.push(Field::new(field.name(), ty, true));
        columns.push(column);
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringViewArray, TimestampNanosecondArray};

    #[test]
    fn result_types_become_iceberg_types() {
        let batch = RecordBatch::try_from_iter(vec![
            ("s", Arc::new(StringViewArray::from(vec!["a"])) as ArrayRef),
            (
                "t",
                Arc::new(TimestampNanosecondArray::from(vec![1_000_i64]).with_timezone("UTC"))
                    as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![7])) as ArrayRef),
        ])
        .unwrap();
        let out = icebergable_batch(&batch).unwrap();
        let schema = out.schema();
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
        let micros = out
            .column(1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(micros.value(0), 1);
    }
}
