//! Debezium's placeholder for unchanged TOAST columns.
//!
//! PostgreSQL does not write an unchanged, out-of-line ("TOASTed") column to the WAL, so
//! Debezium cannot send its value in an update (without `REPLICA IDENTITY FULL`) and puts a
//! placeholder there instead. The silver merge must keep the stored value for such columns.
//! The placeholder takes the form of the column's type: the text itself for text and JSON
//! columns, its bytes (base64 in JSON) for `bytea`, a one-element list for text arrays, and the
//! list of its byte values for integer arrays.

use serde_json::Value;

use crate::schema::ColumnType;

/// Debezium's default `unavailable.value.placeholder`.
pub const UNAVAILABLE_VALUE_PLACEHOLDER: &str = "__debezium_unavailable_value";

/// The placeholder's bytes, base64-encoded, as a `bytea` column carries it.
const PLACEHOLDER_BASE64: &str = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";

/// True when `value` is the TOAST placeholder in any of the forms Debezium sends.
pub fn is_unavailable(value: &Value) -> bool {
    match value {
        Value::String(s) => s == UNAVAILABLE_VALUE_PLACEHOLDER || s == PLACEHOLDER_BASE64,
        Value::Array(items) => is_placeholder_list(items),
        _ => false,
    }
}

/// True when `value` is the placeholder in the form Debezium uses for a column of type `ty`
/// (so that a text column holding the base64 spelling is not mistaken for one).
pub fn is_unavailable_for(ty: &ColumnType, value: &Value) -> bool {
    match (ty, value) {
        (ColumnType::Binary | ColumnType::Decimal { .. }, Value::String(s)) => {
            s == PLACEHOLDER_BASE64 || s == UNAVAILABLE_VALUE_PLACEHOLDER
        }
        (ColumnType::List(_), Value::Array(items)) => is_placeholder_list(items),
        (_, Value::String(s)) => s == UNAVAILABLE_VALUE_PLACEHOLDER,
        _ => false,
    }
}

fn is_placeholder_list(items: &[Value]) -> bool {
    match items {
        [Value::String(s)] => s == UNAVAILABLE_VALUE_PLACEHOLDER,
        _ => {
            items.len() == UNAVAILABLE_VALUE_PLACEHOLDER.len()
                && items
                    .iter()
                    .zip(UNAVAILABLE_VALUE_PLACEHOLDER.bytes())
                    .all(|(v, b)| v.as_u64() == Some(u64::from(b)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn base64_spelling_is_the_placeholder_bytes() {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(UNAVAILABLE_VALUE_PLACEHOLDER);
        assert_eq!(encoded, PLACEHOLDER_BASE64);
    }

    #[test]
    fn every_form_is_detected() {
        assert!(is_unavailable(&json!("__debezium_unavailable_value")));
        assert!(is_unavailable(&json!(PLACEHOLDER_BASE64)));
        assert!(is_unavailable(&json!(["__debezium_unavailable_value"])));
        let bytes: Vec<u8> = UNAVAILABLE_VALUE_PLACEHOLDER.bytes().collect();
        assert!(is_unavailable(&json!(bytes)));
        assert!(!is_unavailable(&json!("__debezium_unavailable")));
        assert!(!is_unavailable(&json!([95, 95])));
        assert!(!is_unavailable(&json!(null)));
        assert!(!is_unavailable_for(
            &ColumnType::String,
            &json!(PLACEHOLDER_BASE64)
        ));
        assert!(is_unavailable_for(
            &ColumnType::Binary,
            &json!(PLACEHOLDER_BASE64)
        ));
    }
}
