//! PyIceberg reads silver (both modes) with the same values.
//!
//! The interpreter comes from `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`).
//! Without it (or without pyiceberg in it) the test is skipped with a hint, unless `CI` is set.

use flowctl_jobs_merge::MergeMode;
use serde_json::{Value, json};

use crate::common::{Lake, config, fixture_msg};

/// `read_iceberg.py` over the given tables; `None` when PyIceberg is unavailable outside CI.
fn read_with_pyiceberg(fx: &Lake, tables: &[&str]) -> Option<Value> {
    flowctl_testkit::read_tables(
        &fx.dir.path().join("catalog.db"),
        &fx.dir.path().join("warehouse"),
        tables,
    )
}

#[tokio::test]
async fn pyiceberg_reads_silver_in_both_modes() {
    let mut fx = Lake::new().await;
    fx.bronze(&[
        fixture_msg("products_06_create_decimal_with_schema"),
        fixture_msg("products_07_update_negative_decimal_with_schema"),
        fixture_msg("users_01_snapshot_read_with_schema"),
        fixture_msg("users_04_update_no_before_toast"),
    ])
    .await;
    fx.merge(&config(
        "silver.products",
        "products",
        &["id"],
        MergeMode::Current,
    ))
    .await;
    let scd2 = fx
        .merge(&config(
            "silver.users_history",
            "users",
            &["id"],
            MergeMode::Scd2,
        ))
        .await;
    let Some(out) = read_with_pyiceberg(&fx, &["silver.products", "silver.users_history"]) else {
        return;
    };
    let products = &out["tables"]["silver.products"]["rows"];
    assert_eq!(products.as_array().unwrap().len(), 1);
    let p = &products[0];
    assert_eq!(p["price"], json!("0.05"));
    assert_eq!(p["discount"], json!("-12.50"));
    assert_eq!(p["updated_at"], json!("2026-01-05T10:20:00.000001"));
    assert_eq!(p["weight_kg"], json!(0.25));

    let users = out["tables"]["silver.users_history"]["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(users.len(), 2);
    let current: Vec<_> = users
        .iter()
        .filter(|r| r["is_current"] == json!(true))
        .collect();
    let closed: Vec<_> = users
        .iter()
        .filter(|r| r["is_current"] == json!(false))
        .collect();
    assert_eq!((current.len(), closed.len()), (1, 1));
    assert_eq!(current[0]["effective_to"], Value::Null);
    assert_eq!(
        current[0]["effective_from"],
        json!("2026-01-05T12:00:00+00:00")
    );
    assert_eq!(
        closed[0]["effective_to"],
        json!("2026-01-05T12:00:00+00:00")
    );
    assert_eq!(current[0]["bio"], json!("Collects vintage cameras."));
    assert_eq!(
        current[0]["created_at"],
        json!("2026-01-05T09:15:30.123456+00:00")
    );
    assert_eq!(
        out["tables"]["silver.users_history"]["summary"]
            [flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY],
        json!(scd2.source_snapshot.unwrap().to_string())
    );
}
