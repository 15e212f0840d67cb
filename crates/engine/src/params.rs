//! Run parameters: the DAG's defaults overridden by the caller's values.

use std::collections::BTreeMap;

use flowctl_model::suggest::hint;
use serde_json::{Map, Value};

use crate::{EngineError, Result};

/// Merges `given` over `defaults`. A name the DAG does not declare is an error listing the
/// declared ones. A string given for a parameter whose default is a number, a boolean, a
/// list or a map is parsed as JSON (`--param retries=3` gives the number 3) and must then
/// have the default's type.
pub(crate) fn merge_params(
    defaults: &Map<String, Value>,
    given: &BTreeMap<String, Value>,
) -> Result<Map<String, Value>> {
    let mut params = defaults.clone();
    for (name, value) in given {
        let Some(default) = defaults.get(name) else {
            let declared: Vec<&str> = defaults.keys().map(String::as_str).collect();
            return Err(EngineError::Invalid(format!(
                "unknown param `{name}`{}; the DAG declares {}",
                hint(name, declared.iter().copied()),
                if declared.is_empty() {
                    "no params".to_string()
                } else {
                    declared
                        .iter()
                        .map(|d| format!("`{d}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        };
        params.insert(name.clone(), coerce(name, default, value)?);
    }
    Ok(params)
}

fn coerce(name: &str, default: &Value, value: &Value) -> Result<Value> {
    let Value::String(text) = value else {
        return Ok(value.clone());
    };
    let expected = match default {
        Value::Number(_) => "a number",
        Value::Bool(_) => "true or false",
        Value::Array(_) => "a JSON list",
        Value::Object(_) => "a JSON map",
        Value::String(_) | Value::Null => return Ok(value.clone()),
    };
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    let same_type = |v: &Value| {
        matches!(
            (default, v),
            (Value::Number(_), Value::Number(_))
                | (Value::Bool(_), Value::Bool(_))
                | (Value::Array(_), Value::Array(_))
                | (Value::Object(_), Value::Object(_))
        )
    };
    match parsed {
        Some(v) if same_type(&v) => Ok(v),
        _ => Err(EngineError::Invalid(format!(
            "param `{name}` expects {expected} (its default is {default}), got {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Map<String, Value> {
        json!({"topic": "orders", "batch": 100, "dry_run": false, "tables": ["a"]})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn given(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn strings_become_the_defaults_type() {
        let merged = merge_params(
            &defaults(),
            &given(&[
                ("batch", json!("250")),
                ("dry_run", json!("true")),
                ("topic", json!("42")),
                ("tables", json!("[\"x\",\"y\"]")),
            ]),
        )
        .unwrap();
        assert_eq!(merged["batch"], json!(250));
        assert_eq!(merged["dry_run"], json!(true));
        assert_eq!(merged["topic"], json!("42"), "string params stay strings");
        assert_eq!(merged["tables"], json!(["x", "y"]));
    }

    #[test]
    fn unknown_names_and_bad_values_are_errors() {
        let err = merge_params(&defaults(), &given(&[("topik", json!("x"))])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown param `topik`"), "{msg}");
        assert!(msg.contains("did you mean `topic`"), "{msg}");
        assert!(
            msg.contains("`topic`, `batch`, `dry_run`, `tables`"),
            "{msg}"
        );
        let err = merge_params(&defaults(), &given(&[("batch", json!("many"))])).unwrap_err();
        assert!(
            err.to_string().contains("param `batch` expects a number"),
            "{err}"
        );
        let err = merge_params(&defaults(), &given(&[("dry_run", json!("1"))])).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
    }
}
