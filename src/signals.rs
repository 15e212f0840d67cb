//! Stop signals: SIGTERM (what CI cancellation, systemd and `docker stop` send) and SIGINT
//! (Ctrl-C) both ask flowctl to stop; a second one of either exits at once.
//!
//! Every command that executes runs listens through [`Shutdown::listen`]: `run`, `backfill`
//! and `clear` (a run in the foreground: its steps are cancelled and it ends `failed`),
//! `scheduler` and `serve` (they stop taking work and let running steps finish).

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::error::{CliError, CliResult, Exit};
use crate::output::errln;

/// The signal that asked flowctl to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C): exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process stopped by this signal (128 + its number, the shell's
    /// convention).
    pub fn exit(self) -> Exit {
        match self {
            StopSignal::Interrupt => Exit::Interrupted,
            StopSignal::Terminate => Exit::Terminated,
        }
    }
}

/// A cancellation token fired by the first SIGTERM or SIGINT, and which one it was.
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    received: Arc<OnceLock<StopSignal>>,
}

impl Shutdown {
    /// Installs the handlers. On the first signal, `stopping` is printed (after the signal's
    /// name) and the token is cancelled; on a second one the process exits at once with that
    /// signal's code, saying `abandoning`.
    pub fn listen(stopping: &'static str, abandoning: &'static str) -> CliResult<Self> {
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| CliError::environment(format!("cannot install a SIGTERM handler: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| CliError::environment(format!("cannot install a SIGINT handler: {e}")))?;
        let shutdown = Self {
            token: CancellationToken::new(),
            received: Arc::new(OnceLock::new()),
        };
        let fired = shutdown.clone();
        tokio::spawn(async move {
            let first = tokio::select! {
                _ = term.recv() => StopSignal::Terminate,
                _ = int.recv() => StopSignal::Interrupt,
            };
            let _ = fired.received.set(first);
            errln!(
                "{}: {stopping}; a second SIGINT or SIGTERM exits at once",
                first.name()
            );
            fired.token.cancel();
            let second = tokio::select! {
                _ = term.recv() => StopSignal::Terminate,
                _ = int.recv() => StopSignal::Interrupt,
            };
            errln!("{}: exiting now; {abandoning}", second.name());
            std::process::exit(second.exit() as i32);
        });
        Ok(shutdown)
    }

    /// Cancelled by the first signal.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<StopSignal> {
        self.received.get().copied()
    }

    /// The error that ends a command stopped by a signal (its exit code is the signal's),
    /// or `None` when no signal came.
    pub fn error(&self, message: impl Into<String>) -> Option<CliError> {
        self.received()
            .map(|signal| CliError::stopped(signal, message))
    }
}
