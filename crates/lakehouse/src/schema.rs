//! Column types for table creation and fitting record batches to a table's schema.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_cast::{CastOptions, cast_with_options};
use arrow_schema::{Schema as ArrowSchema, SchemaRef as ArrowSchemaRef};
use iceberg::arrow::{arrow_schema_to_schema_auto_assign_ids, schema_to_arrow_schema};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

use crate::error::{LakehouseError, Result};

/// The column types flowctl's jobs need. Timestamps are microsecond precision, as Iceberg's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Long,
    /// 32-bit signed integer.
    Int,
    /// true / false.
    Boolean,
    /// 64-bit IEEE float.
    Double,
    /// Exact decimal with `precision` digits, `scale` of them after the point (precision ≤ 38).
    Decimal {
        /// Total number of digits.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// Calendar date.
    Date,
    /// Timestamp without time zone (a local date-time), microseconds.
    Timestamp,
    /// Timestamp with time zone (an instant, stored as UTC), microseconds.
    Timestamptz,
    /// Arbitrary bytes.
    Binary,
}

impl ColumnType {
    fn to_iceberg(self) -> Result<Type> {
        Ok(Type::Primitive(match self {
            Self::String => PrimitiveType::String,
            Self::Long => PrimitiveType::Long,
            Self::Int => PrimitiveType::Int,
            Self::Boolean => PrimitiveType::Boolean,
            Self::Double => PrimitiveType::Double,
            Self::Decimal { precision, scale } => {
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(LakehouseError::Schema(format!(
                        "decimal({precision},{scale}) is invalid: need 1 ≤ precision ≤ 38 and scale ≤ precision"
                    )));
                }
                PrimitiveType::Decimal { precision, scale }
            }
            Self::Date => PrimitiveType::Date,
            Self::Timestamp => PrimitiveType::Timestamp,
            Self::Timestamptz => PrimitiveType::Timestamptz,
            Self::Binary => PrimitiveType::Binary,
        }))
    }
}

/// One column of a table to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
    /// Whether nulls are rejected.
    pub required: bool,
}

impl Column {
    /// A nullable column.
    pub fn optional(name: impl Into<String>, ty: ColumnType) -> Self {
        Self {
            name: name.into(),
            ty,
            required: false,
        }
    }

    /// A column that must not hold nulls.
    pub fn required(name: impl Into<String>, ty: ColumnType) -> Self {
        Self {
            name: name.into(),
            ty,
            required: true,
        }
    }

    pub(crate) fn iceberg_type(&self) -> Result<Type> {
        self.ty.to_iceberg()
    }
}

/// The schema of a table to create: flowctl's column list, or any Arrow schema.
#[derive(Clone, Debug)]
pub enum TableSchema {
    /// A list of columns with flowctl's [`ColumnType`]s.
    Columns(Vec<Column>),
    /// An Arrow schema (field ids are assigned; nested types are allowed).
    Arrow(ArrowSchemaRef),
}

impl TableSchema {
    pub(crate) fn to_iceberg(&self) -> Result<Schema> {
        match self {
            Self::Columns(columns) => {
                if columns.is_empty() {
                    return Err(LakehouseError::Schema(
                        "a table needs at least one column".into(),
                    ));
                }
                let mut fields = Vec::with_capacity(columns.len());
                for (i, c) in columns.iter().enumerate() {
                    // Ids are provisional: the table metadata builder renumbers them on creation.
                    let id = i32::try_from(i + 1)
                        .map_err(|_| LakehouseError::Schema("too many columns".into()))?;
                    let field = if c.required {
                        NestedField::required(id, &c.name, c.iceberg_type()?)
                    } else {
                        NestedField::optional(id, &c.name, c.iceberg_type()?)
                    };
                    fields.push(Arc::new(field));
                }
                Ok(Schema::builder().with_fields(fields).build()?)
            }
            Self::Arrow(schema) => Ok(arrow_schema_to_schema_auto_assign_ids(schema)?),
        }
    }
}

/// The Arrow schema (with Iceberg field ids) that batches of this Iceberg schema have.
pub(crate) fn arrow_schema_of(schema: &Schema) -> Result<ArrowSchemaRef> {
    Ok(Arc::new(schema_to_arrow_schema(schema)?))
}

/// Fits a caller's batch to the table's Arrow schema: columns matched by name (any order),
/// types cast where Arrow can do it losslessly-or-fail (e.g. `Utf8View` → `Utf8`, a timestamp
/// without time zone → `+00:00` for timestamptz), missing nullable columns filled with nulls.
///
/// Extra columns and missing required columns are errors: silently dropping data is worse.
pub(crate) fn conform_batch(batch: &RecordBatch, target: &ArrowSchemaRef) -> Result<RecordBatch> {
    let source = batch.schema();
    for field in source.fields() {
        if target.field_with_name(field.name()).is_err() {
            return Err(LakehouseError::Schema(format!(
                "column `{}` is not in the table (table columns: {})",
                field.name(),
                column_list(target)
            )));
        }
    }
    // `safe: false` turns overflow or unparsable values into errors instead of nulls.
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let column = match source.index_of(field.name()) {
            Ok(i) => {
                let array = batch.column(i);
                if array.data_type() == field.data_type() {
                    array.clone()
                } else {
                    cast_with_options(array, field.data_type(), &options).map_err(|e| {
                        LakehouseError::Schema(format!(
                            "column `{}`: cannot convert {} to {}: {e}",
                            field.name(),
                            array.data_type(),
                            field.data_type()
                        ))
                    })?
                }
            }
            Err(_) if field.is_nullable() => new_null_array(field.data_type(), batch.num_rows()),
            Err(_) => {
                return Err(LakehouseError::Schema(format!(
                    "required column `{}` is missing from the batch",
                    field.name()
                )));
            }
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(LakehouseError::Schema(format!(
                "required column `{}` has {} null value(s)",
                field.name(),
                column.null_count()
            )));
        }
        columns.push(column);
    }
    Ok(RecordBatch::try_new(target.clone(), columns)?)
}

fn column_list(schema: &ArrowSchema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
