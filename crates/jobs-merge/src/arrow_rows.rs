//! Rows of [`TypedValue`]s to Arrow batches of the silver schema, and back.

use std::sync::Arc;

use flowctl_cdc::{Decimal, TypedValue};
use flowctl_lakehouse::arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int32Array, Int64Array, LargeBinaryArray, LargeStringArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, new_null_array,
};
use flowctl_lakehouse::arrow_schema::{DataType, SchemaRef, TimeUnit};

use crate::error::MergeError;

/// One silver row, a value per column of the silver schema, in schema order.
pub(crate) type Row = Vec<TypedValue>;

fn schema_error(msg: String) -> MergeError {
    MergeError::Lakehouse(flowctl_lakehouse::LakehouseError::Schema(msg))
}

fn arrow_error(e: flowctl_lakehouse::arrow_schema::ArrowError) -> MergeError {
    MergeError::Lakehouse(flowctl_lakehouse::LakehouseError::Arrow(e))
}

/// Builds one batch of `schema` from `rows` (each as long as the schema).
pub(crate) fn to_batch(schema: &SchemaRef, rows: &[&Row]) -> Result<RecordBatch, MergeError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let cells = rows.iter().map(|r| r.get(i).unwrap_or(&TypedValue::Null));
        let wrong = |v: &TypedValue| {
            schema_error(format!(
                "column `{}` ({}) cannot hold {v:?}",
                field.name(),
                field.data_type()
            ))
        };
        macro_rules! build {
            ($array:ty, $pat:pat => $val:expr) => {{
                let mut out = Vec::with_capacity(rows.len());
                for cell in cells {
                    out.push(match cell {
                        TypedValue::Null | TypedValue::Unavailable => None,
                        $pat => Some($val),
                        other => return Err(wrong(other)),
                    });
                }
                Arc::new(<$array>::from(out)) as ArrayRef
            }};
        }
        let array = match field.data_type() {
            DataType::Boolean => build!(BooleanArray, TypedValue::Boolean(b) => *b),
            DataType::Int32 => build!(Int32Array, TypedValue::Int32(n) => *n),
            DataType::Int64 => build!(Int64Array, TypedValue::Int64(n) => *n),
            DataType::Float64 => build!(Float64Array, TypedValue::Float64(f) => *f),
            DataType::Utf8 => build!(StringArray, TypedValue::String(s) => s.as_str()),
            DataType::LargeUtf8 => build!(LargeStringArray, TypedValue::String(s) => s.as_str()),
            DataType::Binary => build!(BinaryArray, TypedValue::Binary(b) => b.as_slice()),
            DataType::LargeBinary => {
                build!(LargeBinaryArray, TypedValue::Binary(b) => b.as_slice())
            }
            DataType::Date32 => build!(Date32Array, TypedValue::Date(d) => *d),
            DataType::Decimal128(p, s) => {
                let array = build!(Decimal128Array, TypedValue::Decimal(d) => d.unscaled());
                let array = array
                    .as_any()
                    .downcast_ref::<Decimal128Array>()
                    .map(|a| a.clone().with_precision_and_scale(*p, *s))
                    .ok_or_else(|| schema_error("decimal column".into()))?
                    .map_err(arrow_error)?;
                Arc::new(array) as ArrayRef
            }
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                let array = build!(TimestampMicrosecondArray,
                    TypedValue::Timestamp(t) | TypedValue::TimestampTz(t) => *t);
                let array = array
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .map(|a| a.clone().with_timezone_opt(tz.clone()))
                    .ok_or_else(|| schema_error("timestamp column".into()))?;
                Arc::new(array) as ArrayRef
            }
            other
                if rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|v| *v == TypedValue::Null)) =>
            {
                new_null_array(other, rows.len())
            }
            other => {
                return Err(schema_error(format!(
                    "column `{}` has a type flowctl's merge does not write: {other}",
                    field.name()
                )));
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

/// Reads every row of `batch` (of the silver schema) as [`TypedValue`]s.
pub(crate) fn from_batch(batch: &RecordBatch) -> Result<Vec<Row>, MergeError> {
    let mut rows: Vec<Row> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(batch.num_columns()))
        .collect();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        macro_rules! read {
            ($array:ty, $v:ident => $val:expr) => {{
                let array = column.as_any().downcast_ref::<$array>().ok_or_else(|| {
                    schema_error(format!("column `{}`: unexpected array", field.name()))
                })?;
                for (i, row) in rows.iter_mut().enumerate() {
                    row.push(if array.is_null(i) {
                        TypedValue::Null
                    } else {
                        let $v = array.value(i);
                        $val
                    });
                }
            }};
        }
        match field.data_type() {
            DataType::Boolean => read!(BooleanArray, v => TypedValue::Boolean(v)),
            DataType::Int32 => read!(Int32Array, v => TypedValue::Int32(v)),
            DataType::Int64 => read!(Int64Array, v => TypedValue::Int64(v)),
            DataType::Float64 => read!(Float64Array, v => TypedValue::Float64(v)),
            DataType::Utf8 => read!(StringArray, v => TypedValue::String(v.to_owned())),
            DataType::LargeUtf8 => read!(LargeStringArray, v => TypedValue::String(v.to_owned())),
            DataType::Binary => read!(BinaryArray, v => TypedValue::Binary(v.to_vec())),
            DataType::LargeBinary => read!(LargeBinaryArray, v => TypedValue::Binary(v.to_vec())),
            DataType::Date32 => read!(Date32Array, v => TypedValue::Date(v)),
            DataType::Decimal128(_, s) => {
                let scale = u8::try_from(*s)
                    .map_err(|_| schema_error(format!("negative scale on `{}`", field.name())))?;
                let mut bad = None;
                read!(Decimal128Array, v => match Decimal::new(v, scale) {
                    Ok(d) => TypedValue::Decimal(d),
                    Err(e) => { bad = Some(e.to_string()); TypedValue::Null }
                });
                if let Some(e) = bad {
                    return Err(schema_error(format!("column `{}`: {e}", field.name())));
                }
            }
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                read!(TimestampMicrosecondArray, v => TypedValue::Timestamp(v))
            }
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
                read!(TimestampMicrosecondArray, v => TypedValue::TimestampTz(v))
            }
            other => {
                return Err(schema_error(format!(
                    "column `{}` has a type flowctl's merge does not read: {other}",
                    field.name()
                )));
            }
        }
    }
    Ok(rows)
}
