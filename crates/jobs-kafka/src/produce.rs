//! The `kafka_produce` job type: publishes the messages of a JSONL file to a topic (the demo's
//! source, and tests). Each line is `{"key": <json|null>, "value": <json|null|string>,
//! "partition": <int, optional>}`: a JSON value is sent as its compact text, `null` as a
//! tombstone (no value), and a string verbatim, so malformed messages can be produced too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::embedded::DEFAULT_PARTITIONS;
use crate::error::KafkaJobError;
use crate::settings::{Connection, KafkaSettings};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "kafka_produce";

/// Fields of a `kafka_produce` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceConfig {
    /// Topic to publish to.
    pub topic: String,
    /// JSONL file of messages, relative to the project directory. Each line is an object with
    /// `key` (any JSON, or null), `value` (any JSON sent as its text; null = a tombstone; a
    /// string is sent verbatim, so malformed messages can be produced) and an optional
    /// `partition`. Blank lines are skipped.
    pub file: PathBuf,
    /// Partition count when the topic is created (embedded broker only; default 3).
    #[serde(default)]
    pub partitions: Option<i32>,
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
        let parsed: Line = serde_json::from_str(line)
            .map_err(|e| KafkaJobError::Config(format!("{}:{}: {e}", origin.display(), n + 1)))?;
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
/// even when messages expired).
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

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
/// with `partitions` partitions first when the connection is the embedded broker.
pub fn produce(
    connection: &Connection,
    topic: &str,
    partitions: i32,
    records: &[Record],
) -> Result<u64, KafkaJobError> {
    if let Some(broker) = connection.embedded {
        broker.create_topic(topic, partitions)?;
    }
    let producer: ThreadedProducer<Deliveries> = connection
        .client_config(&[
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "1000000"),
            ("message.timeout.ms", "60000"),
        ])
        .create_with_context(Deliveries::default())?;
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

/// The `kafka_produce` plugin.
pub struct ProduceJob {
    spec: Arc<dyn JobTypeSpec>,
}

impl ProduceJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::<ProduceConfig>::new(TYPE_NAME)),
        }
    }
}

impl Default for ProduceJob {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl JobPlugin for ProduceJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: ProduceConfig = serde_json::from_value(config)
            .map_err(|e| JobError::fatal(format!("invalid kafka_produce step: {e}")))?;
        let settings = KafkaSettings::from_target(&ctx.target.settings)?;
        let path = ctx.project_dir.join(&config.file);
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| JobError::fatal(format!("cannot read {}: {e}", path.display())))?;
        let records = parse_jsonl(&text, &path)?;
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
            produce(&connection, &topic, partitions, &records)
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
    }
}
