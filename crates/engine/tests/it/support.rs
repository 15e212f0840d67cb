//! A probe job type whose behaviour comes from its fields, and a harness around an engine.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin, JobRegistry, LogStream};
use flowctl_engine::{Engine, EngineSettings, EventSink, RunEvent, RunOutcome, TriggerRequest};
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
use flowctl_model::dag::Dag;
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::testing::TestStore;
use flowctl_state::{DagUpsert, RunRecord, TaskState};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Fields of the `probe` job type.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Tries up to this number fail (retryable).
    #[serde(default)]
    pub fail_times: u32,
    /// Fail with a non-retryable error.
    #[serde(default)]
    pub fatal: bool,
    #[serde(default)]
    pub sleep_ms: u64,
    /// `false`: ignore the cancel token (the engine must drop the job after its grace).
    #[serde(default = "yes")]
    pub honor_cancel: bool,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Any text (templated): recorded with the call.
    #[serde(default)]
    pub message: Option<String>,
    /// Lines written to the log.
    #[serde(default)]
    pub log: Vec<String>,
    /// Fail (retryable) while this flag is raised on the probe.
    #[serde(default)]
    pub flag: Option<String>,
    /// Wait (cancellably) while this flag is raised on the probe.
    #[serde(default)]
    pub hold: Option<String>,
    /// Act like a job that starts remote work: reconnect to the handle an earlier try saved,
    /// or save one naming this try.
    #[serde(default)]
    pub remember: bool,
}

impl flowctl_model::catalog::JobConfig for ProbeConfig {}

fn yes() -> bool {
    true
}

/// One call of the probe.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Call {
    pub task_id: String,
    pub try_number: u32,
    pub message: Option<String>,
    pub started: Instant,
    /// With `remember`: the handle an earlier try left, when there was one.
    pub seen_handle: Option<String>,
}

/// Records what the probe job did; shared by every attempt.
#[derive(Default)]
pub struct Probe {
    pub calls: Mutex<Vec<Call>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    flags: Mutex<HashSet<String>>,
}

impl Probe {
    pub fn calls_of(&self, task_id: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.task_id == task_id)
            .cloned()
            .collect()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// The most steps that ran at once.
    pub fn max_concurrency(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }

    pub fn raise(&self, flag: &str) {
        self.flags.lock().unwrap().insert(flag.to_string());
    }

    pub fn lower(&self, flag: &str) {
        self.flags.lock().unwrap().remove(flag);
    }
}

struct ProbePlugin(Arc<Probe>);

#[async_trait]
impl JobPlugin for ProbePlugin {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::new(TypedJobSpec::<ProbeConfig>::new("probe"))
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: ProbeConfig =
            serde_json::from_value(config).map_err(|e| JobError::fatal(e.to_string()))?;
        let probe = &self.0;
        let mut seen_handle = None;
        if config.remember {
            seen_handle = ctx.handles.load("remote_run").await?;
            if seen_handle.is_none() {
                let started_by = format!("started-by-try-{}", ctx.try_number);
                ctx.handles.save("remote_run", &started_by).await?;
            }
        }
        probe.calls.lock().unwrap().push(Call {
            task_id: ctx.task_id.clone(),
            try_number: ctx.try_number,
            message: config.message.clone(),
            started: Instant::now(),
            seen_handle,
        });
        let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
        probe.max_running.fetch_max(now, Ordering::SeqCst);
        for line in &config.log {
            ctx.log.line(LogStream::Stdout, line.clone());
        }
        if let Some(hold) = &config.hold {
            while probe.flags.lock().unwrap().contains(hold) {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = ctx.cancel.cancelled() => {
                        probe.running.fetch_sub(1, Ordering::SeqCst);
                        return Err(JobError::failed("cancelled"));
                    }
                }
            }
        }
        let sleep = tokio::time::sleep(Duration::from_millis(config.sleep_ms));
        let cancelled = if config.honor_cancel {
            tokio::select! {
                _ = sleep => false,
                _ = ctx.cancel.cancelled() => true,
            }
        } else {
            sleep.await;
            false
        };
        probe.running.fetch_sub(1, Ordering::SeqCst);
        if cancelled {
            return Err(JobError::failed("cancelled"));
        }
        if config.fatal {
            return Err(JobError::fatal("bad configuration").with_exit_code(Some(2)));
        }
        if ctx.try_number <= config.fail_times {
            return Err(
                JobError::failed(format!("flaky failure {}", ctx.try_number))
                    .with_exit_code(Some(1)),
            );
        }
        if let Some(flag) = &config.flag
            && probe.flags.lock().unwrap().contains(flag)
        {
            return Err(JobError::failed(format!("flag {flag} is raised")));
        }
        Ok(JobOutput {
            outputs: config.outputs.into_iter().collect(),
        })
    }
}

/// An engine over a fresh store with the probe registered.
#[allow(dead_code)] // `test_store` is held for its Drop; not every field is read by every test.
pub struct Harness {
    pub engine: Engine,
    pub probe: Arc<Probe>,
    pub registry: JobRegistry,
    pub test_store: TestStore,
}

impl Harness {
    pub fn new(test_store: TestStore, settings: EngineSettings) -> Self {
        let probe = Arc::new(Probe::default());
        let mut registry = JobRegistry::new();
        registry.register(Arc::new(ProbePlugin(probe.clone())));
        let engine = Engine::new(test_store.store.clone(), registry.clone(), settings);
        Self {
            engine,
            probe,
            registry,
            test_store,
        }
    }

    pub async fn sqlite() -> Self {
        Self::new(TestStore::sqlite().await, EngineSettings::default())
    }

    /// A harness per backend (SQLite, and Postgres when reachable).
    pub async fn each_backend() -> Vec<Self> {
        Self::each_backend_with(EngineSettings::default).await
    }

    pub async fn each_backend_with(settings: impl Fn() -> EngineSettings) -> Vec<Self> {
        TestStore::each_backend()
            .await
            .into_iter()
            .map(|t| Self::new(t, settings()))
            .collect()
    }

    pub fn backend(&self) -> flowctl_state::Backend {
        self.engine.store().backend()
    }

    /// Parses and applies a DAG file.
    pub async fn apply(&self, yaml: &str) -> Dag {
        let catalog = self.registry.catalog();
        let opts = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        let dag = match parse_dag("test.yaml", yaml, &opts) {
            Ok(dag) => dag,
            Err(diags) => panic!(
                "invalid test DAG:\n{}",
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        let upsert = DagUpsert {
            dag_id: dag.id.clone(),
            hash: dag.source.hash.clone(),
            source_path: dag.source.path.clone(),
            source: dag.source.text.clone(),
        };
        self.engine
            .store()
            .apply_dags(&[upsert], &[])
            .await
            .unwrap();
        dag
    }

    /// Triggers a manual run and executes it; returns the outcome and the events.
    pub async fn run(&self, dag_id: &str) -> (RunOutcome, Vec<RunEvent>) {
        let run = self
            .engine
            .trigger(dag_id, &TriggerRequest::default())
            .await
            .unwrap();
        self.execute(&run).await
    }

    pub async fn execute(&self, run: &RunRecord) -> (RunOutcome, Vec<RunEvent>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let outcome = self
            .engine
            .execute_run(run, &EventSink::new(tx), &CancellationToken::new())
            .await
            .unwrap();
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        (outcome, events)
    }

    /// Step states of a run.
    pub async fn states(&self, run: &RunRecord) -> BTreeMap<String, TaskState> {
        self.engine
            .store()
            .list_tasks(run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.task_id, t.state))
            .collect()
    }
}

/// `[(step, state)]` as a map, for comparisons.
pub fn expect(pairs: &[(&str, TaskState)]) -> BTreeMap<String, TaskState> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
