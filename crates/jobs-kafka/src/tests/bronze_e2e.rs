//! The bronze job end to end: every fixture lands in the right table with the right columns;
//! re-runs add nothing; limits, patterns and restarts behave.

use flowctl_cdc::{Message, parse_key, parse_value};
use flowctl_lakehouse::TableName;
use flowctl_lakehouse::bronze::{CLUSTER_SUMMARY_KEY, OFFSETS_SUMMARY_KEY};
use serde_json::{Value, json};

use super::support::*;
use crate::produce::Record;

/// The messages of the main test, in production order: the cdc fixtures, the malformed ones,
/// one tombstone per partition and a change event with a key that is not JSON.
pub fn mixed_messages() -> Vec<Record> {
    let mut records = Vec::new();
    let mut i = 0;
    let mut next_partition = || {
        i += 1;
        (i - 1) % 3
    };
    for (_, key, value) in cdc_fixtures() {
        records.push(Record {
            key,
            value,
            partition: Some(next_partition()),
        });
    }
    for (name, value) in malformed_fixtures() {
        records.push(Record {
            key: Some(format!("{{\"file\":\"{name}\"}}").into_bytes()),
            value: Some(value),
            partition: Some(next_partition()),
        });
    }
    for p in 0..3 {
        records.push(record(Some(json!({"id": 100 + p})), None, p));
    }
    records.push(Record {
        key: Some(b"not a json key".to_vec()),
        value: Some(event(9, "c")),
        partition: Some(1),
    });
    records
}

/// What the job must make of `records` on `topic`: (bronze rows without ingestion/Kafka
/// timestamps by coordinates, dead letters by coordinates, tombstones, markers).
pub struct Expected {
    pub bronze: std::collections::BTreeMap<(String, i64, i64), Value>,
    pub dlq: std::collections::BTreeMap<(String, i64, i64), Value>,
    pub tombstones: u64,
    pub markers: u64,
    pub by_op: [u64; 5],
}

pub fn expected(topic: &str, records: &[Record]) -> Expected {
    let mut next = [0i64; 3];
    let mut e = Expected {
        bronze: Default::default(),
        dlq: Default::default(),
        tombstones: 0,
        markers: 0,
        by_op: [0; 5],
    };
    for r in records {
        let p = r.partition.unwrap();
        let offset = next[p as usize];
        next[p as usize] += 1;
        let at = (topic.to_owned(), p as i64, offset);
        let value = r.value.clone().unwrap_or_default();
        let dead = |error: String| {
            json!({"kafka_topic": topic, "kafka_partition": p, "kafka_offset": offset,
                   "raw_key": r.key.as_deref().map(hex), "raw_value": r.value.as_deref().map(hex),
                   "error": error})
        };
        match parse_value(&value) {
            Ok(Message::Tombstone) => e.tombstones += 1,
            Ok(Message::Transaction(_)) => e.markers += 1,
            Err(err) => {
                e.dlq.insert(at, dead(err.to_string()));
            }
            Ok(Message::Change(ev)) => {
                let key = match r.key.as_deref().map(parse_key).transpose() {
                    Err(err) => {
                        e.dlq.insert(at, dead(format!("key: {err}")));
                        continue;
                    }
                    Ok(k) => k.flatten().map(|m| serde_json::to_string(&m).unwrap()),
                };
                let slot = "cudrt".find(ev.op.code()).unwrap();
                e.by_op[slot] += 1;
                e.bronze.insert(
                    at,
                    json!({
                        "kafka_topic": topic, "kafka_partition": p, "kafka_offset": offset,
                        "kafka_key": key, "op": ev.op.code(),
                        "source_db": ev.source.db.as_deref(),
                        "source_schema": ev.source.schema.as_deref(),
                        "source_table": ev.source.table.as_deref(),
                        "source_ts_ms": ev.source.ts_ms, "ts_ms": ev.ts_ms,
                        "lsn": ev.source.lsn, "tx_id": ev.source.tx_id,
                        "before": ev.before_json(), "after": ev.after_json(),
                        "value_schema": ev.schema_json(),
                    }),
                );
            }
        }
    }
    e
}

/// Checks bronze and DLQ hold exactly what `expected` says (each row once).
pub async fn assert_tables(fx: &Fixture, table: &str, e: &Expected, dlq_at_least_once: bool) {
    let lake = fx.lake().await;
    let bronze = by_coordinates(&table_rows(&lake, table).await);
    assert_eq!(
        bronze.keys().collect::<Vec<_>>(),
        e.bronze.keys().collect::<Vec<_>>()
    );
    let now_us = chrono::Utc::now().timestamp_micros();
    for (at, row) in &bronze {
        let mut got = serde_json::Map::from_iter(row.clone());
        let ingested = got.remove("ingested_at").unwrap().as_i64().unwrap();
        assert!(
            ingested <= now_us && ingested > now_us - 600_000_000,
            "{at:?}"
        );
        let kafka_ts = got.remove("kafka_timestamp_ms").unwrap();
        assert!(
            kafka_ts.as_i64().is_some_and(|t| t > 1_600_000_000_000),
            "{at:?}"
        );
        assert_eq!(Value::Object(got), e.bronze[at], "bronze row at {at:?}");
    }
    let dlq_rows = table_rows(&lake, &format!("{table}_dlq")).await;
    let mut seen = std::collections::BTreeMap::new();
    for row in &dlq_rows {
        let mut got = serde_json::Map::from_iter(row.clone());
        got.remove("ingested_at").unwrap();
        let at = (
            got["kafka_topic"].as_str().unwrap().to_owned(),
            got["kafka_partition"].as_i64().unwrap(),
            got["kafka_offset"].as_i64().unwrap(),
        );
        assert_eq!(Value::Object(got), e.dlq[&at], "dead letter at {at:?}");
        *seen.entry(at).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        e.dlq.keys().collect::<Vec<_>>()
    );
    if !dlq_at_least_once {
        assert!(
            seen.values().all(|n| *n == 1),
            "duplicate dead letters: {seen:?}"
        );
    }
}

fn config(topic: &str, table: &str) -> Value {
    json!({"topics": [topic], "table": table})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_lands_in_bronze_or_dlq_and_a_rerun_adds_nothing() {
    let fx = Fixture::new();
    let records = mixed_messages();
    fx.produce("shop", &records);
    let e = expected("shop", &records);
    assert!(e.bronze.len() >= 15 && e.dlq.len() >= 11 && e.tombstones >= 4 && e.markers == 2);

    let (result, log) = fx.run_bronze("r1", config("shop", "bronze.shop")).await;
    let ok = result.as_ref().map_err(|err| format!("{err}\n{log}"));
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(out(&result, "events"), e.bronze.len().to_string());
    for (i, op) in ["c", "u", "d", "r", "t"].iter().enumerate() {
        assert_eq!(
            out(&result, &format!("events_{op}")),
            e.by_op[i].to_string(),
            "{op}"
        );
    }
    assert_eq!(out(&result, "tombstones"), e.tombstones.to_string());
    assert_eq!(out(&result, "transaction_markers"), e.markers.to_string());
    assert_eq!(out(&result, "dlq"), e.dlq.len().to_string());
    let newest = e
        .bronze
        .values()
        .filter_map(|row| row["source_ts_ms"].as_i64())
        .max()
        .expect("fixtures carry source.ts_ms");
    assert_eq!(out(&result, "max_event_ts_ms"), newest.to_string());
    let offsets: Value = serde_json::from_str(&out(&result, "offsets")).unwrap();
    let mut ends = [0i64; 3];
    for r in &records {
        ends[r.partition.unwrap() as usize] += 1;
    }
    assert_eq!(
        offsets,
        json!({"shop": {"0": ends[0], "1": ends[1], "2": ends[2]}})
    );
    assert_tables(&fx, "bronze.shop", &e, false).await;

    // The offsets and the cluster id are in the snapshot that holds the data.
    let lake = fx.lake().await;
    let table = lake
        .load_table(&TableName::parse("bronze.shop").unwrap())
        .await
        .unwrap();
    let summary = table.current_summary();
    assert_eq!(
        serde_json::from_str::<Value>(&summary[OFFSETS_SUMMARY_KEY]).unwrap(),
        offsets
    );
    assert!(summary[CLUSTER_SUMMARY_KEY].starts_with("mockCluster"));
    assert_eq!(summary["added-records"], e.bronze.len().to_string());
    let snapshots = table.snapshots().len();

    // Nothing new: no commit at all.
    let (again, log) = fx.run_bronze("r2", config("shop", "bronze.shop")).await;
    assert_eq!(out(&again, "events"), "0");
    assert_eq!(out(&again, "dlq"), "0");
    assert!(log.contains("nothing new"), "{log}");
    let reloaded = lake.load_table(table.name()).await.unwrap();
    assert_eq!(reloaded.snapshots().len(), snapshots);

    // Only tombstones: an offsets-only commit.
    fx.produce("shop", &[record(Some(json!({"id": 1})), None, 2)]);
    let (third, _) = fx.run_bronze("r3", config("shop", "bronze.shop")).await;
    assert_eq!(out(&third, "events"), "0");
    assert_eq!(out(&third, "tombstones"), "1");
    let reloaded = lake.load_table(table.name()).await.unwrap();
    assert_eq!(reloaded.snapshots().len(), snapshots + 1);
    let summary = reloaded.current_summary();
    assert_eq!(
        summary.get("added-records").map_or("0", String::as_str),
        "0"
    );
    assert_eq!(summary["total-records"], e.bronze.len().to_string());
    let stored: Value = serde_json::from_str(&summary[OFFSETS_SUMMARY_KEY]).unwrap();
    assert_eq!(stored["shop"]["2"], json!(ends[2] + 1));
    assert_tables(&fx, "bronze.shop", &e, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_events_splits_the_backlog_over_runs_without_loss_or_duplicates() {
    let fx = Fixture::new();
    let records: Vec<Record> = (0..30)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "c")), (i % 3) as i32))
        .collect();
    fx.produce("orders", &records);
    let cfg = json!({"topics": ["orders"], "table": "bronze.orders", "max_events": 12});
    let mut total = 0;
    let mut runs = 0;
    loop {
        runs += 1;
        let (result, log) = fx.run_bronze(&format!("m{runs}"), cfg.clone()).await;
        let n: u64 = out(&result, "events").parse().unwrap();
        assert!(n <= 12, "{n}");
        if n == 0 {
            break;
        }
        if total + n < 30 {
            assert!(log.contains("max_events reached"), "{log}");
        }
        total += n;
        assert!(runs < 6, "too many runs");
    }
    assert_eq!(total, 30);
    assert_eq!(runs, 4); // 12 + 12 + 6, then nothing
    assert_tables(&fx, "bronze.orders", &expected("orders", &records), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_pattern_reads_every_matching_topic_and_nothing_else() {
    let fx = Fixture::new();
    let a: Vec<Record> = (0..4)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "c")), (i % 3) as i32))
        .collect();
    let b: Vec<Record> = (0..5)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "u")), (i % 3) as i32))
        .collect();
    fx.produce("shop.public.users", &a);
    fx.produce("shop.public.orders", &b);
    fx.produce("other.public.users", &a);
    let (result, log) = fx
        .run_bronze(
            "p1",
            json!({"topic_pattern": r"shop\.public\..*", "table": "bronze.pattern"}),
        )
        .await;
    assert!(result.is_ok(), "{result:?}\n{log}");
    assert_eq!(out(&result, "events"), "9");
    assert_eq!(out(&result, "events_c"), "4");
    assert_eq!(out(&result, "events_u"), "5");
    let offsets: Value = serde_json::from_str(&out(&result, "offsets")).unwrap();
    assert_eq!(
        offsets.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["shop.public.orders", "shop.public.users"]
    );
    let rows = table_rows(&fx.lake().await, "bronze.pattern").await;
    assert!(
        rows.iter()
            .all(|r| r["kafka_topic"].as_str().unwrap().starts_with("shop."))
    );
    assert_eq!(by_coordinates(&rows).len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cluster_restarts_deliberately() {
    let fx = Fixture::new();
    let first: Vec<Record> = (0..9)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "c")), (i % 3) as i32))
        .collect();
    fx.produce("t", &first);
    let (r1, _) = fx.run_bronze("n1", config("t", "bronze.t")).await;
    assert_eq!(out(&r1, "events"), "9");

    // A fresh broker (another cluster) with fewer events: its offsets are not the stored
    // ones, so every partition starts again from its low watermark (not a gap).
    let fresh = Fixture {
        broker: crate::embedded::EmbeddedBroker::start().unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    let second: Vec<Record> = (100..103)
        .map(|i| record(Some(json!({"id": i})), Some(event(i, "u")), 0))
        .collect();
    fresh.produce("t", &second);
    let (ctx, rx) = context(fx.dir.path(), fresh.settings(), "n2");
    let (r2, log) = run_job(ctx, rx, config("t", "bronze.t")).await;
    assert_eq!(out(&r2, "events"), "3", "{log}");
    assert_eq!(out(&r2, "gaps"), "0");
    assert!(log.contains("starts again from its low watermark"), "{log}");
    let rows = table_rows(&fx.lake().await, "bronze.t").await;
    assert_eq!(rows.len(), 12);
    assert_eq!(
        serde_json::from_str::<Value>(&out(&r2, "offsets")).unwrap(),
        json!({"t": {"0": 3, "1": 0, "2": 0}})
    );
    // Stored offsets beyond a partition's end on the same cluster: see
    // `gaps::a_stored_offset_beyond_the_end_fails_unless_the_step_skips_gaps`.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_serves_produce_and_bronze_jobs_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..5)
        .map(|i| {
            format!(
                "{}\n",
                json!({"key": {"id": i}, "value": serde_json::from_slice::<Value>(&event(i, "r")).unwrap()})
            )
        })
        .collect::<String>()
        + "{\"key\": {\"id\": 1}, \"value\": \"{oops\"}\n{\"key\": {\"id\": 2}, \"value\": null}\n";
    std::fs::write(dir.path().join("events.jsonl"), lines).unwrap();
    let settings = serde_json::Map::new(); // no `kafka` block: embedded
    let (ctx, _rx) = context(dir.path(), settings.clone(), "e1");
    let produced = run_checked(
        crate::produce::TYPE_NAME,
        json!({"topic": "embedded.e2e", "file": "events.jsonl", "partitions": 2}),
        ctx,
    )
    .await;
    assert_eq!(out(&produced, "produced"), "7");
    let (ctx, rx) = context(dir.path(), settings, "e2");
    let (result, log) = run_job(ctx, rx, config("embedded.e2e", "bronze.embedded")).await;
    assert_eq!(out(&result, "events_r"), "5", "{log}");
    assert_eq!(out(&result, "dlq"), "1");
    assert_eq!(out(&result, "tombstones"), "1");
    let offsets: Value = serde_json::from_str(&out(&result, "offsets")).unwrap();
    assert_eq!(offsets["embedded.e2e"].as_object().unwrap().len(), 2);
    let table = {
        let lake = IcebergSettingsExt::open(dir.path()).await;
        lake.load_table(&TableName::parse("bronze.embedded").unwrap())
            .await
            .unwrap()
    };
    assert!(table.current_summary()[CLUSTER_SUMMARY_KEY].contains("/embedded-"));
}

struct IcebergSettingsExt;
impl IcebergSettingsExt {
    async fn open(dir: &std::path::Path) -> flowctl_lakehouse::Lakehouse {
        flowctl_lakehouse::IcebergSettings::from_target(&serde_json::Map::new(), dir)
            .unwrap()
            .open()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_commits_nothing() {
    let fx = Fixture::new();
    fx.produce("c", &[record(None, Some(event(1, "c")), 0)]);
    let (ctx, rx) = context(fx.dir.path(), fx.settings(), "x1");
    ctx.cancel.cancel();
    let (result, _) = run_job(ctx, rx, config("c", "bronze.c")).await;
    let err = result.unwrap_err();
    assert!(err.message.contains("cancelled"), "{err}");
    assert!(table_rows(&fx.lake().await, "bronze.c").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_fatal() {
    let fx = Fixture::new();
    for (cfg, needle) in [
        (json!({"table": "bronze.x"}), "give `topics`"),
        (
            json!({"topics": ["a"], "topic_pattern": "a", "table": "b.x"}),
            "not both",
        ),
        (
            json!({"topic_pattern": "(", "table": "b.x"}),
            "topic_pattern",
        ),
        (
            json!({"topics": ["a"], "table": "nonamespace"}),
            "invalid table name",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "max_duration": "soon"}),
            "max_duration",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "max_events": 0}),
            "max_events",
        ),
        (
            json!({"topics": ["a"], "table": "b.x", "colour": 1}),
            "unknown field",
        ),
    ] {
        let (result, log) = fx.run_bronze("bad", cfg.clone()).await;
        let err = result.unwrap_err();
        assert!(!err.retryable, "{cfg}: {err}");
        assert!(
            err.message.starts_with("invalid `kafka_to_iceberg` step: "),
            "{cfg}: {err}"
        );
        assert!(err.message.contains(needle), "{cfg}: {err}");
        assert!(log.is_empty(), "the job started: {log}");
    }
    // Every problem of the step at once.
    let (result, _) = fx
        .run_bronze(
            "bad",
            json!({"topics": [], "table": "nonamespace", "max_events": 0}),
        )
        .await;
    assert_eq!(
        result.unwrap_err().message,
        "invalid `kafka_to_iceberg` step: `topics`: lists no topic: name at least one; \
         `table`: invalid table name `nonamespace`: expected `namespace.table`; `max_events`: \
         must be at least 1"
    );
    let missing = fx
        .run_bronze("bad", config("no-such-topic", "bronze.m"))
        .await
        .0;
    let err = missing.unwrap_err();
    assert!(
        err.retryable && err.message.contains("no-such-topic"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_naming_a_missing_partition_publish_nothing() {
    let fx = Fixture::new();
    fx.broker.create_topic("small", 3).unwrap();
    assert!(
        !fx.broker.create_topic("small", 3).unwrap(),
        "already exists"
    );
    let conn = crate::settings::Connection::to_servers(fx.broker.bootstrap_servers());
    let records = vec![
        record(None, Some(event(1, "c")), 0),
        record(None, Some(event(2, "c")), 7), // no partition 7
    ];
    let err = {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || crate::produce::produce(&conn, "small", 3, &records))
            .await
            .unwrap()
            .unwrap_err()
    };
    assert_eq!(
        err.to_string(),
        "a message names partition 7, but topic small has 3 partition(s): nothing was published"
    );
    assert!(!flowctl_engine::job::JobError::from(err).retryable);
    let high = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = conn.client_config(&[("group.id", "t")]).create().unwrap();
        consumer
            .fetch_watermarks("small", 0, std::time::Duration::from_secs(10))
            .unwrap()
            .1
    })
    .await
    .unwrap();
    assert_eq!(high, 0, "a message was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_or_step_publishes_and_creates_nothing() {
    let fx = Fixture::new();
    std::fs::write(
        fx.dir.path().join("m.jsonl"),
        format!("{}\n{{oops\n", json!({"key": 1, "value": {"op": "c"}})),
    )
    .unwrap();
    let (ctx, _rx) = context(fx.dir.path(), fx.settings(), "p1");
    let result = run_checked(
        crate::produce::TYPE_NAME,
        json!({"topic": "never", "file": "m.jsonl"}),
        ctx,
    )
    .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .ends_with("m.jsonl:2: key must be a string at line 1 column 2"),
        "{err}"
    );

    // A rendered topic that is not a Kafka topic name: refused before the job starts.
    let (ctx, _rx) = context(fx.dir.path(), fx.settings(), "p2");
    let result = run_checked(
        crate::produce::TYPE_NAME,
        json!({"topic": "orders 2026-03-04", "file": "m.jsonl"}),
        ctx,
    )
    .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with(
            "invalid `kafka_produce` step: `topic`: `orders 2026-03-04` is not a Kafka topic name"
        ),
        "{err}"
    );
    let conn = crate::settings::Connection::to_servers(fx.broker.bootstrap_servers());
    let topics = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = conn.client_config(&[("group.id", "t")]).create().unwrap();
        let metadata = consumer
            .fetch_metadata(None, std::time::Duration::from_secs(10))
            .unwrap();
        metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(!topics.iter().any(|t| t == "never"), "{topics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_librdkafka_refuses_creates_no_table() {
    let fx = Fixture::new();
    fx.produce("k", &[record(None, Some(event(1, "c")), 0)]);
    // Each property is valid alone (the project file's check passes); the client refuses the
    // combination when it is created, at run time.
    let Value::Object(settings) = json!({"kafka": {
        "bootstrap": fx.broker.bootstrap_servers(),
        "properties": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "GSSAPI"},
    }}) else {
        unreachable!()
    };
    let (ctx, rx) = context(fx.dir.path(), settings, "k1");
    let (result, log) = run_job(ctx, rx, config("k", "bronze.k")).await;
    let Err(err) = result else {
        eprintln!("skipped: this librdkafka build supports GSSAPI: {log}");
        return;
    };
    assert!(err.message.contains("GSSAPI"), "{err}");
    let lake = fx.lake().await;
    for table in ["bronze.k", "bronze.k_dlq"] {
        let missing = lake.load_table(&TableName::parse(table).unwrap()).await;
        assert!(missing.is_err(), "{table} was created");
    }
}
