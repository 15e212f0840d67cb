//! Bronze rows → change records: op, key, merge order, the row's JSON and its schema columns.

use std::collections::HashMap;
use std::sync::Arc;

use flowctl_cdc::{self as cdc, ConnectSchema, Op, OrderingKey, TypedValue};
use flowctl_lakehouse::ColumnType;
use flowctl_lakehouse::arrow_array::{Array, Int32Array, Int64Array, RecordBatch, StringArray};
use flowctl_lakehouse::bronze::columns as col;
use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::MergeConfig;
use crate::error::MergeError;
use crate::values::{self, FastState, Key, declared_column};

/// What a change does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Create, snapshot read or update: the key now has the row.
    Upsert,
    /// The key is gone.
    Delete,
}

/// One change event of the merged source table.
#[derive(Debug)]
pub(crate) struct Change {
    pub action: Action,
    /// The changed row's key.
    pub key: Key,
    /// The first key column as an integer, when it is one (for pruning files by their bounds).
    pub key_num: Option<i64>,
    pub order: OrderingKey,
    /// When the change happened in the source (µs since the epoch): SCD2's `effective_from`.
    pub ts_micros: i64,
    /// The row after the change (upserts): parsed only when the change is applied.
    pub row: Option<RawRow>,
    /// Typed columns from the event's value schema, when it had one.
    pub schema: Option<Arc<Vec<cdc::Column>>>,
    /// The Kafka topic (shared between the changes of one topic).
    pub topic: Arc<str>,
}

impl Change {
    /// `topic/partition@offset`, for error messages.
    pub fn at(&self) -> String {
        format!(
            "{}/{}@{}",
            self.topic, self.order.partition, self.order.offset
        )
    }
}

/// An `after` JSON object left unparsed in its bronze batch.
#[derive(Debug)]
pub(crate) struct RawRow {
    array: Arc<StringArray>,
    index: usize,
}

impl RawRow {
    /// The row's columns.
    pub fn parse(&self) -> Result<Map<String, Value>, String> {
        Ok(parse_object(self.array.value(self.index), "after")?.unwrap_or_default())
    }
}

/// What the bronze rows held besides changes.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    pub changes: Vec<Change>,
    /// Truncate events (`op: t`): counted and logged, not applied.
    pub truncates: u64,
    /// Column names seen in upserted rows, in order of appearance, with a type guessed from
    /// their first non-null value (for schemaless events).
    pub seen: Seen,
}

struct BronzeColumns<'a> {
    topic: &'a StringArray,
    partition: &'a Int32Array,
    offset: &'a Int64Array,
    key: &'a StringArray,
    op: &'a StringArray,
    schema: &'a StringArray,
    table: &'a StringArray,
    source_ts: &'a Int64Array,
    ts: &'a Int64Array,
    lsn: &'a Int64Array,
    before: &'a StringArray,
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
            key: column(batch, col::KEY)?,
            op: column(batch, col::OP)?,
            schema: column(batch, col::SOURCE_SCHEMA)?,
            table: column(batch, col::SOURCE_TABLE)?,
            source_ts: column(batch, col::SOURCE_TS_MS)?,
            ts: column(batch, col::TS_MS)?,
            lsn: column(batch, col::LSN)?,
            before: column(batch, col::BEFORE)?,
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

fn parse_object(json: &str, what: &str) -> Result<Option<Map<String, Value>>, String> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err(format!("`{what}` is not a JSON object")),
        Err(e) => Err(format!("`{what}` is not valid JSON: {e}")),
    }
}

/// Reads the change events of the configured source table from bronze batches.
///
/// Parsing JSON is the bulk of a merge's CPU time: with several batches, the second half is
/// parsed on another thread (the machine's cores are otherwise idle during a merge).
pub(crate) fn extract(
    batches: &[RecordBatch],
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
) -> Result<Extracted, MergeError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if batches.len() < 2 || rows < 50_000 {
        return extract_part(batches, config, declared, rows);
    }
    let (first, second) = batches.split_at(batches.len() / 2);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            let rows = second.iter().map(RecordBatch::num_rows).sum();
            extract_part(second, config, declared, rows)
        });
        // Room for both halves: appending the other's changes then copies no more than them.
        let mine = extract_part(first, config, declared, rows);
        (mine, other.join())
    });
    let mut out = a?;
    let b = b.map_err(|_| MergeError::Config("a bronze parsing thread panicked".into()))??;
    out.changes.extend(b.changes);
    out.truncates += b.truncates;
    for (name, guess) in b.seen {
        let entry = out.seen.entry(name).or_insert(None);
        if entry.is_none() {
            *entry = guess;
        }
    }
    Ok(out)
}

/// [`extract`] on some of the batches, with room for `capacity` changes.
fn extract_part(
    batches: &[RecordBatch],
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    capacity: usize,
) -> Result<Extracted, MergeError> {
    let mut out = Extracted::default();
    let mut schemas: HashMap<String, Arc<Vec<cdc::Column>>> = HashMap::new();
    let mut topic: Arc<str> = Arc::from("");
    // Events of one table mostly share one schema text: compare with the last one before hashing.
    let mut last_schema: Option<(&str, Arc<Vec<cdc::Column>>)> = None;
    // A key of one column may take the integer fast path (see `int_key`).
    let single_key = match &config.key[..] {
        [name] => Some(name.as_str()),
        _ => None,
    };
    let declared_key = single_key.and_then(|k| declared.get(k));
    // The key columns' JSON text in the current row (reused: one allocation per part).
    let mut key_raw: Vec<Option<&RawValue>> = vec![None; config.key.len()];
    let mut seen = SeenColumns::default();
    out.changes.reserve(capacity);
    for batch in batches {
        let c = BronzeColumns::of(batch)?;
        let after_array = Arc::new(c.after.clone());
        for i in 0..batch.num_rows() {
            if !config.wants(text(c.schema, i), text(c.table, i)) {
                continue;
            }
            let partition = c.partition.value(i);
            let offset = c.offset.value(i);
            if *topic != *c.topic.value(i) {
                topic = Arc::from(c.topic.value(i));
            }
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
            let (key, key_num) = if has_row {
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
                    Some(n) => (Key::int(n), Some(n)),
                    None => key_of(
                        |k| {
                            let at = config.key.iter().position(|c| c == k);
                            at.and_then(|at| key_raw[at])
                                .map(|v| serde_json::from_str(v.get()))
                                .transpose()
                        },
                        config,
                        declared,
                        schema_cols,
                    )
                    .map_err(&fail)?,
                }
            } else {
                // Deletes may take their key from `before` or the Kafka key (parsed: rare).
                let after = || {
                    after_text
                        .map(|j| parse_object(j, "after"))
                        .transpose()
                        .map(Option::flatten)
                };
                let delete_key_row = match action {
                    Action::Upsert => None,
                    Action::Delete => {
                        let before = text(c.before, i)
                            .map(|j| parse_object(j, "before"))
                            .transpose()
                            .map_err(fail)?
                            .flatten();
                        // A delete with a null `before` (or one without the key columns) still
                        // names its key in the Kafka key.
                        let has_key = |m: &Map<String, Value>| {
                            config
                                .key
                                .iter()
                                .all(|k| m.get(k).is_some_and(|v| !v.is_null()))
                        };
                        match before
                            .filter(has_key)
                            .or_else(|| after().ok().flatten().filter(has_key))
                        {
                            Some(row) => Some(row),
                            None => text(c.key, i)
                                .map(|k| cdc::parse_key(k.as_bytes()))
                                .transpose()
                                .map_err(|e| fail(format!("Kafka key: {e}")))?
                                .flatten(),
                        }
                    }
                };
                match delete_key_row {
                    Some(row) => key_of(|k| Ok(row.get(k).cloned()), config, declared, schema_cols)
                        .map_err(&fail)?,
                    None => {
                        return Err(fail(format!(
                            "a `{}` event without a row to take the key from",
                            c.op.value(i)
                        )));
                    }
                }
            };
            let lsn = long(c.lsn, i);
            let source_ts = long(c.source_ts, i);
            let ts_ms = source_ts.or_else(|| long(c.ts, i)).unwrap_or(0);
            out.changes.push(Change {
                action,
                key,
                key_num,
                order: OrderingKey::new(lsn, source_ts, offset, partition),
                ts_micros: ts_ms.saturating_mul(1000),
                row: (action == Action::Upsert).then(|| RawRow {
                    array: after_array.clone(),
                    index: i,
                }),
                schema,
                topic: topic.clone(),
            });
        }
    }
    out.seen = seen.columns;
    Ok(out)
}

/// The key of a row (an event's row or its Kafka key), and its first column as an integer.
fn key_of(
    get: impl Fn(&str) -> Result<Option<Value>, serde_json::Error>,
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    schema: Option<&[cdc::Column]>,
) -> Result<(Key, Option<i64>), String> {
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
    let first = match parts.first() {
        Some(TypedValue::Int32(n)) => Some(i64::from(*n)),
        Some(TypedValue::Int64(n)) => Some(*n),
        _ => None,
    };
    Ok((Key::of(parts.iter()), first))
}

/// The key of an upsert whose one key column holds an integer, read straight from its JSON text
/// (what [`key_of`] would decode, without building a `Value`). `None` sends the change down the
/// general path, which also words any error.
fn int_key(raw: &RawValue, ty: Option<&cdc::ColumnType>) -> Option<i64> {
    // The text is valid JSON, so whatever parses as an i64 is an integer literal.
    let n: i64 = raw.get().parse().ok()?;
    match ty {
        // Neither declared nor in a schema: an integer literal is inferred as a long.
        None | Some(cdc::ColumnType::Int64) => Some(n),
        Some(cdc::ColumnType::Int32) => i32::try_from(n).ok().map(i64::from),
        Some(_) => None,
    }
}

/// Column names seen in upserted rows, with a type guessed from their first non-null value.
pub(crate) type Seen = IndexMap<String, Option<ColumnType>, FastState>;

/// Scans an upsert's `after` object once: borrows the JSON text of the key columns into `key`
/// (in `names` order) and notes every member in `seen`. No value is parsed, no map is built.
fn scan_row<'de>(
    json: &'de str,
    names: &[String],
    key: &mut [Option<&'de RawValue>],
    seen: &mut SeenColumns,
) -> Result<(), String> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(json);
    (&mut de)
        .deserialize_map(RowScan { names, key, seen })
        .and_then(|()| de.end())
        .map_err(|e| format!("`after` is not a JSON object: {e}"))
}

/// A member name, borrowed from the JSON text unless it has escapes.
#[derive(serde::Deserialize)]
struct Name<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

struct RowScan<'a, 'de> {
    names: &'a [String],
    key: &'a mut [Option<&'de RawValue>],
    seen: &'a mut SeenColumns,
}

impl<'de> serde::de::Visitor<'de> for RowScan<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut position = 0;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            let raw: &'de RawValue = map.next_value()?;
            // A repeated member: the last one counts, as when parsing into a map.
            if let Some(at) = self.names.iter().position(|k| *k == *name) {
                self.key[at] = Some(raw);
            }
            self.seen.note(position, &name, raw);
            position += 1;
        }
        Ok(())
    }
}

/// The column names of upserted rows, as they are scanned.
#[derive(Default)]
struct SeenColumns {
    columns: Seen,
    /// The member names of the last rows, by position in the object, that need no more noting
    /// (known, with a type). Rows of one table repeat their names in the same order, so most
    /// members are settled by one string comparison instead of a map lookup.
    settled: Vec<Option<Box<str>>>,
}

impl SeenColumns {
    /// Records the `position`-th member of a row (and a type guess from its first non-null
    /// value).
    fn note(&mut self, position: usize, name: &str, raw: &RawValue) {
        if self
            .settled
            .get(position)
            .is_some_and(|s| s.as_deref() == Some(name))
        {
            return;
        }
        let settled = match self.columns.get_mut(name) {
            Some(Some(_)) => true,
            known => {
                let guess = serde_json::from_str::<Value>(raw.get())
                    .ok()
                    .as_ref()
                    .and_then(values::infer_type);
                let settled = guess.is_some();
                match known {
                    Some(slot) => *slot = slot.or(guess),
                    None => {
                        self.columns.insert(name.to_owned(), guess);
                    }
                }
                settled
            }
        };
        if self.settled.len() <= position {
            self.settled.resize(position + 1, None);
        }
        self.settled[position] = settled.then(|| name.into());
    }
}
