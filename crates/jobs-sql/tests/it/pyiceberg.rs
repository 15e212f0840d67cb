//! PyIceberg reads a gold table the `sql` job wrote (decimals and timestamps exact).
//!
//! The interpreter comes from `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`).
//! Without it (or without pyiceberg in it) the test is skipped with a hint, unless `CI` is set.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::common::{Project, in_ci, sql_job};
use crate::gold::silver;

const INSTALL_HINT: &str = "install with `python3 -m venv ~/.cache/flowctl-ci-venv && \
     ~/.cache/flowctl-ci-venv/bin/pip install 'pyiceberg[sql-sqlite,pyarrow]==0.12.0'`";

fn python() -> PathBuf {
    match std::env::var_os("FLOWCTL_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/flowctl-ci-venv/bin/python")
        }
    }
}

#[tokio::test]
async fn pyiceberg_reads_a_gold_table() {
    let project = Project::new().await;
    silver(&project).await;
    let sql = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../jobs/sql/gold_revenue_5m.sql"),
    )
    .unwrap();
    // Written twice: PyIceberg must read the replace (overwrite) snapshot, not the first one.
    for _ in 0..2 {
        let (result, _) = project
            .run(sql_job(), json!({"sql": sql, "target": "gold.revenue_5m"}))
            .await;
        result.unwrap();
    }

    let interpreter = python();
    if !interpreter.exists() {
        assert!(
            !in_ci(),
            "PyIceberg interop cannot run in CI: {} missing",
            interpreter.display()
        );
        eprintln!(
            "skipping PyIceberg gold read ({} not found): {INSTALL_HINT}",
            interpreter.display()
        );
        return;
    }
    let settings = project.settings();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/read_iceberg.py");
    let out = Command::new(&interpreter)
        .arg(&script)
        .arg("--catalog-db")
        .arg(&settings.catalog)
        .arg("--warehouse")
        .arg(&settings.warehouse)
        .args(["--table", "gold.revenue_5m"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        assert!(!in_ci(), "PyIceberg interop cannot run in CI: {stderr}");
        eprintln!(
            "skipping PyIceberg gold read ({}): {INSTALL_HINT}",
            stderr.trim()
        );
        return;
    }
    assert!(out.status.success(), "read_iceberg.py failed: {stderr}");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let table = &read["tables"]["gold.revenue_5m"];
    assert_eq!(table["operation"], "overwrite");
    assert_eq!(
        table["rows"],
        json!([
            {"orders": 1, "revenue": "0.01", "window_end": "2026-03-04T12:00:00+00:00",
             "window_start": "2026-03-04T11:55:00+00:00"},
            {"orders": 1, "revenue": "9.99", "window_end": "2026-03-04T10:10:00+00:00",
             "window_start": "2026-03-04T10:05:00+00:00"},
            {"orders": 2, "revenue": "30.50", "window_end": "2026-03-04T10:05:00+00:00",
             "window_start": "2026-03-04T10:00:00+00:00"},
        ])
    );
}
