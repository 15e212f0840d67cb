//! The `kafka_produce` job type: publishes the messages of a JSONL file to a topic (the demo's
//! source, and tests). Each line is `{"key": <json|null>, "value": <json|null|string>,
//! "partition": <int, optional>}`: a JSON value is sent as its compact text, `null` as a
//! tombstone (no value), and a string verbatim, so malformed messages can be produced too.
//!
//! The step's fields are checked offline ([`ProduceConfig`]'s check: a topic name Kafka
//! accepts, a file, a partition count of at least 1). An attempt reads and parses the whole
//! file, and checks the explicit partitions against the topic, before it publishes anything:
//! a bad file publishes nothing. It asks the broker for the topic's metadata first, so
//! brokers that cannot be reached fail the attempt within the request timeout with one line
//! (not after the message timeout), and librdkafka's own log lines go to the attempt's log,
//! each distinct message once ([`crate::client`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use flowctl_engine::job::telemetry::OutputDoc;
use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_model::catalog::{JobConfig, Problems};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{ClientLog, request_failed};
use crate::embedded::DEFAULT_PARTITIONS;
use crate::error::KafkaJobError;
use crate::settings::{Connection, KafkaSettings};
use crate::topic::check_topic_name;

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "kafka_produce";

/// The outputs a successful step sets.
const OUTPUTS: &[OutputDoc] = &[OutputDoc {
    name: "produced",
    description: "Messages published and acknowledged by the broker.",
}];

/// How long to wait for the topic's metadata (asked before anything is sent): brokers that do
/// not answer within it fail the attempt.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// Fields of a `kafka_produce` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceConfig {
    /// Topic to publish to: ASCII letters, digits, `.`, `_` and `-`.
    pub topic: String,
    /// JSONL file of messages, relative to the project directory. Each line is an object with
    /// `key` (any JSON, or null), `value` (any JSON sent as its text; null = a tombstone; a
    /// string is sent verbatim, so malformed messages can be produced) and an optional
    /// `partition`. Blank lines are skipped.
    pub file: PathBuf,
    /// Partition count when the topic is created (embedded broker only; at least 1; default
    /// 3).
    #[serde(default)]
    pub partitions: Option<i32>,
}

impl JobConfig for ProduceConfig {
    fn check(&self, problems: &mut Problems) {
        problems.check_value(&["topic"], &self.topic, check_topic_name);
        problems.check_value(&["file"], &self.file.to_string_lossy(), |file| {
            if file.trim().is_empty() {
                Err(
                    "names no file: give the JSONL file of messages, relative to the project \
                     directory"
                        .to_owned(),
                )
            } else {
                Ok(())
            }
        });
        if let Some(partitions) = self.partitions
            && partitions < 1
        {
            problems.field(
                "partitions",
                format!("a topic needs at least one partition, got {partitions}"),
            );
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Key bytes, `None` for no key.
    pub key: Option<Vec<u8>>,
    /// Value bytes, `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Explicit partition, else the producer's partitioner (by key) decides.
    pub partition: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    key: Value,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    partition: Option<i32>,
}

/// Parses a JSONL message file (see [`ProduceConfig::file`]).
pub fn parse_jsonl(text: &str, origin: &Path) -> Result<Vec<Record>, KafkaJobError> {
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", origin.display(), n + 1);
        let parsed: Line = serde_json::from_str(line)
            .map_err(|e| KafkaJobError::Config(format!("{}: {e}", at())))?;
        if let Some(partition) = parsed.partition
            && partition < 0
        {
            return Err(KafkaJobError::Config(format!(
                "{}: partition {partition}: partitions are numbered from 0",
                at()
            )));
        }
        let bytes = |v: Value| match v {
            Value::Null => None,
            Value::String(s) => Some(s.into_bytes()),
            other => Some(other.to_string().into_bytes()),
        };
        records.push(Record {
            key: bytes(parsed.key),
            value: bytes(parsed.value),
            partition: parsed.partition,
        });
    }
    Ok(records)
}

/// Counts failed deliveries (the default context drops them silently, and `flush` succeeds
/// even when messages expired); librdkafka's log lines go to a [`ClientLog`].
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    log: ClientLog,
}

impl Deliveries {
    fn new(log: ClientLog) -> Self {
        Self {
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            log,
        }
    }
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Publishes `records` to `topic` and waits until every one is acknowledged. Creates the topic
/// with `partitions` partitions first when the connection is the embedded broker (after the
/// producer, so client properties librdkafka refuses create nothing). When messages name their
/// partition, the topic must have it: otherwise nothing is published. librdkafka's log lines
/// go to `tracing` (see [`produce_logged`]).
pub fn produce(
    connection: &Connection,
    topic: &str,
    partitions: i32,
    records: &[Record],
) -> Result<u64, KafkaJobError> {
    produce_logged(connection, topic, partitions, records, ClientLog::tracing())
}

/// [`produce`], with librdkafka's log lines going to `log` (an attempt's).
pub fn produce_logged(
    connection: &Connection,
    topic: &str,
    partitions: i32,
    records: &[Record],
    log: ClientLog,
) -> Result<u64, KafkaJobError> {
    let producer: ThreadedProducer<Deliveries> = connection
        .client_config(&[
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "1000000"),
            ("message.timeout.ms", "60000"),
        ])
        .create_with_context(Deliveries::new(log))?;
    if let Some(broker) = connection.embedded {
        broker.create_topic(topic, partitions)?;
    }
    check_partitions(&producer, connection, topic, records)?;
    let mut sent = 0u64;
    for record in records {
        let mut message = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(key) = &record.key {
            message = message.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            message = message.payload(value.as_slice());
        }
        if let Some(partition) = record.partition {
            message = message.partition(partition);
        }
        let mut pending = message;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                // The local queue is full: let the background thread deliver, then retry.
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    pending = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        sent += 1;
    }
    producer.flush(Duration::from_secs(60))?;
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = context
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        return Err(KafkaJobError::Kafka(format!(
            "{failed} of {sent} message(s) to {topic} were not delivered: {first}"
        )));
    }
    Ok(sent)
}

/// Asks for the topic's metadata before anything is sent (brokers that cannot be reached fail
/// here, in one line), and refuses messages naming a partition the topic does not have (a
/// topic the broker does not report yet is left to the broker).
fn check_partitions(
    producer: &ThreadedProducer<Deliveries>,
    connection: &Connection,
    topic: &str,
    records: &[Record],
) -> Result<(), KafkaJobError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| {
            // The producer's own thread serves librdkafka's events: the reasons are in.
            request_failed(
                &producer.context().log,
                &connection.bootstrap_servers,
                METADATA_TIMEOUT,
                &format!("fetching the metadata of topic {topic}"),
                e,
            )
        })?;
    let Some(highest) = records.iter().filter_map(|r| r.partition).max() else {
        return Ok(());
    };
    let Some(found) = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
    else {
        return Ok(());
    };
    let count = found.partitions().len();
    if usize::try_from(highest).is_ok_and(|p| p >= count) {
        return Err(KafkaJobError::Config(format!(
            "a message names partition {highest}, but topic {topic} has {count} partition(s): \
             nothing was published"
        )));
    }
    Ok(())
}

/// The `kafka_produce` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProduceJob;

impl ProduceJob {
    /// The job type, ready to register.
    pub fn new() -> Self {
        Self
    }
}

impl Job for ProduceJob {
    type Config = ProduceConfig;
    const TYPE: &'static str = TYPE_NAME;

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: ProduceConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let settings = ctx.target.section::<KafkaSettings>()?;
        let path = ctx.project_dir.join(&config.file);
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| JobError::fatal(format!("cannot read {}: {e}", path.display())))?;
        let records = parse_jsonl(&text, &path)?;
        if ctx.cancel.is_cancelled() {
            return Err(JobError::failed("cancelled before anything was published"));
        }
        let partitions = config.partitions.unwrap_or(DEFAULT_PARTITIONS);
        let topic = config.topic.clone();
        let log = ctx.log.clone();
        let produced = tokio::task::spawn_blocking(move || {
            let connection = settings.connect()?;
            log.system(format!(
                "producing {} message(s) to {topic} at {}",
                records.len(),
                connection.bootstrap_servers
            ));
            produce_logged(
                &connection,
                &topic,
                partitions,
                &records,
                ClientLog::attempt(log),
            )
        })
        .await
        .map_err(|e| JobError::failed(format!("producer task failed: {e}")))??;
        ctx.log.system(format!(
            "produced {produced} message(s) to {}",
            config.topic
        ));
        let mut output = JobOutput::default();
        output
            .outputs
            .insert("produced".into(), produced.to_string());
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonl_values_keys_and_tombstones() {
        let text = concat!(
            r#"{"key": {"id": 1}, "value": {"op": "c"}}"#,
            "\n\n",
            r#"{"key": null, "value": null, "partition": 2}"#,
            "\n",
            r#"{"key": "k", "value": "{not json"}"#,
            "\n"
        );
        let records = parse_jsonl(text, Path::new("m.jsonl")).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].key.as_deref(), Some(&br#"{"id":1}"#[..]));
        assert_eq!(records[0].value.as_deref(), Some(&br#"{"op":"c"}"#[..]));
        assert_eq!(records[1].value, None);
        assert_eq!(records[1].partition, Some(2));
        assert_eq!(records[2].value.as_deref(), Some(&b"{not json"[..]));
        let err = parse_jsonl("{\"value\": 1}\n{oops", Path::new("m.jsonl")).unwrap_err();
        assert!(err.to_string().starts_with("m.jsonl:2:"), "{err}");
        let err =
            parse_jsonl("{\"value\": 1, \"partition\": -1}", Path::new("m.jsonl")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.jsonl:1: partition -1: partitions are numbered from 0"
        );
    }

    fn problems(config: Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<ProduceConfig>(&config)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn check_reports_every_problem_at_its_field() {
        assert!(problems(json!({"topic": "shop.orders", "file": "m.jsonl"})).is_empty());
        assert_eq!(
            problems(json!({"topic": "", "file": "", "partitions": 0})),
            [
                "`topic`: an empty topic name",
                "`file`: names no file: give the JSONL file of messages, relative to the \
                 project directory",
                "`partitions`: a topic needs at least one partition, got 0",
            ]
        );
        let bad_name = problems(json!({"topic": "shop orders", "file": "m.jsonl"}));
        assert_eq!(bad_name.len(), 1, "{bad_name:?}");
        assert!(bad_name[0].starts_with("`topic`: `shop orders` is not a Kafka topic name"));
    }

    #[test]
    fn check_skips_templated_values() {
        let config = json!({"topic": "{{ params.topic }}", "file": "{{ params.file }}"});
        assert!(problems(config).is_empty());
    }

    #[test]
    fn declares_its_output() {
        let telemetry = ProduceJob.telemetry();
        let names: Vec<&str> = telemetry.outputs.iter().map(|o| o.name).collect();
        assert_eq!(names, ["produced"]);
        assert_eq!(
            telemetry,
            Telemetry {
                outputs: OUTPUTS,
                ..Telemetry::default()
            }
        );
    }
}
