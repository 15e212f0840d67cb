//! Bronze tables built from Debezium messages, and silver read back as JSON-like rows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use flowctl_cdc::{Message, parse_value};
use flowctl_jobs_merge::{MergeConfig, MergeHooks, MergeMode, MergeOutcome, merge};
use flowctl_lakehouse::arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use flowctl_lakehouse::arrow_schema::{DataType, Field, Schema, TimeUnit};
use flowctl_lakehouse::bronze::{bronze_columns, columns as col};
use flowctl_lakehouse::{LakeTable, Lakehouse, TableName, TableSchema};
use indexmap::IndexMap;
use serde_json::{Value, json};

pub const BRONZE: &str = "bronze.shop_cdc";

/// A catalog + warehouse in a temp dir.
pub struct Lake {
    pub dir: tempfile::TempDir,
    pub lake: Lakehouse,
    next_offset: i64,
}

/// One Kafka message for bronze.
pub struct Msg {
    pub value: String,
    pub key: Option<String>,
}

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cdc/tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture message, with its `.key.json` when there is one.
pub fn fixture_msg(stem: &str) -> Msg {
    let key_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cdc/tests/fixtures")
        .join(format!("{stem}.key.json"));
    Msg {
        value: fixture(&format!("{stem}.json")),
        key: std::fs::read_to_string(key_path).ok(),
    }
}

/// A schemaless envelope.
pub fn event(table: &str, op: &str, before: Value, after: Value, lsn: i64, ts_ms: i64) -> Msg {
    Msg {
        value: json!({"before": before, "after": after, "op": op, "ts_ms": ts_ms + 5,
            "source": {"db": "shop", "schema": "public", "table": table, "lsn": lsn, "ts_ms": ts_ms, "txId": 1}})
        .to_string(),
        key: None,
    }
}

impl Lake {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lakehouse::open(
            dir.path().join("catalog.db").to_str().unwrap(),
            dir.path().join("warehouse"),
        )
        .await
        .unwrap();
        let name = TableName::parse(BRONZE).unwrap();
        lake.create_table_if_missing(&name, &TableSchema::Columns(bronze_columns()))
            .await
            .unwrap();
        Self {
            dir,
            lake,
            next_offset: 0,
        }
    }

    /// Appends the messages to bronze in one snapshot (consecutive offsets, partition 0).
    pub async fn bronze(&mut self, msgs: &[Msg]) -> i64 {
        let offsets: Vec<i64> = (0..msgs.len() as i64)
            .map(|i| self.next_offset + i)
            .collect();
        self.next_offset += msgs.len() as i64;
        self.bronze_at(msgs, &offsets).await
    }

    /// Appends the messages with the given offsets.
    pub async fn bronze_at(&mut self, msgs: &[Msg], offsets: &[i64]) -> i64 {
        let batch = bronze_batch(msgs, offsets);
        let table = self.table(BRONZE).await;
        self.lake
            .append(&table, vec![batch], BTreeMap::new())
            .await
            .unwrap()
    }

    pub async fn table(&self, name: &str) -> LakeTable {
        self.lake
            .load_table(&TableName::parse(name).unwrap())
            .await
            .unwrap()
    }

    pub async fn merge(&self, config: &MergeConfig) -> MergeOutcome {
        merge(&self.lake, config, &MergeHooks::default())
            .await
            .unwrap()
    }

    /// Silver's rows as JSON objects keyed by the given column, sorted.
    pub async fn rows(&self, name: &str) -> Vec<IndexMap<String, Value>> {
        let table = self.table(name).await;
        let mut out = Vec::new();
        for batch in table.scan().await.unwrap() {
            out.extend(batch_rows(&batch));
        }
        out.sort_by_key(|r| serde_json::to_string(r).unwrap());
        out
    }
}

/// A checksum of a table's content: its rows (as [`Lake::rows`] reads them: sorted, every column)
/// hashed with FNV-1a, so that two tables with the same rows have the same checksum.
pub fn checksum(rows: &[IndexMap<String, Value>]) -> u64 {
    let text = serde_json::to_string(rows).unwrap();
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub fn config(target: &str, table: &str, key: &[&str], mode: MergeMode) -> MergeConfig {
    MergeConfig {
        source: BRONZE.into(),
        target: target.into(),
        key: key.iter().map(|k| (*k).to_owned()).collect(),
        mode,
        source_table: Some(table.into()),
        columns: IndexMap::new(),
        include: None,
        exclude: Vec::new(),
    }
}

fn bronze_batch(msgs: &[Msg], offsets: &[i64]) -> RecordBatch {
    let mut s: BTreeMap<&str, Vec<Option<String>>> = BTreeMap::new();
    let mut l: BTreeMap<&str, Vec<Option<i64>>> = BTreeMap::new();
    for msg in msgs {
        let Message::Change(ev) = parse_value(msg.value.as_bytes()).unwrap() else {
            panic!("not a change: {}", msg.value)
        };
        let key = msg.key.as_ref().map(|k| {
            let parsed = flowctl_cdc::parse_key(k.as_bytes()).unwrap();
            serde_json::to_string(&parsed).unwrap()
        });
        let mut push = |c, v: Option<&str>| s.entry(c).or_default().push(v.map(str::to_owned));
        push(col::TOPIC, Some("shop"));
        push(col::KEY, key.as_deref());
        push(col::OP, Some(ev.op.code()));
        push(col::SOURCE_DB, ev.source.db.as_deref());
        push(col::SOURCE_SCHEMA, ev.source.schema.as_deref());
        push(col::SOURCE_TABLE, ev.source.table.as_deref());
        push(col::BEFORE, ev.before_json());
        push(col::AFTER, ev.after_json());
        push(col::VALUE_SCHEMA, ev.schema_json());
        let mut push = |c, v: Option<i64>| l.entry(c).or_default().push(v);
        push(col::SOURCE_TS_MS, ev.source.ts_ms);
        push(col::TS_MS, ev.ts_ms);
        push(col::LSN, ev.source.lsn);
        push(col::TX_ID, ev.source.tx_id);
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, v) in s {
        fields.push(Field::new(name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(v)));
    }
    for (name, v) in l {
        fields.push(Field::new(name, DataType::Int64, true));
        arrays.push(Arc::new(Int64Array::from(v)));
    }
    fields.push(Field::new(col::PARTITION, DataType::Int32, false));
    arrays.push(Arc::new(Int32Array::from(vec![0; msgs.len()])));
    fields.push(Field::new(col::OFFSET, DataType::Int64, false));
    arrays.push(Arc::new(Int64Array::from(offsets.to_vec())));
    fields.push(Field::new(
        col::INGESTED_AT,
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        false,
    ));
    arrays.push(Arc::new(
        TimestampMicrosecondArray::from(vec![1_767_600_000_000_000; msgs.len()])
            .with_timezone("+00:00"),
    ));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Rows as JSON: decimals as exact text, timestamps as epoch micros.
pub fn batch_rows(batch: &RecordBatch) -> Vec<IndexMap<String, Value>> {
    use flowctl_lakehouse::arrow_array::cast::AsArray;
    use flowctl_lakehouse::arrow_array::types::*;
    let mut rows = vec![IndexMap::new(); batch.num_rows()];
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        for (i, row) in rows.iter_mut().enumerate() {
            let v = if column.is_null(i) {
                Value::Null
            } else {
                match field.data_type() {
                    DataType::Utf8 => json!(column.as_string::<i32>().value(i)),
                    DataType::Int32 => json!(column.as_primitive::<Int32Type>().value(i)),
                    DataType::Int64 => json!(column.as_primitive::<Int64Type>().value(i)),
                    DataType::Float64 => json!(column.as_primitive::<Float64Type>().value(i)),
                    DataType::Boolean => json!(column.as_boolean().value(i)),
                    DataType::Date32 => json!(column.as_primitive::<Date32Type>().value(i)),
                    DataType::Decimal128(..) => {
                        json!(column.as_primitive::<Decimal128Type>().value_as_string(i))
                    }
                    DataType::Timestamp(..) => {
                        json!(column.as_primitive::<TimestampMicrosecondType>().value(i))
                    }
                    other => panic!("unexpected type {other}"),
                }
            };
            row.insert(field.name().clone(), v);
        }
    }
    rows
}
