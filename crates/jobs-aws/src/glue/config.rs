//! The fields of a `glue_job` step and their checks. Doc comments become the JSON Schema's
//! descriptions; [`JobConfig::check`] reports every mistake Glue would refuse (or silently
//! ignore) that needs no AWS call, at `flowctl validate` and again before every attempt.

use std::path::Path;
use std::time::Duration;

use aws_sdk_glue::types::WorkerType;
use flowctl_model::catalog::{JobConfig, Problems};
use flowctl_model::template::is_templated;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::fields::not_blank;
use crate::s3::object::parse_s3_url;
use crate::wait::{interval, parse_interval};

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
    /// The command: `glueetl` (Spark, the default), `gluestreaming`, `pythonshell` or
    /// `glueray`.
    #[serde(default)]
    pub command: Option<String>,
    /// Python version of the script (`"3"`, or `"3.9"` for Python shell jobs).
    #[serde(default)]
    pub python_version: Option<String>,
    /// Worker type: `G.1X`, `G.2X`, `G.4X`, `G.8X`, `G.025X`, `Z.2X`, ... (the values Glue
    /// knows).
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
    /// Glue's own run timeout, e.g. `2h` (whole minutes, at least one; Glue's default is 48
    /// hours).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Default arguments of every run (`--key: value`), e.g. `--datalake-formats: iceberg`.
    #[serde(default)]
    pub default_arguments: IndexMap<String, String>,
    /// Description of the job.
    #[serde(default)]
    pub description: Option<String>,
}

/// Glue job commands.
pub const COMMANDS: &[&str] = &["glueetl", "gluestreaming", "pythonshell", "glueray"];

impl GlueJobConfig {
    /// The poll interval (checked by [`JobConfig::check`]).
    pub fn poll_interval(&self) -> Duration {
        interval(self.poll_interval.as_deref(), DEFAULT_POLL_INTERVAL)
    }
}

impl GlueJobDefinition {
    /// Glue's timeout in whole minutes, when set to a checked value (a templated or refused
    /// value is `None`: not compared, not sent).
    pub fn timeout_minutes(&self) -> Option<i32> {
        self.timeout
            .as_deref()
            .and_then(|t| timeout_minutes(t).ok())
    }

    fn check(&self, problems: &mut Problems) {
        fn at(field: &str) -> [&str; 2] {
            ["definition", field]
        }
        problems.check_value(&at("script"), &self.script, script);
        problems.check_value(&at("role"), &self.role, not_blank);
        type Rule = fn(&str) -> Result<(), String>;
        let rules: [(&str, &Option<String>, Rule); 4] = [
            ("glue_version", &self.glue_version, glue_version),
            ("command", &self.command, command),
            ("python_version", &self.python_version, python_version),
            ("worker_type", &self.worker_type, worker_type),
        ];
        for (field, value, rule) in rules {
            if let Some(value) = value {
                problems.check_value(&at(field), value, rule);
            }
        }
        match (&self.worker_type, self.number_of_workers) {
            (Some(_), None) => problems.at(
                at("worker_type"),
                "goes with `number_of_workers`: give both or neither",
            ),
            (None, Some(_)) => problems.at(
                at("number_of_workers"),
                "goes with `worker_type`: give both or neither",
            ),
            _ => {}
        }
        for (field, value) in [
            ("number_of_workers", self.number_of_workers),
            ("max_concurrent_runs", self.max_concurrent_runs),
        ] {
            if value == Some(0) {
                problems.at(at(field), "must be at least 1");
            }
        }
        if let Some(timeout) = &self.timeout {
            problems.check_value(&at("timeout"), timeout, timeout_minutes);
        }
        check_arguments(problems, &at("default_arguments"), &self.default_arguments);
    }
}

impl JobConfig for GlueJobConfig {
    fn check(&self, problems: &mut Problems) {
        problems.check_value(&["job_name"], &self.job_name, not_blank);
        check_arguments(problems, &["arguments"], &self.arguments);
        if let Some(poll) = &self.poll_interval {
            problems.check_value(&["poll_interval"], poll, parse_interval);
        }
        if let Some(def) = &self.definition {
            def.check(problems);
        }
    }
}

/// Glue arguments are named `--key`; a name without the dashes is silently ignored by Glue
/// scripts' `getResolvedOptions`, so it is an error here.
fn check_arguments(problems: &mut Problems, field: &[&str], arguments: &IndexMap<String, String>) {
    for name in arguments.keys() {
        if is_templated(name) {
            continue;
        }
        if !name.starts_with("--") || name.len() < 3 {
            let mut path: Vec<&str> = field.to_vec();
            path.push(name);
            problems.at(
                path,
                format!(
                    "argument `{name}` must be named `--{}` (Glue arguments start with `--`)",
                    name.trim_start_matches('-')
                ),
            );
        }
    }
}

/// `s3://bucket/key` of an object, or a local file.
fn script(value: &str) -> Result<(), String> {
    not_blank(value)?;
    if value.starts_with("s3://") {
        return match parse_s3_url(value) {
            Some((_, key)) if !key.is_empty() && !key.ends_with('/') => Ok(()),
            _ => Err(format!(
                "`{value}` is not an s3://bucket/key URL of a script"
            )),
        };
    }
    if value.ends_with('/') || Path::new(value).file_name().is_none() {
        return Err(format!("`{value}` names no file"));
    }
    Ok(())
}

/// `5.0`, `4.0`, `0.9`.
fn glue_version(value: &str) -> Result<(), String> {
    let valid = value
        .split_once('.')
        .is_some_and(|(major, minor)| digits(major) && digits(minor));
    if valid {
        Ok(())
    } else {
        Err(format!("`{value}` is not a Glue version like `5.0`"))
    }
}

/// `3` or `3.9`.
fn python_version(value: &str) -> Result<(), String> {
    let valid = match value.split_once('.') {
        Some((major, minor)) => digits(major) && digits(minor),
        None => digits(value),
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a Python version like `3` or `3.9`"
        ))
    }
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn command(value: &str) -> Result<(), String> {
    if COMMANDS.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "unknown Glue command `{value}` (expected one of: {})",
            COMMANDS.join(", ")
        ))
    }
}

fn worker_type(value: &str) -> Result<(), String> {
    if WorkerType::values().contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "unknown Glue worker type `{value}` (expected one of: {})",
            WorkerType::values().join(", ")
        ))
    }
}

/// Glue counts its timeout in whole minutes (at least one).
fn timeout_minutes(text: &str) -> Result<i32, String> {
    let d = parse_interval(text)?;
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs % 60 != 0 {
        return Err(format!(
            "must be whole minutes (Glue counts in minutes), found `{text}`"
        ));
    }
    i32::try_from(secs / 60).map_err(|_| format!("is too long: `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each problem as `path: message`.
    fn problems(v: serde_json::Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<GlueJobConfig>(&v)
            .iter()
            .map(|e| format!("{}: {}", e.path.join("."), e.message))
            .collect()
    }

    #[test]
    fn accepts_a_full_step() {
        let v = json!({
            "job_name": "cdc-bronze",
            "arguments": {"--topic": "orders"},
            "poll_interval": "2s",
            "definition": {
                "script": "jobs/glue/bronze.py", "role": "GlueRole", "glue_version": "5.0",
                "command": "glueetl", "python_version": "3",
                "worker_type": "G.1X", "number_of_workers": 2, "timeout": "1h",
                "default_arguments": {"--datalake-formats": "iceberg"}
            }
        });
        assert_eq!(problems(v.clone()), Vec::<String>::new());
        let c: GlueJobConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.poll_interval(), Duration::from_secs(2));
        assert_eq!(c.definition.unwrap().timeout_minutes(), Some(60));
    }

    #[test]
    fn each_mistake_is_reported_at_its_field() {
        let cases = [
            (json!({"job_name": " "}), "job_name: is empty"),
            (
                json!({"job_name": "j", "arguments": {"topic": "x"}}),
                "arguments.topic: argument `topic` must be named `--topic`",
            ),
            (
                json!({"job_name": "j", "poll_interval": "fast"}),
                "poll_interval: invalid duration `fast`",
            ),
            (
                json!({"job_name": "j", "poll_interval": "0s"}),
                "poll_interval: must be more than 0",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "timeout": "90s"}}),
                "definition.timeout: must be whole minutes",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "worker_type": "G.1X"}}),
                "definition.worker_type: goes with `number_of_workers`",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "number_of_workers": 2}}),
                "definition.number_of_workers: goes with `worker_type`",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r",
                    "default_arguments": {"-x": "1"}}}),
                "definition.default_arguments.-x: argument `-x` must be named `--x`",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s3://scripts", "role": "r"}}),
                "definition.script: `s3://scripts` is not an s3://bucket/key URL",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "jobs/glue/", "role": "r"}}),
                "definition.script: `jobs/glue/` names no file",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": ""}}),
                "definition.role: is empty",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r",
                    "worker_type": "G1X", "number_of_workers": 2}}),
                "definition.worker_type: unknown Glue worker type `G1X` (expected one of: G.025X",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "command": "spark"}}),
                "definition.command: unknown Glue command `spark`",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "glue_version": "5"}}),
                "definition.glue_version: `5` is not a Glue version",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "python_version": "py3"}}),
                "definition.python_version: `py3` is not a Python version",
            ),
            (
                json!({"job_name": "j", "definition": {"script": "s.py", "role": "r", "max_concurrent_runs": 0}}),
                "definition.max_concurrent_runs: must be at least 1",
            ),
        ];
        for (value, expected) in cases {
            let found = problems(value.clone());
            assert_eq!(found.len(), 1, "{value}: {found:?}");
            assert!(found[0].starts_with(expected), "{value}: {found:?}");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let found = problems(json!({
            "job_name": "",
            "arguments": {"table": "bronze.raw", "--ds": "x", "mode": "current"},
            "poll_interval": "soon",
            "definition": {"script": "", "role": "", "timeout": "0m", "number_of_workers": 0}
        }));
        let paths: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "job_name",
                "arguments.table",
                "arguments.mode",
                "poll_interval",
                "definition.script",
                "definition.role",
                "definition.number_of_workers",
                "definition.number_of_workers",
                "definition.timeout",
            ],
            "{found:?}"
        );
    }

    #[test]
    fn templated_values_are_left_to_the_run_time_check() {
        assert_eq!(
            problems(json!({
                "job_name": "{{ params.job }}",
                "arguments": {"{{ params.arg }}": "x", "--ds": "{{ ds }}"},
                "poll_interval": "{{ params.poll }}",
                "definition": {
                    "script": "{{ params.script }}", "role": "{{ params.role }}",
                    "worker_type": "{{ params.workers }}", "number_of_workers": 2,
                    "timeout": "{{ params.timeout }}", "glue_version": "{{ params.v }}"
                }
            })),
            Vec::<String>::new()
        );
    }
}
