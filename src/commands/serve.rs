//! `flowctl serve`: the web UI, HTTP API, metrics and health checks (crates/server), with the
//! runs triggered there executed in this process.

use std::net::SocketAddr;
use std::path::Path;

use flowctl_engine::job::JobRegistry;
use flowctl_server::{ApiToken, ServerConfig, ServerError};

use super::scheduler::shutdown_token;
use super::{new_engine, open_store};
use crate::error::{CliError, CliResult};
use crate::output::out;
use crate::project::Project;

/// The server's configuration from the command line: address, token (file, else
/// `FLOWCTL_API_TOKEN`), and whether it executes the runs it triggers.
pub fn config(
    bind: &str,
    token_file: Option<&Path>,
    execute_runs: bool,
) -> CliResult<ServerConfig> {
    let bind: SocketAddr = bind.parse().map_err(|_| {
        CliError::usage(format!(
            "--bind `{bind}` is not an address:port such as 127.0.0.1:8080"
        ))
    })?;
    let token = ApiToken::load(token_file).map_err(server_error)?;
    let config = ServerConfig {
        bind,
        token,
        execute_runs,
        ..ServerConfig::default()
    };
    config.check().map_err(server_error)?;
    Ok(config)
}

/// Serves until SIGTERM/SIGINT.
pub async fn run(
    project: &Project,
    registry: JobRegistry,
    target: &str,
    config: ServerConfig,
) -> CliResult {
    let store = open_store(project).await?;
    let engine = new_engine(project, registry, store, target)?;
    let shutdown = shutdown_token()?;
    let actions = if config.token.is_some() {
        "actions need the API token"
    } else {
        "read-only: set FLOWCTL_API_TOKEN or --token-file to enable trigger, pause and clear"
    };
    out!(
        "serving http://{} ({actions}); Ctrl-C stops it",
        config.bind
    );
    let served = flowctl_server::serve(engine.clone(), config, shutdown).await;
    super::flush_notifications(&engine).await;
    served.map_err(server_error)
}

/// A bad setting is a usage error (exit 2); a socket that cannot be opened is the
/// environment's (exit 3).
pub fn server_error(err: ServerError) -> CliError {
    match err {
        ServerError::Config(message) => CliError::usage(message),
        other => CliError::environment(other.to_string()),
    }
}
