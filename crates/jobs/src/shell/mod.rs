//! The `shell` job type: runs a command in its own process group, streams its output into
//! the attempt's log, and reads step outputs from `$FLOWCTL_OUTPUT`.
//!
//! Its fields are [`ShellConfig`], checked offline by `flowctl validate` and again on the
//! rendered fields before every attempt (a blank command, an empty program, an unusable
//! environment variable name, a NUL character). What only the attempt can know (a missing
//! working directory, a program that is not there) fails it before the command starts.

mod config;
mod lifeline;
mod log_pump;
mod outputs;
mod process;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use chrono::SecondsFormat;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, LogStream};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, timeout_at};

pub use config::{EnvName, ShellCommand, ShellConfig};
pub use process::TERMINATE_GRACE;

use lifeline::Lifeline;
use outputs::{MAX_OUTPUT_FILE_BYTES, parse_outputs};
use process::{ProcessGroup, describe_status};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "shell";

/// How long to keep reading stdout/stderr after the command and its process group are gone:
/// only a process that left the group (`setsid`, a daemon) can still hold them open.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The `shell` job type.
pub struct ShellJob {
    /// [`TERMINATE_GRACE`]; shorter in tests of the SIGKILL path.
    terminate_grace: Duration,
}

impl ShellJob {
    /// The job type, ready to register.
    pub fn new() -> Self {
        Self {
            terminate_grace: TERMINATE_GRACE,
        }
    }
}

impl Default for ShellJob {
    fn default() -> Self {
        Self::new()
    }
}

impl Job for ShellJob {
    type Config = ShellConfig;
    const TYPE: &'static str = TYPE_NAME;

    // No telemetry: its outputs are whatever the command writes to `$FLOWCTL_OUTPUT`.

    async fn run(&self, config: ShellConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        run_command(&config, &ctx, self.terminate_grace).await
    }
}

/// One attempt of a `shell` step.
async fn run_command(
    config: &ShellConfig,
    ctx: &JobContext,
    grace: Duration,
) -> Result<JobOutput, JobError> {
    if ctx.cancel.is_cancelled() {
        return Err(JobError::failed("cancelled before the command started"));
    }
    let cwd = working_dir(config, &ctx.project_dir).await?;
    // Created (empty) before the command starts so `>> "$FLOWCTL_OUTPUT"` works; deleted when
    // dropped, whatever happens to the attempt.
    let output_file = tempfile::Builder::new()
        .prefix("flowctl-output-")
        .tempfile()
        .map_err(|err| {
            JobError::failed(format!("cannot create the $FLOWCTL_OUTPUT file: {err}"))
        })?;

    let (program, args) = config.command.program_and_args();
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&cwd)
        .envs(flowctl_env(ctx, output_file.path()))
        .envs(
            config
                .env
                .iter()
                .map(|(name, value)| (name.as_str(), value)),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so stopping the attempt stops everything it started.
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|err| spawn_error(program, &cwd, &err))?;
    // From here on, dropping `group` (an early return, or the engine dropping this future)
    // kills every process the command started.
    let mut group = ProcessGroup::of(&child);
    // And if flowctl itself dies (kill -9), the watcher stops the group.
    let _lifeline = match group.pgid().map(Lifeline::watch) {
        Some(Ok(lifeline)) => Some(lifeline),
        Some(Err(err)) => {
            return Err(JobError::failed(format!(
                "cannot start the command's lifeline (`/bin/sh`): {err}"
            )));
        }
        None => None,
    };
    tracing::debug!(task = %ctx.task_id, pid = ?child.id(), program, "shell command started");

    let readers = LogReaders::start(&mut child, ctx);
    let result = supervise(&mut child, &mut group, ctx, grace).await;
    readers.finish(ctx).await;
    result?;
    read_outputs(output_file.path()).await
}

/// Waits for the command to exit, or stops it when the attempt is cancelled.
async fn supervise(
    child: &mut Child,
    group: &mut ProcessGroup,
    ctx: &JobContext,
    grace: Duration,
) -> Result<(), JobError> {
    let exit = tokio::select! {
        // Stop requests win a tie: the engine has already decided the attempt is over.
        biased;
        () = ctx.cancel.cancelled() => None,
        status = child.wait() => Some(status),
    };
    let status = match exit {
        Some(Ok(status)) => status,
        Some(Err(err)) => {
            // The group is left armed: the caller's drop of it kills and the OS reaps.
            group.signal(Signal::SIGKILL);
            return Err(JobError::failed(format!(
                "waiting for the command failed: {err}"
            )));
        }
        None => return Err(cancel(child, group, ctx, grace).await),
    };
    if group.kill_leftovers() {
        ctx.log
            .system("killed processes the command left running in its process group");
    }
    if status.success() {
        Ok(())
    } else {
        let message = format!("command exited with {}", describe_status(status));
        Err(JobError::failed(message).with_exit_code(status.code()))
    }
}

/// Stops a cancelled command and says how it went.
async fn cancel(
    child: &mut Child,
    group: &mut ProcessGroup,
    ctx: &JobContext,
    grace: Duration,
) -> JobError {
    ctx.log.system(format!(
        "cancelled: sending SIGTERM to the command's process group (SIGKILL after {grace:?})"
    ));
    match group.terminate(child, grace).await {
        Ok(stopped) if stopped.killed => JobError::failed(format!(
            "cancelled: processes still running {grace:?} after SIGTERM were killed with \
             SIGKILL (command ended with {})",
            describe_status(stopped.status)
        ))
        .with_exit_code(stopped.status.code()),
        Ok(stopped) => JobError::failed(format!(
            "cancelled: command ended with {} after SIGTERM",
            describe_status(stopped.status)
        ))
        .with_exit_code(stopped.status.code()),
        Err(err) => JobError::failed(format!("cancelled; waiting for the command failed: {err}")),
    }
}

/// The attempt's working directory, checked up front so a missing one is reported as such
/// rather than as the program not being found.
async fn working_dir(config: &ShellConfig, project_dir: &Path) -> Result<PathBuf, JobError> {
    let cwd = match &config.cwd {
        Some(dir) => project_dir.join(dir),
        None => project_dir.to_path_buf(),
    };
    match tokio::fs::metadata(&cwd).await {
        Ok(meta) if meta.is_dir() => Ok(cwd),
        Ok(_) => Err(JobError::fatal(format!(
            "working directory {}: not a directory",
            cwd.display()
        ))),
        Err(err) => Err(JobError::fatal(format!(
            "working directory {}: {err}",
            cwd.display()
        ))),
    }
}

/// The `FLOWCTL_*` variables describing the attempt.
fn flowctl_env(ctx: &JobContext, output_file: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let rfc3339 =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    vec![
        ("FLOWCTL_OUTPUT", output_file.as_os_str().to_owned()),
        ("FLOWCTL_DAG_ID", ctx.dag_id.clone().into()),
        ("FLOWCTL_RUN_ID", ctx.run_id.clone().into()),
        ("FLOWCTL_TASK_ID", ctx.task_id.clone().into()),
        ("FLOWCTL_TRY_NUMBER", ctx.try_number.to_string().into()),
        ("FLOWCTL_DS", ctx.ds().into()),
        (
            "FLOWCTL_DATA_INTERVAL_START",
            rfc3339(ctx.data_interval_start).into(),
        ),
        (
            "FLOWCTL_DATA_INTERVAL_END",
            rfc3339(ctx.data_interval_end).into(),
        ),
        ("FLOWCTL_TARGET", ctx.target.name.clone().into()),
    ]
}

/// A command that could not start. Missing or forbidden files and bad arguments are
/// configuration problems no retry fixes; anything else (out of processes or memory) may pass.
fn spawn_error(program: &str, cwd: &Path, err: &io::Error) -> JobError {
    let message = format!("cannot start {program:?} in {}: {err}", cwd.display());
    match err.kind() {
        io::ErrorKind::NotFound
        | io::ErrorKind::PermissionDenied
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::InvalidInput => JobError::fatal(message),
        _ if err.raw_os_error() == Some(nix::libc::ENOEXEC) => JobError::fatal(message),
        _ => JobError::failed(message),
    }
}

/// Reads `$FLOWCTL_OUTPUT` after a successful exit.
async fn read_outputs(path: &Path) -> Result<JobOutput, JobError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|err| JobError::failed(format!("cannot read $FLOWCTL_OUTPUT: {err}")))?;
    // One byte over the limit is enough to know it was exceeded.
    let mut bytes = Vec::new();
    file.take(MAX_OUTPUT_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|err| JobError::failed(format!("cannot read $FLOWCTL_OUTPUT: {err}")))?;
    if bytes.len() > MAX_OUTPUT_FILE_BYTES {
        return Err(JobError::failed(format!(
            "$FLOWCTL_OUTPUT is larger than {} KiB: outputs are for small values",
            MAX_OUTPUT_FILE_BYTES / 1024
        )));
    }
    let outputs = parse_outputs(&bytes).map_err(|err| {
        JobError::failed(format!(
            "$FLOWCTL_OUTPUT line {}: {}",
            err.line, err.message
        ))
    })?;
    Ok(JobOutput { outputs })
}

/// The tasks copying stdout and stderr into the log. Aborted when dropped, so a dropped
/// attempt leaves no task behind.
struct LogReaders {
    tasks: Vec<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LogReaders {
    fn start(child: &mut Child, ctx: &JobContext) -> Self {
        let mut tasks = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            let pump = log_pump::pump_lines(stdout, LogStream::Stdout, ctx.log.clone());
            tasks.push(AbortOnDrop(tokio::spawn(pump)));
        }
        if let Some(stderr) = child.stderr.take() {
            let pump = log_pump::pump_lines(stderr, LogStream::Stderr, ctx.log.clone());
            tasks.push(AbortOnDrop(tokio::spawn(pump)));
        }
        Self { tasks }
    }

    /// Waits for both streams to end (bounded: see [`LOG_DRAIN_TIMEOUT`]).
    async fn finish(mut self, ctx: &JobContext) {
        let deadline = Instant::now() + LOG_DRAIN_TIMEOUT;
        for task in &mut self.tasks {
            match timeout_at(deadline, &mut task.0).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => ctx.log.system(format!("reading the command's output failed: {err}")),
                Ok(Err(join_err)) => ctx.log.system(format!("reading the command's output failed: {join_err}")),
                Err(_elapsed) => ctx.log.system(
                    "stopped reading the command's output: a process outside its process group still holds it open",
                ),
            }
        }
    }
}
