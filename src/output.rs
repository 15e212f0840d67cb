//! Printing that never panics.
//!
//! `println!` panics when stdout is a closed pipe (`flowctl run DAG | head -2`): the panic
//! would end the process halfway through a run and leave the run `running`. Every command
//! prints through [`out!`] (a line on stdout), [`out_text`] (text as is) and [`errln!`] (a
//! line on stderr) instead.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe returns `EPIPE`. The first failed write
//! turns the stream off for the rest of the process: later writes are dropped. A closed
//! pipe is the reader's choice (it has read what it wanted) and is not reported; the
//! command goes on and its exit code stays its own outcome's (a run that succeeds exits 0
//! even if nobody read its summary). Any other write error (a full disk behind `> file`)
//! is reported once on stderr and makes an otherwise successful command exit 3
//! ([`stdout_error`]), so that truncated output is never taken for a complete one.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed: nothing more is written there.
static STDOUT_OFF: AtomicBool = AtomicBool::new(false);
/// Set once a write to stderr failed.
static STDERR_OFF: AtomicBool = AtomicBool::new(false);
/// The first stdout write error that was not a closed pipe.
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// Prints a line on stdout, like `println!`, without ever panicking (see the module docs).
macro_rules! out {
    () => {
        $crate::output::out_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::out_line(format_args!($($arg)*))
    };
}

/// Prints a line on stderr, like `eprintln!`, without ever panicking.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::err_line(format_args!($($arg)*))
    };
}

pub(crate) use {errln, out};

/// Writes `args` and a newline on stdout (what [`out!`] expands to).
pub fn out_line(args: fmt::Arguments<'_>) {
    write_stdout(|out| {
        out.write_fmt(args)?;
        out.write_all(b"\n")
    });
}

/// Writes `text` on stdout as is, flushed.
pub fn out_text(text: &str) {
    write_stdout(|out| {
        out.write_all(text.as_bytes())?;
        out.flush()
    });
}

fn write_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if STDOUT_OFF.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(err) = write(&mut out) {
        STDOUT_OFF.store(true, Ordering::Relaxed);
        if err.kind() != io::ErrorKind::BrokenPipe {
            err_line(format_args!(
                "error: cannot write to stdout: {err}; further output is dropped"
            ));
            if let Ok(mut first) = STDOUT_ERROR.lock() {
                first.get_or_insert_with(|| err.to_string());
            }
        }
    }
}

/// Writes `args` and a newline on stderr (what [`errln!`] expands to).
pub fn err_line(args: fmt::Arguments<'_>) {
    if STDERR_OFF.load(Ordering::Relaxed) {
        return;
    }
    let mut err = io::stderr().lock();
    if err
        .write_fmt(args)
        .and_then(|()| err.write_all(b"\n"))
        .is_err()
    {
        STDERR_OFF.store(true, Ordering::Relaxed);
    }
}

/// The first error writing to stdout other than a closed pipe, if any: the command's output
/// is incomplete.
pub fn stdout_error() -> Option<String> {
    STDOUT_ERROR.lock().ok().and_then(|e| e.clone())
}
