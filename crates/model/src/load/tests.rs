//! Tests of DAG loading. The invalid-file corpus (tests/invalid at the workspace root)
//! covers each error class with its exact output; these tests cover the values built from
//! valid files and the options.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::dag::{Backoff, StepJob, TriggerRule};
use crate::testing;

fn opts(catalog: &JobTypeCatalog) -> LoadOptions<'_> {
    LoadOptions {
        catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    }
}

fn messages(result: Result<Dag, Vec<Diagnostic>>) -> Vec<String> {
    result
        .expect_err("the DAG should be invalid")
        .iter()
        .map(|d| match d.span {
            Some(span) => format!("{span}: {}", d.message),
            None => d.message.clone(),
        })
        .collect()
}

const FULL: &str = r#"
dag: orders
description: Orders CDC
schedule: "*/15 * * * *"
timezone: Europe/Paris
start_date: 2026-01-01
end_date: 2026-06-30T18:00:00
catchup: true
max_active_runs: 2
max_active_tasks: 4
params: { topic: cdc.orders, batch: 100 }
defaults: { retries: 3, retry_delay: 1m, retry_backoff: exponential, timeout: 20m, pool: etl }
steps:
  bronze:
    local: { type: shell, command: "echo {{ params.topic }}" }
    aws: { type: noop }
  silver:
    depends_on: bronze
    type: shell
    command: [./merge.sh, "{{ ds }}"]
    env: { ROWS: "{{ outputs.bronze.rows }}" }
    retries: 0
    max_retry_delay: 10m
  notify:
    depends_on: [silver, bronze]
    trigger_rule: all_done
    description: tell the team
    type: noop
"#;

#[test]
fn builds_the_typed_dag_with_defaults_applied() {
    let catalog = testing::catalog();
    let dag = parse_dag("dags/orders.yaml", FULL, &opts(&catalog)).expect("valid DAG");
    assert_eq!(dag.id, "orders");
    assert_eq!(dag.description.as_deref(), Some("Orders CDC"));
    assert_eq!(
        dag.schedule.as_ref().map(|s| s.expr()),
        Some("*/15 * * * *")
    );
    assert_eq!(dag.timezone, chrono_tz::Europe::Paris);
    // Midnight in Paris (UTC+1 in winter), 18:00 in Paris (UTC+2 in summer).
    assert_eq!(
        dag.start_date.map(|d| d.to_rfc3339()),
        Some("2025-12-31T23:00:00+00:00".into())
    );
    assert_eq!(
        dag.end_date.map(|d| d.to_rfc3339()),
        Some("2026-06-30T16:00:00+00:00".into())
    );
    assert!(dag.catchup);
    assert_eq!((dag.max_active_runs, dag.max_active_tasks), (2, Some(4)));
    assert_eq!(dag.params.get("batch"), Some(&serde_json::json!(100)));
    assert_eq!(
        dag.steps.keys().collect::<Vec<_>>(),
        ["bronze", "silver", "notify"]
    );

    let bronze = &dag.steps["bronze"];
    assert_eq!(bronze.retries, 3, "from defaults");
    assert_eq!(bronze.retry_delay, Duration::from_secs(60));
    assert_eq!(bronze.retry_backoff, Backoff::Exponential);
    assert_eq!(bronze.timeout, Some(Duration::from_secs(1200)));
    assert_eq!(bronze.pool.as_deref(), Some("etl"));
    match &bronze.job {
        StepJob::PerTarget(variants) => {
            assert_eq!(variants.keys().collect::<Vec<_>>(), ["local", "aws"]);
            assert_eq!(variants["local"].job_type, "shell");
            assert_eq!(
                variants["local"].config.get("command"),
                Some(&serde_json::json!("echo {{ params.topic }}"))
            );
            assert!(variants["aws"].config.is_empty());
        }
        other => panic!("expected variants, got {other:?}"),
    }

    let silver = &dag.steps["silver"];
    assert_eq!(silver.depends_on, ["bronze"], "a single string is accepted");
    assert_eq!(silver.retries, 0, "the step's own setting wins");
    assert_eq!(silver.max_retry_delay, Some(Duration::from_secs(600)));
    let job = silver
        .job_for(crate::dag::TargetKind::Aws)
        .expect("type: runs everywhere");
    assert_eq!(job.job_type, "shell");
    assert_eq!(
        job.config.keys().collect::<Vec<_>>(),
        ["command", "env"],
        "step keys are not job fields"
    );

    let notify = &dag.steps["notify"];
    assert_eq!(notify.trigger_rule, TriggerRule::AllDone);
    assert_eq!(notify.depends_on, ["silver", "bronze"]);

    assert_eq!(dag.source.path, "dags/orders.yaml");
    assert_eq!(dag.source.text, FULL);
    assert_eq!(
        dag.source.hash,
        hex::encode(Sha256::digest(FULL.as_bytes()))
    );
}

#[test]
fn documented_defaults_apply_without_settings() {
    let catalog = testing::catalog();
    let dag = parse_dag(
        "d.yaml",
        "dag: d\nsteps:\n  a: {type: noop}\n",
        &opts(&catalog),
    )
    .expect("valid");
    let a = &dag.steps["a"];
    assert_eq!(a.retries, 0);
    assert_eq!(a.retry_delay, DEFAULT_RETRY_DELAY);
    assert_eq!(a.retry_backoff, Backoff::Constant);
    assert_eq!(
        (a.timeout, a.max_retry_delay, a.pool.as_deref()),
        (None, None, None)
    );
    assert_eq!(a.trigger_rule, TriggerRule::AllSuccess);
    assert_eq!(
        (dag.schedule, dag.timezone, dag.catchup, dag.max_active_runs),
        (None, chrono_tz::UTC, false, 1)
    );
}

#[test]
fn a_target_kind_requires_its_variant_and_checks_only_it() {
    let catalog = testing::catalog();
    let text = "dag: d\nsteps:\n  a:\n    local: {type: glue_job}\n  b:\n    aws: {type: noop}\n  c: {type: noop}\n";
    let aws = LoadOptions {
        target_kind: Some(crate::dag::TargetKind::Aws),
        ..opts(&catalog)
    };
    assert_eq!(
        messages(parse_dag("d.yaml", text, &aws)),
        [
            "3:3: step `a` has no `aws` variant, so it cannot run on a `aws` target: add `aws:` or use `type:`"
        ]
    );
    let local = LoadOptions {
        target_kind: Some(crate::dag::TargetKind::Local),
        ..opts(&catalog)
    };
    let errors = messages(parse_dag("d.yaml", text, &local));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("4:19: unknown job type `glue_job`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("5:3: step `b` has no `local` variant"),
        "{errors:?}"
    );
}

#[test]
fn pools_are_checked_only_when_given() {
    let catalog = testing::catalog();
    let text = "dag: d\ndefaults: {pool: athena}\nsteps:\n  a: {type: noop, pool: atena}\n";
    assert!(parse_dag("d.yaml", text, &opts(&catalog)).is_ok());
    let pools = BTreeMap::from([("athena".to_string(), 2)]);
    let with_pools = LoadOptions {
        pools: Some(&pools),
        ..opts(&catalog)
    };
    assert_eq!(
        messages(parse_dag("d.yaml", text, &with_pools)),
        [
            "4:25: unknown pool `atena` (did you mean `athena`?); pools declared in the project file: athena"
        ]
    );
}

#[test]
fn reports_every_error_of_a_file_in_position_order() {
    let catalog = testing::catalog();
    let text = "dag: bad id\nschedul: '@daily'\nsteps:\n  a: {type: shel}\n  b: {type: noop, depends_on: [z], retries: -1}\n";
    assert_eq!(
        messages(parse_dag("d.yaml", text, &opts(&catalog))),
        [
            "1:6: invalid DAG id `bad id`: use only letters, digits, `_`, `.` and `-`",
            "2:1: unknown key `schedul` at the top level (did you mean `schedule`?)",
            "4:13: unknown job type `shel` in step `a` (did you mean `shell`?); known types: noop, shell",
            "5:32: step `b` depends on unknown step `z`",
            "5:45: invalid `retries` in step `b`: expected a non-negative integer, found integer `-1`",
        ]
    );
}

#[test]
fn template_errors_point_at_the_variable() {
    let catalog = testing::catalog();
    let text = "dag: d\nparams: {topic: t}\nsteps:\n  a:\n    type: shell\n    command: |\n      echo start\n      echo {{ params.topc }} {{ outputs.b.n }}\n  b: {type: noop, depends_on: a}\n";
    assert_eq!(
        messages(parse_dag("d.yaml", text, &opts(&catalog))),
        [
            "8:15: unknown param `topc` in step `a` (did you mean `topic`?): declare it under `params:` (declared: topic)",
            "8:33: step `a` reads `outputs.b.n`, but `b` is not upstream of `a`: add `b` to its `depends_on`",
        ]
    );
}

#[test]
fn duplicate_ids_across_files_are_reported_at_both_and_the_first_is_kept() {
    let catalog = testing::catalog();
    let files = vec![
        (
            "a.yaml".to_string(),
            "dag: same\nsteps: {x: {type: noop}}\n".to_string(),
        ),
        (
            "b.yaml".to_string(),
            "dag: other\nsteps: {x: {type: noop}}\n".to_string(),
        ),
        (
            "c.yaml".to_string(),
            "# copy\ndag: same\nsteps: {y: {type: noop}}\n".to_string(),
        ),
    ];
    let loaded = load_dags(&files, &opts(&catalog));
    let shown: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d.file,
                d.span.map(|s| s.to_string()).unwrap_or_default(),
                d.message
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "a.yaml:1:6 duplicate DAG id `same`: also defined at c.yaml:2:6",
            "c.yaml:2:6 duplicate DAG id `same`: also defined at a.yaml:1:6",
        ]
    );
    let ids: Vec<&str> = loaded.dags.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["same", "other"]);
    assert!(
        loaded.dags[0].steps.contains_key("x"),
        "the first definition is kept"
    );
}

#[test]
fn empty_and_non_map_files_are_errors() {
    let catalog = testing::catalog();
    assert_eq!(
        messages(parse_dag("d.yaml", "# nothing\n", &opts(&catalog))),
        ["the file is empty: expected a DAG with `dag:` and `steps:`"]
    );
    assert_eq!(
        messages(parse_dag("d.yaml", "- a\n- b\n", &opts(&catalog))),
        ["1:1: a DAG file must be a map with `dag:` and `steps:`, found a list"]
    );
}

#[test]
fn discovers_yaml_files_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("sub/deeper")).expect("dirs");
    for file in [
        "b.yaml",
        "a.yml",
        "notes.txt",
        "sub/c.yaml",
        "sub/deeper/d.yaml",
    ] {
        std::fs::write(root.join(file), "x: 1\n").expect("write");
    }
    let single = root.join("notes.txt");
    let found = discover_dag_files(&[root.to_path_buf(), single.clone()]).expect("discover");
    let rel: Vec<String> = found
        .iter()
        .map(|p| {
            p.strip_prefix(root)
                .map(|r| r.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        rel,
        [
            "a.yml",
            "b.yaml",
            "sub/c.yaml",
            "sub/deeper/d.yaml",
            "notes.txt"
        ]
    );
    let err = discover_dag_files(&[root.join("missing")]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn a_misspelt_field_is_checked_under_its_probable_name() {
    let catalog = testing::catalog();
    let text = "dag: d\nsteps:\n  a:\n    type: shell\n    comand: echo\n    cwdd: 3\n";
    assert_eq!(
        messages(parse_dag("d.yaml", text, &opts(&catalog))),
        [
            "5:5: unknown key `comand` in step `a` (did you mean `command`?)",
            "6:5: unknown key `cwdd` in step `a` (did you mean `cwd`?)",
            "6:11: invalid `shell` field `cwd` in step `a`: invalid type: integer `3`, expected path string",
        ],
        "no `missing field command`, and `cwdd`'s value is checked as `cwd`"
    );
}
