//! Errors: [`ServerError`] for starting the server, [`ApiError`] for one request (always a
//! JSON body `{"error": "..."}` with a 4xx status for bad input).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flowctl_engine::EngineError;
use flowctl_state::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is invalid (bind address without a token, unreadable token file...).
    #[error("{0}")]
    Config(String),
    /// The listening socket could not be opened or failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why it failed (address in use, permission denied...).
        #[source]
        source: std::io::Error,
    },
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and how to fix it.
    pub error: String,
}

/// An error answering one request.
#[derive(Debug)]
pub struct ApiError {
    /// 4xx for the caller's mistakes, 503 when the store is down, 500 only for a store
    /// holding values this build cannot read.
    pub status: StatusCode,
    /// What went wrong and how to fix it (the body's `error`).
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!("request failed: {}", self.message);
        }
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"flowctl\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            // The store being down is not the caller's fault, and not a bug either.
            StoreError::Open { .. }
            | StoreError::Db(_)
            | StoreError::Io { .. }
            | StoreError::Schema(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the state store is unavailable: {err}"),
            ),
            StoreError::Migrate(_) | StoreError::Corrupt(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Store(store) => store.into(),
            EngineError::UnknownDag(_) | EngineError::UnknownRun { .. } => {
                Self::not_found(err.to_string())
            }
            EngineError::Invalid(_) => Self::bad_request(err.to_string()),
            // The applied file no longer validates with this build: the request is fine, the
            // DAG cannot be processed as it is.
            EngineError::InvalidDag { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
            }
            EngineError::RunExists { .. } | EngineError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, err.to_string())
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }
}

/// Result of a request handler.
pub type ApiResult<T> = Result<T, ApiError>;
