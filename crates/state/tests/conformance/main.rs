//! Conformance suite: every check runs on SQLite and on Postgres (see
//! `flowctl_state::testing` for how Postgres is found, and skipped outside CI).

mod dags;
mod exec;
mod logs;
mod runs;

use chrono::{DateTime, TimeZone, Utc};
use flowctl_state::{DagUpsert, NewRun, NewTask, RunRecord, RunType, Store};

pub fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
}

pub fn upsert(dag_id: &str, version: &str) -> DagUpsert {
    DagUpsert {
        dag_id: dag_id.to_string(),
        hash: format!("hash-{dag_id}-{version}"),
        source_path: format!("dags/{dag_id}.yaml"),
        source: format!("dag: {dag_id}\n# {version}\n"),
    }
}

pub fn new_run(dag_id: &str, run_id: &str, start: DateTime<Utc>, tasks: &[&str]) -> NewRun {
    NewRun {
        dag_id: dag_id.to_string(),
        run_id: run_id.to_string(),
        version_hash: format!("hash-{dag_id}-v1"),
        logical_date: start,
        interval_start: start,
        interval_end: start + chrono::Duration::hours(1),
        run_type: RunType::Scheduled,
        params: serde_json::json!({"topic": "orders", "n": 3})
            .as_object()
            .unwrap()
            .clone(),
        target: "local".into(),
        tasks: tasks
            .iter()
            .map(|t| NewTask {
                task_id: t.to_string(),
                max_tries: 2,
            })
            .collect(),
    }
}

/// Applies DAG `dag_id` (version v1) and creates a run with `tasks`.
pub async fn dag_with_run(store: &Store, dag_id: &str, tasks: &[&str]) -> RunRecord {
    store
        .apply_dags(&[upsert(dag_id, "v1")], &[])
        .await
        .unwrap();
    store
        .create_run(&new_run(dag_id, "scheduled__1", at(0, 0), tasks))
        .await
        .unwrap()
        .expect("new run")
}
