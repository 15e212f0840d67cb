//! Kafka message keys: the primary key struct Debezium writes, with or without the JSON
//! converter's schema wrapper.

use serde_json::{Map, Value};

use crate::error::{CdcError, value_kind};

/// Parses a Kafka key.
///
/// Returns `None` for an empty, all-whitespace or `null` key (a table without a primary key, or
/// a wrapper whose payload is null); otherwise the key's columns. A `{"schema", "payload"}`
/// wrapper is unwrapped when it has only those two members and the payload is an object or
/// null. A key that is not a JSON object (e.g. a plain string from a `StringConverter`) is an
/// error: the silver merge needs column names.
pub fn parse_key(bytes: &[u8]) -> Result<Option<Map<String, Value>>, CdcError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| CdcError::json(&e))?;
    let mut map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        other => {
            return Err(CdcError::NotAnEvent(format!(
                "a Debezium key is a JSON object of key columns, found {}",
                value_kind(&other)
            )));
        }
    };
    let is_wrapper = map.keys().all(|k| k == "schema" || k == "payload")
        && matches!(map.get("payload"), Some(Value::Object(_) | Value::Null))
        && matches!(
            map.get("schema"),
            None | Some(Value::Object(_) | Value::Null)
        );
    if !is_wrapper {
        return Ok(Some(map));
    }
    match map.remove("payload") {
        Some(Value::Object(payload)) => Ok(Some(payload)),
        _ => Ok(None),
    }
}
