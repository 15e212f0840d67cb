//! `flowctl scheduler`, `backfill`, `pause`: schedules, catch-up, crash recovery, graceful stop.

use std::time::{Duration, Instant};

use crate::support::TestProject;

fn runs_json(project: &TestProject, dag: &str) -> Vec<serde_json::Value> {
    let run = project.run(&["runs", dag, "--json", "--limit", "1000"]);
    run.ok();
    serde_json::from_str(&run.stdout).expect("runs --json")
}

fn daily_dag(id: &str, catchup: bool, days_back: i64) -> String {
    let start = (chrono::Utc::now() - chrono::Duration::days(days_back)).format("%Y-%m-%d");
    format!(
        "dag: {id}\nschedule: '@daily'\nstart_date: {start}\ncatchup: {catchup}\nmax_active_runs: 16\n\
         steps:\n  mark: {{ type: shell, command: 'echo {{{{ ds }}}} >> {id}.txt' }}\n"
    )
}

#[test]
fn once_with_catchup_creates_every_missed_interval_and_never_twice() {
    let project = TestProject::new();
    project.dag("caught", &daily_dag("caught", true, 3));
    project.dag("latest_only", &daily_dag("latest_only", false, 3));
    project.run(&["apply"]).ok();
    project.run(&["scheduler", "--once"]).ok();

    let caught = runs_json(&project, "caught");
    // start_date is 3 days back at midnight UTC: 3 complete daily intervals are due.
    assert_eq!(caught.len(), 3, "{caught:?}");
    assert!(
        caught
            .iter()
            .all(|r| r["state"] == "success" && r["trigger"] == "scheduled")
    );
    assert_eq!(project.read("caught.txt").lines().count(), 3);
    let latest = runs_json(&project, "latest_only");
    assert_eq!(latest.len(), 1, "{latest:?}");

    // A second pass finds nothing new to create.
    project.run(&["scheduler", "--once"]).ok();
    assert_eq!(runs_json(&project, "caught").len(), 3);
    assert_eq!(project.read("caught.txt").lines().count(), 3);
}

#[test]
fn paused_dags_are_not_scheduled() {
    let project = TestProject::new();
    project.dag("sleepy", &daily_dag("sleepy", true, 2));
    project.run(&["apply"]).ok();
    project.run(&["pause", "sleepy"]).ok();
    project.run(&["scheduler", "--once"]).ok();
    assert!(runs_json(&project, "sleepy").is_empty());
    let dags = project.run(&["dags", "--json"]);
    assert!(
        dags.stdout.contains("\"paused\": true") || dags.stdout.contains("\"paused\":true"),
        "{}",
        dags.stdout
    );
    project.run(&["unpause", "sleepy"]).ok();
    project.run(&["scheduler", "--once"]).ok();
    assert_eq!(runs_json(&project, "sleepy").len(), 2);
    project.run(&["pause", "no_such_dag"]).expect_code(2);
}

#[test]
fn backfill_runs_every_interval_in_the_range_once() {
    let project = TestProject::new();
    project.dag(
        "bf",
        "dag: bf\nschedule: '@daily'\nstart_date: 2026-01-01\nsteps:\n  mark: { type: shell, command: 'echo {{ ds }} >> bf.txt' }\n",
    );
    project.run(&["apply"]).ok();
    project
        .run(&[
            "backfill",
            "bf",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-05",
        ])
        .ok();
    let mut days: Vec<String> = project.read("bf.txt").lines().map(str::to_string).collect();
    days.sort();
    assert_eq!(
        days,
        [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04",
            "2026-01-05"
        ]
    );
    let runs = runs_json(&project, "bf");
    assert_eq!(runs.len(), 5);
    assert!(runs.iter().all(|r| r["trigger"] == "backfill"));
    // Again: intervals that already have a run are skipped.
    project
        .run(&[
            "backfill",
            "bf",
            "--from",
            "2026-01-04",
            "--to",
            "2026-01-06",
        ])
        .ok();
    assert_eq!(runs_json(&project, "bf").len(), 6);
    assert_eq!(project.read("bf.txt").lines().count(), 6);
}

const CRASHY: &str = r#"
dag: crashy
steps:
  quick:
    type: shell
    command: "echo ran >> quick.txt"
  slow:
    depends_on: [quick]
    type: shell
    command: "echo started >> slow.txt; touch slow.running; sleep 4; echo done >> slow.txt"
  after:
    depends_on: [slow]
    type: shell
    command: "echo ran >> after.txt"
"#;

fn wait_for(path: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn after_kill_9_the_run_completes_without_rerunning_succeeded_steps() {
    let project = TestProject::new();
    project.dag("crashy", CRASHY);
    project.run(&["apply"]).ok();
    let mut child = project
        .cmd(&["run", "crashy"])
        .env("FLOWCTL_LEASE_TIMEOUT", "2s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    wait_for(
        &project.path().join("slow.running"),
        Duration::from_secs(30),
    );
    // SIGKILL: no chance to clean up; the step's lease is left to expire.
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    std::thread::sleep(Duration::from_millis(2500));

    let resumed = project
        .cmd(&["scheduler", "--once"])
        .env("FLOWCTL_LEASE_TIMEOUT", "2s")
        .output();
    let resumed = crate::support::Run::from(resumed.expect("spawn scheduler"));
    resumed.ok();
    assert_eq!(
        project.read("quick.txt"),
        "ran\n",
        "a succeeded step ran again"
    );
    assert_eq!(project.read("after.txt"), "ran\n");
    assert!(
        project.read("slow.txt").ends_with("done\n"),
        "{}",
        project.read("slow.txt")
    );
    let runs = runs_json(&project, "crashy");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "success", "{runs:?}");
}

#[test]
fn sigterm_lets_running_steps_finish_and_leaves_nothing_running() {
    let project = TestProject::new();
    project.dag(
        "term",
        "dag: term\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\nsteps:\n  work: { type: shell, command: 'touch work.started; sleep 2; echo finished > work.txt' }\n",
    );
    project.run(&["apply"]).ok();
    let child = project
        .cmd(&["scheduler"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn scheduler");
    wait_for(
        &project.path().join("work.started"),
        Duration::from_secs(30),
    );
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait scheduler");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(project.read("work.txt"), "finished\n");
    let runs = runs_json(&project, "term");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "success", "{runs:?}");
}
