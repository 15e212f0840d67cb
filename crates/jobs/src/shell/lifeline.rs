//! The lifeline: a step's process group dies with the flowctl process that started it.
//!
//! A command runs in its own process group, so a `kill -9` of flowctl (an OOM kill, a crashed
//! host agent, `docker kill`) would leave it running, re-parented to init, while the step's
//! retry runs on another scheduler: both would write their side effects. `PR_SET_PDEATHSIG`
//! does not help: it fires when the spawning *thread* exits, and tokio's blocking threads exit
//! when idle, killing healthy steps.
//!
//! So each command gets a watcher: a tiny `sh` whose standard input is the read end of a pipe
//! whose only write end flowctl holds (close-on-exec, so no other child inherits it). flowctl
//! never writes to it. When flowctl dies, however it dies, the kernel closes the write end, the
//! watcher's `read` returns, and it sends SIGTERM to the command's group, then SIGKILL a second
//! later. When the command ends normally, flowctl kills the watcher first and then closes the
//! pipe, so nothing is signalled.
//!
//! The watcher starts right after the command: a crash in between (microseconds) is the one
//! window it does not cover.

use std::io::{self, PipeWriter};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::unistd::Pid;

/// The watcher's script: wait for EOF on stdin (flowctl is gone), then stop group `$1`.
/// (`kill -TERM -PGID` without `--`: dash's `kill` reads `--` as a pid.)
const WATCHER: &str = "read -r _ignored; \
    kill -TERM \"-$1\" 2>/dev/null || exit 0; \
    sleep 1; \
    kill -KILL \"-$1\" 2>/dev/null; exit 0";

/// A running watcher of one process group. Dropping it releases the group: the watcher is
/// stopped without signalling anything.
#[derive(Debug)]
pub(crate) struct Lifeline {
    watcher: Child,
    /// Held, never written: its closing (by drop, or by the kernel when flowctl dies) is the
    /// signal.
    write_end: Option<PipeWriter>,
}

impl Lifeline {
    /// Starts a watcher that stops process group `pgid` if this process dies first.
    pub fn watch(pgid: Pid) -> io::Result<Self> {
        // `std::io::pipe` opens both ends close-on-exec.
        let (read_end, write_end) = io::pipe()?;
        let watcher = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHER)
            .arg("flowctl-lifeline")
            .arg(pgid.as_raw().to_string())
            // Made stdin with dup2, which clears close-on-exec for the watcher alone.
            .stdin(Stdio::from(read_end))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a Ctrl-C at the terminal or a stop of the step's group does not
            // reach it.
            .process_group(0)
            .spawn()?;
        Ok(Self {
            watcher,
            write_end: Some(write_end),
        })
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        // Stop the watcher before the pipe closes, or it would signal the group. Best effort:
        // a watcher already gone has nothing left to do.
        let _ = self.watcher.kill();
        let _ = self.watcher.wait();
        self.write_end.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z ") && !stat.contains(") X "))
    }

    fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    }

    fn sleeper() -> Child {
        Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("spawn sleep")
    }

    #[test]
    fn a_released_lifeline_leaves_the_group_alone() {
        let mut child = sleeper();
        let lifeline = Lifeline::watch(Pid::from_raw(child.id() as i32)).expect("watch");
        let watcher = lifeline.watcher.id();
        drop(lifeline);
        assert!(wait_until(Duration::from_secs(2), || !alive(watcher)));
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(child.id()), "the command was signalled");
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn the_group_is_stopped_when_the_write_end_closes_as_at_a_crash() {
        let mut child = sleeper();
        let mut lifeline = Lifeline::watch(Pid::from_raw(child.id() as i32)).expect("watch");
        // What the kernel does when flowctl dies: the write end closes, the watcher lives on.
        lifeline.write_end.take();
        assert!(
            wait_until(Duration::from_secs(3), || child
                .try_wait()
                .ok()
                .flatten()
                .is_some()),
            "the command outlived its lifeline"
        );
        let _ = lifeline.watcher.wait();
    }
}
