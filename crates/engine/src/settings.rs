//! How an [`Engine`](crate::Engine) runs: identity, leases, limits, targets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::job::TargetInfo;

/// Settings of an [`Engine`](crate::Engine). [`EngineSettings::default`] gives working values
/// (a `local` target of kind `local`, no pools) for everything.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Lease holder id written on claimed task instances; unique per process (several
    /// processes may share a Postgres store).
    pub holder_id: String,
    /// How long a claim stays valid without a heartbeat.
    pub lease_duration: Duration,
    /// How often running task instances' leases are renewed (well below `lease_duration`).
    pub heartbeat_interval: Duration,
    /// Named concurrency pools and their sizes (shared by every run of this process).
    pub pools: BTreeMap<String, u32>,
    /// Steps of one run running at once when the DAG sets no `max_active_tasks`.
    pub default_max_active_tasks: u32,
    /// The project directory (relative paths in steps resolve against it).
    pub project_dir: PathBuf,
    /// Known targets by name.
    pub targets: BTreeMap<String, TargetInfo>,
    /// Target of runs that do not name one (scheduled and backfill runs, `run` without `--target`).
    pub default_target: String,
    /// How long a job may take to stop after its cancel token fires (timeout, shutdown)
    /// before its future is dropped.
    pub cancel_grace: Duration,
    /// On shutdown, how long running steps may go on before they are cancelled.
    pub shutdown_grace: Duration,
    /// Lost tries (worker died) that do not count against a step's retries; later losses do.
    pub free_losses: u32,
    /// Wait before a notification webhook is sent again after a failed delivery (doubling
    /// after each failure, up to a minute).
    pub notify_backoff: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let local = TargetInfo {
            name: "local".into(),
            kind: flowctl_model::dag::TargetKind::Local,
            settings: serde_json::Map::new(),
        };
        Self {
            holder_id: default_holder_id(),
            lease_duration: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            pools: BTreeMap::new(),
            default_max_active_tasks: 16,
            project_dir: PathBuf::from("."),
            targets: BTreeMap::from([("local".to_string(), local)]),
            default_target: "local".into(),
            cancel_grace: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            free_losses: 3,
            notify_backoff: Duration::from_secs(1),
        }
    }
}

/// `host:pid:random`: readable in `flowctl tasks`, unique even across restarts with a reused pid.
pub fn default_holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}
