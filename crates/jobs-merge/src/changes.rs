//! Bronze rows → change records: op, key, merge order, the row's JSON and its schema columns.

use std::collections::HashMap;
use std::sync::Arc;

use flowctl_cdc::{self as cdc, ConnectSchema, Op, OrderingKey, TypedValue};
use flowctl_lakehouse::arrow_array::{Array, Int32Array, Int64Array, RecordBatch, StringArray};
use flowctl_lakehouse::bronze::columns as col;
use serde_json::{Map, Value};

use crate::config::MergeConfig;
use crate::error::MergeError;
use crate::row_scan::{Seen, SeenColumns, scan_row};
use crate::values::{self, Key, declared_column};

/// What a change does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Create, snapshot read or update: the key now has the row.
    Upsert,
    /// The key is gone.
    Delete,
}

/// One change event of the merged source table. A merge holds a million of them, so a change
/// is small and points at its texts (see [`Events`]) instead of holding or counting references.
#[derive(Debug)]
pub(crate) struct Change {
    pub action: Action,
    /// The changed row's key.
    pub key: Key,
    pub order: OrderingKey,
    /// When the change happened in the source (µs since the epoch): SCD2's `effective_from`.
    pub ts_micros: i64,
    /// The bronze batch (its position among the batches read) and row of the event.
    batch: u32,
    row: u32,
    /// Typed columns from the event's value schema, when it had one.
    pub schema: Option<Arc<Vec<cdc::Column>>>,
}

impl Change {
    /// The first key column as an integer, when it is one (for pruning files by their bounds).
    pub fn key_num(&self) -> Option<i64> {
        self.key.first_int()
    }

    /// A change of `key` at `order` pointing at no bronze row (for tests of what is done with
    /// keys and orders alone).
    #[cfg(test)]
    pub fn for_test(key: Key, order: OrderingKey, action: Action) -> Self {
        Change {
            action,
            key,
            order,
            ts_micros: 0,
            batch: 0,
            row: 0,
            schema: None,
        }
    }
}

/// The bronze texts that changes point at (each batch's topic and `after` columns; the other
/// columns are freed once the changes are extracted). Only the winners' rows are ever decoded.
#[derive(Default)]
pub(crate) struct Events {
    topic: Vec<StringArray>,
    after: Vec<StringArray>,
}

impl Events {
    /// Appends the texts of the batches that [`extract`] read (arrays are shared, not copied).
    pub fn extend(&mut self, batches: &[RecordBatch]) -> Result<(), MergeError> {
        for batch in batches {
            self.topic
                .push(column::<StringArray>(batch, col::TOPIC)?.clone());
            self.after
                .push(column::<StringArray>(batch, col::AFTER)?.clone());
        }
        Ok(())
    }

    /// Appends the texts of later batches.
    pub fn append(&mut self, mut other: Events) {
        self.topic.append(&mut other.topic);
        self.after.append(&mut other.after);
    }

    /// How many batches.
    pub fn len(&self) -> usize {
        self.after.len()
    }

    /// The row after the change (upserts), as JSON text.
    pub fn row(&self, change: &Change) -> Option<&str> {
        if change.action != Action::Upsert {
            return None;
        }
        text(&self.after[change.batch as usize], change.row as usize)
    }

    /// `topic/partition@offset` of a change, for error messages.
    pub fn at(&self, change: &Change) -> String {
        format!(
            "{}/{}@{}",
            self.topic[change.batch as usize].value(change.row as usize),
            change.order.partition,
            change.order.offset
        )
    }
}

/// What the bronze rows held besides changes.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    /// The changes in bronze order, in parts (one per file read: joining them would copy them
    /// all once more).
    parts: Vec<Vec<Change>>,
    /// How many changes were read (including any taken out with [`Extracted::take_changes`]).
    count: usize,
    /// Truncate events (`op: t`): counted and logged, not applied.
    pub truncates: u64,
    /// Column names seen in upserted rows, in order of appearance, with a type guessed from
    /// their first non-null value (for schemaless events).
    pub seen: Seen,
    /// The distinct value schemas of upserted rows, in order of appearance.
    pub schemas: Vec<Arc<Vec<cdc::Column>>>,
    /// Deletes of the last part whose key is not known yet (their positions in it).
    unkeyed: Vec<usize>,
}

/// The bronze columns a merge reads for every event (the others, e.g. ingestion time, are
/// never decoded).
pub(crate) const READ_COLUMNS: [&str; 11] = [
    col::TOPIC,
    col::PARTITION,
    col::OFFSET,
    col::OP,
    col::SOURCE_SCHEMA,
    col::SOURCE_TABLE,
    col::SOURCE_TS_MS,
    col::TS_MS,
    col::LSN,
    col::AFTER,
    col::VALUE_SCHEMA,
];

/// The bronze columns only deletes need (their key, when it is not in `after`): read for a file
/// only when it holds deletes (see [`Extracted::key_deletes`]). `before` can be as large as
/// `after` (`REPLICA IDENTITY FULL`).
pub(crate) const DELETE_KEY_COLUMNS: [&str; 2] = [col::BEFORE, col::KEY];

struct BronzeColumns<'a> {
    topic: &'a StringArray,
    partition: &'a Int32Array,
    offset: &'a Int64Array,
    op: &'a StringArray,
    schema: &'a StringArray,
    table: &'a StringArray,
    source_ts: &'a Int64Array,
    ts: &'a Int64Array,
    lsn: &'a Int64Array,
    after: &'a StringArray,
    value_schema: &'a StringArray,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, MergeError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            MergeError::Config(format!(
                "the source is not a bronze table: column `{name}` is missing or of another type"
            ))
        })
}

impl<'a> BronzeColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, MergeError> {
        Ok(Self {
            topic: column(batch, col::TOPIC)?,
            partition: column(batch, col::PARTITION)?,
            offset: column(batch, col::OFFSET)?,
            op: column(batch, col::OP)?,
            schema: column(batch, col::SOURCE_SCHEMA)?,
            table: column(batch, col::SOURCE_TABLE)?,
            source_ts: column(batch, col::SOURCE_TS_MS)?,
            ts: column(batch, col::TS_MS)?,
            lsn: column(batch, col::LSN)?,
            after: column(batch, col::AFTER)?,
            value_schema: column(batch, col::VALUE_SCHEMA)?,
        })
    }
}

fn text(array: &StringArray, i: usize) -> Option<&str> {
    (!array.is_null(i)).then(|| array.value(i))
}

fn long(array: &Int64Array, i: usize) -> Option<i64> {
    (!array.is_null(i)).then(|| array.value(i))
}

/// A JSON object's members (`None` for JSON `null`), with an error naming `what` otherwise.
pub(crate) fn parse_object(json: &str, what: &str) -> Result<Option<Map<String, Value>>, String> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err(format!("`{what}` is not a JSON object")),
        Err(e) => Err(format!("`{what}` is not valid JSON: {e}")),
    }
}

impl Extracted {
    /// Appends the changes read from later batches, `batch_offset` being how many batches came
    /// before them.
    pub fn append(&mut self, mut other: Extracted, batch_offset: usize) -> Result<(), MergeError> {
        if !other.unkeyed.is_empty() {
            return Err(MergeError::Internal(
                "deletes appended before they were keyed".into(),
            ));
        }
        let offset = u32::try_from(batch_offset).map_err(|_| too_many())?;
        for change in other.parts.iter_mut().flatten() {
            change.batch = change.batch.checked_add(offset).ok_or_else(too_many)?;
        }
        self.parts.append(&mut other.parts);
        self.count += other.count;
        self.truncates += other.truncates;
        for schema in other.schemas {
            if !self.schemas.iter().any(|s| Arc::ptr_eq(s, &schema)) {
                self.schemas.push(schema);
            }
        }
        for (name, guess) in other.seen {
            let entry = self.seen.entry(name).or_insert(None);
            if entry.is_none() {
                *entry = guess;
            }
        }
        Ok(())
    }

    /// The changes in bronze order, part by part.
    pub fn parts(&self) -> &[Vec<Change>] {
        &self.parts
    }

    /// The changes, in bronze order.
    pub fn changes(&self) -> impl Iterator<Item = &Change> + Clone {
        self.parts.iter().flatten()
    }

    /// How many changes.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Takes the changes out (they are still counted), numbering their bronze batches from
    /// `batch_offset` as [`Extracted::append`] would: for a merge that keeps only some of them.
    pub fn take_changes(&mut self, batch_offset: usize) -> Result<Vec<Change>, MergeError> {
        if !self.unkeyed.is_empty() {
            return Err(MergeError::Config(
                "internal: deletes taken before they were keyed".into(),
            ));
        }
        let offset = u32::try_from(batch_offset).map_err(|_| too_many())?;
        let mut parts = std::mem::take(&mut self.parts);
        let mut changes = if parts.len() == 1 {
            parts.pop().unwrap_or_default()
        } else {
            parts.into_iter().flatten().collect()
        };
        for change in &mut changes {
            change.batch = change.batch.checked_add(offset).ok_or_else(too_many)?;
        }
        Ok(changes)
    }

    /// Whether some deletes still need their key (see [`Extracted::key_deletes`]).
    pub fn has_unkeyed_deletes(&self) -> bool {
        !self.unkeyed.is_empty()
    }

    /// Keys the deletes [`extract`] read from `batches` without their `before` and Kafka key:
    /// `extra` holds the [`DELETE_KEY_COLUMNS`] of the same rows (batched maybe differently).
    pub fn key_deletes(
        &mut self,
        batches: &[RecordBatch],
        extra: &[RecordBatch],
        config: &MergeConfig,
        declared: &HashMap<String, cdc::ColumnType>,
    ) -> Result<(), MergeError> {
        let starts = |batches: &[RecordBatch]| {
            let mut at = 0;
            let mut starts: Vec<usize> = batches
                .iter()
                .map(|b| {
                    at += b.num_rows();
                    at - b.num_rows()
                })
                .collect();
            starts.push(at);
            starts
        };
        let (main, lazy) = (starts(batches), starts(extra));
        if main.last() != lazy.last() {
            return Err(MergeError::Config(format!(
                "bronze changed while it was read: {} rows, then {}",
                main.last().unwrap_or(&0),
                lazy.last().unwrap_or(&0)
            )));
        }
        let mut events = Events::default();
        events.extend(batches)?;
        let Some(part) = self.parts.last_mut() else {
            return Ok(());
        };
        for &at in &self.unkeyed {
            let change = &mut part[at];
            let (b, row) = (change.batch as usize, change.row as usize);
            let position = main[b] + row;
            // The extra batch holding that row: the last one starting at or before it.
            let e = lazy.partition_point(|&start| start <= position) - 1;
            let (before, kafka_key): (&StringArray, &StringArray) = (
                column(&extra[e], col::BEFORE)?,
                column(&extra[e], col::KEY)?,
            );
            let extra_row = position - lazy[e];
            let op = column::<StringArray>(&batches[b], col::OP)?.value(row);
            let after = text(column(&batches[b], col::AFTER)?, row);
            let schema = change.schema.as_ref().map(|s| s.as_slice());
            change.key = delete_key(
                op,
                text(before, extra_row),
                after,
                text(kafka_key, extra_row),
                config,
                declared,
                schema,
            )
            .map_err(|reason| MergeError::Event {
                at: events.at(change),
                reason,
            })?;
        }
        self.unkeyed.clear();
        Ok(())
    }
}

/// The key of a delete: from `before`, else from `after`, else from the Kafka key (each parsed
/// whole: deletes are few).
fn delete_key(
    op: &str,
    before: Option<&str>,
    after: Option<&str>,
    kafka_key: Option<&str>,
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    schema: Option<&[cdc::Column]>,
) -> Result<Key, String> {
    let before = before
        .map(|j| parse_object(j, "before"))
        .transpose()?
        .flatten();
    // A delete with a null `before` (or one without the key columns) still names its key in the
    // Kafka key.
    let has_key = |m: &Map<String, Value>| {
        config
            .key
            .iter()
            .all(|k| m.get(k).is_some_and(|v| !v.is_null()))
    };
    let after = || {
        after
            .map(|j| parse_object(j, "after"))
            .transpose()
            .ok()
            .flatten()
            .flatten()
    };
    let row = match before.filter(has_key).or_else(|| after().filter(has_key)) {
        Some(row) => Some(row),
        None => kafka_key
            .map(|k| cdc::parse_key(k.as_bytes()))
            .transpose()
            .map_err(|e| format!("Kafka key: {e}"))?
            .flatten(),
    };
    match row {
        Some(row) => key_of(|k| Ok(row.get(k).cloned()), config, declared, schema),
        None => Err(format!("a `{op}` event without a row to take the key from")),
    }
}

fn too_many() -> MergeError {
    MergeError::Internal("over 4 billion bronze batches, or rows in one batch, in one merge".into())
}

/// Reads the change events of the configured source table from bronze batches (their changes
/// point at them by position: see [`Extracted::append`] to join several reads).
///
/// Only the key columns of an upsert's row are read here, and only the winners' rows are
/// decoded later: most changes are overtaken by a later change of their key.
///
/// The changes are written into `buffer` (emptied first): a merge that keeps only some changes
/// hands each part's buffer back for the next file, instead of mapping fresh memory per file.
pub(crate) fn extract(
    batches: &[RecordBatch],
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    buffer: Vec<Change>,
) -> Result<Extracted, MergeError> {
    let mut out = Extracted::default();
    let mut changes = buffer;
    changes.clear();
    changes.reserve(batches.iter().map(RecordBatch::num_rows).sum());
    let mut schemas: HashMap<String, Arc<Vec<cdc::Column>>> = HashMap::new();
    // Events of one table mostly share one schema text: compare with the last one before hashing.
    let mut last_schema: Option<(&str, Arc<Vec<cdc::Column>>)> = None;
    // A key of one column may take the integer fast path (see `int_key`).
    let single_key = match &config.key[..] {
        [name] => Some(name.as_str()),
        _ => None,
    };
    let declared_key = single_key.and_then(|k| declared.get(k));
    // The key columns' JSON text in the current row (reused: one allocation per part).
    let mut key_raw: Vec<Option<&str>> = vec![None; config.key.len()];
    let mut seen = SeenColumns::default();
    for (b, batch) in batches.iter().enumerate() {
        let c = BronzeColumns::of(batch)?;
        let b = u32::try_from(b).map_err(|_| too_many())?;
        u32::try_from(batch.num_rows()).map_err(|_| too_many())?;
        for i in 0..batch.num_rows() {
            if !config.wants(text(c.schema, i), text(c.table, i)) {
                continue;
            }
            let partition = c.partition.value(i);
            let offset = c.offset.value(i);
            let topic = c.topic.value(i);
            let fail = |reason: String| MergeError::Event {
                at: format!("{topic}/{partition}@{offset}"),
                reason,
            };
            let action = match Op::from_code(c.op.value(i)).map_err(|e| fail(e.to_string()))? {
                Op::Truncate => {
                    out.truncates += 1;
                    continue;
                }
                Op::Delete => Action::Delete,
                _ => Action::Upsert,
            };
            let schema = match text(c.value_schema, i) {
                None => None,
                Some(json) if last_schema.as_ref().is_some_and(|(t, _)| *t == json) => {
                    last_schema.as_ref().map(|(_, cols)| cols.clone())
                }
                Some(json) => {
                    let cols = match schemas.get(json) {
                        Some(cols) => cols.clone(),
                        None => {
                            let cols = ConnectSchema::parse(json)
                                .and_then(|s| s.row_columns())
                                .map_err(|e| fail(format!("value schema: {e}")))?;
                            let cols = Arc::new(cols);
                            schemas.insert(json.to_owned(), cols.clone());
                            cols
                        }
                    };
                    last_schema = Some((json, cols.clone()));
                    Some(cols)
                }
            };
            // Upserts: one pass over the `after` text borrows the key columns' JSON and notes
            // the column names; the whole row is parsed later, and only if this change wins.
            let after_text = text(c.after, i);
            key_raw.fill(None);
            let has_row = match (action, after_text) {
                (Action::Upsert, Some(json)) => {
                    scan_row(json, &config.key, &mut key_raw, &mut seen).map_err(&fail)?;
                    true
                }
                _ => false,
            };
            let schema_cols = schema.as_ref().map(|s| s.as_slice());
            let key = if has_row {
                let int = match (single_key, &key_raw[..]) {
                    (Some(name), [Some(raw)]) => {
                        let ty = declared_key.or_else(|| {
                            schema_cols
                                .and_then(|s| s.iter().find(|c| c.name == name))
                                .map(|c| &c.ty)
                        });
                        int_key(raw, ty)
                    }
                    _ => None,
                };
                match int {
                    Some(n) => Key::int(n),
                    None => key_of(
                        |k| {
                            let at = config.key.iter().position(|c| c == k);
                            at.and_then(|at| key_raw[at])
                                .map(serde_json::from_str)
                                .transpose()
                        },
                        config,
                        declared,
                        schema_cols,
                    )
                    .map_err(&fail)?,
                }
            } else {
                if action == Action::Upsert {
                    return Err(fail(format!(
                        "a `{}` event without a row to take the key from",
                        c.op.value(i)
                    )));
                }
                // Keyed once `before` and the Kafka key are read (see `key_deletes`).
                out.unkeyed.push(changes.len());
                Key::Int(0)
            };
            let lsn = long(c.lsn, i);
            let source_ts = long(c.source_ts, i);
            let ts_ms = source_ts.or_else(|| long(c.ts, i)).unwrap_or(0);
            if let (Action::Upsert, Some(schema)) = (action, &schema)
                && !out.schemas.last().is_some_and(|s| Arc::ptr_eq(s, schema))
                && !out.schemas.iter().any(|s| Arc::ptr_eq(s, schema))
            {
                out.schemas.push(schema.clone());
            }
            changes.push(Change {
                action,
                key,
                order: OrderingKey::new(lsn, source_ts, offset, partition),
                ts_micros: ts_ms.saturating_mul(1000),
                batch: b,
                // Checked above: the batch has fewer rows than `u32::MAX`.
                row: i as u32,
                schema,
            });
        }
    }
    out.seen = seen.columns;
    out.count = changes.len();
    out.parts.push(changes);
    Ok(out)
}

/// The key of a row (an event's row or its Kafka key).
fn key_of(
    get: impl Fn(&str) -> Result<Option<Value>, serde_json::Error>,
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    schema: Option<&[cdc::Column]>,
) -> Result<Key, String> {
    let mut parts = Vec::with_capacity(config.key.len());
    for name in &config.key {
        let value = get(name)
            .map_err(|e| format!("key column `{name}`: {e}"))?
            .filter(|v| !v.is_null())
            .ok_or_else(|| format!("key column `{name}` is missing or null"))?;
        let value = &value;
        let column = match (
            declared.get(name),
            schema.and_then(|s| s.iter().find(|c| &c.name == name)),
        ) {
            (Some(ty), _) => declared_column(name, ty.clone()),
            (None, Some(c)) => c.clone(),
            (None, None) => {
                let ty = values::infer_type(value).unwrap_or(flowctl_lakehouse::ColumnType::String);
                declared_column(name, values::source_type(ty))
            }
        };
        let typed = column.decode(value).map_err(|e| e.to_string())?;
        if matches!(typed, TypedValue::Unavailable) {
            return Err(format!("key column `{name}` is the TOAST placeholder"));
        }
        parts.push(typed);
    }
    Ok(Key::of(parts.iter()))
}

/// The key of an upsert whose one key column holds an integer, read straight from its JSON text
/// (what [`key_of`] would decode, without building a `Value`). `None` sends the change down the
/// general path, which also words any error.
fn int_key(raw: &str, ty: Option<&cdc::ColumnType>) -> Option<i64> {
    // Whatever parses as an i64 is an integer literal (`+1` and `01` do not: they are invalid
    // JSON, which the general path reports).
    if raw.starts_with('+') || (raw.len() > 1 && raw.starts_with('0')) || raw.starts_with("-0") {
        return None;
    }
    let n: i64 = raw.parse().ok()?;
    match ty {
        // Neither declared nor in a schema: an integer literal is inferred as a long.
        None | Some(cdc::ColumnType::Int64) => Some(n),
        Some(cdc::ColumnType::Int32) => i32::try_from(n).ok().map(i64::from),
        Some(_) => None,
    }
}
