//! What every AWS job type does the same way with its fields: name its type, check the rules
//! serde cannot express (at `flowctl validate` time and again before running), and fail an
//! attempt fatally on fields that do not parse.

use std::sync::Arc;

use flowctl_engine::job::JobError;
use flowctl_model::catalog::{ConfigError, JobTypeSpec, TypedJobSpec};
use serde::de::DeserializeOwned;

/// The fields of one AWS job type.
pub(crate) trait StepConfig: DeserializeOwned + schemars::JsonSchema + 'static {
    /// The `type:` value of the job type.
    const TYPE_NAME: &'static str;

    /// Rules across fields; the message names the fields.
    fn check(&self) -> Result<(), String>;
}

/// The validation and JSON Schema of job type `C`.
pub(crate) fn spec<C: StepConfig>() -> Arc<dyn JobTypeSpec> {
    Arc::new(TypedJobSpec::<C>::with_rules(C::TYPE_NAME, rules::<C>))
}

fn rules<C: StepConfig>(config: &C) -> Result<(), ConfigError> {
    config.check().map_err(|message| ConfigError {
        path: Vec::new(),
        message,
    })
}

/// A step's rendered fields, parsed and checked; bad fields fail the attempt without retry.
pub(crate) fn parse<C: StepConfig>(config: serde_json::Value) -> Result<C, JobError> {
    let invalid =
        |e: &dyn std::fmt::Display| JobError::fatal(format!("invalid {} step: {e}", C::TYPE_NAME));
    let parsed: C = serde_json::from_value(config).map_err(|e| invalid(&e))?;
    parsed.check().map_err(|e| invalid(&e))?;
    Ok(parsed)
}
