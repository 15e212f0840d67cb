//! The job plugin: config from a step, target settings, outputs.

use chrono::{TimeZone, Utc};
use flowctl_engine::job::{JobContext, JobPlugin, JobRegistry, LogSink, TargetInfo};
use flowctl_jobs_merge::{MergeJob, TYPE_NAME, register};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::{BRONZE, Lake, event};

fn context(fx: &Lake) -> JobContext {
    let settings = json!({"iceberg": {
        "catalog": fx.dir.path().join("catalog.db"),
        "warehouse": fx.dir.path().join("warehouse"),
    }});
    JobContext {
        dag_id: "cdc".into(),
        run_id: "manual__1".into(),
        task_id: "silver".into(),
        try_number: 1,
        logical_date: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        timezone: chrono_tz::Tz::UTC,
        data_interval_start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        data_interval_end: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
        target: TargetInfo {
            name: "local".into(),
            kind: "local".into(),
            settings: settings.as_object().unwrap().clone(),
        },
        project_dir: fx.dir.path().to_path_buf(),
        log: LogSink::discard(),
        cancel: CancellationToken::new(),
        template_context: Value::Null,
        handles: flowctl_engine::TaskHandles::in_memory(),
    }
}

#[tokio::test]
async fn runs_a_step_and_reports_outputs() {
    let mut registry = JobRegistry::new();
    register(&mut registry);
    assert!(registry.get(TYPE_NAME).is_some());

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
    let out = MergeJob::new()
        .run(step.clone(), context(&fx))
        .await
        .unwrap();
    let get = |k: &str| out.outputs[k].clone();
    assert_eq!(
        (get("inserted"), get("updated"), get("deleted"), get("rows")),
        ("1".into(), "0".into(), "0".into(), "1".into())
    );
    assert_eq!(get("source_snapshot"), snapshot.to_string());
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["amount"], json!("-2.25"));

    // Bad configuration is fatal (no retry).
    let mut bad = step;
    bad["columns"]["amount"] = json!("decimal(99,2)");
    let err = MergeJob::new().run(bad, context(&fx)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    let err = MergeJob::new()
        .run(
            json!({"source": BRONZE, "target": "silver.t", "key": ["id"], "bogus": 1}),
            context(&fx),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("bogus"), "{err:?}");
}
