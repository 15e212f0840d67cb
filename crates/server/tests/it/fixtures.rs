//! DAGs the tests apply.

/// A scheduled DAG with params: `transform` fails once then succeeds on its retry.
pub const ETL: &str = r#"
dag: etl
description: Extract, transform <b>and</b> load
schedule: "0 6 * * *"
start_date: 2026-01-01
params: { region: eu, batch: 100 }
defaults: { retry_delay: 10ms }
steps:
  extract:
    type: probe
    message: "region={{ params.region }} batch={{ params.batch }}"
    log: ["extracting", "<script>alert('x')</script>"]
    outputs: { rows: "3" }
  transform:
    depends_on: [extract]
    type: probe
    fail_times: 1
    retries: 1
  load:
    depends_on: [transform]
    type: probe
  report:
    depends_on: [extract]
    type: probe
"#;

/// A manual DAG whose second step always fails.
pub const BROKEN: &str = r#"
dag: broken
steps:
  first: { type: probe }
  second: { depends_on: [first], type: probe, fail_times: 9 }
  third: { depends_on: [second], type: probe }
"#;

/// A CDC DAG whose probe steps stand for bronze, silver and quality steps: they declare the
/// telemetry the real job types declare, under other names (the server must go by the
/// declarations, never by type names), and write the outputs the real jobs write.
pub fn cdc(max_event_ts_ms: i64) -> String {
    format!(
        r#"
dag: cdc
steps:
  bronze:
    type: ingest_probe
    table: bronze.orders_raw
    outputs: {{ events: "6", events_c: "3", events_u: "2", events_d: "1", events_r: "0", events_t: "0", dlq: "2", max_event_ts_ms: "{max_event_ts_ms}" }}
  silver:
    depends_on: [bronze]
    type: merge_probe
    target: silver.orders
    outputs: {{ inserted: "3", updated: "2", deleted: "1", rows: "2" }}
  checks:
    depends_on: [silver]
    type: checks_probe
    table: silver.orders
    system_log:
      - "2 checks on silver.orders: 1 passed, 0 failed, 1 warned"
      - "check not_null(order_id) [error]: passed — 0 null values"
      - "check fresh <orders> [warn]: warn — newest row is 3h old"
    outputs: {{ passed: "1", failed: "0", warned: "1" }}
"#
    )
}
