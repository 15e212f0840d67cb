//! `flowctl run`, `tasks`, `logs`, `clear` as a user runs them.

use crate::support::{TestDatabase, TestProject};

fn tasks_json(project: &TestProject, dag: &str) -> Vec<serde_json::Value> {
    let run = project.run(&["tasks", dag, "latest", "--json"]);
    run.ok();
    serde_json::from_str::<Vec<serde_json::Value>>(&run.stdout)
        .unwrap_or_else(|e| panic!("tasks --json is not a JSON list ({e}): {}", run.stdout))
}

fn task<'a>(tasks: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    tasks
        .iter()
        .find(|t| t["task_id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {tasks:?}"))
}

const PIPELINE: &str = r#"
dag: pipe
params: { who: world, n: 2 }
steps:
  produce:
    type: shell
    command: |
      echo "hello {{ params.who }} from {{ task_id }}"
      echo "stderr line" >&2
      echo "count={{ params.n * 21 }}" >> "$FLOWCTL_OUTPUT"
  consume:
    depends_on: [produce]
    type: shell
    command: ["sh", "-c", "echo got $0 >> consumed.txt", "{{ outputs.produce.count }}"]
  join:
    depends_on: [consume]
    type: noop
"#;

fn check_pipeline(project: &TestProject) {
    project.dag("pipe", PIPELINE);
    project.run(&["apply"]).ok();
    let run = project.run(&["run", "pipe", "--param", "who=flowctl"]);
    run.ok();
    assert_eq!(project.read("consumed.txt").trim(), "got 42");
    let tasks = tasks_json(project, "pipe");
    for id in ["produce", "consume", "join"] {
        assert_eq!(task(&tasks, id)["state"], "success", "{tasks:?}");
    }
    let logs = project.run(&["logs", "pipe", "latest", "produce"]);
    logs.ok();
    assert!(
        logs.stdout.contains("hello flowctl from produce"),
        "{}",
        logs.stdout
    );
    assert!(logs.stdout.contains("stderr line"), "{}", logs.stdout);
    let runs = project.run(&["runs", "pipe", "--json"]);
    runs.ok();
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).expect("runs --json");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "success");
    assert_eq!(runs[0]["trigger"], "manual");
    assert_eq!(runs[0]["params"]["who"], "flowctl");
}

#[test]
fn a_pipeline_runs_with_params_outputs_and_logs_on_sqlite() {
    check_pipeline(&TestProject::new());
}

#[test]
fn a_pipeline_runs_with_params_outputs_and_logs_on_postgres() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    check_pipeline(&TestProject::with_state(&db.url));
}

#[test]
fn failing_step_is_retried_then_fails_the_run_and_trigger_rules_apply() {
    let project = TestProject::new();
    project.dag(
        "flaky",
        r#"
dag: flaky
steps:
  bad:
    type: shell
    command: "echo try {{ try_number }} | tee -a tries.txt; exit 3"
    retries: 2
    retry_delay: 100ms
    retry_backoff: exponential
  after_bad:
    depends_on: [bad]
    type: shell
    command: "touch must_not_exist"
  cleanup:
    depends_on: [bad]
    trigger_rule: all_done
    type: shell
    command: "touch cleanup_ran"
"#,
    );
    project.run(&["apply"]).ok();
    let run = project.run(&["run", "flaky"]);
    run.expect_code(1);
    assert_eq!(project.read("tries.txt"), "try 1\ntry 2\ntry 3\n");
    assert!(!project.path().join("must_not_exist").exists());
    assert!(project.path().join("cleanup_ran").exists());
    let tasks = tasks_json(&project, "flaky");
    assert_eq!(task(&tasks, "bad")["state"], "failed");
    assert_eq!(task(&tasks, "bad")["try_number"], 3);
    assert_eq!(task(&tasks, "after_bad")["state"], "upstream_failed");
    assert_eq!(task(&tasks, "cleanup")["state"], "success");
    let second = project.run(&["logs", "flaky", "latest", "bad", "--attempt", "2"]);
    second.ok();
    assert!(second.stdout.contains("try 2"), "{}", second.stdout);
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let project = TestProject::new();
    project.dag(
        "slow",
        r#"
dag: slow
steps:
  sleeper:
    type: shell
    timeout: 1s
    command: "sleep 60 & echo $! > child.pid; sleep 60"
"#,
    );
    project.run(&["apply"]).ok();
    let run = project.run(&["run", "slow"]);
    run.expect_code(1);
    assert!(run.all().contains("timed out"), "{}", run.all());
    let pid: i32 = project
        .read("child.pid")
        .trim()
        .parse()
        .expect("child pid written");
    // The backgrounded grandchild must be gone (or a zombie about to be reaped by init).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "grandchild {pid} survived the timeout:\n{status}"
    );
}

#[test]
fn independent_steps_run_in_parallel() {
    let project = TestProject::new();
    project.dag(
        "par",
        r#"
dag: par
steps:
  left: { type: shell, command: "touch left.started; for i in $(seq 50); do [ -f right.started ] && exit 0; sleep 0.1; done; exit 1" }
  right: { type: shell, command: "touch right.started; for i in $(seq 50); do [ -f left.started ] && exit 0; sleep 0.1; done; exit 1" }
"#,
    );
    project.run(&["apply"]).ok();
    // Each step only succeeds if it sees the other one running at the same time.
    project.run(&["run", "par"]).ok();
}

#[test]
fn date_gives_the_schedule_interval_and_params_are_checked() {
    let project = TestProject::new();
    project.dag(
        "daily",
        r#"
dag: daily
schedule: "0 6 * * *"
timezone: Europe/Paris
params: { region: eu }
steps:
  show:
    type: shell
    command: "echo '{{ ds }} {{ data_interval_start }} {{ data_interval_end }} {{ params.region }}' > interval.txt"
"#,
    );
    project.run(&["apply"]).ok();
    project
        .run(&["run", "daily", "--date", "2026-03-10T12:00:00Z"])
        .ok();
    let interval = project.read("interval.txt");
    assert!(
        interval.starts_with("2026-03-10 2026-03-10T05:00:00"),
        "{interval}"
    );
    assert!(interval.contains("2026-03-11T05:00:00"), "{interval}");
    assert!(interval.trim_end().ends_with(" eu"), "{interval}");

    let unknown = project.run(&["run", "daily", "--param", "nope=1"]);
    unknown.expect_code(2);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("region"), "{}", unknown.stderr);
    let malformed = project.run(&["run", "daily", "--param", "region"]);
    malformed.expect_code(2);
    let missing = project.run(&["run", "nodag"]);
    missing.expect_code(2);
    assert!(missing.stderr.contains("nodag"), "{}", missing.stderr);
    let bad_date = project.run(&["run", "daily", "--date", "yesterday-ish"]);
    bad_date.expect_code(2);
}

#[test]
fn clear_failed_reruns_the_failed_step_and_its_downstream_only() {
    let project = TestProject::new();
    project.dag(
        "fixable",
        r#"
dag: fixable
steps:
  first: { type: shell, command: "echo x >> first.txt" }
  gate: { type: shell, depends_on: [first], command: "test -f fixed" }
  last: { type: shell, depends_on: [gate], command: "echo y >> last.txt" }
"#,
    );
    project.run(&["apply"]).ok();
    project.run(&["run", "fixable"]).expect_code(1);
    project.write("fixed", "");
    project
        .run(&["clear", "fixable", "latest", "--failed"])
        .ok();
    assert_eq!(
        project.read("first.txt"),
        "x\n",
        "a step that succeeded ran again"
    );
    assert_eq!(project.read("last.txt"), "y\n");
    let tasks = tasks_json(&project, "fixable");
    assert_eq!(task(&tasks, "gate")["state"], "success");
    assert_eq!(task(&tasks, "gate")["try_number"], 2);
}

#[test]
fn run_uses_the_applied_version_and_warns_when_the_file_changed() {
    let project = TestProject::new();
    project.dag(
        "ver",
        "dag: ver\nsteps:\n  a: { type: shell, command: 'echo v1 > version.txt' }\n",
    );
    project.run(&["apply"]).ok();
    project.dag(
        "ver",
        "dag: ver\nsteps:\n  a: { type: shell, command: 'echo v2 > version.txt' }\n",
    );
    let run = project.run(&["run", "ver"]);
    run.ok();
    assert_eq!(project.read("version.txt"), "v1\n");
    assert!(
        run.stderr
            .contains("dags/ver.yaml changed since it was applied"),
        "{}",
        run.stderr
    );
    project.run(&["apply"]).ok();
    let again = project.run(&["run", "ver"]);
    again.ok();
    assert_eq!(project.read("version.txt"), "v2\n");
    assert!(!again.stderr.contains("changed since"), "{}", again.stderr);
}
