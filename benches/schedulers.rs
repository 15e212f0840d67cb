//! Several scheduler processes on one Postgres store: throughput of the wide 10,000-step `noop`
//! DAG with 1, 2 and 3 `flowctl scheduler --once` processes.
//!
//! `cargo bench --bench schedulers` (Postgres at 127.0.0.1:5432 or `FLOWCTL_TEST_PG_URL`;
//! `-- --runs N` sets how many runs, default 6; `-- --width W` the DAG's width, default 10000).
//! A run is executed by one process at a time (its steps share one in-memory view), so
//! processes share the work run by run: the DAG is scheduled every minute with catch-up over N intervals
//! and every process takes its share of them (`--max-runs`), then whichever runs are still free.
//! Each case gets a fresh database; wall time
//! covers the processes' start to the last one's exit (scheduling included).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use sqlx::Connection;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dag(width: usize, runs: usize) -> String {
    // Every minute since `runs` minutes ago (on the minute): exactly `runs` intervals are due.
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::minutes(runs as i64);
    let mut y = format!(
        "dag: wide\nschedule: '* * * * *'\nstart_date: {}\ncatchup: true\nmax_active_runs: {runs}\n\
         max_active_tasks: 100000\nsteps:\n",
        start.format("%Y-%m-%dT%H:%M:00")
    );
    for i in 0..width {
        let _ = writeln!(y, "  s{i}: {{ type: noop }}");
    }
    y
}

async fn with_database<T>(admin: &str, f: impl AsyncFnOnce(&str) -> T) -> Option<T> {
    let name = format!("flowctl_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = match sqlx::PgConnection::connect(admin).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("skipped: no Postgres at {admin} ({e})");
            return None;
        }
    };
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    let out = f(&format!("{base}/{name}")).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop database");
    Some(out)
}

fn flowctl(dir: &std::path::Path, state: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowctl"));
    cmd.args(args)
        .current_dir(dir)
        .env("FLOWCTL_STATE", state)
        .env_remove("FLOWCTL_ENV")
        .env_remove("FLOWCTL_TARGET")
        .stdin(Stdio::null());
    cmd
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let admin = std::env::var("FLOWCTL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let runs = arg("--runs", 6);
    let width = arg("--width", 10_000);
    println!(
        "wide {width}-step noop DAG, {runs} runs ({} steps), Postgres, `flowctl scheduler --once` processes",
        runs * width
    );
    println!("processes | wall (s) | steps/s | runs per process");
    for processes in 1..=3 {
        let measured = with_database(&admin, async |url: &str| {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::create_dir_all(dir.path().join("dags")).expect("dags");
            std::fs::write(dir.path().join("dags/wide.yaml"), dag(width, runs)).expect("dag");
            let applied = flowctl(dir.path(), url, &["apply"])
                .stdout(Stdio::null())
                .status()
                .expect("apply");
            assert!(applied.success());
            let started = Instant::now();
            // Each process takes its share of the runs (`--max-runs`), then the next free one.
            let share = runs.div_ceil(processes).to_string();
            let children: Vec<_> = (0..processes)
                .map(|_| {
                    flowctl(
                        dir.path(),
                        url,
                        &["scheduler", "--once", "--max-runs", &share],
                    )
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("scheduler")
                })
                .collect();
            let mut executed = Vec::new();
            for child in children {
                let out = child.wait_with_output().expect("scheduler");
                assert!(out.status.success(), "a scheduler failed");
                // "scheduler: N runs created, M executed, F failed"
                let text = String::from_utf8_lossy(&out.stdout);
                let line = text.lines().rev().find(|l| l.starts_with("scheduler:"));
                executed.push(line.unwrap_or("?").to_string());
            }
            (started.elapsed().as_secs_f64(), executed)
        })
        .await;
        let Some((wall, executed)) = measured else {
            return;
        };
        let per_process: Vec<String> = executed
            .iter()
            .map(|l| {
                l.split(", ")
                    .find(|p| p.ends_with("executed"))
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        println!(
            "{processes} | {wall:.2} | {:.0} | {}",
            (runs * width) as f64 / wall,
            per_process.join("; ")
        );
    }
}
