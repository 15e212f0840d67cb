//! One module per command (or family of commands), plus helpers they share.

pub mod admin;
pub mod apply;
pub mod drift;
pub mod inspect;
pub mod run;
pub mod scheduler;
pub mod schema;
pub mod serve;
pub mod sql;
pub mod validate;

use flowctl_state::{RunRecord, Store, StoreError};

use crate::error::{CliError, CliResult};
use crate::project::Project;

/// Opens (and migrates) the project's state store.
pub async fn open_store(project: &Project) -> CliResult<Store> {
    Store::open(&project.state_url()).await.map_err(store_error)
}

/// A store failure is the environment's fault (exit 3) unless it is a conflict with the
/// current state, which the user asked for (exit 2).
pub fn store_error(err: StoreError) -> CliError {
    match err {
        StoreError::Conflict(message) => CliError::usage(message),
        other => CliError::environment(other.to_string()),
    }
}

/// Finds a run by id, or `latest` for the newest run of the DAG.
pub async fn find_run(store: &Store, dag: &str, run: &str) -> CliResult<RunRecord> {
    require_dag(store, dag).await?;
    let found = if run == "latest" {
        store
            .list_runs(dag, 1)
            .await
            .map_err(store_error)?
            .into_iter()
            .next()
    } else {
        store.get_run(dag, run).await.map_err(store_error)?
    };
    found.ok_or_else(|| {
        CliError::usage(if run == "latest" {
            format!("DAG `{dag}` has no runs yet")
        } else {
            format!("DAG `{dag}` has no run `{run}` (see `flowctl runs {dag}`)")
        })
    })
}

/// Fails with a usage error naming the applied DAGs when `dag` is not applied.
pub async fn require_dag(store: &Store, dag: &str) -> CliResult<flowctl_state::DagRecord> {
    if let Some(record) = store.get_dag(dag).await.map_err(store_error)? {
        return Ok(record);
    }
    let applied: Vec<String> = store
        .list_dags()
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|d| d.dag_id)
        .collect();
    let hint = if applied.is_empty() {
        "no DAG is applied yet: run `flowctl apply`".to_string()
    } else {
        format!("applied DAGs: {}", applied.join(", "))
    };
    Err(CliError::usage(format!("unknown DAG `{dag}`; {hint}")))
}

/// Lease timeout override (a duration such as `30s`): how long a step claimed by a process
/// that died stays claimed before another process runs it again.
pub const LEASE_TIMEOUT_ENV: &str = "FLOWCTL_LEASE_TIMEOUT";

/// The engine for this project, running on `target` by default.
pub fn new_engine(
    project: &Project,
    registry: flowctl_engine::job::JobRegistry,
    store: Store,
    target: &str,
) -> CliResult<flowctl_engine::Engine> {
    use flowctl_engine::EngineSettings;
    use flowctl_engine::job::TargetInfo;

    let mut settings = EngineSettings::default();
    // Validate the target name early with a helpful message.
    project.target(target)?;
    let mut names: Vec<String> = project.config.targets.keys().cloned().collect();
    names.extend(["local".to_string(), "aws".to_string()]);
    settings.targets = names
        .into_iter()
        .filter_map(|name| {
            let config = project.config.target(&name)?;
            Some((
                name.clone(),
                TargetInfo {
                    name,
                    kind: config.kind,
                    settings: config.settings,
                },
            ))
        })
        .collect();
    settings.default_target = target.to_string();
    settings.pools = project.config.pools.clone();
    if let Some(max) = project.config.max_active_tasks {
        settings.default_max_active_tasks = max;
    }
    settings.project_dir = project.dir.clone();
    if let Ok(text) = std::env::var(LEASE_TIMEOUT_ENV) {
        let lease = flowctl_model::duration::parse_duration(&text)
            .map_err(|why| CliError::usage(format!("{LEASE_TIMEOUT_ENV}=`{text}`: {why}")))?;
        if lease.is_zero() {
            return Err(CliError::usage(format!(
                "{LEASE_TIMEOUT_ENV} must be more than zero"
            )));
        }
        settings.lease_duration = lease;
        settings.heartbeat_interval = lease / 3;
    }
    Ok(flowctl_engine::Engine::new(store, registry, settings))
}

/// Engine errors: a broken store is the environment's fault (exit 3); everything else is
/// about what was asked (exit 2).
pub fn engine_error(err: flowctl_engine::EngineError) -> CliError {
    match err {
        flowctl_engine::EngineError::Store(e) => store_error(e),
        other => CliError::usage(other.to_string()),
    }
}

/// How long a command waits, before it exits, for notifications still being delivered.
const NOTIFICATION_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a foreground command stopped by a signal waits for notifications: a supervisor
/// sends SIGKILL after its own grace period (10 s for `docker stop`).
const STOPPING_NOTIFICATION_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits (at most 30 s) for failure/retry/success notifications still in flight, so that a
/// command that ends right after its run does not drop them; says how many were abandoned.
pub async fn flush_notifications(engine: &flowctl_engine::Engine) {
    flush_notifications_within(engine, NOTIFICATION_GRACE).await;
}

/// [`flush_notifications`] for a command executing runs in the foreground: once a signal
/// asked it to stop, it waits 2 s at most.
pub async fn flush_foreground_notifications(
    engine: &flowctl_engine::Engine,
    shutdown: &crate::signals::Shutdown,
) {
    let within = if shutdown.received().is_some() {
        STOPPING_NOTIFICATION_GRACE
    } else {
        NOTIFICATION_GRACE
    };
    flush_notifications_within(engine, within).await;
}

async fn flush_notifications_within(engine: &flowctl_engine::Engine, within: std::time::Duration) {
    let left = engine.wait_for_notifications(within).await;
    if left > 0 {
        crate::output::errln!(
            "warning: {left} notification{} still undelivered after {}s; abandoned",
            if left == 1 { "" } else { "s" },
            within.as_secs()
        );
    }
}
