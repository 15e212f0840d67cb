//! Loading the run's steps from the store into the executor's [`View`]: when execution
//! starts, and again when the store turns out to have changed under the executor.
//!
//! The loop otherwise works from the view alone and never polls the store. It re-reads the
//! steps only when it knows the view is stale: after a write the store partly refused (a
//! clear, a recovery by another process), and after recovering orphans (a lease may have
//! been renewed meanwhile, with a new expiry).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use flowctl_state::{Batch, RunRecord};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Executor;
use super::attempt::RunInfo;
use super::view::View;
use crate::events::EventSink;
use crate::{Engine, Result};

impl<'e> Executor<'e> {
    /// Loads `run` for execution: its DAG version (checked runnable on the run's target),
    /// its steps from the store, and the outputs steps already produced; steps the view can
    /// already resolve go into the first batch.
    pub(super) async fn start(
        engine: &'e Engine,
        run: &RunRecord,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<Self> {
        let store = engine.store();
        let target = engine.target(Some(&run.target))?.clone();
        let dag = engine
            .load_version(&run.dag_id, &run.version_hash, Some(target.kind))
            .await?;
        engine.check_runnable(&dag, &target)?;
        // Steps left running by a process that died: recover those whose lease expired.
        let settings = engine.settings();
        store
            .recover_expired_leases(Utc::now(), Some(run.id), settings.free_losses)
            .await?;
        let records = store.list_tasks(run.id).await?;
        let view = View::new(&dag, records)?;
        let outputs = store.run_outputs(run.id).await?;
        let info = Arc::new(RunInfo {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            logical_date: run.logical_date,
            interval: flowctl_model::schedule::DataInterval {
                start: run.interval_start,
                end: run.interval_end,
            },
            timezone: dag.timezone,
            params: run.params.clone(),
            target,
            project_dir: settings.project_dir.clone(),
            store: store.clone(),
            cancel_grace: settings.cancel_grace,
        });
        let max_active = dag
            .max_active_tasks
            .unwrap_or(settings.default_max_active_tasks)
            .max(1) as usize;
        let (done_tx, done_rx) = unbounded_channel();
        let mut executor = Self {
            engine,
            run: run.clone(),
            dag,
            info,
            view,
            events: events.clone(),
            dag_id: Arc::from(run.dag_id.as_str()),
            run_id: Arc::from(run.run_id.as_str()),
            shutdown: shutdown.clone(),
            max_active,
            in_flight: HashMap::new(),
            claim_slots: HashMap::new(),
            outputs,
            batch: Batch::default(),
            done_tx,
            done_rx,
            pool_changes: engine.inner.pools.subscribe(),
            pool_blocked: false,
            stop_deadline: None,
            interrupted: false,
            fail_on_shutdown: engine.on_shutdown() == super::OnShutdown::Fail,
            cut_short: 0,
            started: Instant::now(),
            notices: Vec::new(),
            errors: HashMap::new(),
        };
        let resolved = executor.view.decide_all();
        executor.record_resolved(resolved);
        Ok(executor)
    }

    /// Re-reads the run's steps from the store, keeping the attempts this executor runs.
    pub(super) async fn resync(&mut self) -> Result<()> {
        let records = self.engine.store().list_tasks(self.run.id).await?;
        let mut view = View::new(&self.dag, records)?;
        // The records do not say which tries run in this process: the ones in flight do.
        for &i in self.in_flight.keys() {
            view.nodes[i].mine = true;
        }
        let resolved = view.decide_all();
        self.view = view;
        self.record_resolved(resolved);
        Ok(())
    }
}
