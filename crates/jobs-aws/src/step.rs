//! What every AWS job type does the same way with its fields: name its type, check the rules
//! serde cannot express (at `flowctl validate` time and again before running), fail an
//! attempt fatally on fields that do not parse, and read the target's AWS settings — one
//! plugin, [`AwsJob`], for every job type.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_model::catalog::{ConfigError, JobTypeSpec, TypedJobSpec};
use serde::de::DeserializeOwned;

use crate::settings::AwsSettings;

/// The fields of one AWS job type, and what an attempt does with them.
pub trait StepConfig: DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    /// The `type:` value of the job type.
    const TYPE_NAME: &'static str;

    /// Rules across fields; the message names the fields.
    fn check(&self) -> Result<(), String>;

    /// One attempt of a step with these (checked) fields, on the target's AWS settings.
    fn run(
        self,
        settings: AwsSettings,
        ctx: JobContext,
    ) -> impl Future<Output = Result<JobOutput, JobError>> + Send;
}

/// The plugin of the AWS job type whose fields are `C`.
pub struct AwsJob<C> {
    spec: Arc<dyn JobTypeSpec>,
    fields: PhantomData<fn() -> C>,
}

impl<C: StepConfig> AwsJob<C> {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: spec::<C>(),
            fields: PhantomData,
        }
    }
}

impl<C: StepConfig> Default for AwsJob<C> {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl<C: StepConfig> JobPlugin for AwsJob<C> {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: C = parse(config)?;
        let settings = AwsSettings::from_target(&ctx.target)?;
        config.run(settings, ctx).await
    }
}

/// The validation and JSON Schema of job type `C`.
fn spec<C: StepConfig>() -> Arc<dyn JobTypeSpec> {
    Arc::new(TypedJobSpec::<C>::with_rules(C::TYPE_NAME, rules::<C>))
}

fn rules<C: StepConfig>(config: &C) -> Result<(), ConfigError> {
    config.check().map_err(|message| ConfigError {
        path: Vec::new(),
        message,
    })
}

/// A step's rendered fields, parsed and checked; bad fields fail the attempt without retry.
fn parse<C: StepConfig>(config: serde_json::Value) -> Result<C, JobError> {
    let invalid =
        |e: &dyn std::fmt::Display| JobError::fatal(format!("invalid {} step: {e}", C::TYPE_NAME));
    let parsed: C = serde_json::from_value(config).map_err(|e| invalid(&e))?;
    parsed.check().map_err(|e| invalid(&e))?;
    Ok(parsed)
}
