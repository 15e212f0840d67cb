//! CLI errors and the process exit codes they map to (documented in the README).

use std::fmt;
use std::process::ExitCode;

/// Exit codes of the `flowctl` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for succeeded.
    Ok = 0,
    /// The thing asked for failed: invalid DAGs, a failed run, ...
    Failed = 1,
    /// The request itself is wrong: bad arguments, unknown DAG or run, invalid project file.
    Usage = 2,
    /// The environment got in the way: state store unreachable, I/O errors.
    Environment = 3,
    /// A bug in flowctl.
    Internal = 4,
    /// Interrupted by Ctrl-C / SIGINT (128 + 2).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15): CI cancellation, systemd, `docker stop`.
    Terminated = 143,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    /// The request is wrong (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// The thing asked for failed (exit 1); `message` may be empty when already reported.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failed,
            message: message.into(),
        }
    }

    /// The environment failed (exit 3).
    pub fn environment(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Environment,
            message: message.into(),
        }
    }

    /// Stopped by a signal (exit 130 for SIGINT, 143 for SIGTERM).
    pub fn stopped(signal: crate::signals::StopSignal, message: impl Into<String>) -> Self {
        Self {
            exit: signal.exit(),
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Result type of every command.
pub type CliResult<T = ()> = Result<T, CliError>;
