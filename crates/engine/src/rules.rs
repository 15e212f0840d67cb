//! Trigger rules: whether a step runs, given how its direct upstream steps ended.
//!
//! Airflow's semantics (`TriggerRuleDep` with `flag_upstream_failed`), decided as early as the
//! outcome is certain. `upstream_failed` counts as failed, for the rules that look at failures.
//! A step without upstream steps always runs.
//!
//! | rule          | runs when                           | `skipped` when                     | `upstream_failed` when                 |
//! |---------------|-------------------------------------|------------------------------------|----------------------------------------|
//! | `all_success` | every upstream succeeded            | no failure, and one was skipped    | one failed / upstream_failed           |
//! | `all_failed`  | every upstream failed / upstream_failed | one succeeded or was skipped   | never                                  |
//! | `all_done`    | every upstream ended, however       | never                              | never                                  |
//! | `one_success` | one upstream succeeded (at once)    | all ended, all skipped             | all ended, none succeeded, not all skipped |
//! | `one_failed`  | one upstream failed (at once)       | all ended and none failed          | never                                  |
//! | `none_failed` | all ended, none failed (success or skipped) | never                      | one failed / upstream_failed           |
//!
//! A run ends `success` when every leaf step (no downstream) is `success` or `skipped`, and
//! `failed` when a leaf is `failed` or `upstream_failed` (Airflow's rule: e.g. a cleanup step
//! with `all_done` that succeeds after a failure makes the run succeed).

use flowctl_model::dag::TriggerRule;
use flowctl_state::TaskState;

/// How a step's direct upstream steps stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamCounts {
    /// Number of direct upstream steps.
    pub total: u32,
    pub success: u32,
    pub skipped: u32,
    pub failed: u32,
    pub upstream_failed: u32,
}

impl UpstreamCounts {
    /// Upstream steps that ended.
    pub fn done(&self) -> u32 {
        self.success + self.skipped + self.failed + self.upstream_failed
    }

    /// Records that one upstream ended in `state` (a terminal state).
    pub fn record(&mut self, state: TaskState) {
        match state {
            TaskState::Success => self.success += 1,
            TaskState::Skipped => self.skipped += 1,
            TaskState::Failed => self.failed += 1,
            TaskState::UpstreamFailed => self.upstream_failed += 1,
            _ => {}
        }
    }
}

/// What to do with a waiting step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not decided yet: more upstream steps must end.
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// Applies `rule` to `counts` (see the module table).
pub fn decide(rule: TriggerRule, c: &UpstreamCounts) -> Decision {
    if c.total == 0 {
        return Decision::Run;
    }
    let all_done = c.done() >= c.total;
    let failures = c.failed + c.upstream_failed;
    match rule {
        TriggerRule::AllSuccess => {
            if failures > 0 {
                Decision::UpstreamFailed
            } else if c.skipped > 0 {
                Decision::Skip
            } else if c.success >= c.total {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::AllFailed => {
            if c.success + c.skipped > 0 {
                Decision::Skip
            } else if failures >= c.total {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::AllDone => {
            if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::OneSuccess => {
            if c.success > 0 {
                Decision::Run
            } else if !all_done {
                Decision::Wait
            } else if c.skipped >= c.total {
                Decision::Skip
            } else {
                Decision::UpstreamFailed
            }
        }
        TriggerRule::OneFailed => {
            if failures > 0 {
                Decision::Run
            } else if all_done {
                Decision::Skip
            } else {
                Decision::Wait
            }
        }
        TriggerRule::NoneFailed => {
            if failures > 0 {
                Decision::UpstreamFailed
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
    }
}

/// Whether a run whose steps all ended succeeded, given its leaf steps' states.
pub fn run_succeeded<'a>(leaf_states: impl IntoIterator<Item = &'a TaskState>) -> bool {
    leaf_states
        .into_iter()
        .all(|s| matches!(s, TaskState::Success | TaskState::Skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use TriggerRule::*;

    fn counts(
        total: u32,
        success: u32,
        skipped: u32,
        failed: u32,
        upstream_failed: u32,
    ) -> UpstreamCounts {
        UpstreamCounts {
            total,
            success,
            skipped,
            failed,
            upstream_failed,
        }
    }

    #[test]
    fn roots_always_run() {
        for rule in [
            AllSuccess, AllDone, AllFailed, OneSuccess, OneFailed, NoneFailed,
        ] {
            assert_eq!(decide(rule, &UpstreamCounts::default()), Run, "{rule:?}");
        }
    }

    #[test]
    fn each_rule_follows_airflow() {
        // (rule, total, success, skipped, failed, upstream_failed) -> decision
        let cases = [
            (AllSuccess, counts(3, 3, 0, 0, 0), Run),
            (AllSuccess, counts(3, 2, 0, 0, 0), Wait),
            (AllSuccess, counts(3, 1, 0, 1, 0), UpstreamFailed),
            (AllSuccess, counts(3, 1, 0, 0, 1), UpstreamFailed),
            (AllSuccess, counts(3, 1, 1, 0, 0), Skip),
            (AllFailed, counts(2, 0, 0, 1, 1), Run),
            (AllFailed, counts(2, 0, 0, 1, 0), Wait),
            (AllFailed, counts(2, 1, 0, 1, 0), Skip),
            (AllFailed, counts(2, 0, 1, 0, 0), Skip),
            (AllDone, counts(3, 1, 1, 1, 0), Run),
            (AllDone, counts(3, 1, 1, 0, 0), Wait),
            (OneSuccess, counts(3, 1, 0, 0, 0), Run),
            (OneSuccess, counts(3, 0, 0, 1, 0), Wait),
            (OneSuccess, counts(2, 0, 1, 1, 0), UpstreamFailed),
            (OneSuccess, counts(2, 0, 2, 0, 0), Skip),
            (OneFailed, counts(3, 0, 0, 1, 0), Run),
            (OneFailed, counts(3, 0, 0, 0, 1), Run),
            (OneFailed, counts(3, 2, 0, 0, 0), Wait),
            (OneFailed, counts(3, 2, 1, 0, 0), Skip),
            (NoneFailed, counts(2, 1, 1, 0, 0), Run),
            (NoneFailed, counts(2, 1, 0, 0, 0), Wait),
            (NoneFailed, counts(2, 0, 0, 1, 0), UpstreamFailed),
            (NoneFailed, counts(2, 0, 0, 0, 1), UpstreamFailed),
        ];
        for (rule, c, want) in cases {
            assert_eq!(decide(rule, &c), want, "{rule:?} {c:?}");
        }
    }

    #[test]
    fn counts_record_terminal_states() {
        let mut c = UpstreamCounts {
            total: 4,
            ..Default::default()
        };
        for s in [
            TaskState::Success,
            TaskState::Skipped,
            TaskState::Failed,
            TaskState::UpstreamFailed,
            TaskState::Running,
        ] {
            c.record(s);
        }
        assert_eq!(
            (c.success, c.skipped, c.failed, c.upstream_failed, c.done()),
            (1, 1, 1, 1, 4)
        );
    }

    #[test]
    fn runs_fail_when_a_leaf_fails() {
        assert!(run_succeeded(&[TaskState::Success, TaskState::Skipped]));
        assert!(!run_succeeded(&[
            TaskState::Success,
            TaskState::UpstreamFailed
        ]));
        assert!(!run_succeeded(&[TaskState::Failed]));
    }
}
