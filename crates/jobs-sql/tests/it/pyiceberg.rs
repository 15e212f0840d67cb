//! PyIceberg reads a gold table the `sql` job wrote (decimals and timestamps exact).
//!
//! The interpreter comes from `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`).
//! Without it (or without pyiceberg in it) the test is skipped with a hint, unless `CI` is set.

use std::path::PathBuf;

use serde_json::json;

use crate::common::{Project, sql_job};
use crate::gold::silver;

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

    let settings = project.settings();
    let Some(read) = flowctl_testkit::read_tables(
        std::path::Path::new(&settings.catalog),
        &settings.warehouse,
        &["gold.revenue_5m"],
    ) else {
        return;
    };
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
