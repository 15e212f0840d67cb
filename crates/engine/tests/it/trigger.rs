use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use flowctl_engine::job::TargetInfo;
use flowctl_engine::{EngineError, EngineSettings, TriggerRequest};
use flowctl_state::testing::TestStore;
use flowctl_state::{RunState, RunType};
use serde_json::json;

use crate::support::Harness;

const DAG: &str = r#"dag: trig
schedule: "0 6 * * *"
timezone: Europe/Paris
params: { topic: orders, batch: 100, dry_run: false }
steps:
  a:
    local: { type: probe, message: "{{ params.batch }}" }
  b: { type: probe, depends_on: [a] }
"#;

fn with_aws_target() -> EngineSettings {
    let mut settings = EngineSettings::default();
    settings.targets.insert(
        "prod".into(),
        TargetInfo {
            name: "prod".into(),
            kind: flowctl_model::dag::TargetKind::Aws,
            settings: Default::default(),
        },
    );
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_override_defaults_with_their_types() {
    let h = Harness::sqlite().await;
    h.apply(DAG).await;
    let request = TriggerRequest {
        params: BTreeMap::from([
            ("batch".to_string(), json!("250")),
            ("dry_run".to_string(), json!("true")),
        ]),
        ..TriggerRequest::default()
    };
    let run = h.engine.trigger("trig", &request).await.unwrap();
    assert_eq!(run.params["batch"], json!(250));
    assert_eq!(run.params["dry_run"], json!(true));
    assert_eq!(run.params["topic"], json!("orders"));
    assert_eq!(run.run_type, RunType::Manual);
    assert!(run.run_id.starts_with("manual__"));
    assert_eq!(run.interval_start, run.interval_end);
    assert_eq!(
        h.engine
            .store()
            .get_run("trig", &run.run_id)
            .await
            .unwrap()
            .unwrap(),
        run
    );
    let (outcome, _) = h.execute(&run).await;
    assert!(outcome.succeeded());
    assert_eq!(h.probe.calls_of("a")[0].message.as_deref(), Some("250"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_gives_the_schedules_interval() {
    let h = Harness::sqlite().await;
    h.apply(DAG).await;
    let date = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
    let request = TriggerRequest {
        date: Some(date),
        ..TriggerRequest::default()
    };
    let run = h.engine.trigger("trig", &request).await.unwrap();
    // 06:00 Paris = 05:00 UTC in March (before DST).
    assert_eq!(
        run.interval_start,
        Utc.with_ymd_and_hms(2026, 3, 10, 5, 0, 0).unwrap()
    );
    assert_eq!(
        run.interval_end,
        Utc.with_ymd_and_hms(2026, 3, 11, 5, 0, 0).unwrap()
    );
    assert_eq!(run.logical_date, run.interval_start);
    assert_eq!(run.run_id, "manual__2026-03-10T05:00:00+00:00");
    assert_eq!(run.state, RunState::Queued);
    let again = h.engine.trigger("trig", &request).await.unwrap_err();
    assert!(matches!(again, EngineError::RunExists { .. }), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_write_nothing() {
    let h = Harness::new(TestStore::sqlite().await, with_aws_target());
    h.apply(DAG).await;
    let cases: Vec<(TriggerRequest, &str)> = vec![
        (
            TriggerRequest {
                params: BTreeMap::from([("topik".into(), json!("x"))]),
                ..Default::default()
            },
            "unknown param `topik` (did you mean `topic`?); the DAG declares `topic`, `batch`, `dry_run`",
        ),
        (
            TriggerRequest {
                params: BTreeMap::from([("batch".into(), json!("lots"))]),
                ..Default::default()
            },
            "param `batch` expects a number",
        ),
        (
            TriggerRequest {
                target: Some("staging".into()),
                ..Default::default()
            },
            "unknown target `staging` (known targets: local, prod)",
        ),
        (
            TriggerRequest {
                target: Some("prod".into()),
                ..Default::default()
            },
            "has no `aws` variant",
        ),
    ];
    for (request, message) in cases {
        let err = h.engine.trigger("trig", &request).await.unwrap_err();
        assert!(
            err.to_string().contains(message),
            "{err}\n  does not contain: {message}"
        );
    }
    let err = h
        .engine
        .trigger("ghost", &TriggerRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownDag(_)), "{err}");
    assert!(
        h.engine
            .store()
            .list_runs("trig", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_missing_from_the_settings_is_an_error_at_trigger_time() {
    let h = Harness::sqlite().await;
    h.apply("dag: pooled\nsteps:\n  a: { type: probe, pool: warehouse }\n")
        .await;
    let err = h
        .engine
        .trigger("pooled", &TriggerRequest::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("warehouse"), "{err}");
    assert!(
        h.engine
            .store()
            .list_runs("pooled", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
