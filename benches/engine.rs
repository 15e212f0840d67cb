//! Engine benchmark: `noop` DAGs of several shapes through the real engine and store.
//!
//! `cargo bench --bench engine` runs every shape on SQLite and, when reachable, on Postgres
//! (127.0.0.1:5432 or `FLOWCTL_TEST_PG_URL`), each in a fresh child process so peak RSS is per
//! shape, and prints wall time, step completions per second, median hand-off latency
//! (upstream end → downstream start) and peak RSS. `-- --shape NAME --backend sqlite|postgres`
//! runs a single case. `-- --quick` runs only the small shapes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use flowctl_engine::{Engine, EngineSettings, EventSink, TriggerRequest};
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::{DagUpsert, Store};
use tokio_util::sync::CancellationToken;

/// The DAG shapes measured (name, YAML generator).
const SHAPES: &[&str] = &["wide_1000", "wide_10000", "chain_200", "diamond_500"];

fn dag_yaml(shape: &str) -> Option<String> {
    let mut y = format!("dag: bench_{shape}\nmax_active_tasks: 100000\nsteps:\n");
    match shape {
        "wide_1000" | "wide_10000" => {
            let n: usize = shape.trim_start_matches("wide_").parse().ok()?;
            for i in 0..n {
                let _ = writeln!(y, "  s{i}: {{ type: noop }}");
            }
        }
        "chain_200" => {
            y.push_str("  s0: { type: noop }\n");
            for i in 1..200 {
                let _ = writeln!(y, "  s{i}: {{ type: noop, depends_on: [s{}] }}", i - 1);
            }
        }
        "diamond_500" => {
            y.push_str("  top: { type: noop }\n");
            for i in 0..500 {
                let _ = writeln!(y, "  m{i}: {{ type: noop, depends_on: [top] }}");
            }
            let all: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
            let _ = writeln!(
                y,
                "  bottom: {{ type: noop, depends_on: [{}] }}",
                all.join(", ")
            );
        }
        _ => return None,
    }
    Some(y)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Runs one shape on one store, in this process; prints one result line.
async fn run_case(shape: &str, store_url: &str, backend: &str) -> Result<(), String> {
    let yaml = dag_yaml(shape).ok_or_else(|| format!("unknown shape {shape}"))?;
    let registry = flowctl_jobs::registry();
    let catalog = registry.catalog();
    let options = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    let dag = parse_dag("bench.yaml", &yaml, &options).map_err(|d| format!("{d:?}"))?;
    let store = Store::open(store_url).await.map_err(|e| e.to_string())?;
    store
        .apply_dags(
            &[DagUpsert {
                dag_id: dag.id.clone(),
                hash: dag.source.hash.clone(),
                source_path: dag.source.path.clone(),
                source: dag.source.text.clone(),
            }],
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    let engine = Engine::new(store.clone(), registry, EngineSettings::default());

    let started = Instant::now();
    let run = engine
        .trigger(&dag.id, &TriggerRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    let created = started.elapsed();
    let outcome = engine
        .execute_run(&run, &EventSink::none(), &CancellationToken::new())
        .await
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    if !outcome.succeeded() {
        return Err(format!("run ended {}", outcome.run.state));
    }

    let tasks = store.list_tasks(run.id).await.map_err(|e| e.to_string())?;
    let by_id: HashMap<&str, _> = tasks.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let mut handoffs: Vec<f64> = Vec::new();
    for (id, step) in &dag.steps {
        let Some(down) = by_id.get(id.as_str()).and_then(|t| t.started_at) else {
            continue;
        };
        for up in &step.depends_on {
            if let Some(up_end) = by_id.get(up.as_str()).and_then(|t| t.ended_at) {
                handoffs.push((down - up_end).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
    }
    handoffs.sort_by(f64::total_cmp);
    let median = handoffs
        .get(handoffs.len() / 2)
        .map(|m| format!("{m:.2} ms"))
        .unwrap_or_else(|| "n/a".into());
    let n = tasks.len();
    // Levels of the DAG: the end-to-end cost of one level (start, run, record, hand off) is
    // the honest hand-off figure; the store-based median only sees claim time.
    let levels = match shape {
        "chain_200" => 200.0,
        "diamond_500" => 3.0,
        _ => 1.0,
    };
    let per_level_ms = (wall - created).as_secs_f64() * 1000.0 / levels;
    println!(
        "{shape:<12} {backend:<9} steps {n:>6}  wall {:>7.3} s  (create run {:>6.3} s)  {:>7.0} steps/s  per level {:>7.2} ms  hand-off median {:>8}  peak RSS {:>5.1} MiB",
        wall.as_secs_f64(),
        created.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        per_level_ms,
        median,
        peak_rss_mib()
    );
    store.close().await;
    Ok(())
}

/// A Postgres database for the benchmark, dropped afterwards; `None` when no server answers.
async fn postgres_db() -> Option<(String, String, String)> {
    use sqlx::Connection;
    let admin = std::env::var("FLOWCTL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("flowctl_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .ok()?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    Some((admin, name.clone(), format!("{base}/{name}")))
}

async fn drop_db(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

fn child(shape: &str, backend: &str, url: &str) -> bool {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find the benchmark binary: {e}");
            return false;
        }
    };
    let status = std::process::Command::new(exe)
        .args(["--shape", shape, "--backend", backend, "--url", url])
        .status();
    matches!(status, Ok(s) if s.success())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    if let (Some(shape), Some(backend), Some(url)) = (
        arg(&args, "--shape"),
        arg(&args, "--backend"),
        arg(&args, "--url"),
    ) {
        if let Err(e) = runtime.block_on(run_case(&shape, &url, &backend)) {
            eprintln!("{shape} on {backend}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let shapes: Vec<&str> = SHAPES
        .iter()
        .copied()
        .filter(|s| !quick || *s != "wide_10000")
        .collect();
    println!(
        "flowctl engine benchmark: {} cores, {} build; every step is `noop`",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut ok = true;
    for shape in &shapes {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        ok &= child(shape, "sqlite", &url);
    }
    match runtime.block_on(postgres_db()) {
        Some((admin, name, url)) => {
            for shape in &shapes {
                ok &= child(shape, "postgres", &url);
            }
            runtime.block_on(drop_db(&admin, &name));
        }
        None => {
            println!("postgres: skipped (no server at 127.0.0.1:5432; set FLOWCTL_TEST_PG_URL)")
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
