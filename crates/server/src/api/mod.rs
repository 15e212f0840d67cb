//! The JSON API under `/api/v1` and its OpenAPI document.

mod convert;
mod dags;
mod runs;
pub mod types;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

pub use convert::{run_info, task_info};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// Path parameters; a rejection becomes a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; a rejection becomes a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// An optional JSON body: empty = `T::default()`; invalid JSON is a 400 that says where.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/dags", get(dags::list))
        .route("/dags/{dag}", get(dags::get_one))
        .route("/dags/{dag}/pause", post(dags::pause))
        .route("/dags/{dag}/unpause", post(dags::unpause))
        .route("/dags/{dag}/runs", get(dags::runs).post(dags::trigger))
        .route("/dags/{dag}/runs/{run}", get(runs::get_one))
        .route("/dags/{dag}/runs/{run}/clear", post(runs::clear))
        .route("/dags/{dag}/runs/{run}/tasks", get(runs::tasks))
        .route("/dags/{dag}/runs/{run}/tasks/{step}", get(runs::task))
        .route("/dags/{dag}/runs/{run}/tasks/{step}/logs", get(runs::logs))
        .route("/dags/{dag}/runs/{run}/outputs", get(runs::outputs))
        .route("/dags/{dag}/runs/{run}/quality", get(runs::quality))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::not_found(format!(
        "no API endpoint {uri}; the endpoints are listed in /api/v1/openapi.json"
    ))
}

async fn method_not_allowed(method: axum::http::Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {uri}; see /api/v1/openapi.json"),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flowctl API",
        description = "Reads are open on loopback; actions need `Authorization: Bearer <token>` \
                       (the token `flowctl serve` was started with, from FLOWCTL_API_TOKEN or a file). \
                       Errors are `{\"error\": \"...\"}`."
    ),
    paths(
        dags::list, dags::get_one, dags::pause, dags::unpause, dags::runs, dags::trigger,
        runs::get_one, runs::clear, runs::tasks, runs::task, runs::logs, runs::outputs,
        runs::quality
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
async fn openapi() -> impl IntoResponse {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(err) => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the OpenAPI document: {err}"),
        )
        .into_response(),
    }
}
