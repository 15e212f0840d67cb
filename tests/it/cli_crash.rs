//! A `flowctl` process killed with SIGKILL takes its steps' processes with it: nothing it
//! started keeps running (and writing side effects) while a retry runs elsewhere.

use std::time::{Duration, Instant};

use crate::support::TestProject;

/// Whether a process is running (a zombie waiting for its reaper is not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
    })
}

#[test]
fn a_step_process_does_not_outlive_a_killed_flowctl_run() {
    let project = TestProject::new();
    project.dag(
        "slow",
        "dag: slow\nsteps:\n  wait:\n    type: shell\n    command: |\n      sleep 60 &\n      echo $! > sleep.pid\n      wait\n      echo done > effect\n",
    );
    project.run(&["apply"]).ok();
    let mut run = project.cmd(&["run", "slow"]).spawn().expect("flowctl run");
    let pid_file = project.path().join("sleep.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let sleep_pid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running(sleep_pid));
    run.kill().expect("SIGKILL flowctl run");
    run.wait().expect("reap flowctl run");
    let killed_at = Instant::now();
    while running(sleep_pid) && killed_at.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !running(sleep_pid),
        "the step's process outlived flowctl by 5 s"
    );
    eprintln!(
        "the step's process was gone {:?} after SIGKILL of flowctl run",
        killed_at.elapsed()
    );
    // The command was stopped, not finished.
    assert!(!project.path().join("effect").exists());
}
