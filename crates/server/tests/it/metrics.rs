//! `/metrics` over real runs, and the health endpoints.

use std::time::Duration;

use axum::http::StatusCode;
use flowctl_server::SchedulerStatus;
use flowctl_state::RunState;

use crate::fixtures::{BROKEN, ETL, cdc};
use crate::support::{Harness, enc, get};

/// The value of the sample `name{labels}` (labels exactly as encoded).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_runs_attempts_durations_and_cdc_outputs_on_each_backend() {
    for h in Harness::each_backend().await {
        metrics_count_runs_attempts_durations_and_cdc_outputs(h).await;
    }
}

async fn metrics_count_runs_attempts_durations_and_cdc_outputs(h: Harness) {
    h.apply(ETL).await;
    h.apply(BROKEN).await;
    let event_ms = chrono::Utc::now().timestamp_millis() - 90_000;
    h.apply(&cdc(event_ms)).await;
    assert_eq!(h.run("etl", &[]).await.state, RunState::Success);
    assert_eq!(h.run("etl", &[]).await.state, RunState::Success);
    assert_eq!(h.run("broken", &[]).await.state, RunState::Failed);
    assert_eq!(h.run("cdc", &[]).await.state, RunState::Success);
    // A queued run: its steps are the queue.
    let queued = h
        .engine
        .trigger("broken", &Default::default())
        .await
        .unwrap();

    let app = h.server().router();
    let reply = get(&app, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = &reply.text;
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(text, series), Some(value), "{series} in:\n{text}");
    };
    expect(r#"flowctl_runs{dag="etl",state="success"}"#, 2.0);
    expect(r#"flowctl_runs{dag="broken",state="failed"}"#, 1.0);
    expect(r#"flowctl_runs{dag="broken",state="queued"}"#, 1.0);
    expect(
        r#"flowctl_task_instances{dag="broken",step="third",state="upstream_failed"}"#,
        1.0,
    );
    expect(
        r#"flowctl_attempts_total{dag="etl",step="transform",state="failed"}"#,
        2.0,
    );
    expect(
        r#"flowctl_attempts_total{dag="etl",step="transform",state="success"}"#,
        2.0,
    );
    expect(
        r#"flowctl_attempts_total{dag="broken",step="second",state="failed"}"#,
        1.0,
    );
    expect(
        r#"flowctl_step_duration_seconds_count{dag="etl",step="transform"}"#,
        4.0,
    );
    expect(
        r#"flowctl_step_duration_seconds_bucket{le="+Inf",dag="etl",step="load"}"#,
        2.0,
    );
    expect(r#"flowctl_queued_steps{dag="broken"}"#, 3.0);
    expect(r#"flowctl_queued_steps{dag="etl"}"#, 0.0);
    expect(r#"flowctl_running_steps{dag="etl"}"#, 0.0);
    expect(
        r#"flowctl_cdc_events_total{dag="cdc",step="bronze",table="bronze.orders_raw",op="c"}"#,
        3.0,
    );
    expect(
        r#"flowctl_cdc_events_total{dag="cdc",step="bronze",table="bronze.orders_raw",op="u"}"#,
        2.0,
    );
    expect(
        r#"flowctl_cdc_events_total{dag="cdc",step="bronze",table="bronze.orders_raw",op="d"}"#,
        1.0,
    );
    expect(
        r#"flowctl_cdc_dlq_events_total{dag="cdc",step="bronze",table="bronze.orders_raw"}"#,
        2.0,
    );
    expect(
        r#"flowctl_cdc_merged_rows_total{dag="cdc",step="silver",table="silver.orders",change="update"}"#,
        2.0,
    );
    expect("flowctl_scheduler_in_process", 0.0);
    assert!(
        !text.contains("flowctl_scheduler_loop_lag_seconds "),
        "no scheduler here:\n{text}"
    );
    let lag = sample(
        text,
        r#"flowctl_cdc_lag_seconds{table="bronze.orders_raw"}"#,
    )
    .expect("lag");
    assert!((90.0..120.0).contains(&lag), "lag {lag}");
    let last = sample(
        text,
        r#"flowctl_cdc_last_success_timestamp_seconds{dag="cdc",step="silver",table="silver.orders"}"#,
    )
    .expect("last success");
    assert!(
        (chrono::Utc::now().timestamp() as f64 - last).abs() < 60.0,
        "{last}"
    );

    // Finished runs come from the cache; a new run still shows up.
    assert_eq!(h.run("etl", &[]).await.state, RunState::Success);
    h.engine
        .execute_run(&queued, &Default::default(), &Default::default())
        .await
        .unwrap();
    let text = get(&app, "/metrics").await.text;
    assert_eq!(
        sample(&text, r#"flowctl_runs{dag="etl",state="success"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"flowctl_runs{dag="broken",state="failed"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"flowctl_queued_steps{dag="broken"}"#),
        Some(0.0)
    );
}

#[tokio::test]
async fn scheduler_loop_lag_is_reported_when_a_scheduler_shares_the_process() {
    let h = Harness::new().await;
    let status = SchedulerStatus::new();
    let app = h.server().with_scheduler_status(status.clone()).router();
    let text = get(&app, "/metrics").await.text;
    assert_eq!(sample(&text, "flowctl_scheduler_in_process"), Some(1.0));
    assert_eq!(
        sample(&text, "flowctl_scheduler_loop_lag_seconds"),
        None,
        "nothing recorded yet"
    );
    status.record_loop_lag(Duration::from_millis(1500));
    let text = get(&app, "/metrics").await.text;
    assert_eq!(
        sample(&text, "flowctl_scheduler_loop_lag_seconds"),
        Some(1.5)
    );
}

#[tokio::test]
async fn quality_results_come_from_the_quality_steps() {
    let h = Harness::new().await;
    h.apply(&cdc(0)).await;
    let run = h.run("cdc", &[]).await;
    let app = h.server().router();
    let quality = get(
        &app,
        &format!("/api/v1/dags/cdc/runs/{}/quality", enc(&run.run_id)),
    )
    .await;
    assert_eq!(quality.status, StatusCode::OK, "{}", quality.text);
    let quality = quality.json();
    let steps = quality.as_array().unwrap();
    assert_eq!(steps.len(), 1, "{quality}");
    let q = &steps[0];
    assert_eq!(q["step_id"], "checks");
    assert_eq!(q["table"], "silver.orders");
    assert_eq!(
        (
            q["passed"].as_u64(),
            q["failed"].as_u64(),
            q["warned"].as_u64()
        ),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(q["checks"][0]["name"], "not_null(order_id)");
    assert_eq!(q["checks"][0]["status"], "passed");
    assert_eq!(q["checks"][1]["name"], "fresh <orders>");
    assert_eq!(q["checks"][1]["severity"], "warn");
    assert_eq!(q["checks"][1]["message"], "newest row is 3h old");
}

#[tokio::test]
async fn health_says_live_and_ready_until_the_store_goes_away() {
    let h = Harness::new().await;
    let app = h.server().router();
    let live = get(&app, "/health/live").await;
    assert_eq!(
        (live.status, live.json()["status"].clone()),
        (StatusCode::OK, "ok".into())
    );
    let ready = get(&app, "/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let both = get(&app, "/health").await.json();
    assert_eq!(both["live"], true);
    assert_eq!(both["ready"], true);
    assert_eq!(both["store"]["backend"], "sqlite");
    assert_eq!(both["scheduler"]["in_process"], false);

    h.engine.store().close().await;
    let ready = get(&app, "/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["status"], "unavailable");
    assert!(
        ready.json()["error"]
            .as_str()
            .unwrap()
            .contains("state store"),
        "{}",
        ready.text
    );
    let both = get(&app, "/health").await;
    assert_eq!(both.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(both.json()["live"], true);
    assert_eq!(get(&app, "/health/live").await.status, StatusCode::OK);
    // An API read while the store is down is a 503 with a JSON error, not a 500.
    let dags = get(&app, "/api/v1/dags").await;
    assert_eq!(dags.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(dags.error().contains("state store is unavailable"));
}

#[tokio::test]
async fn label_values_are_escaped() {
    let h = Harness::new().await;
    h.apply(
        r#"
dag: odd
steps:
  bronze:
    type: ingest_probe
    table: 'bronze.a"b\c'
    outputs: { events_c: "4" }
"#,
    )
    .await;
    assert_eq!(h.run("odd", &[]).await.state, RunState::Success);
    let text = get(&h.server().router(), "/metrics").await.text;
    let series =
        r#"flowctl_cdc_events_total{dag="odd",step="bronze",table="bronze.a\"b\\c",op="c"}"#;
    assert_eq!(sample(&text, series), Some(4.0), "{text}");
}
