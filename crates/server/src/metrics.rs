//! `/metrics`: Prometheus metrics (OpenMetrics text), derived from the state store at scrape
//! time, so every process serving the same store reports the same numbers.
//!
//! The facts of a finished run never change (until it is cleared), so they are cached by run
//! and read again only when the run's state or end time changes: a scrape costs one query
//! per DAG plus the queries of active runs. Every name is documented in the crate's README.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flowctl_engine::job::Telemetry;
use flowctl_state::{AttemptState, RunRecord, RunState, TaskState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, Shared};

/// Step duration histogram buckets, seconds: sub-second noop steps to multi-hour jobs.
const DURATION_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
];

/// The loop lag of a scheduler running in this process, for `/metrics`. Cheap to clone; the
/// scheduler records a value after each pass.
#[derive(Clone, Debug)]
pub struct SchedulerStatus {
    lag: Option<Arc<Mutex<Option<Duration>>>>,
}

impl SchedulerStatus {
    /// A scheduler runs in this process (nothing recorded yet).
    pub fn new() -> Self {
        Self {
            lag: Some(Arc::new(Mutex::new(None))),
        }
    }

    /// No scheduler in this process (`flowctl serve` alone).
    pub(crate) fn absent() -> Self {
        Self { lag: None }
    }

    /// Records how late the scheduler's latest pass started relative to when it was due.
    pub fn record_loop_lag(&self, lag: Duration) {
        if let Some(cell) = &self.lag
            && let Ok(mut value) = cell.lock()
        {
            *value = Some(lag);
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        self.lag.is_some()
    }

    fn loop_lag(&self) -> Option<Duration> {
        *self.lag.as_ref()?.lock().ok()?
    }
}

impl Default for SchedulerStatus {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run's facts depend on: they are read again when it changes (a clear, an end).
type RunVersion = (RunState, Option<DateTime<Utc>>);

/// Facts of finished runs by run key, with the version they were read at.
#[derive(Default)]
pub struct RunCache {
    runs: HashMap<i64, (RunVersion, Arc<RunFacts>)>,
}

/// What the metrics need of one run.
struct RunFacts {
    dag: String,
    state: RunState,
    tasks: Vec<TaskFacts>,
    cdc: Vec<CdcFacts>,
}

struct TaskFacts {
    step: String,
    state: TaskState,
    /// State and duration (seconds, when ended) of each attempt.
    attempts: Vec<(AttemptState, Option<f64>)>,
}

/// Outputs of a step whose job type declares a table it keeps fresh (bronze, merges), with
/// that declaration.
struct CdcFacts {
    step: String,
    table: String,
    telemetry: Telemetry,
    ended_at: Option<DateTime<Utc>>,
    outputs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DagLabels {
    dag: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DagStateLabels {
    dag: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    dag: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepStateLabels {
    dag: String,
    step: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    dag: String,
    step: String,
    table: String,
}

/// Labels of a counter a job type declares: `dag`, `step`, `table`, then its own.
type DeclaredLabels = Vec<(String, String)>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    table: String,
}

/// `GET /metrics`.
pub async fn handler(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(err) = app.auth.require_read(&headers) {
        return err.into_response();
    }
    match render(&app).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

/// The metrics text of the store as it is now.
pub async fn render(app: &Shared) -> ApiResult<String> {
    let facts = collect(app).await?;
    let mut registry = Registry::default();
    encode_runs(&mut registry, &facts);
    encode_cdc(&mut registry, &facts, Utc::now());
    encode_scheduler(&mut registry, &app.scheduler);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {err}"),
        )
    })?;
    Ok(text)
}

/// Facts of every stored run: cached ones for finished runs that did not change, fresh
/// ones for the rest.
async fn collect(app: &Shared) -> ApiResult<Vec<Arc<RunFacts>>> {
    let store = app.engine.store();
    let mut cache = app.metrics.lock().await;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for dag in store.list_dags().await? {
        for run in store.list_runs(&dag.dag_id, u32::MAX).await? {
            seen.insert(run.id);
            let key = (run.state, run.ended_at);
            if let Some((cached_key, facts)) = cache.runs.get(&run.id)
                && *cached_key == key
            {
                out.push(facts.clone());
                continue;
            }
            let facts = Arc::new(run_facts(app, &run).await?);
            if matches!(run.state, RunState::Success | RunState::Failed) {
                cache.runs.insert(run.id, (key, facts.clone()));
            }
            out.push(facts);
        }
    }
    // Deleted runs (pruned DAGs) leave the cache.
    cache.runs.retain(|id, _| seen.contains(id));
    Ok(out)
}

async fn run_facts(app: &Shared, run: &RunRecord) -> ApiResult<RunFacts> {
    let store = app.engine.store();
    // A version that no longer parses still has runs and attempts to count.
    let dag = app.dag_version(&run.dag_id, &run.version_hash).await.ok();
    let tasks = store.list_tasks(run.id).await?;
    let mut facts = RunFacts {
        dag: run.dag_id.clone(),
        state: run.state,
        tasks: Vec::with_capacity(tasks.len()),
        cdc: Vec::new(),
    };
    let mut outputs = None;
    for task in &tasks {
        let attempts = store.list_attempts(task.id).await?;
        facts.tasks.push(TaskFacts {
            step: task.task_id.clone(),
            state: task.state,
            attempts: attempts
                .iter()
                .map(|a| {
                    let seconds = a.ended_at.map(|end| {
                        (end - a.started_at).num_microseconds().unwrap_or(0) as f64 / 1e6
                    });
                    (a.state, seconds)
                })
                .collect(),
        });
        let Some(job) = dag
            .as_deref()
            .and_then(|d| app.step_job(d, &task.task_id, &run.target))
        else {
            continue;
        };
        let telemetry = app.engine.registry().telemetry(&job.job_type);
        let Some(table_field) = telemetry.table_field else {
            continue;
        };
        if task.state != TaskState::Success {
            continue;
        }
        if outputs.is_none() {
            outputs = Some(store.run_outputs(run.id).await?);
        }
        let step_outputs = outputs
            .as_ref()
            .and_then(|o| o.get(&task.task_id))
            .cloned()
            .unwrap_or_default();
        facts.cdc.push(CdcFacts {
            step: task.task_id.clone(),
            table: job
                .config
                .get(table_field)
                .and_then(|t| t.as_str())
                .unwrap_or("?")
                .to_string(),
            telemetry,
            ended_at: task.ended_at,
            outputs: step_outputs,
        });
    }
    Ok(facts)
}

fn encode_runs(registry: &mut Registry, facts: &[Arc<RunFacts>]) {
    let runs = Family::<DagStateLabels, Gauge>::default();
    let tasks = Family::<StepStateLabels, Gauge>::default();
    let attempts = Family::<StepStateLabels, Counter>::default();
    let queued = Family::<DagLabels, Gauge>::default();
    let running = Family::<DagLabels, Gauge>::default();
    let durations = Family::<StepLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(DURATION_BUCKETS.iter().copied())
    });
    for run in facts {
        runs.get_or_create(&DagStateLabels {
            dag: run.dag.clone(),
            state: run.state.to_string(),
        })
        .inc();
        let active = matches!(run.state, RunState::Queued | RunState::Running);
        // Every DAG gets a queue depth, 0 included, so alerts see the series.
        let _ = queued.get_or_create(&DagLabels {
            dag: run.dag.clone(),
        });
        let _ = running.get_or_create(&DagLabels {
            dag: run.dag.clone(),
        });
        for task in &run.tasks {
            tasks
                .get_or_create(&StepStateLabels {
                    dag: run.dag.clone(),
                    step: task.step.clone(),
                    state: task.state.to_string(),
                })
                .inc();
            if active && task.state == TaskState::Queued {
                queued
                    .get_or_create(&DagLabels {
                        dag: run.dag.clone(),
                    })
                    .inc();
            }
            if task.state == TaskState::Running {
                running
                    .get_or_create(&DagLabels {
                        dag: run.dag.clone(),
                    })
                    .inc();
            }
            for (state, seconds) in &task.attempts {
                attempts
                    .get_or_create(&StepStateLabels {
                        dag: run.dag.clone(),
                        step: task.step.clone(),
                        state: state.to_string(),
                    })
                    .inc();
                if let Some(seconds) = seconds {
                    durations
                        .get_or_create(&StepLabels {
                            dag: run.dag.clone(),
                            step: task.step.clone(),
                        })
                        .observe(*seconds);
                }
            }
        }
    }
    registry.register(
        "flowctl_runs",
        "Runs in the state store by DAG and state",
        runs,
    );
    registry.register(
        "flowctl_task_instances",
        "Task instances (steps of runs) in the state store by DAG, step and state",
        tasks,
    );
    registry.register(
        "flowctl_attempts",
        "Attempts (tries of steps) recorded in the state store by DAG, step and state",
        attempts,
    );
    registry.register(
        "flowctl_step_duration_seconds",
        "Duration of finished attempts by DAG and step",
        durations,
    );
    registry.register(
        "flowctl_queued_steps",
        "Queue depth: steps of queued or running runs waiting to start",
        queued,
    );
    registry.register("flowctl_running_steps", "Steps running now", running);
}

/// The CDC metrics, from what each step's job type declares (see
/// [`flowctl_engine::job::Telemetry`]): its counters, its table's last success and its
/// newest event time. No job type is known here by name.
fn encode_cdc(registry: &mut Registry, facts: &[Arc<RunFacts>], now: DateTime<Utc>) {
    // Counter families by metric name, created on first use, with their help text.
    let mut counters: BTreeMap<&'static str, (&'static str, Family<DeclaredLabels, Counter>)> =
        BTreeMap::new();
    let last_success = Family::<TableLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let mut newest_event: HashMap<String, i64> = HashMap::new();
    let mut latest: HashMap<TableLabels, DateTime<Utc>> = HashMap::new();
    let number = |outputs: &BTreeMap<String, String>, key: &str| -> u64 {
        outputs.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    for run in facts {
        for cdc in &run.cdc {
            let table = TableLabels {
                dag: run.dag.clone(),
                step: cdc.step.clone(),
                table: cdc.table.clone(),
            };
            for counter in cdc.telemetry.counters {
                let mut labels: DeclaredLabels = vec![
                    ("dag".into(), run.dag.clone()),
                    ("step".into(), cdc.step.clone()),
                    ("table".into(), cdc.table.clone()),
                ];
                labels.extend(
                    counter
                        .labels
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
                );
                counters
                    .entry(counter.metric)
                    .or_insert_with(|| (counter.help, Family::default()))
                    .1
                    .get_or_create(&labels)
                    .inc_by(number(&cdc.outputs, counter.output));
            }
            if let Some(ms) = cdc
                .telemetry
                .event_time_output
                .and_then(|key| cdc.outputs.get(key))
                .and_then(|v| v.parse::<i64>().ok())
            {
                let newest = newest_event.entry(cdc.table.clone()).or_insert(ms);
                *newest = (*newest).max(ms);
            }
            if let Some(ended) = cdc.ended_at {
                let entry = latest.entry(table).or_insert(ended);
                *entry = (*entry).max(ended);
            }
        }
    }
    for (table, at) in latest {
        last_success
            .get_or_create(&table)
            .set(at.timestamp_micros() as f64 / 1e6);
    }
    let lag = Family::<LagLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (table, ms) in newest_event {
        let seconds = (now.timestamp_millis() - ms).max(0) as f64 / 1e3;
        lag.get_or_create(&LagLabels { table }).set(seconds);
    }
    for (metric, (help, family)) in counters {
        registry.register(metric, help, family);
    }
    registry.register(
        "flowctl_cdc_last_success_timestamp_seconds",
        "End time of the latest successful bronze or merge step per table (Unix seconds)",
        last_success,
    );
    registry.register(
        "flowctl_cdc_lag_seconds",
        "Now minus the newest event time ingested per bronze table",
        lag,
    );
}

fn encode_scheduler(registry: &mut Registry, status: &SchedulerStatus) {
    let present = Gauge::<i64>::default();
    present.set(i64::from(status.is_present()));
    registry.register(
        "flowctl_scheduler_in_process",
        "1 when a scheduler runs in this process (then the loop lag is reported), else 0",
        present,
    );
    if let Some(lag) = status.loop_lag() {
        let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        gauge.set(lag.as_secs_f64());
        registry.register(
            "flowctl_scheduler_loop_lag_seconds",
            "How late the in-process scheduler's latest pass started after it was due",
            gauge,
        );
    }
}
