//! The `noop` job type: does nothing and succeeds (Airflow's `EmptyOperator`), for joins,
//! tests and benchmarks. It has no fields: any field is refused offline, by serde.

use flowctl_engine::job::{Job, JobContext, JobError, JobOutput};
use flowctl_model::catalog::JobConfig;
use schemars::JsonSchema;
use serde::Deserialize;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "noop";

/// Fields of a `noop` step: there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopConfig {}

/// Nothing to check beyond serde's refusal of every field.
impl JobConfig for NoopConfig {}

/// The `noop` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopJob;

impl NoopJob {
    /// The job type, ready to register.
    pub fn new() -> Self {
        Self
    }
}

impl Job for NoopJob {
    type Config = NoopConfig;
    const TYPE: &'static str = TYPE_NAME;

    async fn run(&self, _config: NoopConfig, _ctx: JobContext) -> Result<JobOutput, JobError> {
        // The engine benchmark runs 10,000 of these: the default output allocates nothing.
        Ok(JobOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{context, run_checked};
    use serde_json::json;

    #[tokio::test]
    async fn succeeds_without_outputs() {
        let (ctx, _logs) = context(std::env::temp_dir());
        let output = NoopJob.run(NoopConfig {}, ctx.clone()).await;
        assert_eq!(output, Ok(JobOutput::default()));
        let output = run_checked(NoopJob, json!({}), ctx).await;
        assert_eq!(output, Ok(JobOutput::default()));
    }

    #[tokio::test]
    async fn rejects_fields_at_run_time_too() {
        let (ctx, _logs) = context(std::env::temp_dir());
        let err = run_checked(NoopJob, json!({"command": "true"}), ctx)
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.starts_with("invalid `noop` step: ")
                && err.message.contains("unknown field `command`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn check_accepts_no_fields_and_rejects_any() {
        let registry = crate::registry();
        let spec = registry.get(TYPE_NAME).expect("registered").spec();
        assert_eq!(spec.name(), "noop");
        assert!(spec.field_names().is_empty());
        assert_eq!(spec.check(&json!({})), Ok(()));
        let errors = spec.check(&json!({"sleep": 1})).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, ["sleep"]);
        assert!(
            errors[0].message.contains("unknown field `sleep`"),
            "{}",
            errors[0].message
        );
    }
}
