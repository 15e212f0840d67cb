//! `flowctl apply`: validate first, one transaction, a plan-like diff, idempotent.

use crate::support::{TestDatabase, TestProject};

const A: &str = "dag: alpha\nschedule: '@daily'\nsteps:\n  one: { type: noop }\n  two: { type: noop, depends_on: [one] }\n";
const A2: &str = "dag: alpha\nschedule: '@hourly'\nsteps:\n  one: { type: noop }\n  three: { type: shell, command: 'true', depends_on: [one] }\n";
const B: &str = "dag: beta\nsteps:\n  x: { type: noop }\n";

fn check_apply_cycle(project: &TestProject) {
    project.dag("alpha", A);
    project.dag("beta", B);

    let dry = project.run(&["apply", "--dry-run"]);
    dry.ok();
    assert!(dry.stdout.contains("+ alpha"), "{}", dry.stdout);
    assert!(dry.stdout.contains("+ beta"), "{}", dry.stdout);
    // A dry run writes nothing.
    let listed = project.run(&["dags", "--json"]);
    listed.ok();
    let dags: serde_json::Value = serde_json::from_str(&listed.stdout).expect("dags --json");
    assert_eq!(dags.as_array().map(Vec::len), Some(0), "{}", listed.stdout);

    let first = project.run(&["apply"]);
    first.ok();
    assert!(first.stdout.contains("+ alpha"), "{}", first.stdout);
    assert!(
        first.stdout.contains("2 created, 0 changed, 0 removed"),
        "{}",
        first.stdout
    );

    let again = project.run(&["apply"]);
    again.ok();
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);

    project.dag("alpha", A2);
    project.remove("dags/beta.yaml");
    let changed = project.run(&["apply"]);
    changed.ok();
    let out = &changed.stdout;
    assert!(out.contains("~ alpha"), "{out}");
    assert!(out.contains("steps added: three"), "{out}");
    assert!(out.contains("steps removed: two"), "{out}");
    assert!(out.contains("schedule"), "{out}");
    // Without --prune a DAG gone from the files is only reported.
    assert!(out.contains("beta"), "{out}");
    assert!(out.contains("--prune"), "{out}");
    let listed = project.run(&["dags", "--json"]);
    assert!(listed.stdout.contains("\"beta\""), "{}", listed.stdout);

    let pruned = project.run(&["apply", "--prune"]);
    pruned.ok();
    assert!(pruned.stdout.contains("- beta"), "{}", pruned.stdout);
    let listed = project.run(&["dags", "--json"]);
    assert!(!listed.stdout.contains("\"beta\""), "{}", listed.stdout);
}

#[test]
fn apply_diff_idempotence_dry_run_and_prune_on_sqlite() {
    check_apply_cycle(&TestProject::new());
}

#[test]
fn apply_diff_idempotence_dry_run_and_prune_on_postgres() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    check_apply_cycle(&TestProject::with_state(&db.url));
}

#[test]
fn invalid_files_write_nothing() {
    let project = TestProject::new();
    project.dag("alpha", A);
    project.dag("broken", "dag: broken\nsteps:\n  x: { type: nope }\n");
    let run = project.run(&["apply"]);
    run.expect_code(1);
    assert!(run.stderr.contains("dags/broken.yaml:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was applied"), "{}", run.stderr);
    let listed = project.run(&["dags", "--json"]);
    listed.ok();
    assert_eq!(listed.stdout.trim(), "[]");
}

#[test]
fn concurrent_applies_on_postgres_do_not_corrupt_state() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let project = TestProject::with_state(&db.url);
    for i in 0..20 {
        project.dag(
            &format!("d{i}"),
            &format!("dag: d{i}\nsteps:\n  a: {{ type: noop }}\n"),
        );
    }
    // Migrate once first so the race is about applying, then race four applies.
    project.run(&["dags"]).ok();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(
            project
                .cmd(&["apply"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn apply"),
        );
    }
    for mut h in handles {
        let status = h.wait().expect("wait apply");
        assert!(status.success(), "a concurrent apply failed: {status}");
    }
    let listed = project.run(&["dags", "--json"]);
    let dags: serde_json::Value = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!(dags.as_array().map(Vec::len), Some(20), "{}", listed.stdout);
    let again = project.run(&["apply"]);
    again.ok();
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);
}
