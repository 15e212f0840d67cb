//! `glue_job` against moto: definitions, runs, progress, reconnects and refused starts.

use flowctl_jobs_aws::glue::{GlueJob, RUN_ID_HANDLE};
use serde_json::{Value, json};

use crate::support::{clients, context, drain, moto, retry, run, wait_for_handle, wait_for_line};

/// The target settings with a scripts bucket.
fn settings(moto: &flowctl_testkit::moto::MotoServer) -> serde_json::Map<String, Value> {
    let mut s = moto.target_settings();
    s.insert("scripts_bucket".into(), json!("scripts"));
    s
}

fn step(poll: &str) -> Value {
    json!({
        "job_name": "cdc-bronze",
        "arguments": { "--topic": "cdc.public.orders", "--ds": "2026-03-04" },
        "poll_interval": poll,
        "definition": {
            "script": "jobs/glue/bronze.py",
            "role": "arn:aws:iam::123456789012:role/glue",
            "glue_version": "5.0",
            "worker_type": "G.1X",
            "number_of_workers": 2,
            "default_arguments": { "--datalake-formats": "iceberg" }
        }
    })
}

fn project_with_script(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("jobs/glue")).unwrap();
    std::fs::write(dir.path().join("jobs/glue/bronze.py"), body).unwrap();
    dir
}

#[tokio::test]
async fn creates_the_job_uploads_the_script_and_waits_for_the_run() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    // Each state lasts two reads: the job polls through STARTING and RUNNING.
    moto.set_transition(
        "glue::job_run",
        json!({"progression": "manual", "times": 2}),
    );
    let project = project_with_script("print('bronze')\n");
    let (ctx, mut log) = context(settings(&moto), project.path().to_owned());

    let out = run::<GlueJob>(step("10ms"), ctx.clone()).await.unwrap();

    let run_id = &out.outputs["run_id"];
    assert!(run_id.starts_with("jr_"), "{run_id}");
    assert_eq!(out.outputs["state"], "SUCCEEDED");
    assert_eq!(
        out.outputs["execution_time"], "123",
        "moto's fixed execution time"
    );
    assert_eq!(
        ctx.handles.load(RUN_ID_HANDLE).await.unwrap().as_deref(),
        Some(run_id.as_str())
    );

    let job = aws
        .glue
        .get_job()
        .job_name("cdc-bronze")
        .send()
        .await
        .unwrap()
        .job
        .unwrap();
    let command = job.command().unwrap();
    assert_eq!(
        command.script_location(),
        Some("s3://scripts/glue/bronze.py")
    );
    assert_eq!(command.name(), Some("glueetl"));
    assert_eq!(job.glue_version(), Some("5.0"));
    assert_eq!(job.number_of_workers(), Some(2));
    assert_eq!(
        job.default_arguments().unwrap()["--datalake-formats"],
        "iceberg"
    );

    let script = aws
        .s3
        .get_object()
        .bucket("scripts")
        .key("glue/bronze.py")
        .send()
        .await
        .unwrap();
    // The MD5 flowctl computed (metadata) is the one S3 computed (ETag).
    let etag = script.e_tag().unwrap().trim_matches('"').to_owned();
    assert_eq!(script.metadata().unwrap()["md5"], etag);
    let body = script.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"print('bronze')\n");

    let run = aws
        .glue
        .get_job_run()
        .job_name("cdc-bronze")
        .run_id(run_id)
        .send()
        .await
        .unwrap();
    let args = run.job_run().unwrap().arguments().unwrap();
    assert_eq!(args["--topic"], "cdc.public.orders");
    assert_eq!(args["--ds"], "2026-03-04");
    assert_eq!(
        args["--datalake-formats"], "iceberg",
        "the job's default arguments apply"
    );

    let lines = drain(&mut log);
    for expected in [
        "uploaded jobs/glue/bronze.py to s3://scripts/glue/bronze.py",
        "created Glue job cdc-bronze",
        "Glue run",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{expected}: {lines:?}"
        );
    }
    for state in ["STARTING", "RUNNING", "SUCCEEDED"] {
        assert!(
            lines.iter().any(|l| l.ends_with(&format!(": {state}"))),
            "{state}: {lines:?}"
        );
    }
}

#[tokio::test]
async fn an_unchanged_definition_is_left_alone_and_a_changed_script_is_uploaded() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    moto.set_transition("glue::job_run", json!({"progression": "immediate"}));
    let project = project_with_script("v1\n");
    let (ctx, _log) = context(settings(&moto), project.path().to_owned());
    run::<GlueJob>(step("10ms"), ctx.clone()).await.unwrap();

    // Same definition, same script: no upload and no UpdateJob (moto has no UpdateJob, so
    // calling it would fail this run).
    let (second, mut log) = context(settings(&moto), project.path().to_owned());
    run::<GlueJob>(step("10ms"), second).await.unwrap();
    let lines = drain(&mut log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("s3://scripts/glue/bronze.py is up to date")),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("updated Glue job") || l.contains("created")),
        "{lines:?}"
    );

    // A new script body is uploaded again.
    std::fs::write(project.path().join("jobs/glue/bronze.py"), "v2\n").unwrap();
    let (third, mut log) = context(settings(&moto), project.path().to_owned());
    // The script's URL is unchanged, so the definition still matches (no UpdateJob).
    let result = run::<GlueJob>(step("10ms"), third).await;
    let lines = drain(&mut log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("uploaded jobs/glue/bronze.py")),
        "{lines:?}"
    );
    assert!(result.is_ok(), "{result:?}");
    let body = aws
        .s3
        .get_object()
        .bucket("scripts")
        .key("glue/bronze.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &body.body.collect().await.unwrap().into_bytes()[..],
        b"v2\n"
    );
}

#[tokio::test]
async fn a_retry_reconnects_to_the_running_run_instead_of_starting_another() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    aws.s3
        .create_bucket()
        .bucket("scripts")
        .send()
        .await
        .unwrap();
    // A run stays in each state for 3 reads.
    moto.set_transition(
        "glue::job_run",
        json!({"progression": "manual", "times": 3}),
    );
    let project = project_with_script("print(1)\n");
    let (ctx, _log) = context(settings(&moto), project.path().to_owned());

    // Try 1 starts the run, then its process "dies" (the attempt is aborted mid-wait).
    let first = tokio::spawn({
        let ctx = ctx.clone();
        async move { run::<GlueJob>(step("1h"), ctx).await }
    });
    let saved = wait_for_handle(&ctx, RUN_ID_HANDLE).await;
    first.abort();
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "try 1 was still waiting"
    );

    // Try 2 finds the saved id and waits for that run.
    let out = run::<GlueJob>(step("10ms"), retry(&ctx, 2)).await.unwrap();
    assert_eq!(out.outputs["run_id"], saved);
    let runs = aws
        .glue
        .get_job_runs()
        .job_name("cdc-bronze")
        .send()
        .await
        .unwrap();
    assert_eq!(runs.job_runs().len(), 1, "no second run was started");
}

#[tokio::test]
async fn a_restarted_attempt_adopts_a_run_that_already_succeeded() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    moto.set_transition("glue::job_run", json!({"progression": "immediate"}));
    create_plain_job(&aws, "cdc-silver").await;
    let done = aws
        .glue
        .start_job_run()
        .job_name("cdc-silver")
        .send()
        .await
        .unwrap();
    let done = done.job_run_id.unwrap();
    let (ctx, mut log) = context(moto.target_settings(), std::env::temp_dir());
    ctx.handles.save(RUN_ID_HANDLE, &done).await.unwrap();

    let out = run::<GlueJob>(
        json!({"job_name": "cdc-silver", "poll_interval": "10ms"}),
        retry(&ctx, 2),
    )
    .await
    .unwrap();
    assert_eq!(out.outputs["run_id"], done);
    assert_eq!(out.outputs["state"], "SUCCEEDED");
    let runs = aws
        .glue
        .get_job_runs()
        .job_name("cdc-silver")
        .send()
        .await
        .unwrap();
    assert_eq!(runs.job_runs().len(), 1);
    let lines = drain(&mut log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("reconnecting to Glue run {done}"))),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_saved_run_glue_no_longer_knows_is_replaced_by_a_new_run() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    moto.set_transition("glue::job_run", json!({"progression": "immediate"}));
    create_plain_job(&aws, "cdc-gold").await;
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    ctx.handles.save(RUN_ID_HANDLE, "jr_gone").await.unwrap();

    let out = run::<GlueJob>(
        json!({"job_name": "cdc-gold", "poll_interval": "10ms"}),
        ctx.clone(),
    )
    .await
    .unwrap();
    assert_ne!(out.outputs["run_id"], "jr_gone");
    assert_eq!(
        ctx.handles.load(RUN_ID_HANDLE).await.unwrap().as_deref(),
        Some(out.outputs["run_id"].as_str())
    );
}

#[tokio::test]
async fn concurrent_runs_exceeded_is_retried_with_backoff_inside_the_attempt() {
    let Some(moto) = moto() else { return };
    let aws = clients(&moto).await;
    // A run advances one state per read of it: the blocker stays RUNNING until read.
    moto.set_transition(
        "glue::job_run",
        json!({"progression": "manual", "times": 1}),
    );
    create_plain_job(&aws, "cdc-bronze").await; // MaxConcurrentRuns 1 (Glue's default)
    let blocker = aws
        .glue
        .start_job_run()
        .job_name("cdc-bronze")
        .send()
        .await
        .unwrap();
    let blocker = blocker.job_run_id.unwrap();
    let (ctx, mut log) = context(moto.target_settings(), std::env::temp_dir());

    let attempt = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            run::<GlueJob>(
                json!({"job_name": "cdc-bronze", "poll_interval": "100ms"}),
                ctx,
            )
            .await
        }
    });
    // Once the step has been refused, let the blocker finish.
    let mut lines = wait_for_line(&mut log, "trying again in").await;
    assert!(
        lines
            .last()
            .unwrap()
            .contains("ConcurrentRunsExceededException"),
        "{lines:?}"
    );
    for _ in 0..4 {
        aws.glue
            .get_job_run()
            .job_name("cdc-bronze")
            .run_id(&blocker)
            .send()
            .await
            .unwrap();
    }
    let out = attempt.await.unwrap().unwrap();
    assert_ne!(out.outputs["run_id"], blocker);
    lines.extend(drain(&mut log));
    assert!(
        lines.iter().any(|l| l.starts_with("started Glue run")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_missing_job_without_definition_fails_for_good() {
    let Some(moto) = moto() else { return };
    let (ctx, _log) = context(moto.target_settings(), std::env::temp_dir());
    let err = run::<GlueJob>(json!({"job_name": "nope"}), ctx)
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(
        err.message
            .contains("glue:StartJobRun nope: EntityNotFoundException"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_local_script_needs_a_scripts_bucket() {
    let Some(moto) = moto() else { return };
    let project = project_with_script("x\n");
    let (ctx, _log) = context(moto.target_settings(), project.path().to_owned());
    let err = run::<GlueJob>(step("10ms"), ctx).await.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("set `scripts_bucket` in target `aws`"),
        "{}",
        err.message
    );
}

async fn create_plain_job(aws: &flowctl_jobs_aws::AwsClients, name: &str) {
    use flowctl_jobs_aws::aws_sdk_glue::types::JobCommand;
    aws.glue
        .create_job()
        .name(name)
        .role("glue")
        .command(
            JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/x.py")
                .build(),
        )
        .send()
        .await
        .unwrap();
}
