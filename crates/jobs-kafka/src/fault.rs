//! Test-only failure injection for the fault tests: one-shot failures armed per run id.

use std::sync::Mutex;

use crate::error::KafkaJobError;

/// Where a failure can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// After the dead letters, before the bronze commit: the attempt fails.
    BeforeIceberg,
    /// Before the bronze commit, another writer commits to bronze (a conflict).
    ConcurrentWriter,
    /// After the bronze commit, before the consumer-group commit: the attempt fails.
    AfterIceberg,
}

static ARMED: Mutex<Vec<(String, Point)>> = Mutex::new(Vec::new());

/// Arms `point` once for the run `run_id`.
pub(crate) fn arm(run_id: &str, point: Point) {
    ARMED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((run_id.to_owned(), point));
}

/// Whether `point` is armed for `run_id` (disarming it).
pub(crate) fn fires(run_id: &str, point: Point) -> bool {
    let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
    match armed.iter().position(|(r, p)| r == run_id && *p == point) {
        Some(i) => {
            armed.remove(i);
            true
        }
        None => false,
    }
}

/// Fails with an injected error when `point` is armed for `run_id`.
pub(crate) fn fail_at(run_id: &str, point: Point) -> Result<(), KafkaJobError> {
    if fires(run_id, point) {
        return Err(KafkaJobError::Kafka(format!(
            "injected failure at {point:?}"
        )));
    }
    Ok(())
}
