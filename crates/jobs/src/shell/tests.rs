//! End-to-end tests of the `shell` plugin: real processes, real process groups.

use std::time::Duration;

use flowctl_engine::job::{JobError, JobOutput, LogLine, LogStream};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::test_support::{context, run_checked};

struct Attempt {
    result: Result<JobOutput, JobError>,
    logs: Vec<LogLine>,
}

impl Attempt {
    fn lines(&self, stream: LogStream) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.as_str())
            .collect()
    }

    fn outputs(&self) -> Vec<(&str, &str)> {
        let output = self
            .result
            .as_ref()
            .unwrap_or_else(|err| panic!("attempt failed: {err:?}"));
        output
            .outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn error(&self) -> &JobError {
        self.result
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("attempt succeeded: {:?}", self.logs))
    }
}

async fn run_in(project: &TempDir, config: Value) -> Attempt {
    let (ctx, mut rx) = context(project.path().to_path_buf());
    let result = run_checked(ShellJob::new(), config, ctx).await;
    let mut logs = Vec::new();
    while let Ok(line) = rx.try_recv() {
        logs.push(line);
    }
    Attempt { result, logs }
}

async fn run(config: Value) -> Attempt {
    let project = TempDir::new().unwrap();
    run_in(&project, config).await
}

/// Waits for the stdout line where the script printed pids, and parses them.
async fn next_pids(rx: &mut UnboundedReceiver<LogLine>) -> Vec<i32> {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the script never printed its pids")
            .expect("log closed");
        if line.stream == LogStream::Stdout && line.text.starts_with("pids ") {
            return line.text["pids ".len()..]
                .split(' ')
                .map(|p| p.parse().unwrap())
                .collect();
        }
    }
}

/// Whether `pid` is a live (not zombie) process, from procfs.
fn is_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

async fn assert_gone_soon(pids: &[i32]) {
    for _ in 0..250 {
        if !pids.iter().any(|&pid| is_running(pid)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alive: Vec<_> = pids.iter().filter(|&&pid| is_running(pid)).collect();
    panic!("still running: {alive:?}");
}

#[tokio::test]
async fn publishes_key_value_and_multiline_outputs() {
    let script = r#"
        echo "rows=42" >> "$FLOWCTL_OUTPUT"
        printf 'report<<EOF\nline 1\nline=2\nEOF\n' >> "$FLOWCTL_OUTPUT"
        echo "rows=43" >> "$FLOWCTL_OUTPUT"
    "#;
    let attempt = run(json!({ "command": script })).await;
    assert_eq!(
        attempt.outputs(),
        [("rows", "43"), ("report", "line 1\nline=2")]
    );
}

#[tokio::test]
async fn a_malformed_output_line_fails_the_attempt_with_its_number() {
    let attempt =
        run(json!({ "command": "printf 'ok=1\\nnot an output\\n' >> \"$FLOWCTL_OUTPUT\"" })).await;
    let err = attempt.error();
    assert!(err.retryable);
    assert_eq!(
        err.message,
        "$FLOWCTL_OUTPUT line 2: expected `key=value` or `key<<DELIMITER`, got \"not an output\""
    );
}

#[tokio::test]
async fn an_oversized_output_file_fails_the_attempt() {
    let attempt =
        run(json!({ "command": "yes a=1 | head -c 1100000 >> \"$FLOWCTL_OUTPUT\"" })).await;
    let err = attempt.error();
    assert_eq!(
        err.message,
        "$FLOWCTL_OUTPUT is larger than 1024 KiB: outputs are for small values"
    );
}

#[tokio::test]
async fn outputs_are_not_read_after_a_failure() {
    let attempt = run(json!({ "command": "echo garbage >> \"$FLOWCTL_OUTPUT\"; exit 1" })).await;
    assert_eq!(attempt.error().message, "command exited with status 1");
}

#[tokio::test]
async fn sets_flowctl_variables_then_step_env_over_the_inherited_env() {
    let script = r#"printf '%s\n' "$FLOWCTL_DAG_ID" "$FLOWCTL_RUN_ID" "$FLOWCTL_TASK_ID" \
        "$FLOWCTL_TRY_NUMBER" "$FLOWCTL_DS" "$FLOWCTL_DATA_INTERVAL_START" \
        "$FLOWCTL_DATA_INTERVAL_END" "$FLOWCTL_TARGET" "$GREETING" "$PATH"
        test -f "$FLOWCTL_OUTPUT" && echo "output file exists""#;
    let attempt = run(json!({
        "command": script,
        "env": { "GREETING": "hello world", "FLOWCTL_TARGET": "overridden" },
    }))
    .await;
    assert!(attempt.result.is_ok(), "{:?}", attempt.result);
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(
        attempt.lines(LogStream::Stdout),
        [
            "orders",
            "manual__2026-03-04T05:06:07Z",
            "extract",
            "2",
            "2026-03-04",
            "2026-03-04T00:00:00Z",
            "2026-03-05T00:00:00Z",
            "overridden",
            "hello world",
            path.as_str(),
            "output file exists",
        ]
    );
}

#[tokio::test]
async fn runs_in_the_project_dir_or_cwd_relative_to_it() {
    let project = TempDir::new().unwrap();
    std::fs::create_dir(project.path().join("sub")).unwrap();
    let root = project.path().canonicalize().unwrap();
    let other = TempDir::new().unwrap();

    let cases = [
        (json!({ "command": "pwd -P" }), root.clone()),
        (
            json!({ "command": "pwd -P", "cwd": "sub" }),
            root.join("sub"),
        ),
        (
            json!({ "command": ["pwd", "-P"], "cwd": other.path() }),
            other.path().canonicalize().unwrap(),
        ),
    ];
    for (config, expected) in cases {
        let attempt = run_in(&project, config.clone()).await;
        assert_eq!(
            attempt.lines(LogStream::Stdout),
            [expected.to_str().unwrap()],
            "{config}"
        );
    }
}

#[tokio::test]
async fn argv_form_runs_without_a_shell() {
    let attempt = run(json!({ "command": ["printf", "[%s]", "a b", "$HOME", "*"] })).await;
    assert!(attempt.result.is_ok(), "{:?}", attempt.result);
    assert_eq!(attempt.lines(LogStream::Stdout), ["[a b][$HOME][*]"]);
}

#[tokio::test]
async fn a_non_zero_exit_fails_with_its_code() {
    let attempt = run(json!({ "command": "echo before; exit 3" })).await;
    let err = attempt.error();
    assert_eq!(err.message, "command exited with status 3");
    assert_eq!(err.exit_code, Some(3));
    assert!(err.retryable);
    assert_eq!(attempt.lines(LogStream::Stdout), ["before"]);
}

#[tokio::test]
async fn a_command_killed_by_a_signal_says_which() {
    let attempt = run(json!({ "command": "kill -KILL $$" })).await;
    let err = attempt.error();
    assert_eq!(err.message, "command exited with signal 9 (SIGKILL)");
    assert_eq!(err.exit_code, None);
}

#[tokio::test]
async fn captures_each_stream_in_order() {
    let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf 'no newline'";
    let attempt = run(json!({ "command": script })).await;
    assert!(attempt.result.is_ok(), "{:?}", attempt.result);
    assert_eq!(
        attempt.lines(LogStream::Stdout),
        ["out1", "out2", "out3", "out4", "out5", "no newline"]
    );
    assert_eq!(
        attempt.lines(LogStream::Stderr),
        ["err1", "err2", "err3", "err4", "err5"]
    );
}

#[tokio::test]
async fn non_utf8_output_is_logged_lossily() {
    let attempt = run(json!({ "command": "printf 'caf\\351\\n'" })).await;
    assert_eq!(attempt.lines(LogStream::Stdout), ["caf\u{FFFD}"]);
}

#[tokio::test]
async fn stdin_is_empty() {
    let attempt =
        run(json!({ "command": "if read line; then echo got input; else echo eof; fi" })).await;
    assert_eq!(attempt.lines(LogStream::Stdout), ["eof"]);
}

#[tokio::test]
async fn cancellation_stops_the_whole_process_tree() {
    let project = TempDir::new().unwrap();
    let (ctx, mut rx) = context(project.path().to_path_buf());
    let cancel = ctx.cancel.clone();
    let config = json!({ "command": "sleep 300 & echo \"pids $$ $!\"; sleep 300" });
    let attempt = tokio::spawn(async move { run_checked(ShellJob::new(), config, ctx).await });

    let pids = next_pids(&mut rx).await;
    assert!(pids.iter().all(|&pid| is_running(pid)));
    cancel.cancel();
    let err = attempt.await.unwrap().unwrap_err();
    assert_eq!(
        err.message,
        "cancelled: command ended with signal 15 (SIGTERM) after SIGTERM"
    );
    assert!(err.retryable);
    // `terminate` waited for the group to empty: nothing may be left, not even briefly.
    assert!(
        !pids.iter().any(|&pid| is_running(pid)),
        "{pids:?} survived"
    );
}

#[tokio::test]
async fn cancellation_escalates_to_sigkill_when_sigterm_is_ignored() {
    let project = TempDir::new().unwrap();
    let (ctx, mut rx) = context(project.path().to_path_buf());
    let cancel = ctx.cancel.clone();
    // Ignored signals stay ignored in children, so both processes shrug off SIGTERM.
    let config = json!({ "command": "trap '' TERM; sleep 300 & echo \"pids $$ $!\"; wait" });
    let job = ShellJob {
        terminate_grace: Duration::from_millis(300),
    };
    let attempt = tokio::spawn(async move { run_checked(job, config, ctx).await });

    let pids = next_pids(&mut rx).await;
    cancel.cancel();
    let err = attempt.await.unwrap().unwrap_err();
    assert_eq!(
        err.message,
        "cancelled: processes still running 300ms after SIGTERM were killed with SIGKILL \
         (command ended with signal 9 (SIGKILL))"
    );
    assert!(
        !pids.iter().any(|&pid| is_running(pid)),
        "{pids:?} survived"
    );
}

#[tokio::test]
async fn an_attempt_cancelled_before_it_starts_runs_nothing() {
    let project = TempDir::new().unwrap();
    let marker = project.path().join("ran");
    let (ctx, _logs) = context(project.path().to_path_buf());
    ctx.cancel.cancel();
    let config = json!({ "command": ["touch", marker] });
    let err = run_checked(ShellJob::new(), config, ctx).await.unwrap_err();
    assert_eq!(err.message, "cancelled before the command started");
    assert!(!marker.exists());
}

// The engine runs attempts on the multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_attempt_kills_the_process_group() {
    let project = TempDir::new().unwrap();
    let (ctx, mut rx) = context(project.path().to_path_buf());
    let config = json!({ "command": "sleep 300 & echo \"pids $$ $!\"; sleep 300" });
    let attempt = tokio::spawn(async move { run_checked(ShellJob::new(), config, ctx).await });

    let pids = next_pids(&mut rx).await;
    attempt.abort();
    assert!(attempt.await.unwrap_err().is_cancelled());
    // SIGKILL was sent on drop; the kernel and the reapers finish asynchronously.
    assert_gone_soon(&pids).await;
}

#[tokio::test]
async fn background_processes_left_behind_are_killed_when_the_command_ends() {
    let config = json!({ "command": "sleep 300 & echo \"pids $!\"" });
    // Would take 300 s if the attempt waited for the leftover to close stdout.
    let attempt = tokio::time::timeout(Duration::from_secs(30), run(config))
        .await
        .expect("attempt hung on a leftover process");
    assert_eq!(attempt.result, Ok(JobOutput::default()));
    let pid_line = attempt.lines(LogStream::Stdout)[0].to_owned();
    let pid: i32 = pid_line.trim_start_matches("pids ").parse().unwrap();
    assert_gone_soon(&[pid]).await;
    assert_eq!(
        attempt.lines(LogStream::System),
        ["killed processes the command left running in its process group"]
    );
}

#[tokio::test]
async fn background_processes_that_ended_leave_nothing_to_kill() {
    // The subshell exits at once, so its `sleep` is orphaned, then ends as a zombie that only
    // init may reap (late or never in some containers): it is not a leftover to kill.
    let attempt = run(json!({ "command": "(sleep 0.1 &); sleep 0.4" })).await;
    assert_eq!(attempt.result, Ok(JobOutput::default()));
    assert!(
        attempt.lines(LogStream::System).is_empty(),
        "{:?}",
        attempt.logs
    );
}

#[tokio::test]
async fn a_missing_program_is_fatal_and_names_it() {
    let attempt = run(json!({ "command": ["./no-such-program", "x"] })).await;
    let err = attempt.error();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("cannot start \"./no-such-program\" in /"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("No such file or directory"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_missing_or_invalid_cwd_is_fatal_and_names_it() {
    let project = TempDir::new().unwrap();
    std::fs::write(project.path().join("file"), "").unwrap();
    for (cwd, problem) in [
        ("missing/dir", "No such file or directory"),
        ("file", "not a directory"),
    ] {
        let attempt = run_in(&project, json!({ "command": "true", "cwd": cwd })).await;
        let err = attempt.error();
        assert!(!err.retryable);
        let path = project.path().join(cwd);
        assert!(
            err.message
                .starts_with(&format!("working directory {}: ", path.display())),
            "{}",
            err.message
        );
        assert!(err.message.contains(problem), "{}", err.message);
    }
}

#[tokio::test]
async fn an_invalid_config_at_run_time_is_fatal_and_runs_nothing() {
    let attempt = run(json!({ "command": "true", "timeout": "5m" })).await;
    let err = attempt.error();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("invalid `shell` step: ")
            && err.message.contains("unknown field `timeout`"),
        "{}",
        err.message
    );

    // A rendered template that turns out blank is refused by the same check as
    // `flowctl validate`'s, with every problem, before anything starts.
    let project = TempDir::new().unwrap();
    let marker = project.path().join("ran");
    let config = json!({
        "command": [" ", marker],
        "env": { "A=B": "1" },
    });
    let attempt = run_in(&project, config).await;
    let err = attempt.error();
    assert!(!err.retryable);
    assert_eq!(
        err.message,
        "invalid `shell` step: `command.0`: an empty program: the first item is the program to \
         run (a name on `PATH` or a path); `env.A=B`: invalid environment variable name \
         \"A=B\": `=` and NUL are not allowed"
    );
    assert!(!marker.exists());
    assert!(attempt.logs.is_empty(), "{:?}", attempt.logs);
}
