//! The job type as the engine runs it: fields checked before the attempt, target settings,
//! outputs, telemetry.

use flowctl_engine::job::{JobContext, JobPlugin, JobRegistry, TargetKind};
use flowctl_jobs_merge::{TYPE_NAME, register};
use flowctl_lakehouse::TableName;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::common::{BRONZE, Lake, event};

fn plugin() -> Arc<dyn JobPlugin> {
    let mut registry = JobRegistry::new();
    register(&mut registry);
    registry.get(TYPE_NAME).expect("registered").clone()
}

/// A context on a local target whose `iceberg:` block points at the fixture's lake.
fn context(fx: &Lake) -> JobContext {
    let (ctx, _log) = JobContext::for_test(fx.dir.path());
    ctx.on_target(
        TargetKind::Local,
        json!({"iceberg": {
            "catalog": fx.dir.path().join("catalog.db"),
            "warehouse": fx.dir.path().join("warehouse"),
        }}),
    )
}

#[tokio::test]
async fn runs_a_step_and_reports_outputs() {
    let mut fx = Lake::new().await;
    let snapshot = fx
        .bronze(&[
            event(
                "t",
                "c",
                Value::Null,
                json!({"id": 1, "amount": "1.50"}),
                1,
                1,
            ),
            event(
                "t",
                "c",
                Value::Null,
                json!({"id": 2, "amount": "-2.25"}),
                2,
                2,
            ),
            event("t", "d", json!({"id": 1}), Value::Null, 3, 3),
            event("other", "c", Value::Null, json!({"id": 9}), 4, 4),
        ])
        .await;
    let step = json!({"source": BRONZE, "target": "silver.t", "key": ["id"],
        "source_table": "t", "columns": {"amount": "decimal(12,2)"}});
    let out = plugin().run(step.clone(), context(&fx)).await.unwrap();
    let get = |k: &str| out.outputs[k].clone();
    assert_eq!(
        (get("inserted"), get("updated"), get("deleted"), get("rows")),
        ("1".into(), "0".into(), "0".into(), "1".into())
    );
    assert_eq!(get("source_snapshot"), snapshot.to_string());
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["amount"], json!("-2.25"));

    // Every output set is documented.
    let telemetry = plugin().telemetry();
    let documented: Vec<&str> = telemetry.outputs.iter().map(|o| o.name).collect();
    let set: Vec<&str> = out.outputs.keys().map(String::as_str).collect();
    assert_eq!(documented, set);

    // Bad configuration is fatal (no retry), reported at its field, and nothing runs.
    let mut bad = step;
    bad["columns"]["amount"] = json!("decimal(99,2)");
    let err = plugin().run(bad, context(&fx)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message
            .starts_with("invalid `iceberg_merge` step: `columns.amount`: invalid column type"),
        "{err:?}"
    );
    let err = plugin()
        .run(
            json!({"source": BRONZE, "target": "silver.t", "key": ["id"], "bogus": 1}),
            context(&fx),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("bogus"), "{err:?}");
}

#[tokio::test]
async fn a_target_equal_to_its_source_is_refused_before_bronze_is_touched() {
    let mut fx = Lake::new().await;
    let snapshot = fx
        .bronze(&[event("t", "c", Value::Null, json!({"id": 1, "v": 1}), 1, 1)])
        .await;
    let columns_before = fx
        .table(BRONZE)
        .await
        .arrow_schema()
        .unwrap()
        .fields()
        .len();
    let err = plugin()
        .run(
            json!({"source": BRONZE, "target": BRONZE, "key": ["id"]}),
            context(&fx),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .contains("`target`: `bronze.shop_cdc` is also the `source`"),
        "{err:?}"
    );
    let bronze = fx.table(BRONZE).await;
    assert_eq!(bronze.current_snapshot_id(), Some(snapshot));
    assert_eq!(
        bronze.arrow_schema().unwrap().fields().len(),
        columns_before
    );
    assert!(
        !fx.lake
            .table_exists(&TableName::parse("silver.t").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn target_settings_are_the_typed_iceberg_block() {
    let mut registry = JobRegistry::new();
    register(&mut registry);
    for kind in TargetKind::ALL {
        assert!(
            registry
                .target_sections()
                .keys_for(kind)
                .contains_key("iceberg"),
            "{kind}"
        );
    }

    let fx = Lake::new().await;
    let step = json!({"source": BRONZE, "target": "silver.t", "key": ["id"]});
    // A hand-built target with a typo: fatal, naming the setting.
    let typo = context(&fx).on_target(TargetKind::Local, json!({"iceberg": {"catalgo": "x.db"}}));
    let err = plugin().run(step.clone(), typo).await.unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("catalgo"), "{err:?}");

    // A warehouse that cannot be a directory: the open fails, and a retry would too.
    let file = fx.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let broken = context(&fx).on_target(
        TargetKind::Local,
        json!({"iceberg": {"warehouse": file.join("wh")}}),
    );
    let err = plugin().run(step, broken).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message
            .starts_with("opening the target's Iceberg catalog:"),
        "{err:?}"
    );
}

#[test]
fn telemetry_feeds_the_merged_rows_counter_per_change() {
    let telemetry = plugin().telemetry();
    assert_eq!(telemetry.table_field, Some("target"));
    assert_eq!(telemetry.event_time_output, None);
    assert!(!telemetry.reports_checks);
    let counters: Vec<String> = telemetry
        .counters
        .iter()
        .map(|c| format!("{} {} {:?}", c.metric, c.output, c.labels))
        .collect();
    assert_eq!(
        counters,
        [
            r#"flowctl_cdc_merged_rows inserted [("change", "insert")]"#,
            r#"flowctl_cdc_merged_rows updated [("change", "update")]"#,
            r#"flowctl_cdc_merged_rows deleted [("change", "delete")]"#,
        ]
    );
    assert!(telemetry.counters.iter().all(|c| c.help
        == "Rows changed by silver merges by DAG, step, table and change (insert, update, delete)"));
}
