//! `flowctl run` and `flowctl backfill`: create runs and execute them in this process.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use flowctl_engine::job::JobRegistry;
use flowctl_engine::{Engine, OnShutdown, RunOutcome, TriggerRequest};
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::{RunRecord, RunState, Store};

use super::{engine_error, new_engine, open_store, require_dag, store_error};
use crate::error::{CliError, CliResult};
use crate::output::{errln, out};
use crate::progress::Progress;
use crate::project::Project;
use crate::signals::Shutdown;

/// Runs `flowctl run DAG`.
pub async fn run(
    project: &Project,
    registry: JobRegistry,
    dag: &str,
    date: Option<&str>,
    params: &[String],
    target: &str,
) -> CliResult {
    let store = open_store(project).await?;
    let params = parse_params(params)?;
    let date = match date {
        Some(text) => Some(parse_user_date(
            text,
            dag_timezone(&store, &registry, dag).await?,
        )?),
        None => None,
    };
    warn_if_files_changed(project, &store, dag).await;
    let engine = new_foreground_engine(project, registry, store, target)?;
    let request = TriggerRequest {
        date,
        params,
        target: Some(target.to_string()),
    };
    // Listening before the run exists: a signal from now on stops it cleanly.
    let shutdown = foreground_shutdown()?;
    let run = engine.trigger(dag, &request).await.map_err(engine_error)?;
    out!("run {} of {} (target {target})", run.run_id, run.dag_id);
    let (events, progress) = Progress::start(false);
    let outcome = engine.execute_run(&run, &events, shutdown.token()).await;
    drop(events);
    progress.finish().await;
    super::flush_foreground_notifications(&engine, &shutdown).await;
    let outcome = outcome.map_err(engine_error)?;
    if let Some(err) = stopped_error(&shutdown, &outcome) {
        return Err(err);
    }
    print_outputs(engine.store(), &outcome.run).await;
    finish_message(&outcome.run)
}

/// The engine of a command that executes runs in the foreground (`run`, `backfill`,
/// `clear`): a SIGINT or SIGTERM cancels the running steps and ends the run `failed`, so
/// that nothing is left `running` when the command exits.
pub fn new_foreground_engine(
    project: &Project,
    registry: JobRegistry,
    store: Store,
    target: &str,
) -> CliResult<Engine> {
    let engine = new_engine(project, registry, store, target)?;
    engine.set_on_shutdown(OnShutdown::Fail);
    Ok(engine)
}

/// The signal handlers of a command executing runs in the foreground.
pub fn foreground_shutdown() -> CliResult<Shutdown> {
    Shutdown::listen(
        "stopping: cancelling the running steps; the run ends failed",
        "the run stays `running` until its lease expires, then `flowctl clear` takes it",
    )
}

/// The error ending a command whose run was stopped by a signal (exit 130 for SIGINT, 143
/// for SIGTERM), whatever the run's state: the caller asked to stop.
pub fn stopped_error(shutdown: &Shutdown, outcome: &RunOutcome) -> Option<CliError> {
    let run = &outcome.run;
    shutdown.error(if outcome.interrupted {
        format!(
            "run {} of {} stopped: the steps it cut short and the run are marked {}; \
             `flowctl clear {} {} --failed` runs them again",
            run.run_id, run.dag_id, run.state, run.dag_id, run.run_id
        )
    } else {
        format!(
            "stopped; run {} of {} had already ended {}",
            run.run_id, run.dag_id, run.state
        )
    })
}

/// Most steps whose outputs are listed after a run (a 10,000-step DAG prints no wall of text).
const OUTPUT_LINES: usize = 40;

/// Prints the outputs the run's steps published, one line per step: the run's summary.
async fn print_outputs(store: &Store, run: &RunRecord) {
    let Ok(outputs) = store.run_outputs(run.id).await else {
        return;
    };
    if outputs.is_empty() {
        return;
    }
    out!("outputs:");
    for (step, values) in outputs.iter().take(OUTPUT_LINES) {
        let pairs: Vec<String> = values
            .iter()
            .map(|(k, v)| {
                let v = v.replace('\n', " ");
                let shown: String = v.chars().take(80).collect();
                if shown.len() < v.len() {
                    format!("{k}={shown}…")
                } else {
                    format!("{k}={shown}")
                }
            })
            .collect();
        out!("  {step}: {}", pairs.join("  "));
    }
    if outputs.len() > OUTPUT_LINES {
        out!(
            "  … {} more steps (flowctl tasks {} {} --json)",
            outputs.len() - OUTPUT_LINES,
            run.dag_id,
            run.run_id
        );
    }
}

/// Runs execute the applied version: say so when the DAG's file has changed since `apply`.
async fn warn_if_files_changed(project: &Project, store: &Store, dag: &str) {
    let Ok(Some(record)) = store.get_dag(dag).await else {
        return;
    };
    let path = project.dir.join(&record.source_path);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    if flowctl_model::load::content_hash(&text) != record.version_hash {
        errln!(
            "warning: {} changed since it was applied; this run uses the applied version \
             (run `flowctl apply` to use your changes)",
            record.source_path
        );
    }
}

/// Prints the final line of a run and maps its state to the exit code.
fn finish_message(run: &RunRecord) -> CliResult {
    match run.state {
        RunState::Success => {
            out!("run {} of {}: success", run.run_id, run.dag_id);
            Ok(())
        }
        state => Err(CliError::failed(format!(
            "run {} of {} ended {state}; see `flowctl tasks {} latest` and `flowctl logs`",
            run.run_id, run.dag_id, run.dag_id
        ))),
    }
}

/// Runs `flowctl backfill DAG --from D --to D`.
pub async fn backfill(
    project: &Project,
    registry: JobRegistry,
    dag: &str,
    from: &str,
    to: &str,
    params: &[String],
    target: &str,
) -> CliResult {
    if !params.is_empty() {
        // Backfilled runs use the DAG's declared params, like scheduled runs.
        return Err(CliError::usage(
            "backfill runs use the DAG's declared params; --param is only for `flowctl run`",
        ));
    }
    let store = open_store(project).await?;
    let tz = dag_timezone(&store, &registry, dag).await?;
    let (from, to) = (parse_user_date(from, tz)?, parse_user_date(to, tz)?);
    let engine = new_foreground_engine(project, registry, store, target)?;
    let shutdown = foreground_shutdown()?;
    let (events, progress) = Progress::start(true);
    let report = engine
        .backfill(dag, from, to, &events, shutdown.token())
        .await;
    drop(events);
    progress.finish().await;
    super::flush_foreground_notifications(&engine, &shutdown).await;
    let report = report.map_err(engine_error)?;
    let failed: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| !o.succeeded())
        .map(|o| o.run.run_id.as_str())
        .collect();
    out!(
        "backfill of {dag}: {} run{} executed, {} failed, {} interval{} skipped (already had a run)",
        report.outcomes.len(),
        if report.outcomes.len() == 1 { "" } else { "s" },
        failed.len(),
        report.skipped.len(),
        if report.skipped.len() == 1 { "" } else { "s" },
    );
    let stopped: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.interrupted)
        .map(|o| o.run.run_id.as_str())
        .collect();
    let stopped = if stopped.is_empty() {
        "no run was cut short".to_string()
    } else {
        format!(
            "runs cut short, marked failed (`flowctl clear {dag} RUN --failed` runs them again): {}",
            stopped.join(", ")
        )
    };
    if let Some(err) = shutdown.error(format!(
        "backfill of {dag} stopped before its end; {stopped}"
    )) {
        return Err(err);
    }
    if !failed.is_empty() {
        return Err(CliError::failed(format!(
            "failed runs: {}",
            failed.join(", ")
        )));
    }
    Ok(())
}

/// `--param k=v` pairs; values stay strings (the engine converts them to the type of the
/// param's default).
pub fn parse_params(params: &[String]) -> CliResult<BTreeMap<String, serde_json::Value>> {
    let mut map = BTreeMap::new();
    for pair in params {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::usage(format!(
                "--param `{pair}` is not of the form KEY=VALUE"
            )));
        };
        if key.is_empty() {
            return Err(CliError::usage(format!(
                "--param `{pair}` has an empty name"
            )));
        }
        map.insert(
            key.to_string(),
            serde_json::Value::String(value.to_string()),
        );
    }
    Ok(map)
}

/// The time zone of an applied DAG (dates on the command line without an offset are in it).
async fn dag_timezone(store: &Store, registry: &JobRegistry, dag: &str) -> CliResult<Tz> {
    let record = require_dag(store, dag).await?;
    let version = store
        .get_dag_version(dag, &record.version_hash)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            CliError::environment(format!("DAG `{dag}`: its applied version is missing"))
        })?;
    let catalog = registry.catalog();
    let options = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    Ok(parse_dag(&version.source_path, &version.source, &options)
        .map(|d| d.timezone)
        .unwrap_or(Tz::UTC))
}

/// `2026-01-31`, `2026-01-31T06:00[:00]`, or RFC 3339; without an offset, in `tz`.
pub fn parse_user_date(text: &str, tz: Tz) -> CliResult<DateTime<Utc>> {
    flowctl_model::schedule::parse_local_datetime(text, tz)
        .map_err(|why| CliError::usage(format!("invalid date `{text}`: {why}")))
}
