//! `/dags/{dag}/runs/{run}/...`: a run, its steps and attempts, logs, outputs, quality
//! results, and clearing it.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use flowctl_state::AttemptState;

use super::types::{
    ClearBody, ClearResult, LogChunk, LogQuery, QualityStep, RunInfo, RunOutputs, TaskInfo,
};
use super::{ApiPath, OptionalJson, run_info, task_info};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// One run (`latest` = the newest).
#[utoipa::path(get, operation_id = "get_run", path = "/api/v1/dags/{dag}/runs/{run}", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`")), responses(
    (status = 200, body = RunInfo),
    (status = 404, body = ErrorBody),
))]
pub async fn get_one(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run)): ApiPath<(String, String)>,
) -> ApiResult<Json<RunInfo>> {
    app.auth.require_read(&headers)?;
    Ok(Json(run_info(&app.find_run(&dag, &run).await?)))
}

/// Resets the run's steps (all, or the failed ones and what depends on them) and runs them
/// again.
#[utoipa::path(post, operation_id = "clear_run", path = "/api/v1/dags/{dag}/runs/{run}/clear", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`")), request_body(content = ClearBody, description = "optional"),
    security(("bearer" = [])), responses(
    (status = 200, body = ClearResult),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "the run is being executed"),
))]
pub async fn clear(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run)): ApiPath<(String, String)>,
    OptionalJson(body): OptionalJson<ClearBody>,
) -> ApiResult<Json<ClearResult>> {
    app.auth.require_action(&headers)?;
    let report = app.clear_run(&dag, &run, body.failed_only).await?;
    Ok(Json(ClearResult {
        run: run_info(&report.run),
        executing: app.config.execute_runs && !report.cleared.is_empty(),
        cleared: report.cleared,
    }))
}

/// The run's steps with their attempts, in the DAG's order.
#[utoipa::path(get, operation_id = "list_tasks", path = "/api/v1/dags/{dag}/runs/{run}/tasks", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`")), responses(
    (status = 200, body = [TaskInfo]),
    (status = 404, body = ErrorBody),
))]
pub async fn tasks(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<TaskInfo>>> {
    app.auth.require_read(&headers)?;
    let run = app.find_run(&dag, &run).await?;
    let store = app.engine.store();
    let mut out = Vec::new();
    for task in store.list_tasks(run.id).await? {
        let attempts = store.list_attempts(task.id).await?;
        out.push(task_info(&task, &attempts));
    }
    Ok(Json(out))
}

/// One step of the run with its attempts.
#[utoipa::path(get, operation_id = "get_task", path = "/api/v1/dags/{dag}/runs/{run}/tasks/{step}", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`"), ("step" = String, Path, description = "step id")), responses(
    (status = 200, body = TaskInfo),
    (status = 404, body = ErrorBody),
))]
pub async fn task(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run, step)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<TaskInfo>> {
    app.auth.require_read(&headers)?;
    let run = app.find_run(&dag, &run).await?;
    let task = app.find_task(&run, &step).await?;
    let attempts = app.engine.store().list_attempts(task.id).await?;
    Ok(Json(task_info(&task, &attempts)))
}

/// An attempt's log from a byte offset: poll with the returned `next_offset` to follow a
/// running attempt.
#[utoipa::path(get, operation_id = "get_log", path = "/api/v1/dags/{dag}/runs/{run}/tasks/{step}/logs", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`"), ("step" = String, Path, description = "step id"), LogQuery), responses(
    (status = 200, body = LogChunk),
    (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "unknown DAG, run, step or attempt"),
))]
pub async fn logs(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run, step)): ApiPath<(String, String, String)>,
    super::ApiQuery(query): super::ApiQuery<LogQuery>,
) -> ApiResult<Json<LogChunk>> {
    app.auth.require_read(&headers)?;
    let run = app.find_run(&dag, &run).await?;
    Ok(Json(
        app.read_log(&run, &step, query.attempt, query.offset.unwrap_or(0))
            .await?,
    ))
}

impl crate::Shared {
    /// Part of a step attempt's log (the latest attempt unless `attempt` says which).
    pub async fn read_log(
        &self,
        run: &flowctl_state::RunRecord,
        step: &str,
        attempt: Option<u32>,
        offset: u64,
    ) -> ApiResult<LogChunk> {
        let task = self.find_task(run, step).await?;
        let attempts = self.engine.store().list_attempts(task.id).await?;
        let chosen = match attempt {
            Some(n) => attempts.iter().find(|a| a.try_number == n).ok_or_else(|| {
                ApiError::not_found(format!(
                    "step `{step}` of run `{}` has no attempt {n}{}",
                    run.run_id,
                    if attempts.is_empty() {
                        " (it has not started)".to_string()
                    } else {
                        format!(" (attempts: 1 to {})", attempts.len())
                    }
                ))
            })?,
            None => attempts.last().ok_or_else(|| {
                ApiError::not_found(format!(
                    "step `{step}` of run `{}` has not started: no log yet",
                    run.run_id
                ))
            })?,
        };
        let slice = self
            .engine
            .store()
            .read_log(task.id, chosen.try_number, offset)
            .await?;
        Ok(LogChunk {
            try_number: chosen.try_number,
            text: slice.text,
            offset,
            next_offset: slice.next_offset,
            running: chosen.state == AttemptState::Running,
            state: chosen.state.to_string(),
        })
    }
}

/// The outputs the run's steps wrote (`key=value` pairs per step).
#[utoipa::path(get, operation_id = "get_outputs", path = "/api/v1/dags/{dag}/runs/{run}/outputs", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`")), responses(
    (status = 200, body = RunOutputs),
    (status = 404, body = ErrorBody),
))]
pub async fn outputs(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run)): ApiPath<(String, String)>,
) -> ApiResult<Json<RunOutputs>> {
    app.auth.require_read(&headers)?;
    let run = app.find_run(&dag, &run).await?;
    let outputs = app.engine.store().run_outputs(run.id).await?;
    Ok(Json(RunOutputs {
        run_id: run.run_id,
        outputs,
    }))
}

/// The results of the run's `quality` steps, check by check.
#[utoipa::path(get, operation_id = "get_quality", path = "/api/v1/dags/{dag}/runs/{run}/quality", params(("dag" = String, Path, description = "DAG id"), ("run" = String, Path, description = "run id, or `latest`")), responses(
    (status = 200, body = [QualityStep]),
    (status = 404, body = ErrorBody),
))]
pub async fn quality(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath((dag, run)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<QualityStep>>> {
    app.auth.require_read(&headers)?;
    let run = app.find_run(&dag, &run).await?;
    Ok(Json(app.quality_results(&run).await?))
}
