//! The `quality` job: every check kind passing and failing, severities, the results table.

use std::sync::Arc;

use chrono::Utc;
use flowctl_jobs_sql::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use flowctl_lakehouse::{Column, ColumnType};
use serde_json::{Value, json};

use crate::common::{Project, quality_job};

/// `silver.orders` with a duplicated id (3), a null email, a negative total, a `bogus`
/// status, and event times one minute old.
pub async fn orders(project: &Project) {
    let now = Utc::now();
    let minute_ago = now - chrono::Duration::minutes(1);
    project
        .table(
            "silver.orders",
            vec![
                Column::required("order_id", ColumnType::Long),
                Column::optional("status", ColumnType::String),
                Column::optional(
                    "total",
                    ColumnType::Decimal {
                        precision: 12,
                        scale: 2,
                    },
                ),
                Column::optional("email", ColumnType::String),
                Column::optional("ts_ms", ColumnType::Long),
                Column::optional("created_at", ColumnType::Timestamptz),
            ],
            vec![
                (
                    "order_id",
                    Arc::new(Int64Array::from(vec![1, 2, 3, 3])) as ArrayRef,
                ),
                (
                    "status",
                    Arc::new(StringArray::from(vec!["paid", "paid", "shipped", "bogus"])),
                ),
                (
                    "total",
                    Arc::new(
                        Decimal128Array::from(vec![1000, 0, -500, 2000])
                            .with_precision_and_scale(12, 2)
                            .unwrap(),
                    ),
                ),
                (
                    "email",
                    Arc::new(StringArray::from(vec![
                        Some("a"),
                        None,
                        Some("c"),
                        Some("d"),
                    ])),
                ),
                (
                    "ts_ms",
                    Arc::new(Int64Array::from(vec![
                        minute_ago.timestamp_millis() - 3_600_000,
                        minute_ago.timestamp_millis(),
                        minute_ago.timestamp_millis() - 1,
                        minute_ago.timestamp_millis() - 2,
                    ])),
                ),
                (
                    "created_at",
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![minute_ago.timestamp_micros(); 4])
                            .with_timezone("+00:00"),
                    ),
                ),
            ],
        )
        .await;
}

/// Checks that hold on [`orders`], one per kind and form.
fn passing_checks() -> Vec<Value> {
    vec![
        json!({"not_null": "order_id"}),
        json!({"unique": ["order_id", "status"]}),
        json!({"accepted_values": {"column": "status", "values": ["paid", "shipped", "bogus"]}}),
        json!({"range": {"column": "total", "min": -10, "max": 100}}),
        json!({"row_count": {"min": 4, "max": 4}}),
        json!({"row_count": {"equals_sql": "SELECT count(*) FROM silver.orders WHERE order_id > 0"}}),
        json!({"freshness": {"column": "ts_ms", "max_age": "15m"}}),
        json!({"freshness": {"column": "created_at", "max_age": "15m"}}),
        json!({"sql": "SELECT * FROM silver.orders WHERE total > 1000; -- none that big"}),
    ]
}

/// Checks that fail on [`orders`], with the observed value each must report.
fn failing_checks() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"not_null": "email"}), "1"),
        (json!({"unique": ["order_id"]}), "1"),
        (
            json!({"accepted_values": {"column": "status", "values": ["paid", "shipped"]}}),
            "1",
        ),
        (json!({"range": {"column": "total", "min": 0}}), "1"),
        (json!({"row_count": {"min": 10}}), "4"),
        (json!({"row_count": {"equals_sql": "SELECT 3"}}), "4"),
        (
            json!({"freshness": {"column": "created_at", "max_age": "10s"}}),
            "60s",
        ),
        (
            json!({"sql": "SELECT order_id FROM silver.orders WHERE total < 0"}),
            "1",
        ),
    ]
}

async fn results(project: &Project, table: &str) -> Vec<Value> {
    project
        .rows(&format!(
            "SELECT dag_id, run_id, task_id, table_name, check_name, kind, severity, status, \
             observed FROM {table} ORDER BY check_name"
        ))
        .await
}

#[tokio::test]
async fn every_kind_passes_and_is_recorded() {
    let project = Project::new().await;
    orders(&project).await;
    let checks = passing_checks();
    let (result, logs) = project
        .run(
            quality_job(),
            json!({"table": "silver.orders", "checks": checks}),
        )
        .await;
    let output = result.unwrap();
    assert_eq!(output.outputs["passed"], checks.len().to_string());
    assert_eq!(output.outputs["failed"], "0");
    assert_eq!(output.outputs["warned"], "0");
    assert!(
        logs.iter().any(|l| l.contains("9 checks on silver.orders")),
        "{logs:?}"
    );
    let rows = results(&project, "quality.check_results").await;
    assert_eq!(rows.len(), checks.len());
    for row in &rows {
        assert_eq!(row["status"], "passed", "{row}");
        assert_eq!(row["severity"], "error", "{row}");
        assert_eq!(row["dag_id"], "demo_cdc");
        assert_eq!(row["run_id"], "manual__2026-03-04T05:06:07Z");
        assert_eq!(row["task_id"], "gold");
        assert_eq!(row["table_name"], "silver.orders");
    }
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["check_name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"unique(order_id, status)"), "{names:?}");
    assert!(names.contains(&"freshness(ts_ms)"), "{names:?}");
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for kind in [
        "not_null",
        "unique",
        "accepted_values",
        "range",
        "row_count",
        "freshness",
        "sql",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn every_kind_fails_and_warnings_do_not_fail_the_step() {
    let project = Project::new().await;
    orders(&project).await;
    let cases = failing_checks();
    let checks: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (c, _))| {
            let mut c = c.clone();
            c["name"] = json!(format!("c{i}"));
            c["severity"] = json!("warn");
            c
        })
        .collect();
    let (result, logs) = project
        .run(
            quality_job(),
            json!({"table": "silver.orders", "checks": checks, "results_table": "dq.results"}),
        )
        .await;
    let output = result.unwrap();
    assert_eq!(output.outputs["passed"], "0");
    assert_eq!(output.outputs["warned"], cases.len().to_string());
    assert!(
        logs.iter().any(|l| l.contains("check c0 [warn]: warn")),
        "{logs:?}"
    );
    let rows = results(&project, "dq.results").await;
    assert_eq!(rows.len(), cases.len());
    for (i, (check, observed)) in cases.iter().enumerate() {
        let row = &rows[i];
        assert_eq!(row["check_name"], format!("c{i}"));
        assert_eq!(row["status"], "warn", "{check}: {row}");
        let got = row["observed"].as_str().unwrap();
        if observed.ends_with('s') {
            // An age: one minute old, give or take the test's own run time.
            let secs: u64 = got.trim_end_matches('s').parse().unwrap();
            assert!((60..120).contains(&secs), "{check}: {got}");
        } else {
            assert_eq!(got, *observed, "{check}");
        }
    }
}

#[tokio::test]
async fn error_failures_fail_the_step_after_every_check_ran() {
    let project = Project::new().await;
    orders(&project).await;
    let checks = json!([
        {"name": "ids_unique", "unique": ["order_id"]},
        {"name": "no_negative", "range": {"column": "total", "min": 0}, "severity": "warn"},
        {"name": "has_rows", "row_count": {"min": 1}},
        {"name": "ghost", "not_null": "no_such_column"},
    ]);
    let (result, _) = project
        .run(
            quality_job(),
            json!({"table": "silver.orders", "checks": checks}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(err.retryable, "a later try can pass once data catches up");
    assert!(
        err.message.contains("2 quality check(s) failed"),
        "{}",
        err.message
    );
    assert!(err.message.contains("ids_unique"), "{}", err.message);
    assert!(err.message.contains("ghost"), "{}", err.message);
    assert!(
        err.message.contains("could not evaluate"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("no_negative"), "{}", err.message);
    let statuses: Vec<(String, String)> = results(&project, "quality.check_results")
        .await
        .into_iter()
        .map(|r| {
            (
                r["check_name"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |n: &str, s: &str| (n.to_owned(), s.to_owned());
    assert_eq!(
        statuses,
        vec![
            expect("ghost", "failed"),
            expect("has_rows", "passed"),
            expect("ids_unique", "failed"),
            expect("no_negative", "warn"),
        ]
    );
}

#[test]
fn validation_requires_exactly_one_valid_kind_per_check() {
    let spec = quality_job().spec();
    let ok = json!({"table": "silver.orders", "checks": passing_checks()});
    assert_eq!(spec.check(&ok), Ok(()));
    for (check, path, needle) in [
        (
            json!({"not_null": "a", "unique": ["a"]}),
            "checks.0",
            "not_null, unique",
        ),
        (json!({"severity": "warn"}), "checks.0", "needs one of"),
        (
            json!({"freshness": {"column": "a", "max_age": "soon"}}),
            "checks.0.freshness.max_age",
            "soon",
        ),
        (
            json!({"row_count": {"min": 1, "equals_sql": "SELECT 1"}}),
            "checks.0.row_count",
            "one form",
        ),
        (
            json!({"row_count": {"equals_query": "SELECT 1"}}),
            "checks.0.row_count",
            "postgres_url_env",
        ),
        (json!({"range": {"column": "a"}}), "checks.0.range", "min"),
        (
            json!({"range": {"column": "a", "min": 5, "max": 1}}),
            "checks.0.range",
            "above",
        ),
        (json!({"unique": []}), "checks.0.unique", "at least one"),
        (
            json!({"not_null": "a", "severity": "fatal"}),
            "checks.0.severity",
            "fatal",
        ),
        (json!({"not_nul": "a"}), "checks.0.not_nul", "unknown field"),
        (
            json!({"sql": "SELECT * FROM silver.orders WHERE"}),
            "checks.0.sql",
            "syntax",
        ),
    ] {
        let errors = spec
            .check(&json!({"table": "t.t", "checks": [check]}))
            .unwrap_err();
        assert_eq!(errors.len(), 1, "{check}: {errors:?}");
        assert!(
            errors[0].message.contains(needle),
            "{check}: {}",
            errors[0].message
        );
        assert_eq!(errors[0].path.join("."), path, "{check}");
    }
}

#[tokio::test]
async fn a_refused_config_never_runs() {
    let project = Project::new().await;
    orders(&project).await;
    let (result, _) = project
        .run(
            quality_job(),
            json!({"table": "orders", "checks": [
                {"name": "dup", "not_null": "order_id"},
                {"name": "dup", "range": {"column": "total", "min": 9, "max": 1}},
            ]}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "invalid `quality` step: `table`: invalid table name `orders`: expected \
         `namespace.table`; `checks.1.range`: min 9 is above max 1; `checks.1.name`: `dup` is \
         already the name of check 0: names must be unique"
    );
    assert!(
        !project
            .lake
            .table_exists(&flowctl_lakehouse::TableName::parse(DEFAULT_RESULTS).unwrap())
            .await
            .unwrap(),
        "nothing was written"
    );
}

const DEFAULT_RESULTS: &str = flowctl_jobs_sql::quality::DEFAULT_RESULTS_TABLE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_steps_share_the_results_table() {
    let project = Arc::new(Project::new().await);
    orders(&project).await;
    let config = json!({"table": "silver.orders", "checks": [{"row_count": {"min": 1}}]});
    let runs = (0..4).map(|_| {
        let project = Arc::clone(&project);
        let config = config.clone();
        tokio::spawn(async move { project.run(quality_job(), config).await.0 })
    });
    for run in futures_join(runs).await {
        assert_eq!(run.unwrap().outputs["passed"], "1");
    }
    let rows = results(&project, "quality.check_results").await;
    assert_eq!(rows.len(), 4, "{rows:?}");
}

/// Awaits every spawned task, in order.
async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}
