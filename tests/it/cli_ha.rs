//! Several `flowctl scheduler` processes on one Postgres store (the team set-up): every
//! interval gets one run, every step runs exactly once — counted from the steps' own side
//! effects, not from the store — and when one process is killed with SIGKILL mid-run, the
//! others pick up its steps and every run completes.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestDatabase, TestProject};

/// A DAG of `width` parallel steps between a start and an end step, due every 5 minutes
/// for exactly 12 intervals, all in the past (12 runs to catch up, 4 at a time). Each step
/// appends `<dag>:<run_id> <step>` to effects.log: one line per execution.
///
/// The intervals are aligned on the 5-minute grid and bounded by `end_date`: a start date of
/// "an hour ago" gave 11 due intervals when the test began late in a 5-minute window, and a
/// 12th or 13th appeared while the test waited.
fn fan_dag(id: &str, width: usize, sleep: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let aligned = chrono::DateTime::from_timestamp(now - now.rem_euclid(300), 0).expect("now");
    let start = aligned - chrono::Duration::minutes(60);
    let end = aligned - chrono::Duration::minutes(5);
    let mut text = format!(
        "dag: {id}\nschedule: '*/5 * * * *'\nstart_date: {}\nend_date: {}\ncatchup: true\n\
         max_active_runs: 4\ndefaults: {{ retries: 1, retry_delay: 100ms }}\nsteps:\n",
        start.format("%Y-%m-%dT%H:%M:%S"),
        end.format("%Y-%m-%dT%H:%M:%S")
    );
    let effect = |step: &str| {
        format!(
            "{{ type: shell, command: 'sleep {sleep}; echo \"{{{{ dag_id }}}}:{{{{ run_id }}}} {step}\" >> effects.log' }}"
        )
    };
    text.push_str(&format!("  start: {}\n", effect("start")));
    let mut mids = Vec::new();
    for i in 0..width {
        let step = format!("s{i:03}");
        text.push_str(&format!(
            "  {step}:\n    depends_on: [start]\n    type: shell\n    command: 'sleep {sleep}; echo \"{{{{ dag_id }}}}:{{{{ run_id }}}} {step}\" >> effects.log'\n"
        ));
        mids.push(step);
    }
    text.push_str(&format!(
        "  end:\n    depends_on: [{}]\n    type: shell\n    command: 'echo \"{{{{ dag_id }}}}:{{{{ run_id }}}} end\" >> effects.log'\n",
        mids.join(", ")
    ));
    text
}

/// A scheduler process; `lease` is how long a dead process's claims last (short where a
/// process is killed, the default 30 s elsewhere so a busy machine never looks dead).
fn scheduler(project: &TestProject, args: &[&str], lease: &str) -> Child {
    let mut all = vec!["scheduler", "--poll-interval", "200ms"];
    all.extend_from_slice(args);
    project
        .cmd(&all)
        .env("FLOWCTL_LEASE_TIMEOUT", lease)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scheduler")
}

/// `(dag:run_id, step)` → how many times the step ran.
fn effects(project: &TestProject) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for line in project.read("effects.log").lines() {
        if let Some((run, step)) = line.rsplit_once(' ') {
            *counts
                .entry((run.to_string(), step.to_string()))
                .or_default() += 1;
        }
    }
    counts
}

fn runs(project: &TestProject, dag: &str) -> Vec<serde_json::Value> {
    let listed = project.run(&["runs", dag, "--json", "--limit", "100"]);
    listed.ok();
    serde_json::from_str(&listed.stdout).expect("runs --json")
}

#[test]
fn three_schedulers_on_one_postgres_run_every_step_exactly_once() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let project = TestProject::with_state(&db.url);
    project.dag("fan_a", &fan_dag("fan_a", 100, "0"));
    project.dag("fan_b", &fan_dag("fan_b", 60, "0"));
    project.run(&["apply"]).ok();

    let started = Instant::now();
    let children: Vec<Child> = (0..3)
        .map(|_| scheduler(&project, &["--once"], "30s"))
        .collect();
    for mut child in children {
        let status = child.wait().expect("scheduler");
        assert!(status.success(), "a scheduler failed: {status:?}");
    }
    // `--once` processes stop once the runs they claimed end; one more pass takes the runs
    // that became due while max_active_runs held them back.
    while runs(&project, "fan_a").len() + runs(&project, "fan_b").len() < 24
        || ["fan_a", "fan_b"]
            .iter()
            .any(|d| runs(&project, d).iter().any(|r| r["state"] != "success"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "runs did not finish"
        );
        let children: Vec<Child> = (0..3)
            .map(|_| scheduler(&project, &["--once"], "30s"))
            .collect();
        for mut child in children {
            assert!(child.wait().expect("scheduler").success());
        }
    }

    let counts = effects(&project);
    for (dag, width) in [("fan_a", 100), ("fan_b", 60)] {
        let runs = runs(&project, dag);
        assert_eq!(runs.len(), 12, "{dag}: one run per interval, none twice");
        for run in &runs {
            let run_id = run["run_id"].as_str().unwrap();
            let key = format!("{dag}:{run_id}");
            let steps = width + 2;
            let ran: Vec<usize> = counts
                .iter()
                .filter(|((r, _), _)| *r == key)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(ran.len(), steps, "{dag} {run_id}: every step ran");
            let twice: Vec<&String> = counts
                .iter()
                .filter(|((r, _), n)| *r == key && **n > 1)
                .map(|((_, step), _)| step)
                .collect();
            if !twice.is_empty() {
                let tasks = project.run(&["tasks", dag, run_id, "--json"]);
                panic!(
                    "{dag} {run_id}: steps ran more than once: {twice:?} (ran {} times in all)\n{}",
                    ran.iter().sum::<usize>(),
                    tasks.stdout
                );
            }
        }
    }
}

#[test]
fn when_one_scheduler_is_killed_the_others_finish_its_runs() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let project = TestProject::with_state(&db.url);
    project.dag("slow_fan", &fan_dag("slow_fan", 20, "0.3"));
    project.run(&["apply"]).ok();

    let mut victim = scheduler(&project, &[], "2s");
    // Let the victim create the runs and claim some before the others join.
    let deadline = Instant::now() + Duration::from_secs(60);
    while effects(&project).len() < 5 {
        assert!(Instant::now() < deadline, "nothing ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut others: Vec<Child> = (0..2).map(|_| scheduler(&project, &[], "2s")).collect();
    std::thread::sleep(Duration::from_millis(300));
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reap");

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let runs = runs(&project, "slow_fan");
        if runs.len() == 12 && runs.iter().all(|r| r["state"] == "success") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the surviving schedulers did not finish: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for child in &mut others {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for mut child in others {
        assert!(child.wait().expect("scheduler").success());
    }
    let counts = effects(&project);
    assert_eq!(counts.len(), 12 * 22, "every step of every run ran");
    // The killed scheduler's step processes die with it (their lifeline: see
    // `crates/jobs/src/shell/lifeline.rs`), and the other schedulers run those steps again
    // once its lease has expired. A step can only run twice when it wrote its side effect in
    // the instant before the kill, before its success was recorded: bounded by what was in
    // flight — `max_active_runs` (4) runs × 20 parallel steps — and every other step ran once.
    let twice = counts.values().filter(|n| **n > 1).count();
    assert!(twice <= 4 * 20, "{twice} steps ran more than once");
    assert!(
        counts.values().all(|n| *n <= 2),
        "a step ran three times or more: {counts:?}"
    );
}
