//! PyIceberg reads the bronze and dead-letter tables, and sees the same values and offsets.
//!
//! The interpreter comes from `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`).
//! Without it (or without pyiceberg in it) the test is skipped with a hint, unless `CI` is set.

use flowctl_lakehouse::bronze::OFFSETS_SUMMARY_KEY;
use serde_json::{Value, json};

use super::bronze_e2e::{expected, mixed_messages};
use super::support::*;

/// `read_iceberg.py`'s output for `tables`, or `None` when PyIceberg is unavailable outside CI.
fn read_with_pyiceberg(fx: &Fixture, tables: &[&str]) -> Option<Value> {
    let dir = fx.dir.path().canonicalize().unwrap();
    flowctl_testkit::read_tables(
        &dir.join(".flowctl/catalog.db"),
        &dir.join(".flowctl/warehouse"),
        tables,
    )
}

fn micros(iso: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso.as_str().unwrap())
        .unwrap()
        .timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_reads_bronze_and_dlq_with_the_same_values() {
    let fx = Fixture::new();
    let records = mixed_messages();
    fx.produce("py", &records);
    let (result, _) = fx
        .run_bronze("py1", json!({"topics": ["py"], "table": "bronze.py"}))
        .await;
    let offsets: Value = serde_json::from_str(&out(&result, "offsets")).unwrap();
    let Some(read) = read_with_pyiceberg(&fx, &["bronze.py", "bronze.py_dlq"]) else {
        return;
    };
    let e = expected("py", &records);
    let lake = fx.lake().await;
    let ours = by_coordinates(&table_rows(&lake, "bronze.py").await);

    let bronze = &read["tables"]["bronze.py"];
    let summary_offsets: Value =
        serde_json::from_str(bronze["summary"][OFFSETS_SUMMARY_KEY].as_str().unwrap()).unwrap();
    assert_eq!(summary_offsets, offsets);
    let rows = bronze["rows"].as_array().unwrap();
    assert_eq!(rows.len(), e.bronze.len());
    for row in rows {
        let mut row = row.as_object().unwrap().clone();
        let at = (
            row["kafka_topic"].as_str().unwrap().to_owned(),
            row["kafka_partition"].as_i64().unwrap(),
            row["kafka_offset"].as_i64().unwrap(),
        );
        let mine = &ours[&at];
        assert_eq!(
            micros(&row.remove("ingested_at").unwrap()),
            mine["ingested_at"]
        );
        assert_eq!(
            row.remove("kafka_timestamp_ms").unwrap(),
            mine["kafka_timestamp_ms"]
        );
        assert_eq!(Value::Object(row), e.bronze[&at], "row at {at:?}");
    }

    let dlq = read["tables"]["bronze.py_dlq"]["rows"].as_array().unwrap();
    assert_eq!(dlq.len(), e.dlq.len());
    for row in dlq {
        let mut row = row.as_object().unwrap().clone();
        row.remove("ingested_at").unwrap();
        let at = (
            row["kafka_topic"].as_str().unwrap().to_owned(),
            row["kafka_partition"].as_i64().unwrap(),
            row["kafka_offset"].as_i64().unwrap(),
        );
        assert_eq!(Value::Object(row), e.dlq[&at], "dead letter at {at:?}");
    }
}
