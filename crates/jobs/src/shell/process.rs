//! The command's process group: signalling it, stopping it gracefully, and making sure it
//! dies when the attempt's future is dropped.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::time::{Instant, sleep, timeout_at};

/// How long a cancelled command gets between SIGTERM and SIGKILL to clean up.
pub const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// How long to wait for SIGKILLed processes to disappear.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// How often to look whether processes left in the group after its leader exited are gone.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// The process group of a spawned command (its leader's pid is the group id). While armed,
/// dropping it SIGKILLs the whole group, so an attempt future dropped by the engine (after
/// the grace period, or on shutdown) never leaves processes behind.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Option<Pid>,
}

/// How a stop went.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub status: ExitStatus,
    /// SIGKILL was needed: something in the group outlived the grace period.
    pub killed: bool,
}

impl ProcessGroup {
    /// Takes charge of the group led by `child` (spawned with `process_group(0)`).
    pub fn of(child: &Child) -> Self {
        // `id()` is `None` only once the child has been reaped, which cannot have happened yet.
        let pgid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        Self { pgid }
    }

    /// The group's id, while this guard is in charge of it.
    pub fn pgid(&self) -> Option<Pid> {
        self.pgid
    }

    /// Sends `signal` to every process of the group; `false` when the group is gone.
    pub fn signal(&self, signal: Signal) -> bool {
        self.pgid.is_some_and(|pgid| killpg(pgid, signal).is_ok())
    }

    /// Whether a live process of the group still exists. Zombies do not count: the leader
    /// is reaped by us, but orphans wait for init, and some inits (a container's PID 1) reap
    /// late or never.
    pub fn alive(&self) -> bool {
        self.pgid.is_some_and(group_has_live_members)
    }

    /// Stops the command: SIGTERM to the group, up to `grace` for the leader and every other
    /// member to exit, then SIGKILL to what is left. Reaps the leader and disarms the guard.
    pub async fn terminate(&mut self, child: &mut Child, grace: Duration) -> io::Result<Stopped> {
        let deadline = Instant::now() + grace;
        self.signal(Signal::SIGTERM);
        let mut killed = false;
        let status = match timeout_at(deadline, child.wait()).await {
            Ok(status) => status?,
            Err(_elapsed) => {
                killed = true;
                self.signal(Signal::SIGKILL);
                child.wait().await?
            }
        };
        // The leader is reaped; its children may still be shutting down.
        while self.alive() && Instant::now() < deadline {
            sleep(GROUP_POLL).await;
        }
        if self.alive() {
            killed |= self.signal(Signal::SIGKILL);
        }
        if killed {
            // SIGKILL is delivered asynchronously: give the kernel a moment so that the
            // attempt only ends once its processes are gone.
            let dead_by = Instant::now() + KILL_WAIT;
            while self.alive() && Instant::now() < dead_by {
                sleep(GROUP_POLL).await;
            }
        }
        self.disarm();
        Ok(Stopped { status, killed })
    }

    /// Kills what the leader left running in its group once it exited on its own (`cmd &`
    /// without `wait`): such processes would outlive the attempt, and keep its stdout open
    /// so its log never ends. Returns whether there was anything to kill.
    pub fn kill_leftovers(&mut self) -> bool {
        // The leader is reaped, but the group id cannot be reused while any member exists, and
        // an empty group answers ESRCH.
        let killed = self.alive() && self.signal(Signal::SIGKILL);
        self.disarm();
        killed
    }

    /// Stops the guard from signalling on drop (the group is gone or no longer ours).
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // Best effort: nothing useful can be done here if the group is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// Whether process group `pgid` has a member that is not a zombie.
fn group_has_live_members(pgid: Pid) -> bool {
    // Cheap common case: the group is empty. EPERM means a member exists that we may not
    // signal (it changed its uid).
    if matches!(killpg(pgid, None), Err(Errno::ESRCH)) {
        return false;
    }
    live_member_in_procfs(pgid).unwrap_or(true)
}

/// Scans procfs for a non-zombie process in group `pgid`; `None` without a readable procfs
/// (then every member counts as live).
#[cfg(target_os = "linux")]
fn live_member_in_procfs(pgid: Pid) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let found = entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        // A process may exit between listing and reading: that one is not live.
        is_pid
            && std::fs::read_to_string(entry.path().join("stat"))
                .is_ok_and(|stat| stat_is_live_member(&stat, pgid.as_raw()))
    });
    Some(found)
}

#[cfg(not(target_os = "linux"))]
fn live_member_in_procfs(_pgid: Pid) -> Option<bool> {
    None
}

/// Whether a `/proc/<pid>/stat` line is a live process of group `pgid`.
fn stat_is_live_member(stat: &str, pgid: i32) -> bool {
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so fields
    // are counted from the last `)`.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
    pgrp == Some(pgid) && !matches!(state, None | Some("Z" | "X" | "x"))
}

/// Describes how a process ended, for attempt errors.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("status {code}");
    }
    match status.signal() {
        Some(number) => match Signal::try_from(number) {
            Ok(signal) => format!("signal {number} ({})", signal.as_str()),
            Err(_) => format!("signal {number}"),
        },
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn reads_group_and_state_from_stat_lines() {
        let live = "4242 (my (odd) cmd) S 1 4240 4240 0 -1 4194560 98 0 0 0";
        assert!(stat_is_live_member(live, 4240));
        assert!(!stat_is_live_member(live, 4242));
        assert!(!stat_is_live_member("4243 (sleep) Z 1 4240 4240 0", 4240));
        assert!(!stat_is_live_member("garbage", 4240));
    }

    #[test]
    fn describes_codes_and_signals() {
        assert_eq!(describe_status(ExitStatus::from_raw(3 << 8)), "status 3");
        assert_eq!(
            describe_status(ExitStatus::from_raw(9)),
            "signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe_status(ExitStatus::from_raw(15)),
            "signal 15 (SIGTERM)"
        );
    }
}
