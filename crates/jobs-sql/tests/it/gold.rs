//! The gold SQL files of `jobs/sql/` over small silver tables shaped like the demo's.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use flowctl_jobs_sql::arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use flowctl_lakehouse::{Column, ColumnType};
use serde_json::{Value, json};

use crate::common::{Project, sql_job};

fn ts(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, h, m, s).single().unwrap()
}

fn tstz(values: &[Option<DateTime<Utc>>]) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(
            values
                .iter()
                .map(|v| v.map(|t| t.timestamp_micros()))
                .collect::<Vec<_>>(),
        )
        .with_timezone("+00:00"),
    )
}

fn decimal(values: &[i128], precision: u8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(precision, 2)
            .unwrap(),
    )
}

fn dec(precision: u32) -> ColumnType {
    ColumnType::Decimal {
        precision,
        scale: 2,
    }
}

/// Silver tables as the demo's merge jobs write them.
pub async fn silver(project: &Project) {
    project
        .table(
            "silver.orders_current",
            vec![
                Column::required("order_id", ColumnType::Long),
                Column::optional("user_id", ColumnType::Long),
                Column::optional("status", ColumnType::String),
                Column::optional("total_amount", dec(12)),
                Column::optional("created_at", ColumnType::Timestamptz),
            ],
            vec![
                (
                    "order_id",
                    Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef,
                ),
                (
                    "user_id",
                    Arc::new(Int64Array::from(vec![10, 10, 11, 11, 10])),
                ),
                (
                    "status",
                    Arc::new(StringArray::from(vec![
                        "paid",
                        "paid",
                        "paid",
                        "cancelled",
                        "shipped",
                    ])),
                ),
                ("total_amount", decimal(&[1050, 2000, 999, 50000, 1], 12)),
                (
                    "created_at",
                    tstz(&[
                        Some(ts(10, 0, 0)),
                        Some(ts(10, 4, 59)),
                        Some(ts(10, 5, 0)),
                        Some(ts(10, 6, 0)),
                        Some(ts(11, 58, 30)),
                    ]),
                ),
            ],
        )
        .await;
    project
        .table(
            "silver.products_current",
            vec![
                Column::required("product_id", ColumnType::Long),
                Column::optional("name", ColumnType::String),
                Column::optional("price", dec(10)),
                Column::optional("stock", ColumnType::Int),
                Column::optional("updated_at", ColumnType::Timestamptz),
            ],
            vec![
                (
                    "product_id",
                    Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])) as ArrayRef,
                ),
                (
                    "name",
                    Arc::new(StringArray::from(vec![
                        "mug", "pen", "cap", "bag", "hat", "oops",
                    ])),
                ),
                ("price", decimal(&[999, 150, 1200, 4500, 2000, 100], 10)),
                (
                    "stock",
                    Arc::new(Int32Array::from(vec![0, 5, 6, 20, 21, -1])),
                ),
                ("updated_at", tstz(&[Some(ts(9, 0, 0)); 6])),
            ],
        )
        .await;
    project
        .table(
            "silver.users_history",
            vec![
                Column::required("user_id", ColumnType::Long),
                Column::optional("email", ColumnType::String),
                Column::optional("full_name", ColumnType::String),
                Column::optional("country", ColumnType::String),
                Column::optional("created_at", ColumnType::Timestamptz),
                Column::optional("effective_from", ColumnType::Timestamptz),
                Column::optional("effective_to", ColumnType::Timestamptz),
                Column::optional("is_current", ColumnType::Boolean),
            ],
            vec![
                (
                    "user_id",
                    Arc::new(Int64Array::from(vec![10, 10, 11, 12])) as ArrayRef,
                ),
                (
                    "email",
                    Arc::new(StringArray::from(vec!["a@x", "a2@x", "b@x", "c@x"])),
                ),
                (
                    "full_name",
                    Arc::new(StringArray::from(vec!["A", "A", "B", "C"])),
                ),
                (
                    "country",
                    Arc::new(StringArray::from(vec!["FR", "DE", "US", "FR"])),
                ),
                ("created_at", tstz(&[Some(ts(8, 0, 0)); 4])),
                (
                    "effective_from",
                    tstz(&[
                        Some(ts(8, 0, 0)),
                        Some(ts(9, 0, 0)),
                        Some(ts(8, 0, 0)),
                        Some(ts(8, 0, 0)),
                    ]),
                ),
                ("effective_to", tstz(&[Some(ts(9, 0, 0)), None, None, None])),
                (
                    "is_current",
                    Arc::new(BooleanArray::from(vec![false, true, true, true])),
                ),
            ],
        )
        .await;
}

/// Copies `jobs/sql/<name>` into the project (as a user's project holds it).
fn install_sql(project: &Project, name: &str) -> String {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../jobs/sql")
        .join(name);
    let dir = project.path().join("jobs/sql");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&source, dir.join(name)).unwrap();
    format!("jobs/sql/{name}")
}

async fn run_gold(project: &Project, file: &str, target: &str, extra: Value) -> String {
    let mut config = json!({"file": install_sql(project, file), "target": target});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let (result, _) = project.run(sql_job(), config).await;
    result.unwrap().outputs["rows"].clone()
}

#[tokio::test]
async fn revenue_per_five_minute_window() {
    let project = Project::new().await;
    silver(&project).await;
    assert_eq!(
        run_gold(
            &project,
            "gold_revenue_5m.sql",
            "gold.revenue_5m",
            json!({})
        )
        .await,
        "3"
    );
    let rows = project
        .rows("SELECT * FROM gold.revenue_5m ORDER BY window_start")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"window_start": "2026-03-04T10:00:00Z", "window_end": "2026-03-04T10:05:00Z",
                   "orders": 2, "revenue": 30.5}),
            json!({"window_start": "2026-03-04T10:05:00Z", "window_end": "2026-03-04T10:10:00Z",
                   "orders": 1, "revenue": 9.99}),
            json!({"window_start": "2026-03-04T11:55:00Z", "window_end": "2026-03-04T12:00:00Z",
                   "orders": 1, "revenue": 0.01}),
        ]
    );
}

#[tokio::test]
async fn inventory_alert_levels() {
    let project = Project::new().await;
    silver(&project).await;
    assert_eq!(
        run_gold(
            &project,
            "gold_inventory_alerts.sql",
            "gold.inventory_alerts",
            json!({})
        )
        .await,
        "5"
    );
    let rows = project
        .rows(
            "SELECT product_id, stock, alert_level FROM gold.inventory_alerts ORDER BY product_id",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"product_id": 1, "stock": 0, "alert_level": "out_of_stock"}),
            json!({"product_id": 2, "stock": 5, "alert_level": "critical"}),
            json!({"product_id": 3, "stock": 6, "alert_level": "low"}),
            json!({"product_id": 4, "stock": 20, "alert_level": "low"}),
            json!({"product_id": 6, "stock": -1, "alert_level": "out_of_stock"}),
        ]
    );
}

#[tokio::test]
async fn user_activity_with_pseudonymised_keys() {
    let project = Project::new().await;
    silver(&project).await;
    // SAFETY: unique variable name; no other test reads it.
    unsafe { std::env::set_var("FLOWCTL_TEST_GOLD_SALT", "pepper") };
    let extra = json!({"pseudonymize": ["user_key"], "salt_env": "FLOWCTL_TEST_GOLD_SALT"});
    assert_eq!(
        run_gold(
            &project,
            "gold_user_activity.sql",
            "gold.user_activity",
            extra
        )
        .await,
        "3"
    );
    let key = |id: &str| flowctl_cdc::pseudonymize(id, "pepper");
    let mut rows = project.rows("SELECT * FROM gold.user_activity").await;
    rows.sort_by_key(|r| r["country"].to_string() + &r["orders"].to_string());
    assert_eq!(
        rows,
        vec![
            json!({"user_key": key("10"), "country": "DE", "orders": 3, "total_spent": 30.51,
                   "last_order_at": "2026-03-04T11:58:30Z"}),
            json!({"user_key": key("12"), "country": "FR", "orders": 0, "total_spent": 0.0}),
            json!({"user_key": key("11"), "country": "US", "orders": 1, "total_spent": 9.99,
                   "last_order_at": "2026-03-04T10:05:00Z"}),
        ]
    );
}

/// The demo runs the gold steps in parallel: the first run creates the `gold` namespace from
/// three steps at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_steps_run_in_parallel_on_a_fresh_catalog() {
    let project = Arc::new(Project::new().await);
    silver(&project).await;
    // SAFETY: unique variable name; no other test reads it.
    unsafe { std::env::set_var("FLOWCTL_TEST_GOLD_SALT_PAR", "pepper") };
    let steps = [
        ("gold_revenue_5m.sql", "gold.revenue_5m", json!({})),
        (
            "gold_inventory_alerts.sql",
            "gold.inventory_alerts",
            json!({}),
        ),
        (
            "gold_user_activity.sql",
            "gold.user_activity",
            json!({"pseudonymize": ["user_key"], "salt_env": "FLOWCTL_TEST_GOLD_SALT_PAR"}),
        ),
    ];
    let handles: Vec<_> = steps
        .into_iter()
        .map(|(file, target, extra)| {
            let project = Arc::clone(&project);
            tokio::spawn(async move { run_gold(&project, file, target, extra).await })
        })
        .collect();
    let mut rows = Vec::new();
    for handle in handles {
        rows.push(handle.await.unwrap());
    }
    assert_eq!(rows, ["3", "5", "3"]);
}
