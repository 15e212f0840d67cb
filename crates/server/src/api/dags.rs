//! `/dags`: list, show, pause/unpause, list runs, trigger.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::types::{DagInfo, ListQuery, RunInfo, TriggerBody, TriggerResult};
use super::{ApiPath, ApiQuery, OptionalJson, run_info};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::read::{DEFAULT_RUN_LIMIT, MAX_RUN_LIMIT};

/// Runs shown with each DAG of the list.
const RUNS_PER_DAG: u32 = 5;

pub fn limit(query: &ListQuery) -> ApiResult<u32> {
    match query.limit {
        None => Ok(DEFAULT_RUN_LIMIT),
        Some(n @ 1..=MAX_RUN_LIMIT) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_RUN_LIMIT}, got {n}"
        ))),
    }
}

/// Every applied DAG with its schedule, paused flag, next run and latest runs.
#[utoipa::path(get, operation_id = "list_dags", path = "/api/v1/dags", responses(
    (status = 200, body = [DagInfo]),
    (status = 401, body = ErrorBody, description = "reads need the token on a non-loopback address"),
))]
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<DagInfo>>> {
    app.auth.require_read(&headers)?;
    let mut out = Vec::new();
    for record in app.engine.store().list_dags().await? {
        out.push(app.dag_info(&record, RUNS_PER_DAG).await?);
    }
    Ok(Json(out))
}

/// One DAG.
#[utoipa::path(get, operation_id = "get_dag", path = "/api/v1/dags/{dag}", params(("dag" = String, Path, description = "DAG id")), responses(
    (status = 200, body = DagInfo),
    (status = 404, body = ErrorBody),
))]
pub async fn get_one(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath(dag): ApiPath<String>,
) -> ApiResult<Json<DagInfo>> {
    app.auth.require_read(&headers)?;
    let record = app.dag_record(&dag).await?;
    Ok(Json(app.dag_info(&record, RUNS_PER_DAG).await?))
}

/// Stops scheduling the DAG (runs already going on continue).
#[utoipa::path(post, operation_id = "pause_dag", path = "/api/v1/dags/{dag}/pause", params(("dag" = String, Path, description = "DAG id")), security(("bearer" = [])), responses(
    (status = 200, body = DagInfo),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn pause(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath(dag): ApiPath<String>,
) -> ApiResult<Json<DagInfo>> {
    set_paused(app, headers, dag, true).await
}

/// Resumes scheduling the DAG.
#[utoipa::path(post, operation_id = "unpause_dag", path = "/api/v1/dags/{dag}/unpause", params(("dag" = String, Path, description = "DAG id")), security(("bearer" = [])), responses(
    (status = 200, body = DagInfo),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn unpause(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath(dag): ApiPath<String>,
) -> ApiResult<Json<DagInfo>> {
    set_paused(app, headers, dag, false).await
}

async fn set_paused(
    app: AppState,
    headers: HeaderMap,
    dag: String,
    paused: bool,
) -> ApiResult<Json<DagInfo>> {
    app.auth.require_action(&headers)?;
    app.set_paused(&dag, paused).await?;
    let record = app.dag_record(&dag).await?;
    Ok(Json(app.dag_info(&record, RUNS_PER_DAG).await?))
}

/// The DAG's runs, newest first.
#[utoipa::path(get, operation_id = "list_runs", path = "/api/v1/dags/{dag}/runs", params(("dag" = String, Path, description = "DAG id"), ListQuery), responses(
    (status = 200, body = [RunInfo]),
    (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn runs(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath(dag): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<RunInfo>>> {
    app.auth.require_read(&headers)?;
    let limit = limit(&query)?;
    app.dag_record(&dag).await?;
    let runs = app.engine.store().list_runs(&dag, limit).await?;
    Ok(Json(runs.iter().map(run_info).collect()))
}

/// Triggers a manual run (params checked against the DAG's declared ones); this server
/// executes it unless a scheduler does.
#[utoipa::path(post, operation_id = "trigger_run", path = "/api/v1/dags/{dag}/runs", params(("dag" = String, Path, description = "DAG id")), request_body(content = TriggerBody, description = "optional"),
    security(("bearer" = [])), responses(
    (status = 201, body = TriggerResult),
    (status = 400, body = ErrorBody, description = "unknown or mistyped param, bad date, unknown target"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "a run with this id exists"),
))]
pub async fn trigger(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiPath(dag): ApiPath<String>,
    OptionalJson(body): OptionalJson<TriggerBody>,
) -> ApiResult<(StatusCode, Json<TriggerResult>)> {
    app.auth.require_action(&headers)?;
    let run = app
        .trigger_run(&dag, body.params, body.date.as_deref(), body.target)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TriggerResult {
            run: run_info(&run),
            executing: app.config.execute_runs,
        }),
    ))
}
