//! `/health/live` (the process answers), `/health/ready` (the state store answers and holds
//! the schema this build expects), `/health` (both). Always open: they reveal nothing.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::AppState;

/// A readiness check slower than this counts as failed (a hung database).
const READY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match check_store(&app).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": error })),
        ),
    }
}

async fn health(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = check_store(&app).await;
    let backend = format!("{:?}", app.engine.store().backend()).to_lowercase();
    let status = if store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if store.is_ok() { "ok" } else { "unavailable" },
            "live": true,
            "ready": store.is_ok(),
            "store": { "backend": backend, "ok": store.is_ok(), "error": store.err() },
            "scheduler": { "in_process": app.scheduler.is_present() },
        })),
    )
}

/// Whether the store answers and its migrations are exactly this build's
/// (`Store::check_schema`).
async fn check_store(app: &AppState) -> Result<(), String> {
    let store = app.engine.store();
    let probe = store.check_schema();
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "the state store did not answer within {}s",
            READY_TIMEOUT.as_secs()
        )),
    }
}
