//! Fault tests: a failure after the Iceberg commit but before the group commit, and before the
//! Iceberg commit (an error, a commit conflict) — the next run leaves every event exactly once.

use serde_json::json;

use super::bronze_e2e::{assert_tables, expected, mixed_messages};
use super::support::*;
use crate::fault::{Point, arm};

fn config() -> serde_json::Value {
    json!({"topics": ["f"], "table": "bronze.f"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_after_the_iceberg_commit_then_rerun_is_exactly_once() {
    let fx = Fixture::new();
    let records = mixed_messages();
    fx.produce("f", &records);
    arm("fa1", Point::AfterIceberg);
    let (failed, _) = fx.run_bronze("fa1", config()).await;
    assert!(failed.unwrap_err().message.contains("injected"));
    // More events arrive before the retry.
    let mut more = records.clone();
    let extra: Vec<_> = (50..53)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "u")), (i % 3) as i32))
        .collect();
    fx.produce("f", &extra);
    more.extend(extra);
    let (ok, log) = fx.run_bronze("fa2", config()).await;
    assert_eq!(out(&ok, "events"), "3", "{log}");
    assert_eq!(out(&ok, "dlq"), "0");
    assert_tables(&fx, "bronze.f", &expected("f", &more), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_before_the_iceberg_commit_then_rerun_is_exactly_once() {
    let fx = Fixture::new();
    let records = mixed_messages();
    fx.produce("f", &records);
    let e = expected("f", &records);
    arm("fb1", Point::BeforeIceberg);
    let (failed, _) = fx.run_bronze("fb1", config()).await;
    assert!(failed.unwrap_err().message.contains("injected"));
    let lake = fx.lake().await;
    assert!(table_rows(&lake, "bronze.f").await.is_empty());
    // Dead letters were committed first: at-least-once, written again by the next run.
    assert_eq!(table_rows(&lake, "bronze.f_dlq").await.len(), e.dlq.len());
    let (ok, log) = fx.run_bronze("fb2", config()).await;
    assert_eq!(out(&ok, "events"), e.bronze.len().to_string(), "{log}");
    assert_tables(&fx, "bronze.f", &e, true).await;
    assert_eq!(
        table_rows(&lake, "bronze.f_dlq").await.len(),
        2 * e.dlq.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_conflict_is_retried_from_the_stored_offsets() {
    let fx = Fixture::new();
    let records = mixed_messages();
    fx.produce("f", &records);
    // A first run stores offsets, so the retry has something to start from.
    let (first, _) = fx.run_bronze("fc0", config()).await;
    assert!(first.is_ok());
    let mut extra: Vec<_> = (60..66)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "d")), (i % 3) as i32))
        .collect();
    // A new dead letter: read again by the retry, but written to the DLQ once.
    extra.push(crate::produce::Record {
        key: None,
        value: Some(b"{\"op\": 42}".to_vec()),
        partition: Some(0),
    });
    fx.produce("f", &extra);
    let mut all = records.clone();
    all.extend(extra);
    arm("fc1", Point::ConcurrentWriter);
    let (ok, log) = fx.run_bronze("fc1", config()).await;
    assert!(ok.is_ok(), "{ok:?}\n{log}");
    assert!(log.contains("commit conflict"), "{log}");
    assert_eq!(out(&ok, "events_d"), "6");
    assert_eq!(out(&ok, "dlq"), "1");
    assert_tables(&fx, "bronze.f", &expected("f", &all), false).await;
}
