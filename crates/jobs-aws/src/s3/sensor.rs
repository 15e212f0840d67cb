//! The `s3_wait` job type: waits until an object exists — one key, or any key under a prefix
//! (optionally matching a glob) — checking every `poke_interval`, for as long as the step's
//! `timeout` allows.

use std::collections::BTreeSet;
use std::time::Duration;

use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_model::catalog::{JobConfig, Problems};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::AwsError;
use crate::fields::{bucket_name, not_blank};
use crate::settings::AwsSettings;
use crate::wait::{interval, parse_interval, sleep_or_cancel};

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
    /// The poke interval (checked by [`JobConfig::check`]).
    pub fn poke_interval(&self) -> Duration {
        interval(self.poke_interval.as_deref(), DEFAULT_POKE_INTERVAL)
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

/// `key` xor `prefix`, `glob` only with `prefix` and able to match under it, a bucket name,
/// an interval.
impl JobConfig for S3WaitConfig {
    fn check(&self, problems: &mut Problems) {
        problems.check_value(&["bucket"], &self.bucket, bucket_name);
        match (&self.key, &self.prefix) {
            (Some(_), Some(_)) => problems.job("give either `key` or `prefix`, not both"),
            (None, None) => {
                problems.job("give `key` (one object) or `prefix` (any object under it)");
            }
            (Some(key), None) => problems.check_value(&["key"], key, not_blank),
            (None, Some(_)) => {}
        }
        if let Some(glob) = &self.glob {
            match &self.prefix {
                None => problems.field("glob", "`glob` goes with `prefix`"),
                // A templated prefix is known up to its first template: every key under it
                // starts with that.
                Some(prefix) => {
                    let known = &prefix[..template_start(prefix)];
                    problems.check_value(&["glob"], glob, |g| glob_under(g, known, prefix));
                }
            }
        }
        if let Some(poke) = &self.poke_interval {
            problems.check_value(&["poke_interval"], poke, parse_interval);
        }
    }
}

/// Where the first template in `text` starts (its length when it has none).
fn template_start(text: &str) -> usize {
    ["{{", "{%", "{#"]
        .iter()
        .filter_map(|open| text.find(open))
        .min()
        .unwrap_or(text.len())
}

/// A glob matches whole keys, so one that no key starting with `known` (the known start of
/// `prefix`) can match makes the step wait until its timeout.
fn glob_under(glob: &str, known: &str, prefix: &str) -> Result<(), String> {
    glob_regex(glob)?;
    if can_start_with(&glob_tokens(glob), known) {
        Ok(())
    } else {
        Err(format!(
            "`{glob}` never matches a key under the prefix `{prefix}` (a glob is matched against whole keys, prefix included)"
        ))
    }
}

/// One part of a glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobToken {
    Literal(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any characters but `/`.
    Star,
    /// `**`: any characters.
    AnyDepth,
}

fn glob_tokens(glob: &str) -> Vec<GlobToken> {
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                GlobToken::AnyDepth
            }
            '*' => GlobToken::Star,
            '?' => GlobToken::One,
            other => GlobToken::Literal(other),
        });
    }
    tokens
}

/// Whether some key starting with `text` matches the glob: runs the glob as an automaton over
/// `text` and sees whether a state is still alive at its end.
fn can_start_with(tokens: &[GlobToken], text: &str) -> bool {
    // A star may match nothing: the state after it is reached at once.
    let close = |mut states: BTreeSet<usize>| {
        let mut pending: Vec<usize> = states.iter().copied().collect();
        while let Some(s) = pending.pop() {
            if matches!(tokens.get(s), Some(GlobToken::Star | GlobToken::AnyDepth))
                && states.insert(s + 1)
            {
                pending.push(s + 1);
            }
        }
        states
    };
    let mut states = close(BTreeSet::from([0]));
    for c in text.chars() {
        let mut next = BTreeSet::new();
        for &s in &states {
            match tokens.get(s) {
                Some(GlobToken::Literal(l)) if *l == c => {
                    next.insert(s + 1);
                }
                Some(GlobToken::One) if c != '/' => {
                    next.insert(s + 1);
                }
                Some(GlobToken::Star) if c != '/' => {
                    next.insert(s);
                }
                Some(GlobToken::AnyDepth) => {
                    next.insert(s);
                }
                _ => {}
            }
        }
        states = close(next);
        if states.is_empty() {
            return false;
        }
    }
    true
}

/// The regex of a glob over whole keys.
pub(crate) fn glob_regex(glob: &str) -> Result<Regex, String> {
    let mut pattern = String::from("^");
    for token in glob_tokens(glob) {
        match token {
            GlobToken::AnyDepth => pattern.push_str(".*"),
            GlobToken::Star => pattern.push_str("[^/]*"),
            GlobToken::One => pattern.push_str("[^/]"),
            GlobToken::Literal(c) => pattern.push_str(&regex::escape(&c.to_string())),
        }
    }
    pattern.push('$');
    Regex::new(&pattern).map_err(|e| format!("`{glob}` is not a valid pattern: {e}"))
}

/// The `s3_wait` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Wait;

/// The outputs of a successful wait.
const OUTPUTS: &[OutputDoc] = &[
    OutputDoc {
        name: "key",
        description: "The key found: `key`, or the first matching key under `prefix` (in S3's order).",
    },
    OutputDoc {
        name: "matched",
        description: "How many keys matched (1 for `key`).",
    },
];

impl Job for S3Wait {
    type Config = S3WaitConfig;
    const TYPE: &'static str = "s3_wait";

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: S3WaitConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx.target.section::<AwsSettings>()?;
        wait(config, settings, ctx).await
    }
}

/// One attempt of an `s3_wait` step.
async fn wait(
    config: S3WaitConfig,
    settings: AwsSettings,
    ctx: JobContext,
) -> Result<JobOutput, JobError> {
    let s3 = settings.clients().await?.s3;
    let interval = config.poke_interval();
    // `check` compiled it already: a glob always compiles (its regex characters are escaped).
    let glob = config.glob.as_deref().and_then(|g| glob_regex(g).ok());
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// Each problem as `path: message`.
    fn problems(v: serde_json::Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<S3WaitConfig>(&v)
            .iter()
            .map(|e| format!("{}: {}", e.path.join("."), e.message))
            .collect()
    }

    #[test]
    fn each_mistake_is_reported_at_its_field() {
        let cases = [
            (json!({"bucket": "b"}), ": give `key`"),
            (
                json!({"bucket": "b", "key": "k", "prefix": "p"}),
                ": give either `key` or `prefix`, not both",
            ),
            (json!({"bucket": "b", "key": ""}), "key: is empty"),
            (
                json!({"bucket": "b", "key": "k", "glob": "*"}),
                "glob: `glob` goes with `prefix`",
            ),
            (
                json!({"bucket": "b", "key": "k", "poke_interval": "x"}),
                "poke_interval: invalid duration",
            ),
            (
                json!({"bucket": "s3://landing/orders/", "key": "k"}),
                "bucket: give the bucket's name (`landing`)",
            ),
            (
                json!({"bucket": "b", "prefix": "landing/orders/", "glob": "*.parquet"}),
                "glob: `*.parquet` never matches a key under the prefix `landing/orders/`",
            ),
            (
                json!({"bucket": "b", "prefix": "landing/orders/", "glob": "landing/items/*"}),
                "glob: `landing/items/*` never matches",
            ),
            (
                json!({"bucket": "b", "prefix": "orders/{{ ds }}/", "glob": "*.parquet"}),
                "glob: `*.parquet` never matches a key under the prefix `orders/{{ ds }}/`",
            ),
        ];
        for (value, expected) in cases {
            let found = problems(value.clone());
            assert_eq!(found.len(), 1, "{value}: {found:?}");
            assert!(found[0].starts_with(expected), "{value}: {found:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_and_templates_are_skipped() {
        let found = problems(json!({"bucket": "", "glob": "*", "poke_interval": "0s"}));
        let paths: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
        assert_eq!(paths, ["bucket", "", "glob", "poke_interval"], "{found:?}");
        for ok in [
            json!({"bucket": "b", "prefix": "p/", "glob": "p/*.csv"}),
            json!({"bucket": "b", "prefix": "landing/", "glob": "landing/**/_SUCCESS"}),
            json!({"bucket": "b", "prefix": "landing/orders/2026", "glob": "landing/*/2026*"}),
            json!({"bucket": "{{ params.bucket }}", "prefix": "landing/{{ ds }}/",
                   "glob": "landing/{{ ds }}/*.csv", "poke_interval": "{{ params.poke }}"}),
            json!({"bucket": "b", "key": "landing/{{ ds }}/_SUCCESS"}),
        ] {
            assert_eq!(problems(ok.clone()), Vec::<String>::new(), "{ok}");
        }
    }
}
