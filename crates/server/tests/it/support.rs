//! A probe job type (registered under several type names, so steps can stand for bronze,
//! merge and quality steps), an engine over a fresh store, and helpers to call the server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use flowctl_engine::job::telemetry::OutputCounter;
use flowctl_engine::job::{
    JobContext, JobError, JobOutput, JobPlugin, JobRegistry, LogStream, Telemetry,
};
use flowctl_engine::{Engine, EngineSettings, EventSink, TriggerRequest};
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_server::{ApiToken, Server, ServerConfig};
use flowctl_state::testing::TestStore;
use flowctl_state::{DagUpsert, RunRecord, RunState};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// Fields of the probe job types.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Tries up to this number fail (retryable).
    #[serde(default)]
    pub fail_times: u32,
    #[serde(default)]
    pub sleep_ms: u64,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Lines written to the log (stdout).
    #[serde(default)]
    pub log: Vec<String>,
    /// Lines written to the log after the sleep (a log that grows while it is watched).
    #[serde(default)]
    pub log_after: Vec<String>,
    /// Lines written to the log as flowctl messages (`[flowctl] ...`).
    #[serde(default)]
    pub system_log: Vec<String>,
    /// The bronze / quality table a real job of this type would name (read by the server
    /// from the DAG, not by the probe).
    #[serde(default)]
    #[allow(dead_code)]
    pub table: Option<String>,
    /// The silver table a real merge would name (read by the server from the DAG).
    #[serde(default)]
    #[allow(dead_code)]
    pub target: Option<String>,
    /// Any templated text (checks params reach the job).
    #[serde(default)]
    pub message: Option<String>,
}

impl flowctl_model::catalog::JobConfig for ProbeConfig {}

struct Probe {
    name: &'static str,
    telemetry: Telemetry,
}

const OPS: &[OutputCounter] = &[
    event_counter("events_c", &[("op", "c")]),
    event_counter("events_u", &[("op", "u")]),
    event_counter("events_d", &[("op", "d")]),
    event_counter("events_r", &[("op", "r")]),
    event_counter("events_t", &[("op", "t")]),
    OutputCounter {
        metric: "flowctl_cdc_dlq_events",
        help: "Malformed messages sent to the dead-letter table, by bronze table",
        output: "dlq",
        labels: &[],
    },
];

const fn event_counter(
    output: &'static str,
    labels: &'static [(&'static str, &'static str)],
) -> OutputCounter {
    OutputCounter {
        metric: "flowctl_cdc_events",
        help: "Change events ingested into bronze by DAG, step, table and Debezium op",
        output,
        labels,
    }
}

const CHANGES: &[OutputCounter] = &[
    change("inserted", &[("change", "insert")]),
    change("updated", &[("change", "update")]),
    change("deleted", &[("change", "delete")]),
];

const fn change(
    output: &'static str,
    labels: &'static [(&'static str, &'static str)],
) -> OutputCounter {
    OutputCounter {
        metric: "flowctl_cdc_merged_rows",
        help: "Rows changed by silver merges",
        output,
        labels,
    }
}

/// The probe job types: `probe` declares nothing; the others declare what bronze, merge and
/// quality jobs declare.
fn probes() -> Vec<Probe> {
    vec![
        Probe {
            name: "probe",
            telemetry: Telemetry::default(),
        },
        Probe {
            name: "ingest_probe",
            telemetry: Telemetry {
                table_field: Some("table"),
                counters: OPS,
                event_time_output: Some("max_event_ts_ms"),
                ..Telemetry::default()
            },
        },
        Probe {
            name: "merge_probe",
            telemetry: Telemetry {
                table_field: Some("target"),
                counters: CHANGES,
                ..Telemetry::default()
            },
        },
        Probe {
            name: "checks_probe",
            telemetry: Telemetry {
                reports_checks: true,
                ..Telemetry::default()
            },
        },
    ]
}

#[async_trait]
impl JobPlugin for Probe {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::new(TypedJobSpec::<ProbeConfig>::new(self.name))
    }

    fn telemetry(&self) -> Telemetry {
        self.telemetry
    }

    async fn run(&self, config: Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: ProbeConfig =
            serde_json::from_value(config).map_err(|e| JobError::fatal(e.to_string()))?;
        if let Some(message) = &config.message {
            ctx.log
                .line(LogStream::Stdout, format!("message: {message}"));
        }
        for line in &config.log {
            ctx.log.line(LogStream::Stdout, line.clone());
        }
        for line in &config.system_log {
            ctx.log.system(line.clone());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(config.sleep_ms)) => {}
            _ = ctx.cancel.cancelled() => return Err(JobError::failed("cancelled")),
        }
        for line in &config.log_after {
            ctx.log.line(LogStream::Stdout, line.clone());
        }
        if ctx.try_number <= config.fail_times {
            return Err(JobError::failed(format!(
                "flaky failure {}",
                ctx.try_number
            )));
        }
        Ok(JobOutput {
            outputs: config.outputs.into_iter().collect(),
        })
    }
}

/// An engine over a fresh SQLite store with the probe types registered.
pub struct Harness {
    pub engine: Engine,
    pub registry: JobRegistry,
    /// Held for its `Drop` (removes the store's directory).
    _test_store: TestStore,
}

impl Harness {
    /// Over a fresh SQLite store.
    pub async fn new() -> Self {
        Self::over(TestStore::sqlite().await)
    }

    /// One harness per backend: SQLite, and Postgres when a server is reachable (required
    /// with `CI` set; see `TestStore::postgres`).
    pub async fn each_backend() -> Vec<Self> {
        TestStore::each_backend()
            .await
            .into_iter()
            .map(Self::over)
            .collect()
    }

    fn over(test_store: TestStore) -> Self {
        let mut registry = JobRegistry::new();
        for probe in probes() {
            registry.register(Arc::new(probe));
        }
        let engine = Engine::new(
            test_store.store.clone(),
            registry.clone(),
            EngineSettings::default(),
        );
        Self {
            engine,
            registry,
            _test_store: test_store,
        }
    }

    /// Parses and applies a DAG file.
    pub async fn apply(&self, yaml: &str) {
        let catalog = self.registry.catalog();
        let options = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        let dag = parse_dag("test.yaml", yaml, &options).unwrap_or_else(|diags| {
            panic!(
                "invalid test DAG:\n{}",
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
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
    }

    /// Triggers a manual run with `params` and executes it to the end.
    pub async fn run(&self, dag_id: &str, params: &[(&str, &str)]) -> RunRecord {
        let request = TriggerRequest {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
            ..TriggerRequest::default()
        };
        let run = self.engine.trigger(dag_id, &request).await.unwrap();
        // Distinct logical dates (microseconds) for runs made back to back.
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.engine
            .execute_run(&run, &EventSink::none(), &CancellationToken::new())
            .await
            .unwrap()
            .run
    }

    /// A server over this engine: a token, runs executed in-process.
    pub fn server(&self) -> Server {
        self.server_with(ServerConfig {
            token: Some(ApiToken::new(TOKEN).unwrap()),
            ..ServerConfig::default()
        })
    }

    pub fn server_with(&self, config: ServerConfig) -> Server {
        Server::new(self.engine.clone(), config).unwrap()
    }

    /// Waits until the DAG's newest run ended (the server executes runs in the background).
    pub async fn wait_for_run(&self, dag_id: &str, run_id: &str) -> RunRecord {
        for _ in 0..500 {
            let run = self
                .engine
                .store()
                .get_run(dag_id, run_id)
                .await
                .unwrap()
                .unwrap();
            if matches!(run.state, RunState::Success | RunState::Failed) && run.holder.is_none() {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {run_id} of {dag_id} did not end within 10 s");
    }
}

/// A response: status, headers, body text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The `error` of a JSON error body (asserting there is one).
    pub fn error(&self) -> String {
        let body = self.json();
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {body}"))
            .to_string()
    }
}

/// Sends one request to the router.
pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, &[], None).await
}

/// A POST with the bearer token and a JSON body.
pub async fn post_json(app: &Router, uri: &str, body: &str) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    call(
        app,
        Method::POST,
        uri,
        &[
            (header::AUTHORIZATION, auth.as_str()),
            (header::CONTENT_TYPE, "application/json"),
        ],
        Some(body),
    )
    .await
}

/// Percent-encodes a path segment (run ids hold `:` and `+`).
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
