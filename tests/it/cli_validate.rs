//! `flowctl validate` as a user runs it.

use crate::support::TestProject;

const GOOD: &str = r#"
dag: good
schedule: "@daily"
steps:
  a: { type: shell, command: "echo {{ ds }}" }
  b: { type: noop, depends_on: [a] }
"#;

#[test]
fn valid_dags_exit_zero_with_a_summary() {
    let project = TestProject::new();
    project.dag("good", GOOD);
    let run = project.run(&["validate"]);
    run.ok();
    assert!(
        run.stdout.contains("ok: 1 DAG with 2 steps in 1 file"),
        "{}",
        run.stdout
    );
}

#[test]
fn every_error_of_every_file_is_reported_with_position_and_exit_one() {
    let project = TestProject::new();
    project.dag("good", GOOD);
    project.dag(
        "bad",
        "dag: bad\nsteps:\n  a:\n    type: shell\n    comand: echo\n  b:\n    type: noop\n    depends_on: [zz]\n",
    );
    let run = project.run(&["validate"]);
    run.expect_code(1);
    assert!(run.stderr.contains("dags/bad.yaml:5:5:"), "{}", run.stderr);
    assert!(run.stderr.contains("comand"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `command`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("dags/bad.yaml:8:"), "{}", run.stderr);
    assert!(run.stderr.contains("zz"), "{}", run.stderr);
    assert!(
        run.stderr.contains("2 problems in 1 file"),
        "{}",
        run.stderr
    );
}

#[test]
fn explicit_paths_and_missing_paths() {
    let project = TestProject::new();
    let file = project.write("elsewhere/one.yml", GOOD);
    project.run(&["validate", file.to_str().unwrap()]).ok();
    let missing = project.run(&["validate", "nope/"]);
    missing.expect_code(2);
    assert!(missing.stderr.contains("nope"), "{}", missing.stderr);
}

#[test]
fn target_flag_requires_a_variant_for_that_target() {
    let project = TestProject::new();
    project.dag("t", "dag: t\nsteps:\n  a:\n    local: { type: noop }\n");
    project.run(&["validate"]).ok();
    let run = project.run(&["validate", "--target", "aws"]);
    run.expect_code(1);
    assert!(run.stderr.contains("aws"), "{}", run.stderr);
    let unknown = project.run(&["validate", "--target", "mars"]);
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("unknown target `mars`"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn invalid_project_file_is_a_usage_error() {
    let project = TestProject::new();
    project.dag("good", GOOD);
    project.write("flowctl.yaml", "pools: { db: not-a-number }\n");
    let run = project.run(&["validate"]);
    run.expect_code(2);
    assert!(run.stderr.contains("flowctl.yaml:1:"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_two() {
    let project = TestProject::new();
    project.run(&["no-such-command"]).expect_code(2);
    project.run(&["run"]).expect_code(2);
}
