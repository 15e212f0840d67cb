//! The `noop` job type: does nothing and succeeds (Airflow's `EmptyOperator`), for joins,
//! tests and benchmarks.

use std::sync::Arc;

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
use schemars::JsonSchema;
use serde::Deserialize;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "noop";

/// Fields of a `noop` step: there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopConfig {}

/// The `noop` plugin.
pub struct NoopJob {
    spec: Arc<dyn JobTypeSpec>,
}

impl NoopJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::<NoopConfig>::new(TYPE_NAME)),
        }
    }
}

impl Default for NoopJob {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl JobPlugin for NoopJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(
        &self,
        config: serde_json::Value,
        _ctx: JobContext,
    ) -> Result<JobOutput, JobError> {
        // The engine benchmark runs 10,000 of these: the usual `{}` costs no deserialization
        // and the default output allocates nothing.
        let trivially_empty = match &config {
            serde_json::Value::Object(fields) => fields.is_empty(),
            serde_json::Value::Null => true,
            _ => false,
        };
        if !trivially_empty {
            serde_json::from_value::<NoopConfig>(config)
                .map_err(|err| JobError::fatal(format!("invalid noop step: {err}")))?;
        }
        Ok(JobOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::context;
    use serde_json::json;

    #[tokio::test]
    async fn succeeds_without_outputs() {
        let (ctx, _logs) = context(std::env::temp_dir());
        let output = NoopJob::new().run(json!({}), ctx).await;
        assert_eq!(output, Ok(JobOutput::default()));
    }

    #[tokio::test]
    async fn rejects_fields_at_run_time_too() {
        let (ctx, _logs) = context(std::env::temp_dir());
        let err = NoopJob::new()
            .run(json!({"command": "true"}), ctx)
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.contains("unknown field `command`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn check_accepts_no_fields_and_rejects_any() {
        let spec = NoopJob::new().spec();
        assert_eq!(spec.name(), "noop");
        assert!(spec.field_names().is_empty());
        assert_eq!(spec.check(&json!({})), Ok(()));
        let err = spec.check(&json!({"sleep": 1})).unwrap_err();
        assert!(
            err.message.contains("unknown field `sleep`"),
            "{}",
            err.message
        );
    }
}
