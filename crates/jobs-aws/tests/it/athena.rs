//! `athena_query` against moto: rendered SQL, defaults from the target, result checks,
//! reconnects, cancels.

use flowctl_jobs_aws::athena::{AthenaQuery, EXECUTION_ID_HANDLE, client_request_token};
use flowctl_testkit::moto::MotoServer;
use serde_json::{Map, Value, json};

use crate::support::{clients, context, drain, moto, retry, run, wait_for_handle};

/// The target settings with Athena defaults.
fn settings(moto: &MotoServer) -> Map<String, Value> {
    let mut s = moto.target_settings();
    s.insert(
        "athena".into(),
        json!({"workgroup": "lakehouse", "output_location": "s3://athena-results/flowctl/", "database": "gold"}),
    );
    s
}

async fn create_workgroup(aws: &flowctl_jobs_aws::AwsClients) {
    aws.athena
        .create_work_group()
        .name("lakehouse")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn runs_the_rendered_sql_file_with_the_target_defaults_and_counts_rows() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    create_workgroup(&aws).await;
    moto.set_transition(
        "athena::execution",
        json!({"progression": "manual", "times": 2}),
    );
    moto.queue_athena_result(
        &["window_start", "revenue"],
        &[vec!["00:00", "10"], vec!["00:05", "12"], vec!["00:10", "7"]],
    );
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("jobs/sql")).unwrap();
    std::fs::write(
        project.path().join("jobs/sql/gold.sql"),
        "SELECT window_start, revenue FROM revenue_5m WHERE ds = '{{ ds }}'",
    )
    .unwrap();
    let (ctx, mut log) = context(settings(&moto), project.path().to_owned());

    let out = run::<AthenaQuery>(
        json!({"file": "jobs/sql/gold.sql", "expect": {"min_rows": 2}, "poll_interval": "10ms"}),
        ctx.clone(),
    )
    .await
    .unwrap();

    assert_eq!(out.outputs["rows"], "3", "the header row is not a data row");
    assert_eq!(out.outputs["data_scanned_bytes"], "0");
    let id = &out.outputs["query_execution_id"];
    assert_eq!(
        ctx.handles
            .load(EXECUTION_ID_HANDLE)
            .await
            .unwrap()
            .as_deref(),
        Some(id.as_str())
    );
    let execution = aws
        .athena
        .get_query_execution()
        .query_execution_id(id)
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap();
    assert_eq!(
        execution.query(),
        Some("SELECT window_start, revenue FROM revenue_5m WHERE ds = '2026-03-04'")
    );
    assert_eq!(execution.work_group(), Some("lakehouse"));
    let context = execution.query_execution_context().unwrap();
    assert_eq!(context.database(), Some("gold"));
    assert_eq!(context.catalog(), Some("AwsDataCatalog"));
    let location = execution
        .result_configuration()
        .unwrap()
        .output_location()
        .unwrap();
    assert!(
        location.starts_with("s3://athena-results/flowctl/"),
        "{location}"
    );
    let lines = drain(&mut log);
    for state in ["QUEUED", "RUNNING", "SUCCEEDED"] {
        assert!(
            lines.iter().any(|l| l.ends_with(&format!(": {state}"))),
            "{state}: {lines:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_result_check_fails_without_retry_and_forgets_the_query() {
    let Some(moto) = moto() else { return };
    moto.set_transition("athena::execution", json!({"progression": "immediate"}));
    moto.queue_athena_result(&["order_id"], &[vec!["o-1"], vec!["o-2"]]);
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());

    let err = run::<AthenaQuery>(
            json!({"sql": "SELECT order_id FROM silver.orders WHERE amount < 0", "expect": "no_rows", "poll_interval": "10ms"}),
            ctx.clone(),
        )
        .await
        .unwrap_err();

    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("result check failed: Athena query ")
            && err.message.ends_with("returned 2 row(s), expected no rows"),
        "{}",
        err.message
    );
    assert_eq!(ctx.handles.load(EXECUTION_ID_HANDLE).await.unwrap(), None);

    // The same check passes on exact counts.
    moto.queue_athena_result(&["order_id"], &[vec!["o-1"], vec!["o-2"]]);
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    let out = run::<AthenaQuery>(
        json!({"sql": "SELECT 1", "expect": {"rows": 2}, "poll_interval": "10ms"}),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(out.outputs["rows"], "2");
}

#[tokio::test]
async fn a_query_cancelled_elsewhere_fails_the_attempt() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    // The query stays QUEUED for many reads.
    moto.set_transition(
        "athena::execution",
        json!({"progression": "manual", "times": 1000}),
    );
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    let attempt = tokio::spawn({
        let ctx = ctx.clone();
        async move { run::<AthenaQuery>(json!({"sql": "SELECT 1", "poll_interval": "20ms"}), ctx).await }
    });
    let id = wait_for_handle(&ctx, EXECUTION_ID_HANDLE).await;
    aws.athena
        .stop_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap();

    let err = attempt.await.unwrap().unwrap_err();
    assert_eq!(
        err.message,
        format!("Athena query {id} ended CANCELLED: Athena gave no reason")
    );
    assert!(err.retryable);
    assert_eq!(
        ctx.handles.load(EXECUTION_ID_HANDLE).await.unwrap(),
        None,
        "the retry starts anew"
    );
}

#[tokio::test]
async fn cancel_stops_the_query() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    moto.set_transition(
        "athena::execution",
        json!({"progression": "manual", "times": 1000}),
    );
    let (ctx, mut log) = context(moto.target_settings(), std::env::temp_dir());
    let attempt = tokio::spawn({
        let ctx = ctx.clone();
        async move { run::<AthenaQuery>(json!({"sql": "SELECT 1", "poll_interval": "20ms"}), ctx).await }
    });
    let id = wait_for_handle(&ctx, EXECUTION_ID_HANDLE).await;
    ctx.cancel.cancel();

    let err = attempt.await.unwrap().unwrap_err();
    assert_eq!(
        err.message,
        format!("cancelled (timeout or cancel): Athena query {id} was stopped")
    );
    let state = aws
        .athena
        .get_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap()
        .status
        .unwrap()
        .state
        .unwrap();
    assert_eq!(state.as_str(), "CANCELLED", "moto recorded the stop");
    assert!(drain(&mut log).contains(&format!("asked Athena to stop query {id}")));
}

#[tokio::test]
async fn a_retry_reconnects_to_the_saved_query() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    moto.set_transition("athena::execution", json!({"progression": "immediate"}));
    let existing = aws
        .athena
        .start_query_execution()
        .query_string("SELECT 42")
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap();
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    ctx.handles
        .save(EXECUTION_ID_HANDLE, &existing)
        .await
        .unwrap();

    let out = run::<AthenaQuery>(
        json!({"sql": "SELECT 42", "poll_interval": "10ms"}),
        retry(&ctx, 2),
    )
    .await
    .unwrap();

    assert_eq!(out.outputs["query_execution_id"], existing);
    let all = aws.athena.list_query_executions().send().await.unwrap();
    assert_eq!(all.query_execution_ids().len(), 1, "no second query");
}

#[test]
fn the_idempotency_token_is_per_try_and_fits_athena() {
    let (ctx, _log) = context(Map::new(), std::env::temp_dir());
    let first = client_request_token(&ctx);
    assert!((32..=128).contains(&first.len()), "{first}");
    assert_eq!(
        first,
        client_request_token(&ctx.clone()),
        "stable within a try"
    );
    assert_ne!(first, client_request_token(&retry(&ctx, 2)));
    let mut other_step = ctx.clone();
    other_step.task_id = "gold".into();
    assert_ne!(first, client_request_token(&other_step));
}
