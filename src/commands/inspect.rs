//! Inspection commands: `dags`, `runs`, `tasks`, `logs`.

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use flowctl_engine::job::JobRegistry;
use flowctl_model::load::{LoadOptions, parse_dag};
use serde_json::json;

use super::{find_run, open_store, require_dag, store_error};
use crate::error::{CliError, CliResult};
use crate::output::{errln, out, out_text};
use crate::project::Project;

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(header.to_vec());
    table
}

fn ts(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn print_json(value: &serde_json::Value) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::environment(format!("cannot encode JSON: {e}")))?;
    out!("{text}");
    Ok(())
}

/// `flowctl dags`: applied DAGs with schedule, paused flag, last run and next run.
pub async fn dags(project: &Project, registry: &JobRegistry, as_json: bool) -> CliResult {
    let store = open_store(project).await?;
    let catalog = registry.catalog();
    let options = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    let mut rows = Vec::new();
    for record in store.list_dags().await.map_err(store_error)? {
        let version = store
            .get_dag_version(&record.dag_id, &record.version_hash)
            .await
            .map_err(store_error)?;
        let dag = version.and_then(|v| parse_dag(&v.source_path, &v.source, &options).ok());
        let last = store
            .list_runs(&record.dag_id, 1)
            .await
            .map_err(store_error)?
            .into_iter()
            .next();
        let schedule = dag
            .as_ref()
            .and_then(|d| d.schedule.as_ref().map(|s| s.expr().to_string()));
        let next_run = dag.as_ref().filter(|_| !record.paused).and_then(|d| {
            let schedule = d.schedule.as_ref()?;
            // A run is created at the end of its interval: the next tick after the last run's end.
            let after = last
                .as_ref()
                .map(|r| r.interval_end)
                .unwrap_or_else(Utc::now)
                .max(Utc::now());
            schedule.next_after(after, d.timezone)
        });
        rows.push(json!({
            "dag_id": record.dag_id,
            "paused": record.paused,
            "schedule": schedule,
            "steps": dag.as_ref().map(|d| d.steps.len()),
            "source_path": record.source_path,
            "version_hash": record.version_hash,
            "updated_at": record.updated_at,
            "last_run": last.as_ref().map(|r| json!({"run_id": r.run_id, "state": r.state})),
            "next_run": next_run,
        }));
    }
    if as_json {
        return print_json(&serde_json::Value::Array(rows));
    }
    if rows.is_empty() {
        out!("no DAGs applied yet: run `flowctl apply`");
        return Ok(());
    }
    let mut t = table(&[
        "DAG",
        "SCHEDULE",
        "PAUSED",
        "STEPS",
        "LAST RUN",
        "STATE",
        "NEXT RUN (UTC)",
    ]);
    for r in &rows {
        t.add_row(vec![
            r["dag_id"].as_str().unwrap_or("").to_string(),
            r["schedule"].as_str().unwrap_or("manual").to_string(),
            if r["paused"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            r["steps"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            r["last_run"]["run_id"].as_str().unwrap_or("-").to_string(),
            r["last_run"]["state"].as_str().unwrap_or("-").to_string(),
            r["next_run"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .map(|t| ts(Some(t)))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    out!("{t}");
    Ok(())
}

/// `flowctl runs DAG`: newest first.
pub async fn runs(project: &Project, dag: &str, limit: u32, as_json: bool) -> CliResult {
    let store = open_store(project).await?;
    require_dag(&store, dag).await?;
    let runs = store.list_runs(dag, limit).await.map_err(store_error)?;
    if as_json {
        let value = serde_json::to_value(&runs)
            .map_err(|e| CliError::environment(format!("cannot encode JSON: {e}")))?;
        return print_json(&rename_run_type(value));
    }
    if runs.is_empty() {
        out!("DAG `{dag}` has no runs yet");
        return Ok(());
    }
    let mut t = table(&[
        "RUN",
        "STATE",
        "TRIGGER",
        "INTERVAL START (UTC)",
        "INTERVAL END",
        "STARTED",
        "ENDED",
    ]);
    for r in &runs {
        t.add_row(vec![
            r.run_id.clone(),
            r.state.to_string(),
            r.run_type.to_string(),
            ts(Some(r.interval_start)),
            ts(Some(r.interval_end)),
            ts(r.started_at),
            ts(r.ended_at),
        ]);
    }
    out!("{t}");
    Ok(())
}

/// The JSON of runs says `trigger` (the user-facing word) for the stored run type.
fn rename_run_type(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(list) = value.as_array_mut() {
        for run in list {
            if let Some(obj) = run.as_object_mut()
                && let Some(kind) = obj.remove("run_type")
            {
                obj.insert("trigger".into(), kind);
            }
        }
    }
    value
}

/// `flowctl tasks DAG RUN`.
pub async fn tasks(project: &Project, dag: &str, run: &str, as_json: bool) -> CliResult {
    let store = open_store(project).await?;
    let run = find_run(&store, dag, run).await?;
    let tasks = store.list_tasks(run.id).await.map_err(store_error)?;
    if as_json {
        let mut list = Vec::with_capacity(tasks.len());
        for task in &tasks {
            let attempts = store.list_attempts(task.id).await.map_err(store_error)?;
            let mut value = serde_json::to_value(task)
                .map_err(|e| CliError::environment(format!("cannot encode JSON: {e}")))?;
            value["run_id"] = json!(run.run_id);
            value["attempts"] = serde_json::to_value(&attempts).unwrap_or_default();
            list.push(value);
        }
        return print_json(&serde_json::Value::Array(list));
    }
    out!("{} {}: {}", run.dag_id, run.run_id, run.state);
    let mut t = table(&[
        "STEP", "STATE", "TRY", "STARTED", "ENDED", "DURATION", "ERROR",
    ]);
    for task in &tasks {
        let attempts = store.list_attempts(task.id).await.map_err(store_error)?;
        let error = attempts
            .last()
            .and_then(|a| a.error.clone())
            .unwrap_or_default();
        let duration = match (task.started_at, task.ended_at) {
            (Some(s), Some(e)) => format!("{:.2}s", (e - s).num_milliseconds() as f64 / 1000.0),
            _ => "-".into(),
        };
        t.add_row(vec![
            task.task_id.clone(),
            task.state.to_string(),
            format!("{}/{}", task.try_number, task.max_tries),
            ts(task.started_at),
            ts(task.ended_at),
            duration,
            error
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect(),
        ]);
    }
    out!("{t}");
    Ok(())
}

/// `flowctl logs DAG RUN STEP [--attempt N]`.
pub async fn logs(
    project: &Project,
    dag: &str,
    run: &str,
    step: &str,
    attempt: Option<u32>,
) -> CliResult {
    let store = open_store(project).await?;
    let run = find_run(&store, dag, run).await?;
    let Some(task) = store.get_task(run.id, step).await.map_err(store_error)? else {
        let steps: Vec<String> = store
            .list_tasks(run.id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        return Err(CliError::usage(format!(
            "run `{}` has no step `{step}`; steps: {}",
            run.run_id,
            steps.join(", ")
        )));
    };
    let attempts = store.list_attempts(task.id).await.map_err(store_error)?;
    let chosen = match attempt {
        Some(n) => attempts.iter().find(|a| a.try_number == n),
        None => attempts.last(),
    };
    let Some(chosen) = chosen else {
        return Err(CliError::usage(match attempt {
            Some(n) => format!(
                "step `{step}` has no attempt {n}; it has {} attempt{}",
                attempts.len(),
                if attempts.len() == 1 { "" } else { "s" }
            ),
            None => format!("step `{step}` has not run yet (state {})", task.state),
        }));
    };
    let log = store
        .read_log(task.id, chosen.try_number, 0)
        .await
        .map_err(store_error)?;
    out_text(&log.text);
    if !log.text.is_empty() && !log.text.ends_with('\n') {
        out!();
    }
    errln!(
        "-- {dag} {} {step} attempt {} of {}: {}{}",
        run.run_id,
        chosen.try_number,
        attempts.len(),
        chosen.state,
        chosen
            .error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(())
}
