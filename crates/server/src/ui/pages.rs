//! Read-only pages: the DAG list, a DAG (graph and runs grid), a run, a step attempt's log.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use flowctl_state::{AttemptState, RunState};
use maud::{Markup, PreEscaped, html};

use super::{Refresh, UiError, Viewer, badge, enc, graph, page, ts};
use crate::AppState;
use crate::read::DEFAULT_RUN_LIMIT;

/// Runs shown as dots per DAG in the list.
const LIST_RUNS: u32 = 8;

fn refresh(app: &AppState) -> Refresh {
    Refresh::Every(app.config.ui_refresh.as_secs().max(1))
}

/// `/`: every DAG with its schedule, next run and latest runs' states.
pub async fn dag_list(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let viewer = match Viewer::of(&app, &headers, "/") {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let mut dags = Vec::new();
    for record in app
        .engine
        .store()
        .list_dags()
        .await
        .map_err(crate::error::ApiError::from)?
    {
        dags.push(app.dag_info(&record, LIST_RUNS).await?);
    }
    let body = html! {
        h1 { "DAGs" }
        @if dags.is_empty() {
            p { "No DAG is applied yet: run " code { "flowctl apply" } "." }
        } @else {
            table #dags {
                thead { tr { th { "DAG" } th { "Schedule" } th { "Paused" } th { "Steps" }
                    th { "Latest runs (newest first)" } th { "Next run (UTC)" } } }
                tbody {
                    @for dag in &dags {
                        tr data-dag=(dag.dag_id) {
                            td { a href={ "/dags/" (enc(&dag.dag_id)) } { (dag.dag_id) }
                                @if let Some(d) = &dag.description { br; small { (d) } }
                                @if let Some(e) = &dag.load_error { br; small.error { (e) } } }
                            td { (dag.schedule.as_deref().unwrap_or("manual")) }
                            td { @if dag.paused { "yes" } @else { "no" } }
                            td { (dag.steps.len()) }
                            td.dots {
                                @for run in &dag.latest_runs {
                                    a class={ "s-" (run.state) } data-state=(run.state)
                                        title={ (run.run_id) ": " (run.state) }
                                        href={ "/dags/" (enc(&dag.dag_id)) "/runs/" (enc(&run.run_id)) } {}
                                }
                                @if dag.latest_runs.is_empty() { "no runs yet" }
                            }
                            td { (ts(dag.next_run)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page("DAGs", refresh(&app), &viewer, body).into_response())
}

/// `/dags/{dag}`: facts, actions, the graph and the runs grid.
pub async fn dag_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dag_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let viewer = match Viewer::of(&app, &headers, &format!("/dags/{}", enc(&dag_id))) {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let record = app.dag_record(&dag_id).await?;
    let info = app.dag_info(&record, 1).await?;
    let dag = app.current_dag(&record).await.ok();
    let store = app.engine.store();
    let mut runs = store
        .list_runs(&dag_id, DEFAULT_RUN_LIMIT)
        .await
        .map_err(crate::error::ApiError::from)?;
    runs.reverse();
    // Step states per run (oldest first) for the grid; the newest run's for the graph.
    let mut cells: Vec<HashMap<String, String>> = Vec::with_capacity(runs.len());
    for run in &runs {
        let tasks = store
            .list_tasks(run.id)
            .await
            .map_err(crate::error::ApiError::from)?;
        cells.push(
            tasks
                .into_iter()
                .map(|t| (t.task_id, t.state.to_string()))
                .collect(),
        );
    }
    // Rows: the current version's steps in order, then steps only older runs had.
    let mut steps: Vec<String> = dag
        .as_ref()
        .map(|d| {
            d.topological_order()
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for run_cells in &cells {
        let mut extra: Vec<&String> = run_cells.keys().filter(|s| !steps.contains(s)).collect();
        extra.sort();
        steps.extend(extra.into_iter().cloned());
    }
    let latest_states = cells.last().cloned().unwrap_or_default();
    let dag_path = format!("/dags/{}", enc(&dag_id));
    let body = html! {
        h1 { "DAG " (dag_id) " " @if info.paused { (badge("paused")) } }
        @if let Some(run) = query.get("triggered") {
            p.notice #triggered { "Triggered run " (run) "." }
        }
        @if let Some(d) = &info.description { p { (d) } }
        @if let Some(e) = &info.load_error { p.error { (e) } }
        dl.facts {
            dt { "Schedule" } dd { (info.schedule.as_deref().unwrap_or("manual")) " (" (info.timezone) ")" }
            dt { "Paused" } dd #paused { @if info.paused { "yes" } @else { "no" } }
            dt { "Next run (UTC)" } dd { (ts(info.next_run)) }
            dt { "File" } dd { (info.source_path) }
        }
        div.actions {
            a.button #trigger href={ (dag_path) "/trigger" } { "Trigger a run" } " "
            @if viewer.logged_in {
                @if info.paused {
                    form.inline method="post" action={ (dag_path) "/unpause" } {
                        button #unpause type="submit" { "Unpause" } }
                } @else {
                    form.inline method="post" action={ (dag_path) "/pause" } {
                        button #pause type="submit" { "Pause" } }
                }
            }
        }
        h2 { "Graph" }
        @if let Some(dag) = &dag {
            p.legend { "Coloured by the latest run's states." }
            (graph::svg(dag, &latest_states))
        }
        h2 { "Runs" }
        @if runs.is_empty() {
            p #no-runs { "No runs yet." }
        } @else {
            (legend())
            table.grid #grid {
                thead { tr {
                    th { "step \\ run" }
                    @for run in &runs {
                        th.run data-run=(run.run_id) data-state=(run.state) title={ (run.run_id) ": " (run.state) } {
                            a class={ "s-" (run.state) } href={ (dag_path) "/runs/" (enc(&run.run_id)) } {
                                (run.logical_date.format("%m-%d %H:%M:%S")) }
                        }
                    }
                } }
                tbody {
                    @for step in &steps {
                        tr data-step=(step) {
                            th { (step) }
                            @for (run, states) in runs.iter().zip(&cells) {
                                @let state = states.get(step).map(String::as_str).unwrap_or("none");
                                td.cell data-step=(step) data-run=(run.run_id) data-state=(state) {
                                    @if states.contains_key(step) {
                                        a class={ "s-" (state) } title={ (step) " · " (run.run_id) ": " (state) }
                                            href={ (dag_path) "/runs/" (enc(&run.run_id)) "/tasks/" (enc(step)) "/logs" } {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&format!("DAG {dag_id}"), refresh(&app), &viewer, body).into_response())
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for state in ["queued", "running", "success", "failed", "up_for_retry", "skipped", "upstream_failed"] {
                (badge(state)) " "
            }
        }
    }
}

/// `/dags/{dag}/runs/{run}`: the run's steps and attempts, outputs, quality results, clear.
pub async fn run_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let path = format!("/dags/{}/runs/{}", enc(&dag_id), enc(&run_id));
    let viewer = match Viewer::of(&app, &headers, &path) {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let run = app.find_run(&dag_id, &run_id).await?;
    let path = format!("/dags/{}/runs/{}", enc(&dag_id), enc(&run.run_id));
    let store = app.engine.store();
    let api = |e| crate::error::ApiError::from(e);
    let mut tasks = Vec::new();
    for task in store.list_tasks(run.id).await.map_err(api)? {
        let attempts = store.list_attempts(task.id).await.map_err(api)?;
        tasks.push((task, attempts));
    }
    let outputs: BTreeMap<String, BTreeMap<String, String>> =
        store.run_outputs(run.id).await.map_err(api)?;
    let quality = app.quality_results(&run).await?;
    let active = matches!(run.state, RunState::Queued | RunState::Running);
    let params = serde_json::to_string_pretty(&run.params).unwrap_or_default();
    let body = html! {
        p { a href={ "/dags/" (enc(&dag_id)) } { "← DAG " (dag_id) } }
        h1 { "Run " (run.run_id) " " (badge(run.state.as_str())) }
        dl.facts {
            dt { "Trigger" } dd { (run.run_type) }
            dt { "Data interval (UTC)" } dd { (ts(Some(run.interval_start))) " → " (ts(Some(run.interval_end))) }
            dt { "Target" } dd { (run.target) }
            dt { "Started" } dd { (ts(run.started_at)) }
            dt { "Ended" } dd { (ts(run.ended_at)) }
            dt { "Params" } dd { pre { (params) } }
        }
        @if viewer.logged_in && !active {
            form.inline method="post" action={ (path) "/clear" } {
                button #clear-all type="submit" { "Clear all steps and re-run" } }
            " "
            form.inline method="post" action={ (path) "/clear" } {
                input type="hidden" name="failed_only" value="true";
                button #clear-failed type="submit" { "Clear failed steps" } }
        }
        h2 { "Steps" }
        table #steps {
            thead { tr { th { "Step" } th { "State" } th { "Try" } th { "Started" } th { "Ended" }
                th { "Duration" } th { "Logs" } th { "Error" } } }
            tbody {
                @for (task, attempts) in &tasks {
                    tr data-step=(task.task_id) data-state=(task.state) {
                        td { (task.task_id) }
                        td { (badge(task.state.as_str())) }
                        td { (task.try_number) "/" (task.max_tries) }
                        td { (ts(task.started_at)) }
                        td { (ts(task.ended_at)) }
                        td { (duration(task.started_at, task.ended_at)) }
                        td { @for a in attempts {
                            a href={ (path) "/tasks/" (enc(&task.task_id)) "/logs?attempt=" (a.try_number) }
                                title=(a.state) { "#" (a.try_number) } " "
                        } }
                        td { @if let Some(err) = attempts.last().and_then(|a| a.error.as_deref()) {
                            small { (err.lines().next().unwrap_or("")) } } }
                    }
                }
            }
        }
        @if !quality.is_empty() {
            h2 { "Quality results" }
            @for q in &quality {
                h3 { (q.step_id) @if let Some(t) = &q.table { " on " code { (t) } } " " (badge(&q.state)) }
                p { (q.passed) " passed, " (q.failed) " failed, " (q.warned) " warned" }
                @if !q.checks.is_empty() {
                    table.quality data-step=(q.step_id) {
                        thead { tr { th { "Check" } th { "Severity" } th { "Status" } th { "Details" } } }
                        tbody { @for c in &q.checks {
                            tr data-check=(c.name) data-status=(c.status) {
                                td { (c.name) } td { (c.severity) }
                                td { (badge(match c.status.as_str() { "passed" => "success", "warn" => "up_for_retry", _ => "failed" })) " " (c.status) }
                                td { (c.message) }
                            }
                        } }
                    }
                }
            }
        }
        @if !outputs.is_empty() {
            h2 { "Outputs" }
            table #outputs {
                thead { tr { th { "Step" } th { "Key" } th { "Value" } } }
                tbody { @for (step, values) in &outputs { @for (k, v) in values {
                    tr { td { (step) } td { (k) } td { code { (v) } } }
                } } }
            }
        }
    };
    let refresh = if active {
        refresh(&app)
    } else {
        Refresh::Never
    };
    Ok(page(&format!("{dag_id} {}", run.run_id), refresh, &viewer, body).into_response())
}

fn duration(
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.2}s", (e - s).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    }
}

/// `/dags/{dag}/runs/{run}/tasks/{step}/logs[?attempt=N]`: the log, followed while the
/// attempt runs: a small script appends what is new from the log API; without JavaScript
/// the page reloads itself.
pub async fn log_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((dag_id, run_id, step)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let path = format!(
        "/dags/{}/runs/{}/tasks/{}/logs",
        enc(&dag_id),
        enc(&run_id),
        enc(&step)
    );
    let viewer = match Viewer::of(&app, &headers, &path) {
        Ok(v) => v,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let attempt = match query.get("attempt") {
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            crate::error::ApiError::bad_request(format!("attempt must be a number, got `{text}`"))
        })?),
        None => None,
    };
    let run = app.find_run(&dag_id, &run_id).await?;
    let task = app.find_task(&run, &step).await?;
    let attempts = app
        .engine
        .store()
        .list_attempts(task.id)
        .await
        .map_err(crate::error::ApiError::from)?;
    let run_path = format!("/dags/{}/runs/{}", enc(&dag_id), enc(&run.run_id));
    let header = html! {
        p { a href=(run_path) { "← run " (run.run_id) } }
        h1 #step-title { (step) " " (badge(task.state.as_str())) }
    };
    if attempts.is_empty() {
        let body = html! { (header) p #no-log { "This step has not started yet: no log." } };
        return Ok(page(&step, refresh(&app), &viewer, body).into_response());
    }
    let chunk = app.read_log(&run, &step, attempt, 0).await?;
    let running = chunk.running;
    let state = attempts
        .iter()
        .find(|a| a.try_number == chunk.try_number)
        .map_or(AttemptState::Running, |a| a.state);
    let api = format!(
        "/api/v1/dags/{}/runs/{}/tasks/{}/logs?attempt={}",
        enc(&dag_id),
        enc(&run.run_id),
        enc(&step),
        chunk.try_number
    );
    let task_api = format!(
        "/api/v1/dags/{}/runs/{}/tasks/{}",
        enc(&dag_id),
        enc(&run.run_id),
        enc(&step)
    );
    let body = html! {
        (header)
        p { "Attempts: "
            @for a in &attempts {
                @if a.try_number == chunk.try_number { strong { "#" (a.try_number) } }
                @else { a href={ (path) "?attempt=" (a.try_number) } { "#" (a.try_number) } }
                " (" span data-try=(a.try_number) { (a.state) } ") "
            }
        }
        p #log-state data-state=(state) { "Attempt " (chunk.try_number) ": " (state)
            @if running { " — following the log as it grows" } }
        pre.log #log data-api=(api) data-task-api=(task_api) data-try=(chunk.try_number)
            data-next-offset=(chunk.next_offset) data-running=(running) { (chunk.text) }
        @if running { script { (PreEscaped(FOLLOW_SCRIPT)) } }
    };
    let refresh = if running {
        Refresh::WithoutScript(app.config.ui_refresh.as_secs().max(1))
    } else {
        Refresh::Never
    };
    Ok(page(&format!("{step} log"), refresh, &viewer, body).into_response())
}

/// Polls the log API from the last offset and appends the new text until the attempt ends,
/// then shows its final state (no reload: the text read so far stays where it is).
const FOLLOW_SCRIPT: &str = r#"
(function () {
  var pre = document.getElementById('log');
  var state = document.getElementById('log-state');
  var offset = Number(pre.dataset.nextOffset);
  // The step's own state (it may differ from the attempt's: up_for_retry after a failure).
  function showStepState() {
    fetch(pre.dataset.taskApi, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (task) {
        var badge = document.querySelector('#step-title .badge');
        badge.className = 'badge s-' + task.state;
        badge.dataset.state = task.state;
        badge.textContent = task.state;
      });
  }
  function poll() {
    fetch(pre.dataset.api + '&offset=' + offset, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (chunk) {
        if (chunk.text) {
          pre.appendChild(document.createTextNode(chunk.text));
          pre.scrollTop = pre.scrollHeight;
        }
        offset = chunk.next_offset;
        if (chunk.running) {
          setTimeout(poll, 1000);
        } else {
          pre.dataset.running = 'false';
          state.dataset.state = chunk.state;
          state.textContent = 'Attempt ' + chunk.try_number + ': ' + chunk.state;
          var listed = document.querySelector('span[data-try="' + pre.dataset.try + '"]');
          if (listed) { listed.textContent = chunk.state; }
          showStepState();
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
"#;
