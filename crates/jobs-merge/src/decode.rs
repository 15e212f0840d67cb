//! Decoding a winning change's row into a silver row: the event's values typed by its schema,
//! the step's declared types or silver's own.

use std::collections::HashMap;
use std::sync::Arc;

use flowctl_cdc::{self as cdc, TypedValue};
use flowctl_lakehouse::ColumnType;
use flowctl_lakehouse::arrow_schema::SchemaRef;
use serde_json::Value;

use crate::apply::Layout;
use crate::arrow_rows::Row;
use crate::changes::{self, Change, Events};
use crate::error::MergeError;
use crate::json_scan;
use crate::plan::Plan;
use crate::values::{self, declared_column, decode_cell, same_family, storage_of_arrow};

/// Source columns for each event schema, aligned with silver's columns.
pub(crate) struct Decoders {
    /// (position in the row, silver name, storage type, column used without a schema).
    columns: Vec<(usize, String, ColumnType, cdc::Column)>,
    declared: HashMap<String, cdc::ColumnType>,
    by_schema: std::sync::Mutex<HashMap<usize, Arc<Vec<cdc::Column>>>>,
}

impl Decoders {
    pub fn new(plan: &Plan<'_>, schema: &SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !plan.reserved(f.name()))
            .filter_map(|(i, f)| {
                let storage = storage_of_arrow(f.data_type())?;
                let ty = plan
                    .declared
                    .get(f.name())
                    .cloned()
                    .unwrap_or_else(|| values::source_type(storage));
                Some((i, f.name().clone(), storage, declared_column(f.name(), ty)))
            })
            .collect();
        Self {
            columns,
            declared: plan.declared.clone(),
            by_schema: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The source column per silver column for events with this schema.
    fn for_schema(&self, schema: &Arc<Vec<cdc::Column>>) -> Arc<Vec<cdc::Column>> {
        let id = Arc::as_ptr(schema) as usize;
        let mut cache = self.by_schema.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(id)
            .or_insert_with(|| {
                Arc::new(
                    self.columns
                        .iter()
                        .map(|(_, name, _, fallback)| {
                            let from_schema = schema.iter().find(|c| &c.name == name);
                            match (self.declared.get(name), from_schema) {
                                (Some(ty), Some(c)) if same_family(ty, &c.ty) => cdc::Column {
                                    ty: ty.clone(),
                                    ..c.clone()
                                },
                                (None, Some(c)) => c.clone(),
                                _ => fallback.clone(),
                            }
                        })
                        .collect(),
                )
            })
            .clone()
    }

    /// Silver's row for a change: its data columns decoded (TOAST placeholders as
    /// [`TypedValue::Unavailable`]) and its merge order recorded.
    pub fn decode(
        &self,
        change: &Change,
        events: &Events,
        layout: &Layout,
    ) -> Result<Row, MergeError> {
        let mut row = vec![TypedValue::Null; layout.width];
        if let Some([lsn, ts, offset, partition]) = layout.order {
            let long = |v: Option<i64>| v.map_or(TypedValue::Null, TypedValue::Int64);
            row[lsn] = long(change.order.lsn);
            row[ts] = long(change.order.source_ts_ms);
            row[offset] = TypedValue::Int64(change.order.offset);
            row[partition] = TypedValue::Int32(change.order.partition);
        }
        let Some(json) = events.row(change) else {
            return Ok(row);
        };
        let fail = |reason: String| MergeError::Event {
            at: events.at(change),
            reason,
        };
        let per_schema = change.schema.as_ref().map(|s| self.for_schema(s));
        // Each silver column's raw JSON text in the row (the last one if a name repeats); on the
        // stack for tables of usual width.
        let mut on_stack = [None; 32];
        let mut on_heap = Vec::new();
        let raw: &mut [Option<&str>] = if self.columns.len() <= on_stack.len() {
            &mut on_stack[..self.columns.len()]
        } else {
            on_heap.resize(self.columns.len(), None);
            &mut on_heap
        };
        // Members mostly come in silver's column order: look from after the last match first.
        let mut next = 0;
        let understood = json_scan::object_members(json, |name, value| {
            let n = self.columns.len();
            if let Some(at) = (next..n)
                .chain(0..next)
                .find(|&k| self.columns[k].1 == name)
            {
                raw[at] = Some(value);
                next = at + 1;
            }
        });
        if !understood {
            // Text the fast walk is unsure about: parse the whole object (and word any error).
            let parsed = changes::parse_object(json, "after")
                .map_err(&fail)?
                .unwrap_or_default();
            for (n, (i, name, storage, fallback)) in self.columns.iter().enumerate() {
                let column = per_schema.as_ref().map_or(fallback, |cols| &cols[n]);
                if let Some(value) = parsed.get(name).filter(|v| !v.is_null()) {
                    row[*i] = decode_cell(column, *storage, value).map_err(&fail)?;
                }
            }
            return Ok(row);
        }
        for (n, ((i, _, storage, fallback), raw)) in self.columns.iter().zip(raw).enumerate() {
            let Some(raw) = *raw else {
                continue;
            };
            let column = per_schema.as_ref().map_or(fallback, |cols| &cols[n]);
            if let Some(text) = plain_text(column, *storage, raw) {
                row[*i] = text;
                continue;
            }
            let value =
                json_value(raw).map_err(|e| fail(format!("`after` is not valid JSON: {e}")))?;
            if value.is_null() {
                continue;
            }
            row[*i] = decode_cell(column, *storage, &value).map_err(&fail)?;
        }
        Ok(row)
    }
}

/// The text of a JSON string literal without escapes (most strings), `None` for anything else.
fn plain_string(raw: &str) -> Option<&str> {
    let text = raw.strip_prefix('"')?.strip_suffix('"')?;
    let plain = !text.contains(['\\', '"']) && !text.chars().any(char::is_control);
    plain.then_some(text)
}

/// A text column's plain string value, taken as it is: what [`decode_cell`] makes of it,
/// without building a JSON value first. `None` sends the value down the general path (other
/// types, escapes, the TOAST placeholder).
fn plain_text(column: &cdc::Column, storage: ColumnType, raw: &str) -> Option<TypedValue> {
    if storage != ColumnType::String || column.ty != cdc::ColumnType::String {
        return None;
    }
    let text = plain_string(raw)?;
    (text != cdc::UNAVAILABLE_VALUE_PLACEHOLDER).then(|| TypedValue::String(text.to_owned()))
}

/// A member's value from its raw JSON text. Strings without escapes are taken as they are, the
/// rest is parsed.
fn json_value(raw: &str) -> Result<Value, serde_json::Error> {
    match plain_string(raw) {
        Some(text) => Ok(Value::String(text.to_owned())),
        None => serde_json::from_str(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_strings_decode_as_the_general_path_does() {
        let text = declared_column("note", cdc::ColumnType::String);
        for raw in [r#""plain""#, r#""é ü""#, r#""""#] {
            let general = decode_cell(&text, ColumnType::String, &json_value(raw).unwrap());
            assert_eq!(
                plain_text(&text, ColumnType::String, raw),
                Some(general.unwrap())
            );
        }
        // Escapes, the TOAST placeholder, other types and non-strings take the general path.
        for raw in [
            r#""a\"b""#,
            r#""__debezium_unavailable_value""#,
            "12",
            "null",
        ] {
            assert_eq!(plain_text(&text, ColumnType::String, raw), None, "{raw}");
        }
        let number = declared_column("n", cdc::ColumnType::Int64);
        assert_eq!(plain_text(&number, ColumnType::Long, r#""5""#), None);
        assert_eq!(json_value(r#""a\"b""#).unwrap(), json!("a\"b"));
        assert_eq!(json_value(r#""x""#).unwrap(), json!("x"));
    }
}
