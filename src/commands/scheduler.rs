//! `flowctl scheduler [--once]`.

use std::sync::Arc;

use flowctl_engine::SchedulerOptions;
use flowctl_engine::job::JobRegistry;
use flowctl_server::{SchedulerStatus, Server, ServerConfig};
use tokio_util::sync::CancellationToken;

use super::{engine_error, new_engine, open_store};
use crate::error::{CliError, CliResult};
use crate::output::{errln, out};
use crate::progress::Progress;
use crate::project::Project;
use crate::signals::Shutdown;

/// How the scheduler paces itself (from the command line).
pub struct Pace {
    /// One pass, then the runs it finds, then exit.
    pub once: bool,
    /// Longest sleep between passes.
    pub poll_interval: std::time::Duration,
    /// Most runs executed at once by this process.
    pub max_runs: Option<usize>,
}

/// Runs the scheduler until SIGTERM/SIGINT (or for one pass with `--once`), serving the web UI
/// and API beside it when `serve` is given.
pub async fn run(
    project: &Project,
    registry: JobRegistry,
    pace: Pace,
    target: &str,
    serve: Option<ServerConfig>,
) -> CliResult {
    let Pace {
        once,
        poll_interval,
        max_runs,
    } = pace;
    let store = open_store(project).await?;
    let engine = new_engine(project, registry, store, target)?;
    let shutdown = shutdown_token()?;
    let status = SchedulerStatus::new();
    let serving = match serve {
        Some(config) => {
            let bind = config.bind;
            let server = Server::new(engine.clone(), config)
                .map_err(super::serve::server_error)?
                .with_scheduler_status(status.clone());
            out!("serving the web UI and API on http://{bind}");
            Some(tokio::spawn(server.serve(shutdown.clone())))
        }
        None => None,
    };
    if !once {
        out!(
            "scheduler {} started (target {target}); SIGTERM or Ctrl-C stops it gracefully",
            engine.settings().holder_id
        );
    }
    let (events, progress) = Progress::start(true);
    let lag_status = status.clone();
    let options = SchedulerOptions {
        once,
        poll_interval,
        max_runs,
        on_pass: Some(Arc::new(move |lag| lag_status.record_loop_lag(lag))),
    };
    let report = engine.scheduler(&options, &events, &shutdown).await;
    drop(events);
    progress.finish().await;
    super::flush_notifications(&engine).await;
    if let Some(serving) = serving {
        // The server stops with the scheduler (`--once` ends it after the pass).
        shutdown.cancel();
        match serving.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(super::serve::server_error(err)),
            Err(err) => return Err(CliError::failed(format!("the web server crashed: {err}"))),
        }
    }
    let report = report.map_err(engine_error)?;
    for error in &report.errors {
        errln!("error: {error}");
    }
    let failed: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| !o.interrupted && !o.succeeded())
        .map(|o| format!("{} {}", o.run.dag_id, o.run.run_id))
        .collect();
    out!(
        "scheduler: {} run{} created, {} executed, {} failed",
        report.created.len(),
        if report.created.len() == 1 { "" } else { "s" },
        report.outcomes.len(),
        failed.len()
    );
    if once && !(failed.is_empty() && report.errors.is_empty()) {
        return Err(CliError::failed(format!(
            "failed runs: {}",
            failed.join(", ")
        )));
    }
    Ok(())
}

/// Cancelled on SIGTERM or SIGINT (a second signal exits at once).
pub fn shutdown_token() -> CliResult<CancellationToken> {
    let shutdown = Shutdown::listen(
        "stopping: no new work is taken; running steps may finish",
        "steps still running are taken over once their leases expire",
    )?;
    Ok(shutdown.token().clone())
}
