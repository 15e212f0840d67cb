//! The fields of a `kafka_to_iceberg` step and their offline check.

use std::time::Duration;

use flowctl_lakehouse::TableName;
use flowctl_lakehouse::bronze::DLQ_SUFFIX;
use flowctl_model::catalog::{JobConfig, Problems};
use flowctl_model::duration::parse_duration;
use flowctl_model::template::is_templated;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use super::offsets::OnGap;
use crate::topic::check_topic_name;

/// Fields of a `kafka_to_iceberg` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BronzeConfig {
    /// Topics to read (give this or `topic_pattern`): a non-empty list of Kafka topic names,
    /// each once.
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// A regular expression: every topic whose whole name matches is read (internal `__`
    /// topics excluded). Give this or `topics`.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The bronze table, `namespace.name`; dead letters go to `<table>_dlq`. Both are created
    /// when missing.
    pub table: String,
    /// Stop after this many messages (of any kind; at least 1); the rest is read by the next
    /// run.
    #[serde(default)]
    pub max_events: Option<u64>,
    /// Stop reading after this long (e.g. `30s`, `5m`; more than zero); what was read is
    /// committed.
    #[serde(default)]
    pub max_duration: Option<String>,
    /// Rows per in-memory batch (at least 1; default 50000).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Consumer group whose offsets are committed after each run, for monitoring (the bronze
    /// table's own offsets decide where a run starts). Default `flowctl.<dag>.<task>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// What to do when the broker no longer has offsets this table has not read (retention
    /// deleted them; the embedded broker keeps ~5 MiB per partition), or a stored offset is
    /// beyond a partition's end (a recreated topic): `fail` (the default) fails the step before
    /// anything is committed, naming topic, partition and the missing offsets; `skip` records
    /// each gap as a row of `<table>_dlq` and in the `gaps` output, and continues from the
    /// broker's earliest offset. Offsets taken by transaction markers or removed by compaction
    /// are not gaps.
    #[serde(default)]
    pub on_gap: Option<String>,
}

/// The regex a `topic_pattern` stands for: the whole topic name must match. The pattern must
/// compile on its own (so `a)|(b` cannot escape the anchors).
pub(super) fn topic_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("an empty pattern matches no topic".to_owned());
    }
    let describe = |e: regex::Error| match e {
        // A caret drawing under the pattern, then `error: <what>`: keep the what.
        regex::Error::Syntax(text) => format!(
            "not a valid regex: {}",
            text.lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.trim())
        ),
        other => format!("not a valid regex: {other}"),
    };
    Regex::new(pattern).map_err(describe)?;
    Regex::new(&format!("^(?:{pattern})$")).map_err(describe)
}

/// `max_duration` as a duration: more than zero.
pub(super) fn max_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("a zero duration would stop before reading anything".to_owned());
    }
    Ok(duration)
}

/// The bronze table and its dead-letter table.
pub(super) fn tables(table: &str) -> Result<(TableName, TableName), String> {
    let bronze = TableName::parse(table).map_err(|e| e.to_string())?;
    let dlq = TableName::parse(&format!("{table}{DLQ_SUFFIX}"))
        .map_err(|e| format!("its dead-letter table: {e}"))?;
    Ok((bronze, dlq))
}

impl JobConfig for BronzeConfig {
    fn check(&self, problems: &mut Problems) {
        match (&self.topics, &self.topic_pattern) {
            (Some(_), Some(_)) => {
                problems.job("give either `topics` or `topic_pattern`, not both");
            }
            (None, None) => {
                problems.job("give `topics` (a list of topic names) or `topic_pattern` (a regex)");
            }
            _ => {}
        }
        if let Some(topics) = &self.topics {
            if topics.is_empty() {
                problems.field("topics", "lists no topic: name at least one");
            }
            for (i, topic) in topics.iter().enumerate() {
                let index = i.to_string();
                let at = ["topics", index.as_str()];
                if !is_templated(topic) && topics[..i].contains(topic) {
                    problems.at(at, format!("`{topic}` is listed twice"));
                    continue;
                }
                problems.check_value(&at, topic, check_topic_name);
            }
        }
        if let Some(pattern) = &self.topic_pattern {
            problems.check_value(&["topic_pattern"], pattern, topic_regex);
        }
        problems.check_value(&["table"], &self.table, tables);
        if self.max_events == Some(0) {
            problems.field("max_events", "must be at least 1");
        }
        if let Some(duration) = &self.max_duration {
            problems.check_value(&["max_duration"], duration, max_duration);
        }
        if self.batch_size == Some(0) {
            problems.field("batch_size", "must be at least 1");
        }
        if let Some(on_gap) = &self.on_gap {
            problems.check_value(&["on_gap"], on_gap, OnGap::parse);
        }
        if let Some(group) = &self.group_id {
            problems.check_value(&["group_id"], group, |group| {
                if group.trim().is_empty() {
                    Err("an empty consumer group id: leave it out for the default \
                         `flowctl.<dag>.<task>`"
                        .to_owned())
                } else {
                    Ok(())
                }
            });
        }
    }
}
