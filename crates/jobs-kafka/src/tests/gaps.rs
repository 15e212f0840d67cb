//! Offsets the broker no longer has: bronze fails before committing anything, or with
//! `on_gap: skip` records each gap in the dead-letter table; and brokers that cannot be
//! reached fail in one line.
//!
//! Real gaps come from the mock broker's own retention: it keeps ~5 MiB per partition and
//! drops the oldest message sets beyond that, so ~6 MB of events on one partition delete
//! what was produced before them.

use std::time::{Duration, Instant};

use flowctl_lakehouse::TableName;
use flowctl_lakehouse::bronze::{CLUSTER_SUMMARY_KEY, OFFSETS_SUMMARY_KEY};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

use super::support::*;
use crate::bronze::{
    BronzeRows, Gap, Limits, Offsets, OnGap, PartitionPlan, Plan, read_plan, test_consumer,
};
use crate::embedded::EmbeddedBroker;
use crate::produce::{Record, produce};
use crate::settings::{Connection, KafkaSettings};

/// A create event of ~100 KB.
fn big_event(id: i64) -> Vec<u8> {
    json!({
        "after": {"id": id, "name": "x".repeat(100_000)},
        "source": {"db": "shop", "schema": "public", "table": "t", "ts_ms": 1_700_000_000_000i64 + id},
        "op": "c", "ts_ms": 1_700_000_000_500i64 + id
    })
    .to_string()
    .into_bytes()
}

/// ~6 MB of events on `partition`: more than the mock broker keeps.
fn flood(partition: i32, first_id: i64) -> Vec<Record> {
    (first_id..first_id + 60)
        .map(|i| record(Some(json!({"id": i})), Some(big_event(i)), partition))
        .collect()
}

fn small(ids: std::ops::Range<i64>, partition: i32) -> Vec<Record> {
    ids.map(|i| record(Some(json!({"id": i})), Some(event(i, "c")), partition))
        .collect()
}

/// `(low, high)` of a partition.
async fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    let conn = Connection::to_servers(bootstrap);
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = conn.client_config(&[("group.id", "t")]).create().unwrap();
        consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .unwrap()
    })
    .await
    .unwrap()
}

async fn snapshots(fx: &Fixture, table: &str) -> usize {
    fx.lake()
        .await
        .load_table(&TableName::parse(table).unwrap())
        .await
        .unwrap()
        .snapshots()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_the_broker_dropped_fail_the_step_unless_it_skips_gaps() {
    let fx = Fixture::new();
    let mut first = small(0..5, 0);
    first.extend(small(5..7, 1));
    fx.produce("g", &first);
    let cfg = json!({"topics": ["g"], "table": "bronze.g"});
    let (r1, log) = fx.run_bronze("g1", cfg.clone()).await;
    assert_eq!(out(&r1, "events"), "7", "{log}");
    assert_eq!(out(&r1, "gaps"), "0");
    let committed = snapshots(&fx, "bronze.g").await;

    // The broker drops partition 0's oldest events (offsets 5.. included) before bronze
    // reads them; partition 1 gets one more event.
    fx.produce("g", &flood(0, 100));
    fx.produce("g", &small(7..8, 1));
    let (low, high) = watermarks(fx.broker.bootstrap_servers(), "g", 0).await;
    assert!(low > 5 && high == 65, "{low} {high}");

    let (r2, log) = fx.run_bronze("g2", cfg.clone()).await;
    let err = r2.unwrap_err();
    assert!(!err.retryable, "{err}");
    let range = if low - 1 == 5 {
        "offset 5 is".to_owned()
    } else {
        format!("offsets 5\u{2013}{} are", low - 1)
    };
    assert_eq!(
        err.message,
        format!(
            "topic g partition 0: {range} gone from the broker (its earliest offset is {low}); \
             bronze stopped before losing them: nothing was committed and the stored offsets \
             are unchanged. To record the gap(s) in bronze.g_dlq and continue from the broker's \
             earliest offset, set `on_gap: skip` on the step"
        )
    );
    // Nothing committed: no snapshot, no dead letter, partition 1's new event not written.
    assert_eq!(snapshots(&fx, "bronze.g").await, committed, "{log}");
    let lake = fx.lake().await;
    assert!(table_rows(&lake, "bronze.g_dlq").await.is_empty());
    assert_eq!(table_rows(&lake, "bronze.g").await.len(), 7);

    let skip = json!({"topics": ["g"], "table": "bronze.g", "on_gap": "skip"});
    let (r3, log) = fx.run_bronze("g3", skip.clone()).await;
    assert!(r3.is_ok(), "{r3:?}\n{log}");
    assert_eq!(out(&r3, "gaps"), (low - 5).to_string());
    assert_eq!(out(&r3, "events"), (high - low + 1).to_string());
    assert_eq!(out(&r3, "dlq"), "0");
    assert_eq!(
        serde_json::from_str::<Value>(&out(&r3, "offsets")).unwrap(),
        json!({"g": {"0": high, "1": 3, "2": 0}})
    );
    assert!(log.contains("recorded in bronze.g_dlq"), "{log}");
    let dlq = table_rows(&lake, "bronze.g_dlq").await;
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    let row = &dlq[0];
    assert_eq!(row["kafka_topic"], json!("g"));
    assert_eq!(row["kafka_partition"], json!(0));
    assert_eq!(row["kafka_offset"], json!(5));
    assert_eq!(row["raw_key"], Value::Null);
    assert_eq!(row["raw_value"], Value::Null);
    let gap = Gap::find("g", 0, 5, low, high).unwrap();
    assert_eq!(row["error"], json!(gap.skipped()));
    let reason = row["error"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{range} gone from the broker")),
        "{reason}"
    );
    // Every offset from the broker's earliest on is in bronze once, nothing below it.
    let rows = by_coordinates(&table_rows(&lake, "bronze.g").await);
    let p0: Vec<i64> = rows
        .keys()
        .filter(|(_, p, _)| *p == 0)
        .map(|(_, _, o)| *o)
        .collect();
    let expected: Vec<i64> = (0..5).chain(low..high).collect();
    assert_eq!(p0, expected);

    // The gap is behind: the next run has nothing new.
    let (r4, log) = fx.run_bronze("g4", skip).await;
    assert_eq!(out(&r4, "events"), "0");
    assert_eq!(out(&r4, "gaps"), "0");
    assert!(log.contains("nothing new"), "{log}");
    assert_eq!(table_rows(&lake, "bronze.g_dlq").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_read_from_a_real_broker_starts_at_its_low_watermark_without_a_gap() {
    let fx = Fixture::new();
    fx.produce("first", &flood(0, 0));
    let (low, high) = watermarks(fx.broker.bootstrap_servers(), "first", 0).await;
    assert!(low > 0, "the mock broker kept everything");
    let (result, log) = fx
        .run_bronze("f1", json!({"topics": ["first"], "table": "bronze.first"}))
        .await;
    assert!(result.is_ok(), "{result:?}\n{log}");
    assert_eq!(out(&result, "gaps"), "0");
    assert_eq!(out(&result, "events"), (high - low).to_string());
    assert!(
        table_rows(&fx.lake().await, "bronze.first_dlq")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_embedded_broker_dropped_before_the_first_read_are_a_gap() {
    // The process-global broker (`bootstrap: embedded`): its topics start empty in this
    // process, so bronze expects to start at offset 0.
    let topic = "gaps.embedded.first";
    let connection = KafkaSettings::default().connect().unwrap();
    let broker = EmbeddedBroker::global().unwrap();
    broker.create_topic(topic, 3).unwrap();
    let records = flood(1, 0);
    let n = tokio::task::spawn_blocking(move || produce(&connection, topic, 3, &records))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 60);
    let (low, high) = watermarks(broker.bootstrap_servers(), topic, 1).await;
    assert!(low > 0 && high == 60, "{low} {high}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"topics": [topic], "table": "bronze.embedded_gap"});
    let (ctx, rx) = context(dir.path(), serde_json::Map::new(), "eg1");
    let (result, log) = run_job(ctx, rx, cfg).await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with(&format!(
            "topic {topic} partition 1: offsets 0\u{2013}{} are gone from the broker (its \
             earliest offset is {low}); bronze stopped before losing them",
            low - 1
        )),
        "{err}\n{log}"
    );
    let (ctx, rx) = context(dir.path(), serde_json::Map::new(), "eg2");
    let skip = json!({"topics": [topic], "table": "bronze.embedded_gap", "on_gap": "skip"});
    let (result, log) = run_job(ctx, rx, skip).await;
    assert_eq!(out(&result, "gaps"), low.to_string(), "{log}");
    assert_eq!(out(&result, "events"), (high - low).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_offset_beyond_the_end_fails_unless_the_step_skips_gaps() {
    let fx = Fixture::new();
    fx.produce("r", &small(0..6, 0));
    let cfg = json!({"topics": ["r"], "table": "bronze.r"});
    let (r1, _) = fx.run_bronze("b1", cfg.clone()).await;
    assert_eq!(out(&r1, "events"), "6");
    // Same cluster, stored offsets beyond the end (a recreated topic).
    let lake = fx.lake().await;
    let table = lake
        .load_table(&TableName::parse("bronze.r").unwrap())
        .await
        .unwrap();
    let summary = std::collections::BTreeMap::from([
        (
            OFFSETS_SUMMARY_KEY.to_owned(),
            r#"{"r":{"0":500,"1":0,"2":0}}"#.to_owned(),
        ),
        (
            CLUSTER_SUMMARY_KEY.to_owned(),
            table.current_summary()[CLUSTER_SUMMARY_KEY].clone(),
        ),
    ]);
    lake.append(&table, Vec::new(), summary).await.unwrap();
    let committed = snapshots(&fx, "bronze.r").await;

    // Not "nothing new", not a silent restart: the step fails.
    let (r2, _) = fx.run_bronze("b2", cfg).await;
    let err = r2.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with(
            "topic r partition 0: the stored next offset 500 is beyond the partition's end 6 \
             (the topic was recreated, or the broker lost its data); bronze stopped rather than \
             skip past them: nothing was committed"
        ),
        "{err}"
    );
    assert_eq!(snapshots(&fx, "bronze.r").await, committed);

    // Skipping reads the partition again from its earliest offset and says so.
    let skip = json!({"topics": ["r"], "table": "bronze.r", "on_gap": "skip"});
    let (r3, log) = fx.run_bronze("b3", skip).await;
    assert_eq!(out(&r3, "events"), "6", "{log}");
    assert_eq!(out(&r3, "gaps"), "0");
    assert_eq!(
        serde_json::from_str::<Value>(&out(&r3, "offsets")).unwrap(),
        json!({"r": {"0": 6, "1": 0, "2": 0}})
    );
    let dlq = table_rows(&lake, "bronze.r_dlq").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["kafka_offset"], json!(500));
    assert!(
        dlq[0]["error"]
            .as_str()
            .unwrap()
            .ends_with("the partition is read again from its earliest offset 0"),
        "{dlq:?}"
    );
}

/// A plan made before the broker dropped what it starts from: the read meets an
/// offset-out-of-range error (auto.offset.reset=error), not a silent jump.
fn stale_plan(topic: &str, high: i64) -> Plan {
    let mut initial = Offsets::new();
    initial
        .entry(topic.to_owned())
        .or_default()
        .extend([(0, 0), (1, 0)]);
    Plan {
        partitions: vec![
            PartitionPlan {
                topic: topic.to_owned(),
                partition: 0,
                start: 0,
                end: high,
            },
            PartitionPlan {
                topic: topic.to_owned(),
                partition: 1,
                start: 0,
                end: 3,
            },
        ],
        initial,
        notices: Vec::new(),
        gaps: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_that_disappear_while_reading_are_a_gap_not_a_jump() {
    let fx = Fixture::new();
    fx.produce("m", &flood(0, 0));
    fx.produce("m", &small(100..103, 1));
    let (low, high) = watermarks(fx.broker.bootstrap_servers(), "m", 0).await;
    assert!(low > 0);
    let limits = Limits {
        max_events: None,
        deadline: None,
        idle: Duration::from_secs(10),
    };
    let bootstrap = fx.broker.bootstrap_servers().to_owned();
    let read = move |on_gap: OnGap| {
        let consumer = test_consumer(&Connection::to_servers(&bootstrap));
        read_plan(
            &consumer,
            &stale_plan("m", high),
            on_gap,
            limits,
            BronzeRows::new(100, 0),
        )
    };
    let fail = read.clone();
    let err = tokio::task::spawn_blocking(move || fail(OnGap::Fail))
        .await
        .unwrap()
        .expect_err("the read fails");
    assert!(!crate::error::KafkaJobError::is_retryable(&err));
    assert!(
        err.to_string().starts_with(&format!(
            "topic m partition 0: offsets 0\u{2013}{} are gone from the broker (its earliest \
             offset is {low}); bronze stopped before losing them",
            low - 1
        )),
        "{err}"
    );

    let started = Instant::now();
    let (next, gaps, counts) = tokio::task::spawn_blocking(move || read(OnGap::Skip))
        .await
        .unwrap()
        .unwrap();
    // Partition 0 stops at the gap (its rest is the next run's), partition 1 is read.
    assert_eq!(gaps, [Gap::find("m", 0, 0, low, high).unwrap()]);
    assert_eq!(next["m"][&0], low);
    assert_eq!(next["m"][&1], 3);
    assert_eq!(counts.events(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited for the idle limit: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_answer_for_an_offset_the_broker_has_is_not_a_gap() {
    let fx = Fixture::new();
    fx.produce("o", &small(0..4, 0));
    fx.broker.with_cluster(Box::new(|cluster| {
        cluster.request_errors(
            rdkafka::types::RDKafkaApiKey::Fetch,
            &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE],
        );
    }));
    let cfg = json!({"topics": ["o"], "table": "bronze.o", "on_gap": "skip"});
    let (r1, log) = fx.run_bronze("o1", cfg.clone()).await;
    let err = r1.unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(
        err.message.contains("the broker still has every offset"),
        "{err}\n{log}"
    );
    let lake = fx.lake().await;
    assert!(table_rows(&lake, "bronze.o").await.is_empty());
    assert!(table_rows(&lake, "bronze.o_dlq").await.is_empty());
    // The retry reads everything.
    let (r2, log) = fx.run_bronze("o2", cfg).await;
    assert_eq!(out(&r2, "events"), "4", "{log}");
    assert_eq!(out(&r2, "gaps"), "0");
}

/// Lines of a log that come from librdkafka.
fn librdkafka_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with("librdkafka:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_bronze_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(dir.path(), settings_for("127.0.0.1:1"), "u1");
    let started = Instant::now();
    let (result, log) = run_job(ctx, rx, json!({"topics": ["t"], "table": "bronze.u"})).await;
    let took = started.elapsed();
    let err = result.unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(
        err.message
            .starts_with("cannot reach Kafka (bootstrap 127.0.0.1:1) within 15s: "),
        "{err}"
    );
    assert!(err.message.contains("Connection refused"), "{err}");
    assert!(!err.message.contains('\n'), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let lines = librdkafka_lines(&log);
    let distinct: std::collections::BTreeSet<_> = lines.iter().collect();
    assert_eq!(lines.len(), distinct.len(), "repeated lines:\n{log}");
    assert!(!lines.is_empty() && lines.len() <= 5, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_kafka_produce_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.jsonl"),
        format!("{}\n", json!({"key": 1, "value": {"op": "c"}})),
    )
    .unwrap();
    let (ctx, mut rx) = context(dir.path(), settings_for("127.0.0.1:1"), "u2");
    let started = Instant::now();
    let result = run_checked(
        crate::produce::TYPE_NAME,
        json!({"topic": "t", "file": "m.jsonl"}),
        ctx,
    )
    .await;
    let took = started.elapsed();
    let err = result.unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(
        err.message
            .starts_with("cannot reach Kafka (bootstrap 127.0.0.1:1) within 15s: "),
        "{err}"
    );
    assert!(err.message.contains("Connection refused"), "{err}");
    // Within the request timeout, not the 60 s message timeout.
    assert!(took < Duration::from_secs(30), "{took:?}");
    let mut log = String::new();
    while let Ok(line) = rx.try_recv() {
        log.push_str(&line.text);
        log.push('\n');
    }
    let lines = librdkafka_lines(&log);
    let distinct: std::collections::BTreeSet<_> = lines.iter().collect();
    assert_eq!(lines.len(), distinct.len(), "repeated lines:\n{log}");
    assert!(!lines.is_empty() && lines.len() <= 5, "{log}");
}
