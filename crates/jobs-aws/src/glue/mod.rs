//! The `glue_job` job type: starts a run of a Glue job (after creating or updating its
//! definition when the step gives one) and waits until it ends.
//!
//! Durable: the run's id is stored in the task's handles (`glue_job_run_id`) before waiting,
//! so a retry or an attempt restarted after flowctl died reconnects to that run — a run still
//! going is waited for, a SUCCEEDED one is adopted — instead of starting a second one. A run
//! that ends FAILED, TIMEOUT, ERROR, EXPIRED or STOPPED fails the attempt with Glue's error
//! message and its handle is forgotten, so the next try starts a new run. A timeout or cancel
//! stops the remote run (BatchStopJobRun).

pub mod config;
pub(crate) mod definition;
#[cfg(test)]
mod tests;

use std::time::Duration;

use aws_sdk_glue::types::JobRunState;
use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};

pub use config::{GlueJobConfig, GlueJobDefinition};
pub use definition::FieldDifference;

/// How a live Glue job differs from a step's `definition` (fields the definition leaves out
/// are not compared), with the script at `script_location` (its S3 URL once uploaded). The
/// comparison `glue_job` makes before updating a job, shared with `flowctl drift`.
pub fn definition_differences(
    live: &aws_sdk_glue::types::Job,
    def: &GlueJobDefinition,
    script_location: &str,
) -> Vec<FieldDifference> {
    let wanted = definition::Wanted {
        def,
        script_location: script_location.to_owned(),
        timeout_minutes: def.timeout_minutes(),
    };
    definition::differences(live, &wanted)
}

use crate::error::AwsError;
use crate::settings::{AwsClients, AwsSettings};
use crate::wait::{backoff, sleep_or_cancel};

/// The task handle holding the id of the run this task instance started.
pub const RUN_ID_HANDLE: &str = "glue_job_run_id";

/// How many times a refused start (ConcurrentRunsExceededException, throttling) is retried
/// inside one attempt before the attempt fails (retryably).
const START_RETRIES: u32 = 8;

/// How long a stop request may take: the engine gives a cancelled attempt a bounded grace
/// period, and the SDK sets no operation timeout of its own.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Consecutive failed reads of a run's state tolerated while waiting (network blips).
const POLL_ERRORS_TOLERATED: u32 = 5;

/// The `glue_job` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlueJob;

/// The outputs of a successful run.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "run_id",
        description: "The Glue job run's id (`jr_...`).",
    },
    OutputDoc {
        name: "state",
        description: "The run's final state: `SUCCEEDED`.",
    },
    OutputDoc {
        name: "execution_time",
        description: "Seconds the run used resources, as Glue reports it.",
    },
    OutputDoc {
        name: "dpu_seconds",
        description: "DPU-seconds the run consumed (only when Glue reports it: Flex and auto-scaled runs).",
    },
];

impl Job for GlueJob {
    type Config = GlueJobConfig;
    const TYPE: &'static str = "glue_job";

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: GlueJobConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx.target.section::<AwsSettings>()?;
        let clients = settings.clients().await?;
        run_step(&clients, &settings, &config, &ctx).await
    }
}

/// One attempt with the given clients.
pub(crate) async fn run_step(
    clients: &AwsClients,
    settings: &AwsSettings,
    config: &GlueJobConfig,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let job = config.job_name.as_str();
    let poll = config.poll_interval();
    let mut run_id = None;
    if let Some(saved) = ctx.handles.load(RUN_ID_HANDLE).await? {
        if run_exists(&clients.glue, job, &saved).await? {
            ctx.log.system(format!(
                "reconnecting to Glue run {saved} of job {job}, started by an earlier attempt"
            ));
            run_id = Some(saved);
        } else {
            ctx.log.system(format!(
                "Glue run {saved} of job {job} (from an earlier attempt) no longer exists: starting a new run"
            ));
            ctx.handles.remove(RUN_ID_HANDLE).await?;
        }
    }
    let run_id = match run_id {
        Some(id) => id,
        None => {
            if let Some(def) = &config.definition {
                match definition::ensure(clients, settings, job, def, ctx).await? {
                    definition::Ensured::Created => {
                        ctx.log.system(format!("created Glue job {job}"))
                    }
                    definition::Ensured::Updated(changes) => ctx
                        .log
                        .system(format!("updated Glue job {job}: {}", changes.join("; "))),
                    definition::Ensured::Unchanged => {}
                }
            }
            let id = start_run(&clients.glue, config, poll, ctx).await?;
            if let Err(e) = ctx.handles.save(RUN_ID_HANDLE, &id).await {
                // Unrecorded, the run could be started again by the next try: stop it.
                stop_run(&clients.glue, job, &id, ctx).await;
                return Err(e);
            }
            ctx.log
                .system(format!("started Glue run {id} of job {job}"));
            id
        }
    };
    wait_for_run(&clients.glue, job, &run_id, poll, ctx).await
}

/// Whether `run_id` is a run of `job` Glue still knows.
async fn run_exists(
    glue: &aws_sdk_glue::Client,
    job: &str,
    run_id: &str,
) -> Result<bool, JobError> {
    match glue.get_job_run().job_name(job).run_id(run_id).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let err = AwsError::from_sdk(&format!("glue:GetJobRun {job} {run_id}"), &e);
            if err.is("EntityNotFoundException") {
                Ok(false)
            } else {
                Err(err.into_job_error())
            }
        }
    }
}

/// StartJobRun, retried with backoff while Glue refuses it for concurrency or throttling.
async fn start_run(
    glue: &aws_sdk_glue::Client,
    config: &GlueJobConfig,
    base_delay: Duration,
    ctx: &JobContext,
) -> Result<String, JobError> {
    let job = config.job_name.as_str();
    let arguments: std::collections::HashMap<String, String> = config
        .arguments
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut refusals = 0;
    loop {
        let request = glue
            .start_job_run()
            .job_name(job)
            .set_arguments((!arguments.is_empty()).then(|| arguments.clone()));
        let err = match request.send().await {
            Ok(out) => {
                return out.job_run_id.ok_or_else(|| {
                    JobError::failed(format!(
                        "glue:StartJobRun {job}: the answer had no JobRunId"
                    ))
                });
            }
            Err(e) => {
                let concurrent = e
                    .as_service_error()
                    .is_some_and(|s| s.is_concurrent_runs_exceeded_exception());
                (
                    AwsError::from_sdk(&format!("glue:StartJobRun {job}"), &e),
                    concurrent,
                )
            }
        };
        let (err, concurrent) = err;
        // Only a start Glue answered with a refusal is known not to have started a run:
        // StartJobRun has no idempotency token, so a lost answer is not resent here.
        let refused = concurrent || (err.transient && err.code.is_some());
        if !refused || refusals >= START_RETRIES {
            return Err(err.into_job_error());
        }
        let delay = backoff(base_delay, refusals);
        ctx.log
            .system(format!("{}; trying again in {delay:?}", err.message));
        refusals += 1;
        if !sleep_or_cancel(delay, &ctx.cancel).await {
            return Err(JobError::failed(format!(
                "cancelled before Glue job {job} could start (nothing is running)"
            )));
        }
    }
}

/// Polls the run until it ends; stops it if the attempt is cancelled.
async fn wait_for_run(
    glue: &aws_sdk_glue::Client,
    job: &str,
    run_id: &str,
    poll: Duration,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let mut last_state = None;
    let mut poll_errors = 0;
    loop {
        let read = tokio::select! {
            r = glue.get_job_run().job_name(job).run_id(run_id).send() => r,
            _ = ctx.cancel.cancelled() => return Err(cancelled(glue, job, run_id, ctx).await),
        };
        let run = match read {
            Ok(out) => {
                poll_errors = 0;
                out.job_run
                    .unwrap_or_else(|| aws_sdk_glue::types::JobRun::builder().build())
            }
            Err(e) => {
                let err = AwsError::from_sdk(&format!("glue:GetJobRun {job} {run_id}"), &e);
                poll_errors += 1;
                if !err.transient || poll_errors > POLL_ERRORS_TOLERATED {
                    return Err(err.into_job_error());
                }
                ctx.log.system(format!("{}; reading again", err.message));
                if !sleep_or_cancel(poll, &ctx.cancel).await {
                    return Err(cancelled(glue, job, run_id, ctx).await);
                }
                continue;
            }
        };
        let state = run.job_run_state().cloned().unwrap_or(JobRunState::Running);
        if last_state.as_ref() != Some(&state) {
            ctx.log
                .system(format!("Glue run {run_id}: {}", state.as_str()));
            last_state = Some(state.clone());
        }
        match state {
            JobRunState::Succeeded => return Ok(outputs(run_id, &run)),
            JobRunState::Failed
            | JobRunState::Timeout
            | JobRunState::Error
            | JobRunState::Expired
            | JobRunState::Stopped => {
                // The next try must start a new run, not reconnect to this one.
                ctx.handles.remove(RUN_ID_HANDLE).await?;
                let reason = run.error_message().unwrap_or("Glue gave no error message");
                return Err(JobError::failed(format!(
                    "Glue run {run_id} of job {job} ended {}: {reason}",
                    state.as_str()
                )));
            }
            // STARTING, RUNNING, STOPPING, WAITING, and states newer than this SDK.
            _ => {
                if !sleep_or_cancel(poll, &ctx.cancel).await {
                    return Err(cancelled(glue, job, run_id, ctx).await);
                }
            }
        }
    }
}

fn outputs(run_id: &str, run: &aws_sdk_glue::types::JobRun) -> JobOutput {
    let mut out = JobOutput::default();
    out.outputs.insert("run_id".into(), run_id.to_owned());
    out.outputs.insert("state".into(), "SUCCEEDED".into());
    out.outputs
        .insert("execution_time".into(), run.execution_time().to_string());
    if let Some(dpu) = run.dpu_seconds() {
        out.outputs.insert("dpu_seconds".into(), dpu.to_string());
    }
    out
}

/// Stops the run after a cancel or timeout and says so.
async fn cancelled(
    glue: &aws_sdk_glue::Client,
    job: &str,
    run_id: &str,
    ctx: &JobContext,
) -> JobError {
    let stopped = stop_run(glue, job, run_id, ctx).await;
    if stopped {
        // The stopped run is over for good: the next try starts a new one.
        if let Err(e) = ctx.handles.remove(RUN_ID_HANDLE).await {
            ctx.log.system(e.message);
        }
        JobError::failed(format!(
            "cancelled (timeout or cancel): Glue run {run_id} of job {job} was asked to stop"
        ))
    } else {
        JobError::failed(format!(
            "cancelled (timeout or cancel), but Glue run {run_id} of job {job} could not be stopped: it may still be running"
        ))
    }
}

/// BatchStopJobRun for one run; `true` when Glue accepted it.
async fn stop_run(glue: &aws_sdk_glue::Client, job: &str, run_id: &str, ctx: &JobContext) -> bool {
    let request = glue
        .batch_stop_job_run()
        .job_name(job)
        .job_run_ids(run_id)
        .send();
    let Ok(answer) = tokio::time::timeout(STOP_TIMEOUT, request).await else {
        ctx.log.system(format!(
            "glue:BatchStopJobRun {run_id}: no answer within {STOP_TIMEOUT:?}"
        ));
        return false;
    };
    match answer {
        Ok(out) => match out.errors().first() {
            None => {
                ctx.log.system(format!("asked Glue to stop run {run_id}"));
                true
            }
            Some(e) => {
                let detail = e
                    .error_detail()
                    .and_then(|d| d.error_message())
                    .unwrap_or("no detail");
                ctx.log
                    .system(format!("glue:BatchStopJobRun {run_id} refused: {detail}"));
                false
            }
        },
        Err(e) => {
            let err = AwsError::from_sdk(&format!("glue:BatchStopJobRun {job} {run_id}"), &e);
            ctx.log.system(err.message);
            false
        }
    }
}
