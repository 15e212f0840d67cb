//! Foreground runs and the ways their process ends: SIGTERM / SIGINT stop the run cleanly
//! (steps cancelled, nothing left `running`, exit 143 / 130), a closed stdout changes
//! nothing, and a run whose process was killed can be cleared once its lease expired.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TestProject;

/// A DAG whose first step, on its first try, writes its pid to `step.pid` and becomes
/// `sleep 30` (later tries succeed at once); a step after it that must not run when the first
/// is cut short.
const SLOW_DAG: &str = "dag: slow
steps:
  wait:
    type: shell
    command: |
      if [ -f tried ]; then exit 0; fi
      touch tried
      echo $$ > step.pid
      exec sleep 30
  after:
    depends_on: [wait]
    type: noop
";

/// Whether a process is running (a zombie waiting for its reaper is not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
    })
}

/// Sends `signal` (a `kill` name: TERM, INT, KILL) to `pid`.
fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Waits until the step wrote its pid (it is running).
fn wait_for_pid(dir: &Path, file: &str) -> u32 {
    let path = dir.join(file);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, at most `within`.
fn wait_within(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 2 s) for a process to be gone.
fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    !running(pid)
}

/// stderr of a finished child.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

fn json(project: &TestProject, args: &[&str]) -> Value {
    let listed = project.run(args);
    listed.ok();
    serde_json::from_str(&listed.stdout).expect("--json output")
}

/// The steps of the DAG's latest run by id: (state, attempts).
fn latest_tasks(project: &TestProject, dag: &str) -> Vec<Value> {
    json(project, &["tasks", dag, "latest", "--json"])
        .as_array()
        .expect("tasks array")
        .clone()
}

fn task<'a>(tasks: &'a [Value], id: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| t["task_id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {tasks:?}"))
}

fn latest_run(project: &TestProject, dag: &str) -> Value {
    json(project, &["runs", dag, "--json"])[0].clone()
}

/// Starts `flowctl ARGS` with stderr captured, waits for the step's pid, sends `signal`,
/// and checks the exit code, the time it took, and that nothing is left behind.
fn stop_with(signal: &str, code: i32) {
    let project = TestProject::new();
    project.dag("slow", SLOW_DAG);
    project.run(&["apply"]).ok();
    let mut run = project
        .cmd(&["run", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowctl run");
    let step = wait_for_pid(project.path(), "step.pid");
    assert!(running(step));
    let sent = Instant::now();
    send(signal, run.id());
    let status = wait_within(&mut run, Duration::from_secs(10));
    let stderr = stderr_of(&mut run);
    let Some(status) = status else {
        let _ = run.kill();
        panic!("flowctl run did not exit within 10 s of SIG{signal}\n{stderr}");
    };
    eprintln!("flowctl run exited {:?} after SIG{signal}", sent.elapsed());
    assert_eq!(status.code(), Some(code), "exit code; stderr:\n{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(8),
        "took {:?}",
        sent.elapsed()
    );
    assert!(stderr.contains(&format!("SIG{signal}")), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    // The step's process is gone with the run.
    assert!(gone(step), "the step's process {step} outlived the run");

    // Nothing is left running: the step cut short and the run ended failed; the step after
    // it never ran.
    let tasks = latest_tasks(&project, "slow");
    let wait = task(&tasks, "wait");
    assert_eq!(wait["state"], "failed", "{wait:#}");
    assert_eq!(wait["holder"], Value::Null, "{wait:#}");
    let attempt = &wait["attempts"][0];
    assert_eq!(attempt["state"], "failed", "{attempt:#}");
    assert!(
        attempt["error"]
            .as_str()
            .is_some_and(|e| e.contains("interrupted")),
        "{attempt:#}"
    );
    assert_eq!(task(&tasks, "after")["state"], "queued");
    let run_record = latest_run(&project, "slow");
    assert_eq!(run_record["state"], "failed", "{run_record:#}");
    assert_ne!(run_record["ended_at"], Value::Null, "{run_record:#}");
    assert_eq!(run_record["holder"], Value::Null, "{run_record:#}");

    // `clear --failed` runs what was cut short, and what did not run, again.
    let run_id = run_record["run_id"].as_str().expect("run id");
    let cleared = project.run(&["clear", "slow", run_id, "--failed"]);
    cleared.ok();
    assert!(cleared.stdout.contains("wait, after"), "{}", cleared.stdout);
    assert_eq!(latest_run(&project, "slow")["state"], "success");
}

#[test]
fn sigterm_cancels_a_foreground_run_and_exits_143() {
    stop_with("TERM", 143);
}

#[test]
fn sigint_cancels_a_foreground_run_and_exits_130() {
    stop_with("INT", 130);
}

#[test]
fn a_second_signal_exits_at_once() {
    let project = TestProject::new();
    // The step ignores SIGTERM: the first signal would wait for the job's grace period
    // before SIGKILL.
    project.dag(
        "stubborn",
        "dag: stubborn\nsteps:\n  wait:\n    type: shell\n    command: |\n      trap '' TERM\n      echo $$ > step.pid\n      sleep 30\n",
    );
    project.run(&["apply"]).ok();
    let mut run = project
        .cmd(&["run", "stubborn"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowctl run");
    let step = wait_for_pid(project.path(), "step.pid");
    send("TERM", run.id());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        run.try_wait().expect("try_wait").is_none(),
        "the first SIGTERM waits for the step to stop"
    );
    let sent = Instant::now();
    send("INT", run.id());
    let status = wait_within(&mut run, Duration::from_secs(2));
    let stderr = stderr_of(&mut run);
    // Clean up whatever the hard exit left (the step's process group).
    let _ = Command::new("kill")
        .args(["-KILL", &format!("-{step}")])
        .status();
    let status = status.unwrap_or_else(|| panic!("no exit 2 s after the second signal\n{stderr}"));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(stderr.contains("exiting now"), "{stderr}");
}

#[test]
fn sigterm_stops_a_backfill_and_its_runs() {
    let project = TestProject::new();
    project.dag(
        "daily",
        "dag: daily\nschedule: \"@daily\"\nstart_date: 2026-01-01\nmax_active_runs: 1\nsteps:\n  wait:\n    type: shell\n    command: |\n      echo $$ > step.pid\n      exec sleep 30\n",
    );
    project.run(&["apply"]).ok();
    let mut backfill = project
        .cmd(&[
            "backfill",
            "daily",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-03",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowctl backfill");
    let step = wait_for_pid(project.path(), "step.pid");
    send("TERM", backfill.id());
    let status = wait_within(&mut backfill, Duration::from_secs(10));
    let stderr = stderr_of(&mut backfill);
    let status = status.unwrap_or_else(|| panic!("backfill did not stop\n{stderr}"));
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(gone(step), "the step's process outlived the backfill");
    // One run was started and cut short; no other was started after the signal.
    let runs = json(&project, &["runs", "daily", "--json"]);
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["state"], "failed", "{:#}", runs[0]);
    assert_eq!(
        task(&latest_tasks(&project, "daily"), "wait")["state"],
        "failed"
    );
}

#[test]
fn a_closed_stdout_neither_panics_nor_leaves_the_run_behind() {
    let project = TestProject::new();
    // Progress lines and the summary come after the reader is gone.
    project.dag(
        "chatty",
        "dag: chatty\nsteps:\n  a:\n    type: shell\n    command: \"sleep 0.3; echo x=1 >> $FLOWCTL_OUTPUT\"\n  b:\n    depends_on: [a]\n    type: shell\n    command: \"sleep 0.3; echo y=2 >> $FLOWCTL_OUTPUT\"\n  c:\n    depends_on: [b]\n    type: noop\n",
    );
    project.run(&["apply"]).ok();
    let mut run = project
        .cmd(&["run", "chatty"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowctl run");
    // `flowctl run chatty | head -1`.
    let mut first = String::new();
    BufReader::new(run.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("run "), "{first}");
    let status = wait_within(&mut run, Duration::from_secs(60)).expect("flowctl run exits");
    let stderr = stderr_of(&mut run);
    assert_eq!(status.code(), Some(0), "{stderr}");
    for panic_text in [
        "panicked",
        "internal error",
        "Broken pipe",
        "failed printing",
    ] {
        assert!(!stderr.contains(panic_text), "{stderr}");
    }
    let run_record = latest_run(&project, "chatty");
    assert_eq!(run_record["state"], "success", "{run_record:#}");
    assert_eq!(run_record["holder"], Value::Null);
}

#[test]
fn inspect_commands_survive_a_closed_stdout() {
    let project = TestProject::new();
    // A log larger than a pipe's buffer: writes fail even if the reader went late.
    project.dag(
        "loud",
        "dag: loud\nsteps:\n  talk:\n    type: shell\n    command: seq 1 300000\n",
    );
    project.run(&["apply"]).ok();
    project.run(&["run", "loud"]).ok();
    let commands: [&[&str]; 7] = [
        &["logs", "loud", "latest", "talk"],
        &["tasks", "loud", "latest"],
        &["tasks", "loud", "latest", "--json"],
        &["runs", "loud"],
        &["dags"],
        &["sql", "SELECT 1 AS one"],
        &["schema"],
    ];
    for args in commands {
        let mut child = project
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flowctl");
        drop(child.stdout.take());
        let status = wait_within(&mut child, Duration::from_secs(60)).expect("exits");
        let stderr = stderr_of(&mut child);
        assert_eq!(status.code(), Some(0), "flowctl {args:?}: {stderr}");
        for panic_text in [
            "panicked",
            "internal error",
            "Broken pipe",
            "failed printing",
        ] {
            assert!(!stderr.contains(panic_text), "flowctl {args:?}: {stderr}");
        }
    }
}

#[test]
fn clear_takes_a_run_whose_process_was_killed() {
    let project = TestProject::new();
    // The first try hangs (and is killed with flowctl); the next one succeeds.
    project.dag("slow", SLOW_DAG);
    project.run(&["apply"]).ok();
    let mut run = project
        .cmd(&["run", "slow"])
        .env("FLOWCTL_LEASE_TIMEOUT", "2s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("flowctl run");
    let step = wait_for_pid(project.path(), "step.pid");
    run.kill().expect("SIGKILL flowctl run");
    run.wait().expect("reap flowctl run");
    let killed = Instant::now();
    assert_eq!(latest_run(&project, "slow")["state"], "running");

    let clear = |extra: &[&str]| {
        let mut args = vec!["clear", "slow", "latest"];
        args.extend_from_slice(extra);
        let mut cmd = project.cmd(&args);
        cmd.env("FLOWCTL_LEASE_TIMEOUT", "2s");
        crate::support::Run::from(cmd.output().expect("flowctl clear"))
    };
    // While the lease may still be held, clear says why it refuses.
    let early = clear(&["--no-run"]);
    if killed.elapsed() < Duration::from_millis(1500) {
        early.expect_code(2);
        assert!(
            early.stderr.contains("being executed by"),
            "{}",
            early.stderr
        );
        assert!(
            early.stderr.contains("lease expires at"),
            "{}",
            early.stderr
        );
    }
    // Once it expired, clear takes the run: the lost try is recorded, and the steps run
    // again.
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(killed.elapsed()));
    let cleared = clear(&[]);
    // The killed run's step process, if it outlived flowctl.
    let _ = Command::new("kill")
        .args(["-KILL", &step.to_string()])
        .stderr(Stdio::null())
        .status();
    cleared.ok();
    assert!(
        cleared.stdout.contains("cleared slow"),
        "{}",
        cleared.stdout
    );
    let tasks = latest_tasks(&project, "slow");
    let wait = task(&tasks, "wait");
    assert_eq!(wait["state"], "success", "{wait:#}");
    assert_eq!(wait["attempts"][0]["state"], "lost", "{wait:#}");
    assert_eq!(task(&tasks, "after")["state"], "success");
    assert_eq!(latest_run(&project, "slow")["state"], "success");
}
