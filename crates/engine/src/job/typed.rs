//! The typed job contract: a job type is a config struct ([`JobConfig`]) and one [`Job`]
//! implementation. [`Registered`] adapts it to the engine's object-safe [`JobPlugin`]:
//! before every attempt it parses the rendered fields into the struct and runs the same
//! pure check as `flowctl validate`, so a job's `run` only ever sees a checked config and a
//! refused one fails the attempt before anything is touched.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use flowctl_model::catalog::{JobConfig, JobTypeSpec, TypedJobSpec, check_config};

use super::{JobContext, JobError, JobOutput, JobPlugin, Telemetry};

/// A job type: its fields and what one attempt does with them.
///
/// ```ignore
/// /// Fields of an `echo` step.
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// pub struct EchoConfig {
///     /// What to print.
///     pub text: String,
/// }
/// impl JobConfig for EchoConfig {
///     fn check(&self, problems: &mut Problems) {
///         if self.text.is_empty() { problems.field("text", "must not be empty"); }
///     }
/// }
/// pub struct Echo;
/// impl Job for Echo {
///     type Config = EchoConfig;
///     const TYPE: &'static str = "echo";
///     async fn run(&self, config: EchoConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
///         ctx.log.system(config.text);
///         Ok(JobOutput::default())
///     }
/// }
/// // in the binary's registration: registry.add(Echo);
/// ```
pub trait Job: Send + Sync + 'static {
    /// The step's fields.
    type Config: JobConfig;

    /// The `type:` value.
    const TYPE: &'static str;

    /// What this type's outputs mean to metrics and the UI (none by default).
    fn telemetry(&self) -> Telemetry {
        Telemetry::default()
    }

    /// Runs one attempt with fields already rendered, parsed and checked.
    ///
    /// Must return promptly after `ctx.cancel` fires, after stopping whatever it started
    /// (see [`JobPlugin::run`]).
    fn run(
        &self,
        config: Self::Config,
        ctx: JobContext,
    ) -> impl Future<Output = Result<JobOutput, JobError>> + Send;
}

/// A [`Job`] as the engine holds it.
pub(super) struct Registered<J> {
    job: J,
    spec: Arc<dyn JobTypeSpec>,
}

impl<J: Job> Registered<J> {
    pub(super) fn new(job: J) -> Self {
        Self {
            job,
            spec: Arc::new(TypedJobSpec::<J::Config>::new(J::TYPE)),
        }
    }
}

#[async_trait]
impl<J: Job> JobPlugin for Registered<J> {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    fn telemetry(&self) -> Telemetry {
        self.job.telemetry()
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config = check_config::<J::Config>(&config)
            .map_err(|problems| JobError::invalid_config(J::TYPE, &problems))?;
        self.job.run(config, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{JobRegistry, Problems};
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct EchoConfig {
        text: String,
    }

    impl JobConfig for EchoConfig {
        fn check(&self, problems: &mut Problems) {
            if self.text.is_empty() {
                problems.field("text", "must not be empty");
            }
        }
    }

    struct Echo;

    impl Job for Echo {
        type Config = EchoConfig;
        const TYPE: &'static str = "echo";

        async fn run(&self, config: EchoConfig, _ctx: JobContext) -> Result<JobOutput, JobError> {
            let mut out = JobOutput::default();
            out.outputs.insert("text".into(), config.text);
            Ok(out)
        }
    }

    #[tokio::test]
    async fn an_attempt_sees_checked_fields_and_a_refused_config_never_runs() {
        let mut registry = JobRegistry::new();
        registry.add(Echo);
        let plugin = registry.get("echo").expect("registered");
        let (ctx, _log) = JobContext::for_test("/tmp");
        let out = plugin
            .run(json!({"text": "hi"}), ctx.clone())
            .await
            .expect("runs");
        assert_eq!(out.outputs["text"], "hi");
        let err = plugin.run(json!({"text": ""}), ctx).await.unwrap_err();
        assert_eq!(
            err.message,
            "invalid `echo` step: `text`: must not be empty"
        );
        assert!(!err.retryable);
        assert_eq!(registry.catalog().names().collect::<Vec<_>>(), ["echo"]);
    }
}
