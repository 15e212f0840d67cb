//! Silver merge of N changes over K keys vs DuckDB computing the same latest-per-key on the same
//! bronze Parquet files, measured side by side, ratio printed.
//!
//! `cargo bench -p flowctl-jobs-merge --bench merge` (env `FLOWCTL_BENCH_CHANGES`, default
//! 1,000,000; `FLOWCTL_BENCH_KEYS`, default 100,000; `FLOWCTL_PYTHON`, default
//! `~/.cache/flowctl-ci-venv/bin/python` with PyPI `duckdb` installed — skipped without it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use flowctl_jobs_merge::{MergeConfig, MergeHooks, MergeMode, merge};
use flowctl_lakehouse::arrow_array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use flowctl_lakehouse::arrow_schema::{DataType, Field, Schema, TimeUnit};
use flowctl_lakehouse::bronze::{bronze_columns, columns as col};
use flowctl_lakehouse::{Lakehouse, TableName, TableSchema};

const DUCKDB_SCRIPT: &str = r#"
import sys, time, duckdb
files, out = sys.argv[1].split("\n"), sys.argv[2]
con = duckdb.connect()
t = time.perf_counter()
con.execute(f"""
COPY (
  SELECT CAST(json_extract_string(after, '$.id') AS BIGINT) AS id,
         json_extract_string(after, '$.name') AS name,
         CAST(json_extract_string(after, '$.amount') AS DECIMAL(12,2)) AS amount
  FROM read_parquet({files!r})
  QUALIFY row_number() OVER (
    PARTITION BY CAST(coalesce(json_extract_string(after, '$.id'), json_extract_string(before, '$.id'),
                               json_extract_string(kafka_key, '$.id')) AS BIGINT)
    ORDER BY lsn DESC, source_ts_ms DESC, kafka_offset DESC) = 1
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
""")
elapsed = time.perf_counter() - t
rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
print(elapsed, rows)
"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bronze_batch(start: usize, len: usize, keys: usize) -> RecordBatch {
    let ids: Vec<usize> = (start..start + len).collect();
    let text = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            ids.iter().map(|&i| Some(f(i))).collect::<Vec<_>>(),
        ))
    };
    let long = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(
            ids.iter().map(|&i| f(i)).collect::<Vec<_>>(),
        ))
    };
    let key = |i: usize| i % keys;
    let columns: Vec<(&str, DataType, ArrayRef)> = vec![
        (
            col::TOPIC,
            DataType::Utf8,
            text(&|_| "shop.public.users".into()),
        ),
        (
            col::PARTITION,
            DataType::Int32,
            Arc::new(Int32Array::from(vec![0; len])),
        ),
        (col::OFFSET, DataType::Int64, long(&|i| i as i64)),
        (
            col::KEY,
            DataType::Utf8,
            text(&|i| format!("{{\"id\":{}}}", key(i))),
        ),
        (
            col::OP,
            DataType::Utf8,
            text(&|i| if i < keys { "c".into() } else { "u".into() }),
        ),
        (
            col::SOURCE_SCHEMA,
            DataType::Utf8,
            text(&|_| "public".into()),
        ),
        (col::SOURCE_TABLE, DataType::Utf8, text(&|_| "users".into())),
        (
            col::SOURCE_TS_MS,
            DataType::Int64,
            long(&|i| 1_767_600_000_000 + i as i64),
        ),
        (
            col::TS_MS,
            DataType::Int64,
            long(&|i| 1_767_600_000_100 + i as i64),
        ),
        (col::LSN, DataType::Int64, long(&|i| 24_000_000 + i as i64)),
        (
            col::AFTER,
            DataType::Utf8,
            text(&|i| {
                format!(
                    "{{\"id\":{},\"name\":\"user-{}-v{}\",\"amount\":\"{}.{:02}\"}}",
                    key(i),
                    key(i),
                    i / keys,
                    i % 100_000,
                    i % 100
                )
            }),
        ),
        (
            col::INGESTED_AT,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_767_600_000_000_000; len])
                    .with_timezone("+00:00"),
            ),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, t, _)| Field::new(*n, t.clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, _, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("bench batch")
}

#[tokio::main]
async fn main() {
    let changes = env_usize("FLOWCTL_BENCH_CHANGES", 1_000_000);
    let keys = env_usize("FLOWCTL_BENCH_KEYS", 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = Lakehouse::open(
        dir.path().join("catalog.db").to_str().expect("utf-8 path"),
        dir.path().join("warehouse"),
    )
    .await
    .expect("open lake");
    let bronze_name = TableName::parse("bronze.users").expect("name");
    let mut bronze = lake
        .create_table_if_missing(&bronze_name, &TableSchema::Columns(bronze_columns()))
        .await
        .expect("bronze");
    let chunk = 100_000;
    let mut start = 0;
    while start < changes {
        let len = chunk.min(changes - start);
        lake.append(
            &bronze,
            vec![bronze_batch(start, len, keys)],
            BTreeMap::new(),
        )
        .await
        .expect("append");
        bronze = lake.load_table(&bronze_name).await.expect("reload");
        start += len;
    }
    let files: Vec<String> = bronze
        .data_files()
        .await
        .expect("files")
        .into_iter()
        .map(|f| f.path.trim_start_matches("file://").to_owned())
        .collect();
    let config = MergeConfig {
        source: "bronze.users".into(),
        target: "silver.users".into(),
        key: vec!["id".into()],
        mode: MergeMode::Current,
        source_table: Some("users".into()),
        columns: [("amount".to_owned(), "decimal(12,2)".to_owned())]
            .into_iter()
            .collect(),
        include: None,
        exclude: Vec::new(),
    };
    let t = Instant::now();
    let outcome = merge(&lake, &config, &MergeHooks::default())
        .await
        .expect("merge");
    let ours = t.elapsed().as_secs_f64();
    println!(
        "flowctl merge: {changes} changes over {keys} keys -> {} rows in {ours:.3} s ({:.0} changes/s)",
        outcome.rows,
        changes as f64 / ours
    );

    let python = std::env::var_os("FLOWCTL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/flowctl-ci-venv/bin/python")
        });
    let out = dir.path().join("duckdb_out.parquet");
    let result = Command::new(&python)
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(files.join("\n"))
        .arg(&out)
        .output();
    match result {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut parts = text.split_whitespace();
            let duck: f64 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            let rows = parts.next().unwrap_or("?");
            println!(
                "duckdb (same bronze Parquet files, latest per key, Parquet out): {rows} rows in {duck:.3} s"
            );
            println!("ratio flowctl/duckdb: {:.2} (goal <= 1.00)", ours / duck);
        }
        Ok(o) => println!(
            "duckdb skipped: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => println!("duckdb skipped: {}: {e}", python.display()),
    }
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
