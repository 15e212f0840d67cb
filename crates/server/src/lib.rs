//! `flowctl serve`: the HTTP API under `/api/v1` (with its OpenAPI document), a
//! server-rendered web UI, Prometheus metrics at `/metrics`, and health checks.
//!
//! It reads and acts through the same [`Engine`] and [`flowctl_state::Store`] calls as the
//! CLI: a run triggered here is validated like `flowctl run`'s, a clear is `flowctl clear`'s.
//!
//! ```no_run
//! # async fn demo(engine: flowctl_engine::Engine) -> Result<(), flowctl_server::ServerError> {
//! use flowctl_server::{ApiToken, Server, ServerConfig};
//! let config = ServerConfig { token: ApiToken::load(None)?, ..ServerConfig::default() };
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! Server::new(engine, config)?.serve(shutdown).await
//! # }
//! ```

mod actions;
mod api;
mod auth;
mod config;
mod error;
mod health;
mod metrics;
mod quality;
mod read;
mod ui;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use flowctl_engine::{Engine, EventSink};
use flowctl_model::dag::Dag;
use flowctl_state::RunRecord;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{ApiToken, DEFAULT_BIND, ServerConfig, TOKEN_ENV};
pub use error::ServerError;
pub use metrics::SchedulerStatus;

use crate::auth::Auth;

/// The HTTP server of one process.
pub struct Server {
    shared: Arc<Shared>,
}

/// What every handler shares.
pub(crate) struct Shared {
    pub engine: Engine,
    pub auth: Auth,
    pub config: ServerConfig,
    pub scheduler: SchedulerStatus,
    /// Parsed DAG versions by (DAG id, content hash): a version never changes.
    pub dags: Mutex<HashMap<(String, String), Arc<Dag>>>,
    pub metrics: tokio::sync::Mutex<metrics::RunCache>,
    /// Runs this server executes (with `execute_runs`), awaited on shutdown.
    pub executions: TaskTracker,
    /// Fires on shutdown: executions stop within the engine's grace period.
    pub stop: CancellationToken,
}

pub(crate) type AppState = Arc<Shared>;

impl Server {
    /// A server over `engine`. Fails when the configuration is unsafe (a non-loopback
    /// address without a token) or invalid.
    pub fn new(engine: Engine, config: ServerConfig) -> Result<Self, ServerError> {
        config.check()?;
        let auth = Auth::new(config.token.as_ref(), config.reads_open());
        Ok(Self {
            shared: Arc::new(Shared {
                engine,
                auth,
                config,
                scheduler: SchedulerStatus::absent(),
                dags: Mutex::new(HashMap::new()),
                metrics: tokio::sync::Mutex::new(metrics::RunCache::default()),
                executions: TaskTracker::new(),
                stop: CancellationToken::new(),
            }),
        })
    }

    /// Reports the loop lag of the scheduler running in this process (`flowctl scheduler
    /// --serve`) on `/metrics`. Without it the scheduler metrics say no scheduler runs here.
    /// Call it before [`Server::router`] (routers made earlier keep the previous status).
    pub fn with_scheduler_status(mut self, status: SchedulerStatus) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.scheduler = status,
            None => tracing::warn!(
                "the scheduler status was set after a router was made: that router does not report it"
            ),
        }
        self
    }

    /// Every route: `/api/v1/...`, the UI, `/metrics`, `/health...`.
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/api/v1", api::routes())
            .merge(ui::routes())
            .merge(health::routes())
            .route("/metrics", axum::routing::get(metrics::handler))
            .with_state(self.shared.clone())
    }

    /// Listens on the configured address until `shutdown` fires.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let addr = self.shared.config.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        self.serve_on(listener, shutdown).await
    }

    /// Serves on an already bound listener (e.g. port 0 in tests) until `shutdown` fires,
    /// then waits for the runs it started to stop.
    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| self.shared.config.bind.to_string());
        tracing::info!(
            "serving the flowctl UI and API on http://{addr}/ (actions {})",
            if self.shared.auth.actions_enabled() {
                "need the API token"
            } else {
                "disabled: no API token"
            }
        );
        let app = self.router();
        let stop = self.shared.stop.clone();
        let graceful = shutdown.clone();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { graceful.cancelled().await })
            .await;
        stop.cancel();
        self.shared.executions.close();
        self.shared.executions.wait().await;
        served.map_err(|source| ServerError::Listen { addr, source })
    }
}

/// [`Server::new`] + [`Server::serve`]: what `flowctl serve` calls.
pub async fn serve(
    engine: Engine,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    Server::new(engine, config)?.serve(shutdown).await
}

impl Shared {
    /// Executes a run in the background when this server executes runs (else a scheduler
    /// picks it up).
    pub(crate) fn start_execution(&self, run: RunRecord) {
        if !self.config.execute_runs {
            return;
        }
        let engine = self.engine.clone();
        let stop = self.stop.clone();
        self.executions.spawn(async move {
            match engine.execute_run(&run, &EventSink::none(), &stop).await {
                Ok(outcome) => tracing::info!(
                    "run {} of DAG {} ended {}",
                    outcome.run.run_id,
                    outcome.run.dag_id,
                    outcome.run.state
                ),
                Err(err) => tracing::warn!(
                    "run {} of DAG {} could not be executed: {err}",
                    run.run_id,
                    run.dag_id
                ),
            }
        });
    }
}
