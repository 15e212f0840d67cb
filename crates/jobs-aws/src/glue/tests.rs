//! The paths moto cannot take (see `crate::testing`): runs that end in failure, stops, and
//! updates of a job's definition.

use std::time::Duration;

use aws_sdk_glue::Client;
use aws_sdk_glue::operation::batch_stop_job_run::BatchStopJobRunOutput;
use aws_sdk_glue::operation::get_job::GetJobOutput;
use aws_sdk_glue::operation::get_job_run::GetJobRunOutput;
use aws_sdk_glue::operation::start_job_run::{StartJobRunError, StartJobRunOutput};
use aws_sdk_glue::operation::update_job::UpdateJobOutput;
use aws_sdk_glue::types::error::ConcurrentRunsExceededException;
use aws_sdk_glue::types::{Job, JobCommand, JobRun, JobRunState, WorkerType};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;

use super::*;
use crate::testing::{clients, context, drain};

fn config(value: serde_json::Value) -> GlueJobConfig {
    serde_json::from_value(value).unwrap()
}

fn started(id: &'static str) -> Rule {
    mock!(Client::start_job_run)
        .sequence()
        .output(move || StartJobRunOutput::builder().job_run_id(id).build())
        .repeatedly()
        .build()
}

fn run_in(state: JobRunState, error: Option<&'static str>) -> GetJobRunOutput {
    let mut run = JobRun::builder()
        .id("jr_1")
        .job_run_state(state)
        .execution_time(42);
    if let Some(e) = error {
        run = run.error_message(e);
    }
    GetJobRunOutput::builder().job_run(run.build()).build()
}

#[tokio::test]
async fn every_failed_end_state_fails_the_attempt_with_glue_s_message_and_forgets_the_run() {
    for state in [
        JobRunState::Failed,
        JobRunState::Timeout,
        JobRunState::Error,
        JobRunState::Expired,
        JobRunState::Stopped,
    ] {
        let start = started("jr_1");
        let final_state = state.clone();
        let poll = mock!(Client::get_job_run)
            .sequence()
            .output(|| run_in(JobRunState::Running, None))
            .output(move || {
                run_in(
                    final_state.clone(),
                    Some("OutOfMemoryError: Java heap space"),
                )
            })
            .build();
        let aws = clients(&[&start, &poll], &[], &[]);
        let (ctx, _log) = context(std::env::temp_dir());
        let step = config(json!({"job_name": "cdc-silver", "poll_interval": "1ms"}));

        let err = run_step(&aws, &AwsSettings::default(), &step, &ctx)
            .await
            .unwrap_err();

        assert_eq!(
            err.message,
            format!(
                "Glue run jr_1 of job cdc-silver ended {}: OutOfMemoryError: Java heap space",
                state.as_str()
            )
        );
        assert!(err.retryable, "a new run may succeed");
        assert_eq!(ctx.handles.load(RUN_ID_HANDLE).await.unwrap(), None);
        assert_eq!(poll.num_calls(), 2);
    }
}

#[tokio::test]
async fn a_failed_reconnected_run_is_forgotten_so_the_next_try_starts_a_new_one() {
    let poll = mock!(Client::get_job_run)
        .sequence()
        .output(|| run_in(JobRunState::Failed, Some("boom")))
        .repeatedly()
        .build();
    let start = started("jr_new");
    let aws = clients(&[&poll, &start], &[], &[]);
    let (ctx, _log) = context(std::env::temp_dir());
    ctx.handles.save(RUN_ID_HANDLE, "jr_1").await.unwrap();
    let step = config(json!({"job_name": "cdc-silver", "poll_interval": "1ms"}));

    let err = run_step(&aws, &AwsSettings::default(), &step, &ctx.clone())
        .await
        .unwrap_err();
    assert!(
        err.message.ends_with("ended FAILED: boom"),
        "{}",
        err.message
    );
    assert_eq!(start.num_calls(), 0, "reconnected, did not start");
    assert_eq!(ctx.handles.load(RUN_ID_HANDLE).await.unwrap(), None);
}

#[tokio::test]
async fn cancel_stops_the_remote_run() {
    let start = started("jr_1");
    let poll = mock!(Client::get_job_run)
        .sequence()
        .output(|| run_in(JobRunState::Running, None))
        .repeatedly()
        .build();
    let stop = mock!(Client::batch_stop_job_run)
        .match_requests(|r| r.job_name() == Some("cdc-silver") && r.job_run_ids() == ["jr_1"])
        .sequence()
        .output(|| BatchStopJobRunOutput::builder().build())
        .build();
    let aws = clients(&[&start, &poll, &stop], &[], &[]);
    let (ctx, mut log) = context(std::env::temp_dir());
    let step = config(json!({"job_name": "cdc-silver", "poll_interval": "5ms"}));
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });

    let err = run_step(&aws, &AwsSettings::default(), &step, &ctx)
        .await
        .unwrap_err();

    assert_eq!(stop.num_calls(), 1);
    assert_eq!(
        err.message,
        "cancelled (timeout or cancel): Glue run jr_1 of job cdc-silver was asked to stop"
    );
    assert!(poll.num_calls() >= 2, "it was polling");
    assert_eq!(ctx.handles.load(RUN_ID_HANDLE).await.unwrap(), None);
    assert!(
        drain(&mut log)
            .iter()
            .any(|l| l == "asked Glue to stop run jr_1")
    );
}

#[tokio::test]
async fn throttled_and_refused_starts_are_retried_then_give_up() {
    let start = mock!(Client::start_job_run)
        .sequence()
        .error(|| {
            StartJobRunError::ConcurrentRunsExceededException(
                ConcurrentRunsExceededException::builder()
                    .message("Concurrent runs exceeded for cdc-silver")
                    // As the SDK's deserializer sets it from the answer.
                    .meta(
                        aws_sdk_glue::error::ErrorMetadata::builder()
                            .code("ConcurrentRunsExceededException")
                            .message("Concurrent runs exceeded for cdc-silver")
                            .build(),
                    )
                    .build(),
            )
        })
        .times(START_RETRIES as usize + 1)
        .build();
    let aws = clients(&[&start], &[], &[]);
    let (ctx, mut log) = context(std::env::temp_dir());
    let step = config(json!({"job_name": "cdc-silver", "poll_interval": "1ms"}));

    let err = run_step(&aws, &AwsSettings::default(), &step, &ctx)
        .await
        .unwrap_err();

    assert_eq!(start.num_calls(), START_RETRIES as usize + 1);
    assert!(err.retryable);
    assert!(
        err.message
            .contains("ConcurrentRunsExceededException: Concurrent runs exceeded"),
        "{}",
        err.message
    );
    let retries = drain(&mut log)
        .into_iter()
        .filter(|l| l.contains("trying again in"))
        .count();
    assert_eq!(retries, START_RETRIES as usize);
}

fn live_job() -> Job {
    Job::builder()
        .name("cdc-silver")
        .role("old-role")
        .command(
            JobCommand::builder()
                .name("glueetl")
                .script_location("s3://scripts/glue/silver.py")
                .python_version("3")
                .build(),
        )
        .glue_version("5.0")
        .worker_type(WorkerType::G1X)
        .number_of_workers(2)
        .max_retries(0)
        .timeout(2880)
        .log_uri("s3://logs/")
        .default_arguments("--datalake-formats", "iceberg")
        .default_arguments("--conf", "spark.x=1")
        .build()
}

#[tokio::test]
async fn a_different_definition_is_updated_keeping_what_the_step_does_not_set() {
    let get = mock!(Client::get_job)
        .sequence()
        .output(|| GetJobOutput::builder().job(live_job()).build())
        .build();
    let update = mock!(Client::update_job)
        .match_requests(|r| {
            let Some(u) = r.job_update() else {
                return false;
            };
            let args = u.default_arguments().cloned().unwrap_or_default();
            r.job_name() == Some("cdc-silver")
                && u.role() == Some("new-role")
                && u.number_of_workers() == Some(10)
                && u.worker_type() == Some(&WorkerType::G1X)
                && u.glue_version() == Some("5.0")
                && u.timeout() == Some(2880)
                && u.log_uri() == Some("s3://logs/")
                && u.command().and_then(|c| c.script_location())
                    == Some("s3://scripts/glue/silver.py")
                && args.get("--conf").map(String::as_str) == Some("spark.x=1")
                && args.get("--datalake-formats").map(String::as_str) == Some("iceberg,delta")
                && u.max_capacity().is_none()
        })
        .sequence()
        .output(|| UpdateJobOutput::builder().job_name("cdc-silver").build())
        .build();
    let start = started("jr_1");
    let poll = mock!(Client::get_job_run)
        .sequence()
        .output(|| {
            let run = JobRun::builder()
                .id("jr_1")
                .job_run_state(JobRunState::Succeeded)
                .execution_time(42)
                .dpu_seconds(42.5)
                .build();
            GetJobRunOutput::builder().job_run(run).build()
        })
        .build();
    let aws = clients(&[&get, &update, &start, &poll], &[], &[]);
    let (ctx, mut log) = context(std::env::temp_dir());
    let step = config(json!({
        "job_name": "cdc-silver",
        "poll_interval": "1ms",
        "definition": {
            "script": "s3://scripts/glue/silver.py",
            "role": "new-role",
            "worker_type": "G.1X",
            "number_of_workers": 10,
            "default_arguments": {"--datalake-formats": "iceberg,delta"}
        }
    }));

    let out = run_step(&aws, &AwsSettings::default(), &step, &ctx)
        .await
        .unwrap();

    assert_eq!(update.num_calls(), 1);
    assert_eq!(out.outputs["dpu_seconds"], "42.5");
    assert_eq!(out.outputs["execution_time"], "42");
    let lines = drain(&mut log);
    let updated = lines
        .iter()
        .find(|l| l.starts_with("updated Glue job cdc-silver"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        updated,
        "updated Glue job cdc-silver: role: old-role → new-role; number_of_workers: 2 → 10; \
         default_arguments.--datalake-formats: iceberg → iceberg,delta"
    );
}

#[test]
fn definition_differences_compare_only_what_the_step_sets() {
    let def: GlueJobDefinition = serde_json::from_value(json!({
        "script": "jobs/glue/silver.py",
        "role": "old-role",
        "glue_version": "5.0",
        "timeout": "48h",
        "default_arguments": {"--datalake-formats": "iceberg"}
    }))
    .unwrap();
    let live = live_job();
    let shown = |found: Vec<FieldDifference>| -> Vec<String> {
        found.iter().map(ToString::to_string).collect()
    };
    let same = shown(definition_differences(
        &live,
        &def,
        "s3://scripts/glue/silver.py",
    ));
    assert_eq!(same, Vec::<String>::new());
    let moved = shown(definition_differences(
        &live,
        &def,
        "s3://scripts/v2/silver.py",
    ));
    assert_eq!(
        moved,
        ["script: s3://scripts/glue/silver.py → s3://scripts/v2/silver.py"]
    );
    let mut bigger = def.clone();
    bigger.max_concurrent_runs = Some(3);
    bigger.default_arguments.insert("--new".into(), "1".into());
    assert_eq!(
        shown(definition_differences(
            &live,
            &bigger,
            "s3://scripts/glue/silver.py"
        )),
        [
            "max_concurrent_runs: 1 → 3",
            "default_arguments.--new: (unset) → 1"
        ]
    );
}

#[tokio::test]
async fn a_throttled_start_is_retried_and_the_run_waited_for() {
    let start = mock!(Client::start_job_run)
        .sequence()
        .error(|| {
            StartJobRunError::generic(
                aws_sdk_glue::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(|| StartJobRunOutput::builder().job_run_id("jr_1").build())
        .build();
    let poll = mock!(Client::get_job_run)
        .sequence()
        .output(|| run_in(JobRunState::Succeeded, None))
        .build();
    let aws = clients(&[&start, &poll], &[], &[]);
    let (ctx, mut log) = context(std::env::temp_dir());
    let step = config(
        json!({"job_name": "cdc-silver", "arguments": {"--ds": "2026-03-04"}, "poll_interval": "1ms"}),
    );

    let out = run_step(&aws, &AwsSettings::default(), &step, &ctx)
        .await
        .unwrap();

    assert_eq!(start.num_calls(), 2);
    assert_eq!(out.outputs["run_id"], "jr_1");
    assert_eq!(
        ctx.handles.load(RUN_ID_HANDLE).await.unwrap().as_deref(),
        Some("jr_1"),
        "kept: a restarted attempt adopts the finished run"
    );
    let lines = drain(&mut log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ThrottlingException: Rate exceeded; trying again in")),
        "{lines:?}"
    );
}
