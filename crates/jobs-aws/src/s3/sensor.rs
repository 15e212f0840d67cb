//! The `s3_wait` job type: waits until an object exists — one key, or any key under a prefix
//! (optionally matching a glob) — checking every `poke_interval`, for as long as the step's
//! `timeout` allows.

use std::time::Duration;

use flowctl_engine::job::{JobContext, JobError, JobOutput};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::AwsError;
use crate::settings::AwsSettings;
use crate::step::{AwsJob, StepConfig};
use crate::wait::{duration_field, sleep_or_cancel};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "s3_wait";

/// How often S3 is checked when the step does not say.
pub const DEFAULT_POKE_INTERVAL: Duration = Duration::from_secs(30);

/// Fields of an `s3_wait` step. Give `key`, or `prefix` (and optionally `glob`). Set the
/// step's `timeout`: without one the step waits until it is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3WaitConfig {
    /// The bucket.
    pub bucket: String,
    /// Wait for this exact key.
    #[serde(default)]
    pub key: Option<String>,
    /// Wait for any key under this prefix (e.g. `landing/orders/2026-03-04/`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// With `prefix`: only keys matching this glob count, matched against the whole key; `*`
    /// and `?` stay within one `/`-separated part, `**` crosses them (e.g.
    /// `landing/**/_SUCCESS`).
    #[serde(default)]
    pub glob: Option<String>,
    /// How often S3 is checked, e.g. `1m` (default `30s`).
    #[serde(default)]
    pub poke_interval: Option<String>,
}

impl S3WaitConfig {
    /// The poke interval (checked).
    pub fn poke_interval(&self) -> Result<Duration, String> {
        duration_field(
            "poke_interval",
            self.poke_interval.as_deref(),
            DEFAULT_POKE_INTERVAL,
        )
    }

    fn describe(&self) -> String {
        match (&self.key, &self.prefix, &self.glob) {
            (Some(key), _, _) => format!("s3://{}/{key}", self.bucket),
            (None, Some(prefix), Some(glob)) => {
                format!("a key under s3://{}/{prefix} matching {glob}", self.bucket)
            }
            (None, prefix, None) => format!(
                "a key under s3://{}/{}",
                self.bucket,
                prefix.as_deref().unwrap_or_default()
            ),
            (None, None, Some(_)) => format!("s3://{}", self.bucket),
        }
    }
}

/// `key` xor `prefix`, `glob` only with `prefix`, a valid glob and interval.
fn check(config: &S3WaitConfig) -> Result<(), String> {
    if config.bucket.trim().is_empty() {
        return Err("`bucket` is empty".into());
    }
    match (&config.key, &config.prefix) {
        (Some(_), Some(_)) => return Err("give either `key` or `prefix`, not both".into()),
        (None, None) => {
            return Err("give `key` (one object) or `prefix` (any object under it)".into());
        }
        (Some(key), None) if key.is_empty() => return Err("`key` is empty".into()),
        _ => {}
    }
    if let Some(glob) = &config.glob {
        if config.prefix.is_none() {
            return Err("`glob` goes with `prefix`".into());
        }
        glob_regex(glob)?;
    }
    config.poke_interval()?;
    Ok(())
}

/// The regex of a glob over whole keys.
pub(crate) fn glob_regex(glob: &str) -> Result<Regex, String> {
    let mut pattern = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                pattern.push_str(".*");
            }
            '*' => pattern.push_str("[^/]*"),
            '?' => pattern.push_str("[^/]"),
            other => pattern.push_str(&regex::escape(&other.to_string())),
        }
    }
    pattern.push('$');
    Regex::new(&pattern).map_err(|e| format!("`glob` `{glob}` is not a valid pattern: {e}"))
}

/// The `s3_wait` plugin.
pub type S3Wait = AwsJob<S3WaitConfig>;

/// One attempt of an `s3_wait` step.
async fn wait(
    config: S3WaitConfig,
    settings: AwsSettings,
    ctx: JobContext,
) -> Result<JobOutput, JobError> {
    let s3 = settings.clients().await?.s3;
    let interval = config.poke_interval().map_err(JobError::fatal)?;
    let glob = config
        .glob
        .as_deref()
        .map(glob_regex)
        .transpose()
        .map_err(JobError::fatal)?;
    let what = config.describe();
    ctx.log.system(format!("waiting for {what}"));
    loop {
        let found = tokio::select! {
            r = find(&s3, &config, glob.as_ref()) => r?,
            _ = ctx.cancel.cancelled() => None,
        };
        if let Some((key, matched)) = found {
            ctx.log
                .system(format!("found s3://{}/{key}", config.bucket));
            let mut out = JobOutput::default();
            out.outputs.insert("key".into(), key);
            out.outputs.insert("matched".into(), matched.to_string());
            return Ok(out);
        }
        if !sleep_or_cancel(interval, &ctx.cancel).await {
            return Err(JobError::failed(format!(
                "stopped waiting for {what} (timeout or cancel): it did not appear"
            )));
        }
    }
}

/// The first matching key (in S3's order) and how many keys matched; `None` when none.
async fn find(
    s3: &aws_sdk_s3::Client,
    config: &S3WaitConfig,
    glob: Option<&Regex>,
) -> Result<Option<(String, u64)>, JobError> {
    let bucket = config.bucket.as_str();
    if let Some(key) = &config.key {
        return match s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(Some((key.clone(), 1))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(
                AwsError::from_sdk(&format!("s3:HeadObject s3://{bucket}/{key}"), &e)
                    .into_job_error(),
            ),
        };
    }
    let prefix = config.prefix.clone().unwrap_or_default();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    let mut first = None;
    let mut matched = 0u64;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            AwsError::from_sdk(&format!("s3:ListObjectsV2 s3://{bucket}/{prefix}"), &e)
                .into_job_error()
        })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if glob.is_none_or(|g| g.is_match(key)) {
                matched += 1;
                first.get_or_insert_with(|| key.to_owned());
            }
        }
    }
    Ok(first.map(|k| (k, matched)))
}

impl StepConfig for S3WaitConfig {
    const TYPE_NAME: &'static str = TYPE_NAME;

    fn check(&self) -> Result<(), String> {
        check(self)
    }

    async fn run(self, settings: AwsSettings, ctx: JobContext) -> Result<JobOutput, JobError> {
        wait(self, settings, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> S3WaitConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn globs_match_whole_keys() {
        let g = glob_regex("landing/*/part-?.parquet").unwrap();
        assert!(g.is_match("landing/2026/part-1.parquet"));
        assert!(
            !g.is_match("landing/2026/03/part-1.parquet"),
            "* stays in one part"
        );
        assert!(!g.is_match("landing/2026/part-10.parquet"));
        let g = glob_regex("landing/**/_SUCCESS").unwrap();
        assert!(g.is_match("landing/a/b/_SUCCESS"));
        assert!(!g.is_match("landing/a/b/_SUCCESS.tmp"));
        assert!(
            glob_regex("a.(b)+").unwrap().is_match("a.(b)+"),
            "regex characters are literal"
        );
    }

    #[test]
    fn rules_name_the_fields() {
        let err = |v| check(&parse(v)).unwrap_err();
        assert!(err(json!({"bucket": "b"})).contains("give `key`"));
        assert!(err(json!({"bucket": "b", "key": "k", "prefix": "p"})).contains("not both"));
        assert!(
            err(json!({"bucket": "b", "key": "k", "glob": "*"}))
                .contains("`glob` goes with `prefix`")
        );
        assert!(
            err(json!({"bucket": "b", "key": "k", "poke_interval": "x"}))
                .contains("`poke_interval`")
        );
        assert_eq!(
            check(&parse(
                json!({"bucket": "b", "prefix": "p/", "glob": "p/*.csv"})
            )),
            Ok(())
        );
    }
}
