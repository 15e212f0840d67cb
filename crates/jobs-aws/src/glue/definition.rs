//! Create-if-missing and update-when-different of a Glue job's definition.

use std::collections::HashMap;

use aws_sdk_glue::types::{ExecutionProperty, Job, JobCommand, JobUpdate, WorkerType};
use flowctl_engine::job::{JobContext, JobError};

use super::config::GlueJobDefinition;
use crate::error::AwsError;
use crate::s3::object::{Upload, upload_file};
use crate::settings::{AwsClients, AwsSettings};

/// The command of a Spark job.
const DEFAULT_COMMAND: &str = "glueetl";

/// What [`ensure`] did to the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ensured {
    Created,
    /// Updated; the differences found, one `field: live → wanted` each.
    Updated(Vec<String>),
    Unchanged,
}

/// The definition as it should be live: the script resolved to its S3 URL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wanted<'a> {
    pub def: &'a GlueJobDefinition,
    pub script_location: String,
    pub timeout_minutes: Option<i32>,
}

/// Uploads the script if it is local, then creates the job when missing or updates it when
/// its live definition differs from the step's.
pub(crate) async fn ensure(
    clients: &AwsClients,
    settings: &AwsSettings,
    job_name: &str,
    def: &GlueJobDefinition,
    ctx: &JobContext,
) -> Result<Ensured, JobError> {
    let script_location = script_location(clients, settings, def, ctx).await?;
    let wanted = Wanted {
        def,
        script_location,
        timeout_minutes: def.timeout_minutes(),
    };
    let live = match clients.glue.get_job().job_name(job_name).send().await {
        Ok(out) => out.job,
        Err(e) => {
            let err = AwsError::from_sdk(&format!("glue:GetJob {job_name}"), &e);
            if !err.is("EntityNotFoundException") {
                return Err(err.into_job_error());
            }
            None
        }
    };
    let Some(live) = live else {
        create(&clients.glue, job_name, &wanted).await?;
        return Ok(Ensured::Created);
    };
    let differences = differences(&live, &wanted);
    if differences.is_empty() {
        return Ok(Ensured::Unchanged);
    }
    clients
        .glue
        .update_job()
        .job_name(job_name)
        .job_update(merged_update(&live, &wanted))
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(&format!("glue:UpdateJob {job_name}"), &e).into_job_error()
        })?;
    Ok(Ensured::Updated(
        differences.iter().map(ToString::to_string).collect(),
    ))
}

/// `s3://…` as given, or the local file uploaded to the target's scripts bucket.
async fn script_location(
    clients: &AwsClients,
    settings: &AwsSettings,
    def: &GlueJobDefinition,
    ctx: &JobContext,
) -> Result<String, JobError> {
    // `check` made sure an s3:// script names an object and a local one a file.
    if def.script.starts_with("s3://") {
        return Ok(def.script.clone());
    }
    let path = ctx.project_dir.join(&def.script);
    let Some(bucket) = &settings.scripts_bucket else {
        return Err(JobError::fatal(format!(
            "`definition.script` is a local file ({}): set `scripts_bucket` in target `{}` of \
             flowctl.yaml to upload it, or give an s3:// URL",
            def.script, ctx.target.name
        )));
    };
    let key = settings.script_key(&script_file_name(&def.script));
    let outcome = upload_file(&clients.s3, bucket, &key, &path).await?;
    let url = format!("s3://{bucket}/{key}");
    match outcome {
        Upload::Written => ctx.log.system(format!("uploaded {} to {url}", def.script)),
        Upload::Unchanged => ctx
            .log
            .system(format!("{url} is up to date with {}", def.script)),
    }
    Ok(url)
}

/// The file name of a local script (its key in the scripts bucket, after the prefix).
pub(crate) fn script_file_name(script: &str) -> String {
    std::path::Path::new(script)
        .file_name()
        .map_or_else(|| script.to_owned(), |n| n.to_string_lossy().into_owned())
}

fn command(wanted: &Wanted<'_>) -> JobCommand {
    JobCommand::builder()
        .name(wanted.def.command.as_deref().unwrap_or(DEFAULT_COMMAND))
        .script_location(&wanted.script_location)
        .set_python_version(wanted.def.python_version.clone())
        .build()
}

async fn create(
    glue: &aws_sdk_glue::Client,
    job_name: &str,
    wanted: &Wanted<'_>,
) -> Result<(), JobError> {
    let def = wanted.def;
    glue.create_job()
        .name(job_name)
        .role(&def.role)
        .command(command(wanted))
        .set_description(def.description.clone())
        .set_glue_version(def.glue_version.clone())
        .set_worker_type(def.worker_type.as_deref().map(WorkerType::from))
        .set_number_of_workers(def.number_of_workers.map(to_i32))
        .set_execution_property(def.max_concurrent_runs.map(|n| {
            ExecutionProperty::builder()
                .max_concurrent_runs(to_i32(n))
                .build()
        }))
        .set_max_retries(def.max_retries.map(to_i32))
        .set_timeout(wanted.timeout_minutes)
        .set_default_arguments(
            (!def.default_arguments.is_empty()).then(|| to_map(&def.default_arguments)),
        )
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(&format!("glue:CreateJob {job_name}"), &e).into_job_error()
        })?;
    Ok(())
}

/// One field of a Glue job whose live value is not the one a step's `definition` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDifference {
    /// The definition field (`role`, `number_of_workers`, `default_arguments.--key`, ...).
    pub field: String,
    /// The live value (`None`: unset).
    pub live: Option<String>,
    /// The value the step sets.
    pub wanted: String,
}

impl std::fmt::Display for FieldDifference {
    /// `field: live → wanted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let live = self.live.as_deref().unwrap_or("(unset)");
        write!(f, "{}: {live} → {}", self.field, self.wanted)
    }
}

/// Each field the step sets whose live value differs.
pub(crate) fn differences(live: &Job, wanted: &Wanted<'_>) -> Vec<FieldDifference> {
    let def = wanted.def;
    let mut out = Vec::new();
    let mut compare = |field: &str, live: Option<String>, want: Option<String>| {
        if let Some(want) = want
            && live.as_deref() != Some(want.as_str())
        {
            out.push(FieldDifference {
                field: field.to_owned(),
                live,
                wanted: want,
            });
        }
    };
    let live_command = live.command();
    compare(
        "script",
        live_command
            .and_then(|c| c.script_location())
            .map(str::to_owned),
        Some(wanted.script_location.clone()),
    );
    compare(
        "command",
        live_command.and_then(|c| c.name()).map(str::to_owned),
        Some(
            def.command
                .clone()
                .unwrap_or_else(|| DEFAULT_COMMAND.to_owned()),
        ),
    );
    compare(
        "python_version",
        live_command
            .and_then(|c| c.python_version())
            .map(str::to_owned),
        def.python_version.clone(),
    );
    compare(
        "role",
        live.role().map(str::to_owned),
        Some(def.role.clone()),
    );
    compare(
        "glue_version",
        live.glue_version().map(str::to_owned),
        def.glue_version.clone(),
    );
    compare(
        "worker_type",
        live.worker_type().map(|w| w.as_str().to_owned()),
        def.worker_type.clone(),
    );
    compare(
        "number_of_workers",
        live.number_of_workers().map(|n| n.to_string()),
        def.number_of_workers.map(|n| n.to_string()),
    );
    compare(
        "max_concurrent_runs",
        Some(
            live.execution_property()
                .map_or(1, |p| p.max_concurrent_runs())
                .to_string(),
        ),
        def.max_concurrent_runs.map(|n| n.to_string()),
    );
    compare(
        "max_retries",
        Some(live.max_retries().to_string()),
        def.max_retries.map(|n| n.to_string()),
    );
    compare(
        "timeout",
        live.timeout().map(|m| format!("{m}m")),
        wanted.timeout_minutes.map(|m| format!("{m}m")),
    );
    compare(
        "description",
        live.description().map(str::to_owned),
        def.description.clone(),
    );
    let live_args = live.default_arguments();
    for (key, value) in &def.default_arguments {
        compare(
            &format!("default_arguments.{key}"),
            live_args.and_then(|a| a.get(key)).cloned(),
            Some(value.clone()),
        );
    }
    out
}

/// The live definition with the step's fields applied. UpdateJob replaces the whole
/// definition (what it leaves out is reset), so everything the step does not set is carried
/// over from the live job — including default arguments the step does not list.
pub(crate) fn merged_update(live: &Job, wanted: &Wanted<'_>) -> JobUpdate {
    let def = wanted.def;
    let mut arguments = live.default_arguments().cloned().unwrap_or_default();
    arguments.extend(to_map(&def.default_arguments));
    let live_command = live.command();
    let command = JobCommand::builder()
        .name(
            def.command
                .clone()
                .or_else(|| live_command.and_then(|c| c.name()).map(str::to_owned))
                .unwrap_or_else(|| DEFAULT_COMMAND.to_owned()),
        )
        .script_location(&wanted.script_location)
        .set_python_version(def.python_version.clone().or_else(|| {
            live_command
                .and_then(|c| c.python_version())
                .map(str::to_owned)
        }))
        .set_runtime(live_command.and_then(|c| c.runtime()).map(str::to_owned))
        .build();
    let worker_type = def
        .worker_type
        .as_deref()
        .map(WorkerType::from)
        .or_else(|| live.worker_type().cloned());
    let max_concurrent_runs = def
        .max_concurrent_runs
        .map(to_i32)
        .or_else(|| live.execution_property().map(|p| p.max_concurrent_runs()));
    JobUpdate::builder()
        .role(&def.role)
        .command(command)
        .set_description(
            def.description
                .clone()
                .or_else(|| live.description().map(str::to_owned)),
        )
        .set_log_uri(live.log_uri().map(str::to_owned))
        .set_glue_version(
            def.glue_version
                .clone()
                .or_else(|| live.glue_version().map(str::to_owned)),
        )
        // MaxCapacity and worker settings exclude each other.
        .set_max_capacity(if worker_type.is_none() {
            live.max_capacity()
        } else {
            None
        })
        .set_number_of_workers(
            def.number_of_workers
                .map(to_i32)
                .or_else(|| live.number_of_workers()),
        )
        .set_worker_type(worker_type)
        .set_execution_property(
            max_concurrent_runs
                .map(|n| ExecutionProperty::builder().max_concurrent_runs(n).build()),
        )
        .max_retries(def.max_retries.map_or(live.max_retries(), to_i32))
        .set_timeout(wanted.timeout_minutes.or_else(|| live.timeout()))
        .set_default_arguments((!arguments.is_empty()).then_some(arguments))
        .set_non_overridable_arguments(live.non_overridable_arguments().cloned())
        .set_connections(live.connections().cloned())
        .set_security_configuration(live.security_configuration().map(str::to_owned))
        .set_notification_property(live.notification_property().cloned())
        .set_execution_class(live.execution_class().cloned())
        .build()
}

fn to_map(args: &indexmap::IndexMap<String, String>) -> HashMap<String, String> {
    args.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Step numbers are small (workers, retries): saturate rather than fail on absurd values.
fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
