//! Shared helpers: brokers, contexts, fixtures, reading tables back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flowctl_engine::job::{JobContext, JobError, JobOutput, LogLine, TargetKind};
use flowctl_lakehouse::arrow_array::cast::AsArray;
use flowctl_lakehouse::arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use flowctl_lakehouse::arrow_array::{Array, RecordBatch};
use flowctl_lakehouse::{IcebergSettings, Lakehouse, TableName};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::bronze::TYPE_NAME;
use crate::embedded::EmbeddedBroker;
use crate::produce::{Record, produce};
use crate::settings::Connection;

/// A broker of the test's own (dropped with the test) and a project directory.
pub struct Fixture {
    pub broker: EmbeddedBroker,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            broker: EmbeddedBroker::start().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn settings(&self) -> serde_json::Map<String, Value> {
        settings_for(self.broker.bootstrap_servers())
    }

    pub fn produce(&self, topic: &str, records: &[Record]) {
        self.broker.create_topic(topic, 3).unwrap();
        let conn = Connection::to_servers(self.broker.bootstrap_servers());
        let n = produce(&conn, topic, 3, records).unwrap();
        assert_eq!(n, records.len() as u64);
    }

    pub async fn lake(&self) -> Lakehouse {
        IcebergSettings::from_target(&self.settings(), self.dir.path())
            .unwrap()
            .open()
            .await
            .unwrap()
    }

    /// Runs the bronze job; returns its result and log text.
    pub async fn run_bronze(
        &self,
        run_id: &str,
        config: Value,
    ) -> (Result<JobOutput, JobError>, String) {
        let (ctx, rx) = context(self.dir.path(), self.settings(), run_id);
        run_job(ctx, rx, config).await
    }
}

pub fn settings_for(bootstrap: &str) -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({"kafka": {"bootstrap": bootstrap}}) else {
        unreachable!()
    };
    map
}

/// Runs one attempt of job type `job_type` as the engine does: its fields (JSON) parsed and
/// checked first, a refused config never reaching the job.
pub async fn run_checked(
    job_type: &str,
    config: Value,
    ctx: JobContext,
) -> Result<JobOutput, JobError> {
    let mut registry = flowctl_engine::job::JobRegistry::new();
    crate::register(&mut registry);
    let plugin = registry.get(job_type).expect("registered");
    plugin.run(config, ctx).await
}

pub async fn run_job(
    ctx: JobContext,
    mut rx: UnboundedReceiver<LogLine>,
    config: Value,
) -> (Result<JobOutput, JobError>, String) {
    let result = run_checked(TYPE_NAME, config, ctx).await;
    let mut log = String::new();
    while let Ok(line) = rx.try_recv() {
        log.push_str(&line.text);
        log.push('\n');
    }
    (result, log)
}

/// An attempt context from [`JobContext::for_test`] on a `local` target with `settings`:
/// DAG `cdc`, task `bronze`, run `run_id` (the fault tests arm failures by run id).
pub fn context(
    dir: &Path,
    settings: serde_json::Map<String, Value>,
    run_id: &str,
) -> (JobContext, UnboundedReceiver<LogLine>) {
    let (ctx, rx) = JobContext::for_test(dir);
    let mut ctx = ctx.on_target(TargetKind::Local, Value::Object(settings));
    ctx.dag_id = "cdc".into();
    ctx.task_id = "bronze".into();
    ctx.run_id = run_id.into();
    (ctx, rx)
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cdc/tests/fixtures")
}

/// A fixture message: (name, key, value).
pub type FixtureMessage = (String, Option<Vec<u8>>, Option<Vec<u8>>);

/// The cdc crate's fixtures as messages: `(name, key, value)`, sorted by name. Keys from the
/// `.key.json` files when present; `orders_10_tombstone.value.json` is the tombstone.
pub fn cdc_fixtures() -> Vec<FixtureMessage> {
    let dir = fixtures_dir();
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".key.json"))
        .collect();
    names.sort();
    for name in names {
        let stem = name
            .trim_end_matches(".json")
            .trim_end_matches(".value")
            .to_owned();
        let key = std::fs::read(dir.join(format!("{stem}.key.json"))).ok();
        let value = std::fs::read(dir.join(&name)).unwrap();
        out.push((stem, key, Some(value)));
    }
    out
}

/// The malformed fixtures: `(name, value)`.
pub fn malformed_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir().join("malformed");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "malformed fixtures missing");
    out
}

/// A schemaless Debezium create event for `id`.
pub fn event(id: i64, op: &str) -> Vec<u8> {
    json!({
        "before": if op == "c" { Value::Null } else { json!({"id": id, "name": "old"}) },
        "after": if op == "d" { Value::Null } else { json!({"id": id, "name": format!("n{id}")}) },
        "source": {"db": "shop", "schema": "public", "table": "t", "lsn": 1000 + id,
                   "txId": 7, "ts_ms": 1_700_000_000_000i64 + id},
        "op": op, "ts_ms": 1_700_000_000_500i64 + id
    })
    .to_string()
    .into_bytes()
}

pub fn record(key: Option<Value>, value: Option<Vec<u8>>, partition: i32) -> Record {
    Record {
        key: key.map(|k| k.to_string().into_bytes()),
        value,
        partition: Some(partition),
    }
}

/// One table row as JSON (column name → value; strings, ints, binary as hex, timestamps µs).
pub type Row = BTreeMap<String, Value>;

pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            let mut row = Row::new();
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                let v = if col.is_null(i) {
                    Value::Null
                } else if let Some(s) = col.as_string_opt::<i32>() {
                    json!(s.value(i))
                } else if let Some(s) = col.as_string_view_opt() {
                    json!(s.value(i))
                } else if let Some(a) = col.as_primitive_opt::<Int64Type>() {
                    json!(a.value(i))
                } else if let Some(a) = col.as_primitive_opt::<Int32Type>() {
                    json!(a.value(i))
                } else if let Some(a) = col.as_primitive_opt::<TimestampMicrosecondType>() {
                    json!(a.value(i))
                } else if let Some(b) = col.as_binary_opt::<i32>() {
                    json!(hex(b.value(i)))
                } else if let Some(b) = col.as_binary_opt::<i64>() {
                    json!(hex(b.value(i)))
                } else {
                    panic!("unexpected column type {:?}", col.data_type())
                };
                row.insert(field.name().clone(), v);
            }
            out.push(row);
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn table_rows(lake: &Lakehouse, name: &str) -> Vec<Row> {
    let table = lake
        .load_table(&TableName::parse(name).unwrap())
        .await
        .unwrap();
    rows(&table.scan().await.unwrap())
}

/// Bronze rows keyed by (topic, partition, offset); panics on a duplicate.
pub fn by_coordinates(rows: &[Row]) -> BTreeMap<(String, i64, i64), Row> {
    let mut out = BTreeMap::new();
    for row in rows {
        let key = (
            row["kafka_topic"].as_str().unwrap().to_owned(),
            row["kafka_partition"].as_i64().unwrap(),
            row["kafka_offset"].as_i64().unwrap(),
        );
        assert!(
            out.insert(key.clone(), row.clone()).is_none(),
            "duplicate row at {key:?}"
        );
    }
    out
}

pub fn out(result: &Result<JobOutput, JobError>, key: &str) -> String {
    match result {
        Ok(o) => o.outputs.get(key).cloned().unwrap_or_default(),
        Err(e) => panic!("job failed: {e}"),
    }
}
