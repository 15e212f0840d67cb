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

#[test]
fn a_typo_in_a_target_setting_stops_every_command_with_its_position() {
    let project = TestProject::new();
    project.dag("good", GOOD);
    project.write(
        "flowctl.yaml",
        "targets:\n  local:\n    kind: local\n    kafka: { bootstrapp: \"broker:9092\" }\n  prod:\n    kind: aws\n    regoin: eu-west-1\n",
    );
    for args in [&["validate"][..], &["apply"], &["dags"]] {
        let run = project.run(args);
        run.expect_code(2);
        assert!(
            run.stderr.contains("flowctl.yaml:4:") && run.stderr.contains("bootstrapp"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("flowctl.yaml:7:5: unknown setting `regoin` in target `prod` (did you mean `region`?)"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(
        !project.path().join(".flowctl/state.db").exists(),
        "nothing is written when the project file is refused"
    );
}

#[test]
fn a_file_sql_query_is_checked_like_an_inline_one() {
    let project = TestProject::new();
    project.write(
        "jobs/sql/daily.sql",
        "SELECT region, SUM(amount) AS revenue\nFROM silver.orders\nWHERE day = '{{ params.dya }}'\nGROUP BY region\n",
    );
    project.dag(
        "gold",
        "dag: gold\nparams: { day: x }\nsteps:\n  daily:\n    type: sql\n    file: jobs/sql/daily.sql\n    target: gold.daily\n",
    );
    let run = project.run(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "jobs/sql/daily.sql:3:17: unknown param `dya` in step `daily` (did you mean `day`?)"
        ),
        "{}",
        run.stderr
    );
}
