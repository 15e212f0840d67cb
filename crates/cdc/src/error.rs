//! The one error type of this crate.
//!
//! Messages are written for people: a rejected Kafka message lands in a dead-letter table with
//! `CdcError::to_string()` as its reason, so every variant says what was expected and what was found.

use serde_json::value::RawValue;

/// Why a message, key, schema, column type or value could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdcError {
    /// The bytes are not one strict JSON document (syntax error, trailing data, invalid UTF-8).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON, but not a Debezium change event, transaction marker or flattened record.
    #[error("not a Debezium event: {0}")]
    NotAnEvent(String),
    /// An `op` (or `__op`) outside the known Debezium operations.
    #[error("unknown op `{0}` (expected one of c, u, d, r, t)")]
    UnknownOp(String),
    /// A known envelope field has the wrong JSON type or an impossible value.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// The field, as a path such as `source.lsn`.
        field: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A Kafka Connect schema that cannot be mapped to column types.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// A column type declared by a user (e.g. `decimal(10,2)`) that does not parse.
    #[error("invalid column type `{input}`: {reason}")]
    InvalidColumnType {
        /// The text as written.
        input: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A JSON value that cannot be decoded as the column's type.
    #[error("cannot decode {value} as {ty}: {reason}")]
    Decode {
        /// The target column type, as text.
        ty: String,
        /// A short excerpt of the offending value.
        value: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A decoding error inside a named column of a row.
    #[error("column `{column}`: {source}")]
    Column {
        /// The column name.
        column: String,
        /// The underlying error.
        source: Box<CdcError>,
    },
}

impl CdcError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CdcError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(err: &serde_json::Error) -> Self {
        CdcError::InvalidJson(err.to_string())
    }
}

/// The JSON type of a raw value, with an article, for error messages ("a string", "an array").
pub(crate) fn raw_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The JSON type of a parsed value, with an article, for error messages.
pub(crate) fn value_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A short excerpt of a JSON value for error messages: enough to find the row, never a whole document.
pub(crate) fn excerpt(value: &serde_json::Value) -> String {
    const MAX: usize = 48;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
