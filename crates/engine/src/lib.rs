//! flowctl's engine: creates runs, executes them (parallel steps, retries with backoff,
//! timeouts, trigger rules, pools, leases), schedules them from cron, backfills and clears.
//!
//! The engine knows job plugins only through the [`job::JobRegistry`] the binary fills.
//!
//! Execution is driven from an in-memory view of the run, never by polling the database:
//! job completions arrive on a channel, and everything available is written in one store
//! transaction ([`flowctl_state::Store::apply_batch`]) together with the claims of the steps
//! that became ready, which start at once.

mod backfill;
mod clear;
mod error;
mod events;
mod executor;
mod handles;
pub mod job;
mod loader;
mod notify;
mod params;
mod pools;
pub mod rules;
mod scheduler;
mod settings;
mod trigger;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowctl_model::catalog::JobTypeCatalog;
use flowctl_model::dag::Dag;
use flowctl_state::Store;

pub use backfill::BackfillReport;
pub use clear::{ClearReport, ClearScope};
pub use error::{EngineError, Result};
pub use events::{EventKind, EventSink, RunEvent};
pub use executor::{OnShutdown, RunOutcome};
pub use handles::TaskHandles;
pub use scheduler::{PassHook, SchedulerOptions, SchedulerReport};
pub use settings::{EngineSettings, default_holder_id};
pub use trigger::{TriggerRequest, run_id_for};

use crate::job::JobRegistry;
use crate::notify::Notifier;
use crate::pools::Pools;

/// The engine of one process. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    registry: JobRegistry,
    catalog: JobTypeCatalog,
    settings: EngineSettings,
    pools: Pools,
    notifier: Arc<Notifier>,
    /// Parsed DAG versions by (dag id, content hash, target kind): a version never changes.
    dags: Mutex<HashMap<(String, String, String), Arc<Dag>>>,
    /// [`OnShutdown::Fail`] rather than the default [`OnShutdown::Resume`].
    fail_on_shutdown: AtomicBool,
}

impl Engine {
    /// An engine over `store`, running the job types in `registry`.
    pub fn new(store: Store, registry: JobRegistry, settings: EngineSettings) -> Self {
        let catalog = registry.catalog();
        let pools = Pools::new(&settings.pools);
        let notifier = Arc::new(Notifier::new(settings.notify_backoff));
        Self {
            inner: Arc::new(Inner {
                store,
                registry,
                catalog,
                settings,
                pools,
                notifier,
                dags: Mutex::new(HashMap::new()),
                fail_on_shutdown: AtomicBool::new(false),
            }),
        }
    }

    /// The store this engine writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings this engine was built with.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// Waits up to `within` for notifications still being delivered (with their retries),
    /// e.g. before a CLI process exits; returns how many are still pending. Runs never wait
    /// for notifications: this is the only place that does.
    pub async fn wait_for_notifications(&self, within: Duration) -> usize {
        self.inner.notifier.wait(within).await
    }

    /// Sets what executions started from now on (by this engine and its clones) leave behind
    /// when their shutdown token fires: see [`OnShutdown`] (default `Resume`).
    pub fn set_on_shutdown(&self, mode: OnShutdown) {
        self.inner
            .fail_on_shutdown
            .store(mode == OnShutdown::Fail, Ordering::Relaxed);
    }

    /// What an execution stopped by its shutdown token leaves behind.
    pub fn on_shutdown(&self) -> OnShutdown {
        if self.inner.fail_on_shutdown.load(Ordering::Relaxed) {
            OnShutdown::Fail
        } else {
            OnShutdown::Resume
        }
    }

    /// The job types this engine can run.
    pub fn registry(&self) -> &JobRegistry {
        &self.inner.registry
    }
}
