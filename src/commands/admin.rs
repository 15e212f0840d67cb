//! `flowctl pause`, `unpause` and `clear`.

use flowctl_engine::ClearScope;
use flowctl_engine::job::JobRegistry;

use super::run::interrupt_token;
use super::{engine_error, find_run, new_engine, open_store, require_dag, store_error};
use crate::error::{CliError, CliResult};
use crate::progress::Progress;
use crate::project::Project;

/// `flowctl pause DAG` / `flowctl unpause DAG`.
pub async fn set_paused(project: &Project, dag: &str, paused: bool) -> CliResult {
    let store = open_store(project).await?;
    require_dag(&store, dag).await?;
    store.set_paused(dag, paused).await.map_err(store_error)?;
    println!("{dag}: {}", if paused { "paused" } else { "unpaused" });
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
    let engine = new_engine(project, registry, store, target)?;
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
        println!("nothing to clear in {} {}", dag, run.run_id);
        return Ok(());
    }
    println!(
        "cleared {} {}: {}",
        dag,
        run.run_id,
        report.cleared.join(", ")
    );
    if no_run {
        return Ok(());
    }
    let shutdown = interrupt_token();
    let (events, progress) = Progress::start(false);
    let outcome = engine.execute_run(&report.run, &events, &shutdown).await;
    drop(events);
    progress.finish().await;
    super::flush_notifications(&engine).await;
    let outcome = outcome.map_err(engine_error)?;
    if outcome.interrupted {
        return Err(CliError::interrupted());
    }
    if outcome.succeeded() {
        println!("run {} of {dag}: success", outcome.run.run_id);
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "run {} of {dag} ended {}",
            outcome.run.run_id, outcome.run.state
        )))
    }
}
