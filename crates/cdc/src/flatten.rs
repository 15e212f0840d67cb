//! Records flattened by Debezium's `ExtractNewRecordState` transform ("unwrap").
//!
//! The transform replaces the envelope by the row itself and appends the metadata listed in
//! `add.fields`, each named with the default `__` prefix. Following Debezium's own naming rules:
//!
//! * `op` and `ts_ms` come from the envelope: `__op`, `__ts_ms` (and `__ts_us`, `__ts_ns`);
//! * `id`, `total_order`, `data_collection_order` come from the transaction block: `__id`, …;
//! * any other plain name comes from `source`: `__lsn`, `__table`, `__db`, `__txId`, …;
//! * a qualified name keeps its struct: `source.ts_ms` → `__source_ts_ms`,
//!   `transaction.id` → `__transaction_id`.
//!
//! With `delete.handling.mode=rewrite` (`delete.tombstone.handling.mode=rewrite` in 2.x) a delete
//! is the old row plus `__deleted: "true"`. Members that are not such metadata are the row's
//! columns; an unrecognised `__x` member is kept as a column rather than silently dropped.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::envelope::{ChangeEvent, Format, Op, Source, TransactionBlock};
use crate::error::{CdcError, raw_kind};
use crate::raw::{self, RawObject};

/// The `source` fields that `add.fields` names without a `source.` qualifier (PostgreSQL).
const SOURCE_FIELDS: &[&str] = &[
    "version",
    "connector",
    "name",
    "db",
    "schema",
    "table",
    "lsn",
    "txId",
    "sequence",
    "snapshot",
    "xmin",
];

/// What a flattened record's member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta<'n> {
    Op,
    Deleted,
    /// Envelope timestamp: `ts_ms`, `ts_us` or `ts_ns`.
    EventTs(&'n str),
    /// A `source` field, by its envelope name.
    Source(&'n str),
    /// A transaction block field: `id`, `total_order`, `data_collection_order`.
    Transaction(&'n str),
}

fn metadata(member: &str) -> Option<Meta<'_>> {
    let name = member.strip_prefix("__")?;
    Some(match name {
        "op" => Meta::Op,
        "deleted" => Meta::Deleted,
        "ts_ms" | "ts_us" | "ts_ns" => Meta::EventTs(name),
        "id" | "total_order" | "data_collection_order" => Meta::Transaction(name),
        _ => {
            if let Some(field) = name.strip_prefix("source_") {
                Meta::Source(field)
            } else if let Some(field) = name.strip_prefix("transaction_") {
                Meta::Transaction(field)
            } else if SOURCE_FIELDS.contains(&name) {
                Meta::Source(name)
            } else {
                return None;
            }
        }
    })
}

/// True when a flattened record's member (or value-schema field) named `name` is metadata added
/// by `ExtractNewRecordState` rather than a column of the row.
pub fn is_metadata_field(name: &str) -> bool {
    metadata(name).is_some()
}

/// Builds a change event from a flattened record (caller checked it has `__op` or `__deleted`).
pub(crate) fn parse<'a>(
    obj: &RawObject<'a>,
    schema: Option<&'a RawValue>,
) -> Result<ChangeEvent<'a>, CdcError> {
    let mut op = None;
    let mut deleted = false;
    let (mut ts_ms, mut ts_us, mut ts_ns) = (None, None, None);
    let mut source = Source::default();
    let (mut tx_id, mut tx_total, mut tx_dco) = (None, None, None);
    let mut row = String::with_capacity(
        obj.members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>()
            + 2,
    );
    row.push('{');
    for (key, value) in &obj.members {
        let key = key.as_ref();
        match metadata(key) {
            Some(Meta::Op) => {
                op = raw::opt_string(Some(value), key)?
                    .map(|c| Op::from_code(&c))
                    .transpose()?;
            }
            Some(Meta::Deleted) => deleted = parse_deleted(value)?,
            Some(Meta::EventTs(unit)) => {
                let v = raw::opt_i64(Some(value), key)?;
                match unit {
                    "ts_ms" => ts_ms = v,
                    "ts_us" => ts_us = v,
                    _ => ts_ns = v,
                }
            }
            Some(Meta::Source(field)) => source.set_from_raw(field, value, key)?,
            Some(Meta::Transaction(field)) => match field {
                "id" => tx_id = raw::opt_string(Some(value), key)?,
                "total_order" => tx_total = raw::opt_i64(Some(value), key)?,
                "data_collection_order" => tx_dco = raw::opt_i64(Some(value), key)?,
                _ => {}
            },
            None => {
                if row.len() > 1 {
                    row.push(',');
                }
                // Keys were unescaped while reading; write them back as JSON strings.
                row.push_str(&serde_json::Value::from(key).to_string());
                row.push(':');
                row.push_str(value.get());
            }
        }
    }
    row.push('}');

    // `__deleted: "true"` wins: with the rewrite mode it is the one reliable delete signal.
    let op = match (op, deleted) {
        (_, true) => Op::Delete,
        (Some(op), false) => op,
        // Only `__deleted: "false"`: an insert or update, which one is not recorded.
        (None, false) => Op::Update,
    };
    let row = RawValue::from_string(row).map_err(|e| CdcError::InvalidJson(e.to_string()))?;
    let (before, after) = match op {
        Op::Delete => (Some(Cow::Owned(row)), None),
        Op::Truncate => (None, None),
        Op::Create | Op::Update | Op::Read => (None, Some(Cow::Owned(row))),
    };
    Ok(ChangeEvent {
        op,
        before,
        after,
        source,
        ts_ms,
        ts_us,
        ts_ns,
        transaction: tx_id.map(|id| TransactionBlock {
            id,
            total_order: tx_total,
            data_collection_order: tx_dco,
        }),
        schema: schema.map(Cow::Borrowed),
        format: Format::Flattened,
    })
}

/// `__deleted` is the string `"true"`/`"false"` (a boolean is accepted too).
fn parse_deleted(raw: &RawValue) -> Result<bool, CdcError> {
    match raw.get() {
        "\"true\"" | "true" => Ok(true),
        "\"false\"" | "false" | "null" => Ok(false),
        other => Err(CdcError::field(
            "__deleted",
            format!(
                "expected \"true\" or \"false\", found {} {}",
                raw_kind(raw),
                raw::short(other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_follow_debezium_add_fields_rules() {
        assert_eq!(metadata("__op"), Some(Meta::Op));
        assert_eq!(metadata("__lsn"), Some(Meta::Source("lsn")));
        assert_eq!(metadata("__source_ts_ms"), Some(Meta::Source("ts_ms")));
        assert_eq!(metadata("__ts_ms"), Some(Meta::EventTs("ts_ms")));
        assert_eq!(metadata("__id"), Some(Meta::Transaction("id")));
        assert_eq!(
            metadata("__transaction_total_order"),
            Some(Meta::Transaction("total_order"))
        );
        // Not metadata: plain columns and unknown `__` names stay in the row.
        assert_eq!(metadata("id"), None);
        assert_eq!(metadata("__legacy_flag"), None);
        assert_eq!(metadata("_op"), None);
    }
}
