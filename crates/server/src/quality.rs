//! Quality results of a run, from the steps whose job type declares that it reports checks
//! ([`flowctl_engine::job::Telemetry::reports_checks`]): their counts as step outputs
//! (`passed`, `failed`, `warned`; written only when the step succeeds) and one log line per
//! check (`[flowctl] check NAME [SEVERITY]: STATUS — MESSAGE`) in the attempt's log.
//!
//! The full rows go to the Iceberg table `quality.check_results`; reading that here would
//! drag the lakehouse stack into the server, and the log carries the same fields.

use flowctl_state::RunRecord;

use crate::Shared;
use crate::api::types::{QualityCheck, QualityStep};
use crate::error::ApiResult;

const CHECK_PREFIX: &str = "[flowctl] check ";

impl Shared {
    /// The results of every check-reporting step of a run (steps that have not run have no checks).
    pub async fn quality_results(&self, run: &RunRecord) -> ApiResult<Vec<QualityStep>> {
        let dag = self.dag_version(&run.dag_id, &run.version_hash).await?;
        let store = self.engine.store();
        let outputs = store.run_outputs(run.id).await?;
        let mut out = Vec::new();
        for task in store.list_tasks(run.id).await? {
            let Some(job) = self.step_job(&dag, &task.task_id, &run.target) else {
                continue;
            };
            if !self
                .engine
                .registry()
                .telemetry(&job.job_type)
                .reports_checks
            {
                continue;
            }
            let checks = match store.list_attempts(task.id).await?.last() {
                Some(attempt) => {
                    let log = store.read_log(task.id, attempt.try_number, 0).await?;
                    parse_checks(&log.text)
                }
                None => Vec::new(),
            };
            let count = |status: &str, key: &str| {
                outputs
                    .get(&task.task_id)
                    .and_then(|o| o.get(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| checks.iter().filter(|c| c.status == status).count() as u32)
            };
            out.push(QualityStep {
                step_id: task.task_id.clone(),
                table: job
                    .config
                    .get("table")
                    .and_then(|t| t.as_str())
                    .map(str::to_string),
                state: task.state.to_string(),
                passed: count("passed", "passed"),
                failed: count("failed", "failed"),
                warned: count("warn", "warned"),
                checks,
            });
        }
        Ok(out)
    }
}

/// The per-check lines of a quality step's log.
pub fn parse_checks(log: &str) -> Vec<QualityCheck> {
    log.lines().filter_map(parse_check).collect()
}

fn parse_check(line: &str) -> Option<QualityCheck> {
    let rest = line.strip_prefix(CHECK_PREFIX)?;
    // `NAME [SEVERITY]: STATUS — MESSAGE`, where NAME and MESSAGE may hold anything: take the
    // first `]: ` that follows a known severity and precedes a known status.
    for (at, _) in rest.match_indices("]: ") {
        let (head, tail) = (&rest[..at], &rest[at + 3..]);
        let Some((name, severity)) = head.rsplit_once(" [") else {
            continue;
        };
        if !matches!(severity, "error" | "warn") {
            continue;
        }
        let (status, message) = tail.split_once(" — ").unwrap_or((tail, ""));
        if matches!(status, "passed" | "failed" | "warn") {
            return Some(QualityCheck {
                name: name.to_string(),
                severity: severity.to_string(),
                status: status.to_string(),
                message: message.to_string(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_lines_are_parsed_and_other_lines_ignored() {
        let log = "[flowctl] 3 checks on gold.revenue: 1 passed, 1 failed, 1 warned\n\
                   [flowctl] check not_null(amount) [error]: passed — 0 null values\n\
                   [flowctl] check unique [id] [error]: failed — 2 duplicate keys: [1, 2]\n\
                   [flowctl] check fresh [warn]: warn — newest row is 3h old\n\
                   [flowctl] check odd]: x [error]: failed — says ]: passed — inside\n\
                   plain output line\n";
        let checks = parse_checks(log);
        assert_eq!(checks.len(), 4, "{checks:?}");
        assert_eq!(checks[0].name, "not_null(amount)");
        assert_eq!(checks[0].status, "passed");
        assert_eq!(checks[0].message, "0 null values");
        assert_eq!(checks[1].name, "unique [id]");
        assert_eq!(checks[1].severity, "error");
        assert_eq!(checks[1].message, "2 duplicate keys: [1, 2]");
        assert_eq!(checks[2].severity, "warn");
        assert_eq!(checks[2].status, "warn");
        assert_eq!(checks[3].name, "odd]: x");
        assert_eq!(checks[3].message, "says ]: passed — inside");
    }
}
