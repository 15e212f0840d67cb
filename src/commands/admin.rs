//! `flowctl pause`, `unpause` and `clear`.

use flowctl_engine::ClearScope;
use flowctl_engine::job::JobRegistry;

use super::run::{foreground_shutdown, new_foreground_engine, stopped_error};
use super::{engine_error, find_run, open_store, require_dag, store_error};
use crate::error::{CliError, CliResult};
use crate::output::out;
use crate::progress::Progress;
use crate::project::Project;

/// `flowctl pause DAG` / `flowctl unpause DAG`.
pub async fn set_paused(project: &Project, dag: &str, paused: bool) -> CliResult {
    let store = open_store(project).await?;
    require_dag(&store, dag).await?;
    store.set_paused(dag, paused).await.map_err(store_error)?;
    out!("{dag}: {}", if paused { "paused" } else { "unpaused" });
    Ok(())
}

/// `flowctl clear DAG RUN [--failed] [--no-run]`.
pub async fn clear(
    project: &Project,
    registry: JobRegistry,
    dag: &str,
    run: &str,
    failed_only: bool,
    no_run: bool,
    target: &str,
) -> CliResult {
    let store = open_store(project).await?;
    let run = find_run(&store, dag, run).await?;
    let engine = new_foreground_engine(project, registry, store, target)?;
    let scope = if failed_only {
        ClearScope::Failed
    } else {
        ClearScope::All
    };
    let report = engine
        .clear(dag, &run.run_id, scope)
        .await
        .map_err(engine_error)?;
    if report.cleared.is_empty() {
        out!("nothing to clear in {} {}", dag, run.run_id);
        return Ok(());
    }
    out!(
        "cleared {} {}: {}",
        dag,
        run.run_id,
        report.cleared.join(", ")
    );
    if no_run {
        return Ok(());
    }
    let shutdown = foreground_shutdown()?;
    let (events, progress) = Progress::start(false);
    let outcome = engine
        .execute_run(&report.run, &events, shutdown.token())
        .await;
    drop(events);
    progress.finish().await;
    super::flush_foreground_notifications(&engine, &shutdown).await;
    let outcome = outcome.map_err(engine_error)?;
    if let Some(err) = stopped_error(&shutdown, &outcome) {
        return Err(err);
    }
    if outcome.succeeded() {
        out!("run {} of {dag}: success", outcome.run.run_id);
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "run {} of {dag} ended {}",
            outcome.run.run_id, outcome.run.state
        )))
    }
}
