//! Quick throughput check of the engine and store with `noop`-like steps (not the published
//! benchmark, which lives in the workspace's `benches/`).
//!
//! `cargo run --release -p flowctl-engine --example throughput [sqlite|postgres] [max_active_tasks]`

use std::time::Instant;

use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, JobRegistry};
use flowctl_engine::{Engine, EngineSettings, EventSink, TriggerRequest};
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::DagUpsert;
use flowctl_state::testing::TestStore;
use tokio_util::sync::CancellationToken;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl flowctl_model::catalog::JobConfig for Empty {}

struct Noop;

impl Job for Noop {
    type Config = Empty;
    const TYPE: &'static str = "noop";

    async fn run(&self, _: Empty, _: JobContext) -> Result<JobOutput, JobError> {
        Ok(JobOutput::default())
    }
}

fn wide(n: usize) -> String {
    (0..n)
        .map(|i| format!("  s{i}: {{ type: noop }}\n"))
        .collect()
}

fn chain(n: usize) -> String {
    (0..n)
        .map(|i| match i {
            0 => "  s0: { type: noop }\n".to_string(),
            _ => format!("  s{i}: {{ type: noop, depends_on: [s{}] }}\n", i - 1),
        })
        .collect()
}

fn diamond(n: usize) -> String {
    let mids: String = (0..n)
        .map(|i| format!("  m{i}: {{ type: noop, depends_on: [root] }}\n"))
        .collect();
    let deps: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    format!(
        "  root: {{ type: noop }}\n{mids}  join: {{ type: noop, depends_on: [{}] }}\n",
        deps.join(", ")
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let max_active: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let store = match backend {
        "postgres" => TestStore::postgres().await.expect("postgres"),
        _ => TestStore::sqlite().await,
    };
    let mut registry = JobRegistry::new();
    registry.add(Noop);
    let catalog = registry.catalog();
    let settings = EngineSettings {
        default_max_active_tasks: max_active,
        ..EngineSettings::default()
    };
    let engine = Engine::new(store.store.clone(), registry, settings);
    let shapes = [
        ("wide_1000", wide(1000)),
        ("wide_10000", wide(10_000)),
        ("chain_200", chain(200)),
        ("diamond_500", diamond(500)),
    ];
    let only = std::env::var("SHAPES").ok();
    for (name, steps) in shapes {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|s| s == name))
        {
            continue;
        }
        let text = format!("dag: {name}\nsteps:\n{steps}");
        let opts = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        let dag =
            parse_dag("bench.yaml", &text, &opts).unwrap_or_else(|_| panic!("invalid {name}"));
        let upsert = DagUpsert {
            dag_id: dag.id.clone(),
            hash: dag.source.hash.clone(),
            source_path: "bench.yaml".into(),
            source: text.clone(),
        };
        engine.store().apply_dags(&[upsert], &[]).await.unwrap();
        let t0 = Instant::now();
        let _ = parse_dag("bench.yaml", &text, &opts);
        let parse = t0.elapsed();
        let started = Instant::now();
        let run = engine
            .trigger(name, &TriggerRequest::default())
            .await
            .unwrap();
        if std::env::var_os("VERBOSE").is_some() {
            println!("  parse {parse:?}, trigger {:?}", started.elapsed());
        }
        let created = started.elapsed();
        let outcome = engine
            .execute_run(&run, &EventSink::none(), &CancellationToken::new())
            .await
            .unwrap();
        let total = started.elapsed();
        assert!(outcome.succeeded());
        println!(
            "{backend:8} {name:12} max_active={max_active:<5} steps={:<6} create={:>8.1?} total={:>8.1?} ({:.0} steps/s)",
            dag.steps.len(),
            created,
            total,
            dag.steps.len() as f64 / total.as_secs_f64()
        );
    }
}
