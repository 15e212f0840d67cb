//! The fields of a `glue_job` step. Doc comments become the JSON Schema's descriptions.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::wait::duration_field;

/// How often a run's state is read when the step does not say.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// Fields of a `glue_job` step: start a run of a Glue job and wait until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueJobConfig {
    /// Name of the Glue job.
    pub job_name: String,
    /// Arguments of this run, `--key: value` (templated). They override the job's default
    /// arguments for this run only.
    #[serde(default)]
    pub arguments: IndexMap<String, String>,
    /// The job's definition. When given, the job is created if missing and updated when its
    /// live definition differs from these fields (fields left out are not compared). Without
    /// it the job must exist (e.g. made by Terraform).
    #[serde(default)]
    pub definition: Option<GlueJobDefinition>,
    /// How often the run's state is read, e.g. `30s` (default `15s`).
    #[serde(default)]
    pub poll_interval: Option<String>,
}

/// A Glue job's definition, as a step declares it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueJobDefinition {
    /// The job's script: an `s3://bucket/key` URL, or a local file (relative to the project
    /// directory) that is uploaded first to the target's `scripts_bucket` under
    /// `scripts_prefix` (skipped when the object already has the file's MD5).
    pub script: String,
    /// IAM role the job runs as (name or ARN).
    pub role: String,
    /// Glue version, e.g. `"5.0"`.
    #[serde(default)]
    pub glue_version: Option<String>,
    /// The command: `glueetl` (Spark, the default), `gluestreaming` or `pythonshell`.
    #[serde(default)]
    pub command: Option<String>,
    /// Python version of the script (`"3"`, or `"3.9"` for Python shell jobs).
    #[serde(default)]
    pub python_version: Option<String>,
    /// Worker type: `G.1X`, `G.2X`, `G.4X`, `G.8X`, `G.025X`, `Z.2X`.
    #[serde(default)]
    pub worker_type: Option<String>,
    /// Number of workers (with `worker_type`).
    #[serde(default)]
    pub number_of_workers: Option<u32>,
    /// How many runs of the job may run at once (Glue's default is 1).
    #[serde(default)]
    pub max_concurrent_runs: Option<u32>,
    /// How many times Glue itself retries a failed run (flowctl's `retries` are separate).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Glue's own run timeout, e.g. `2h` (whole minutes; Glue's default is 48 hours).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Default arguments of every run (`--key: value`), e.g. `--datalake-formats: iceberg`.
    #[serde(default)]
    pub default_arguments: IndexMap<String, String>,
    /// Description of the job.
    #[serde(default)]
    pub description: Option<String>,
}

impl GlueJobConfig {
    /// The poll interval (checked).
    pub fn poll_interval(&self) -> Result<Duration, String> {
        duration_field(
            "poll_interval",
            self.poll_interval.as_deref(),
            DEFAULT_POLL_INTERVAL,
        )
    }
}

impl GlueJobDefinition {
    /// Glue's timeout in whole minutes, when set.
    pub fn timeout_minutes(&self) -> Result<Option<i32>, String> {
        let Some(text) = &self.timeout else {
            return Ok(None);
        };
        let d = duration_field("definition.timeout", Some(text), Duration::ZERO)?;
        let secs = d.as_secs();
        if d.subsec_nanos() != 0 || secs % 60 != 0 {
            return Err(format!(
                "`definition.timeout` must be whole minutes (Glue counts in minutes), found `{text}`"
            ));
        }
        i32::try_from(secs / 60)
            .map(Some)
            .map_err(|_| format!("`definition.timeout` is too long: `{text}`"))
    }
}

/// Checks what serde cannot: argument names, durations, numbers.
pub(crate) fn check(config: &GlueJobConfig) -> Result<(), String> {
    if config.job_name.trim().is_empty() {
        return Err("`job_name` is empty".into());
    }
    check_arguments("arguments", &config.arguments)?;
    config.poll_interval()?;
    if let Some(def) = &config.definition {
        if def.script.trim().is_empty() {
            return Err("`definition.script` is empty".into());
        }
        if def.role.trim().is_empty() {
            return Err("`definition.role` is empty".into());
        }
        check_arguments("definition.default_arguments", &def.default_arguments)?;
        def.timeout_minutes()?;
        if def.number_of_workers.is_some() != def.worker_type.is_some() {
            return Err(
                "`definition.worker_type` and `definition.number_of_workers` go together: give both or neither"
                    .into(),
            );
        }
        for (field, value) in [
            ("number_of_workers", def.number_of_workers),
            ("max_concurrent_runs", def.max_concurrent_runs),
        ] {
            if value == Some(0) {
                return Err(format!("`definition.{field}` must be at least 1"));
            }
        }
    }
    Ok(())
}

/// Glue arguments are named `--key`; a name without the dashes is silently ignored by Glue
/// scripts' `getResolvedOptions`, so it is an error here.
fn check_arguments(field: &str, arguments: &IndexMap<String, String>) -> Result<(), String> {
    for name in arguments.keys() {
        if !name.starts_with("--") || name.len() < 3 {
            return Err(format!(
                "`{field}`: argument `{name}` must be named `--{}` (Glue arguments start with `--`)",
                name.trim_start_matches('-')
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> GlueJobConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_a_full_step() {
        let c = parse(json!({
            "job_name": "cdc-bronze",
            "arguments": {"--topic": "orders"},
            "poll_interval": "2s",
            "definition": {
                "script": "jobs/glue/bronze.py", "role": "GlueRole", "glue_version": "5.0",
                "worker_type": "G.1X", "number_of_workers": 2, "timeout": "1h",
                "default_arguments": {"--datalake-formats": "iceberg"}
            }
        }));
        assert_eq!(check(&c), Ok(()));
        assert_eq!(c.poll_interval(), Ok(Duration::from_secs(2)));
        assert_eq!(c.definition.unwrap().timeout_minutes(), Ok(Some(60)));
    }

    #[test]
    fn rejects_bad_fields_naming_them() {
        let cases = [
            (json!({"job_name": " "}), "`job_name` is empty"),
            (
                json!({"job_name": "j", "arguments": {"topic": "x"}}),
                "argument `topic` must be named `--topic`",
            ),
            (
                json!({"job_name": "j", "poll_interval": "fast"}),
                "`poll_interval`",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "timeout": "90s"}}),
                "whole minutes",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "worker_type": "G.1X"}}),
                "give both or neither",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r",
                    "default_arguments": {"-x": "1"}}}),
                "`definition.default_arguments`: argument `-x`",
            ),
        ];
        for (value, expected) in cases {
            let err = check(&parse(value.clone())).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }
}
