//! Bronze ingest benchmark: Debezium events (~600 bytes, 3 partitions) from the in-process
//! broker into an Iceberg bronze table through the `kafka_to_iceberg` job, in rounds.
//!
//! The mock broker keeps at most 5 MiB (or 100,000 message sets) per partition and silently
//! drops older data, so the benchmark produces a round, ingests it, and repeats; each round's
//! ingest is checked to have read every event of the round. Messages are produced with lz4
//! compression (as Debezium deployments commonly do), which lets a round hold ~150k events.
//!
//! ```text
//! cargo bench -p flowctl-jobs-kafka --bench bronze              # 1,000,000 events
//! FLOWCTL_BENCH_EVENTS=200000 cargo bench -p flowctl-jobs-kafka --bench bronze
//! ```
//!
//! Other knobs: `FLOWCTL_BENCH_ROUND` (events per round, default 150000),
//! `FLOWCTL_BENCH_COMPRESSION` (`lz4` default, `none` needs rounds ≤ ~21000),
//! `FLOWCTL_BENCH_CONSUMER="key=value,..."` (extra librdkafka consumer properties).
//!
//! Measured 2026-11-21 (AMD EPYC, 2 cores, release, other builds running): ingest 1,000,000
//! events in 5.2 s = ~192k events/s (Kafka read + parse ~292k/s, Parquet write + commit
//! 1.8 s); produce ~550k events/s.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use flowctl_engine::job::{JobContext, JobRegistry, LogLine, TargetKind};
use flowctl_jobs_kafka::bronze::TYPE_NAME;
use flowctl_jobs_kafka::embedded::EmbeddedBroker;
use flowctl_jobs_kafka::produce::{Record, produce};
use flowctl_jobs_kafka::settings::Connection;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

const TOPIC: &str = "bench.public.orders";
const PARTITIONS: i32 = 3;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A schemaless Debezium update of an `orders` row, ~600 bytes.
fn event(i: u64) -> Vec<u8> {
    let row = |status: &str, amount: u64| {
        json!({
            "id": i, "user_id": i % 10_007, "product_id": i % 997, "quantity": 1 + i % 5,
            "amount": format!("{}.{:02}", amount / 100, amount % 100), "currency": "EUR",
            "status": status, "shipping_address": format!("{} Rue de la Paix, 750{:02} Paris", i % 200, i % 20),
            "created_at": "2026-11-20T10:15:30.123456Z",
        })
    };
    json!({
        "before": row("pending", 1999 + i % 5000),
        "after": row("paid", 1999 + i % 5000),
        "source": {"connector": "postgresql", "name": "shop",
                   "ts_ms": 1_763_633_730_000u64 + i, "snapshot": "false", "db": "shop",
                   "schema": "public", "table": "orders", "txId": 5000 + i / 3,
                   "lsn": 24_000_000 + i * 64},
        "op": "u", "ts_ms": 1_763_633_730_100u64 + i
    })
    .to_string()
    .into_bytes()
}

fn context(
    dir: &std::path::Path,
    bootstrap: &str,
    round: u64,
) -> (JobContext, UnboundedReceiver<LogLine>) {
    // Extra consumer properties to try: FLOWCTL_BENCH_CONSUMER="key=value,key=value".
    let properties: serde_json::Map<String, Value> = std::env::var("FLOWCTL_BENCH_CONSUMER")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let settings = json!({"kafka": {"bootstrap": bootstrap, "properties": properties}});
    let (ctx, lines) = JobContext::for_test(dir);
    let mut ctx = ctx.on_target(TargetKind::Local, settings);
    ctx.dag_id = "bench".into();
    ctx.run_id = format!("round-{round}");
    ctx.task_id = "bronze".into();
    ctx.logical_date = Utc
        .with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .single()
        .unwrap();
    ctx.data_interval_start = ctx.logical_date - chrono::Duration::days(1);
    ctx.data_interval_end = ctx.logical_date;
    (ctx, lines)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("{cpu}, {cores} core(s), {memory} RAM, {profile} build")
}

fn main() {
    let total = env_number("FLOWCTL_BENCH_EVENTS", 1_000_000);
    let per_round = env_number("FLOWCTL_BENCH_ROUND", 150_000).min(total);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let broker = EmbeddedBroker::start().expect("embedded broker");
    broker.create_topic(TOPIC, PARTITIONS).expect("topic");
    let mut producer = Connection::to_servers(broker.bootstrap_servers());
    let compression = std::env::var("FLOWCTL_BENCH_COMPRESSION").unwrap_or_else(|_| "lz4".into());
    producer
        .properties
        .insert("compression.type".into(), compression.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = json!({"topics": [TOPIC], "table": "bronze.orders"});
    // Run as the engine runs it: the fields checked by the registry's adapter first.
    let mut registry = JobRegistry::new();
    flowctl_jobs_kafka::register(&mut registry);
    let bronze = registry
        .get(TYPE_NAME)
        .expect("kafka_to_iceberg registered");

    // The CPU cost of understanding a message, without Kafka: parse value and key.
    let sample: Vec<(Vec<u8>, Vec<u8>)> = (0..100_000u64)
        .map(|i| (format!("{{\"id\":{i}}}").into_bytes(), event(i)))
        .collect();
    let started = Instant::now();
    let mut ok = 0usize;
    for (key, value) in &sample {
        if let (Ok(flowctl_cdc::Message::Change(e)), Ok(Some(k))) =
            (flowctl_cdc::parse_value(value), flowctl_cdc::parse_key(key))
        {
            ok += usize::from(e.after_json().is_some())
                + usize::from(serde_json::to_string(&k).is_ok());
        }
    }
    let parse = started.elapsed();
    assert_eq!(ok, 2 * sample.len());
    drop(sample);
    println!(
        "bronze ingest benchmark: {total} events, rounds of {per_round}, {PARTITIONS} partitions, {compression} compression"
    );
    println!("machine: {}", machine());
    println!(
        "parse only (value + key, one thread, no Kafka): {:.0} events/s",
        100_000.0 / parse.as_secs_f64()
    );
    let (mut produced, mut bytes) = (0u64, 0u64);
    let (mut produce_time, mut ingest_time, mut read_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut round = 0;
    while produced < total {
        round += 1;
        let n = per_round.min(total - produced);
        let records: Vec<Record> = (produced..produced + n)
            .map(|i| {
                let value = event(i);
                bytes += value.len() as u64;
                Record {
                    key: Some(format!("{{\"id\":{i}}}").into_bytes()),
                    value: Some(value),
                    partition: Some((i % PARTITIONS as u64) as i32),
                }
            })
            .collect();
        let started = Instant::now();
        produce(&producer, TOPIC, PARTITIONS, &records).expect("produce");
        let p = started.elapsed();
        produce_time += p;
        drop(records);

        let (ctx, mut lines) = context(dir.path(), broker.bootstrap_servers(), round);
        let started = Instant::now();
        let output = runtime
            .block_on(bronze.run(config.clone(), ctx))
            .expect("bronze run");
        let i = started.elapsed();
        ingest_time += i;
        // The job logs `read N message(s) in X.XXs`: the Kafka side of the ingest.
        let mut read = Duration::ZERO;
        while let Ok(line) = lines.try_recv() {
            if let Some(secs) = line
                .text
                .strip_prefix("read ")
                .and_then(|t| t.split(" in ").nth(1))
                .and_then(|t| t.split('s').next())
                .and_then(|t| t.parse::<f64>().ok())
            {
                println!("  {}", line.text);
                read += Duration::from_secs_f64(secs);
            }
        }
        read_time += read;
        let events: u64 = output.outputs["events"].parse().expect("events output");
        assert_eq!(
            events, n,
            "round {round}: ingested {events} of {n} events (the mock broker dropped data: lower FLOWCTL_BENCH_ROUND)"
        );
        produced += n;
        println!(
            "round {round:>2}: {n} events, produce {:>5.0} ms, ingest {:>5.0} ms (read+parse {:>5.0} ms, write+commit {:>5.0} ms): {:.0} events/s",
            p.as_secs_f64() * 1e3,
            i.as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
            (i - read.min(i)).as_secs_f64() * 1e3,
            n as f64 / i.as_secs_f64()
        );
    }
    println!("---");
    println!(
        "events: {produced}, average value size: {} bytes",
        bytes / produced.max(1)
    );
    println!(
        "produce: {:.2} s, {:.0} events/s",
        produce_time.as_secs_f64(),
        produced as f64 / produce_time.as_secs_f64()
    );
    println!(
        "ingest (kafka_to_iceberg, incl. Parquet write + Iceberg commit): {:.2} s, {:.0} events/s (goal >= 200000)",
        ingest_time.as_secs_f64(),
        produced as f64 / ingest_time.as_secs_f64()
    );
    println!(
        "  of which Kafka read + parse + Arrow building: {:.2} s ({:.0} events/s); Parquet write + commit: {:.2} s",
        read_time.as_secs_f64(),
        produced as f64 / read_time.as_secs_f64(),
        (ingest_time - read_time.min(ingest_time)).as_secs_f64()
    );
}
