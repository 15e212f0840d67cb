//! The `kafka_to_iceberg` job type (bronze): Debezium change events from Kafka topics into an
//! append-only Iceberg table, exactly once.
//!
//! One run is a batch: it reads every selected partition from the offsets stored in the bronze
//! table up to the high watermark seen at start (or `max_events` / `max_duration`), then
//! commits. Exactly-once rests on one rule: **the next offsets are committed in the same
//! Iceberg snapshot as the rows they cover** (snapshot summary, [`OFFSETS_SUMMARY_KEY`]), and a
//! run starts from them whatever the consumer group says. Partitions are `assign()`ed at
//! explicit offsets (no group membership: no join delay). A crash before the commit leaves
//! neither rows nor offsets; a crash after it leaves both. The consumer group's offsets are
//! committed afterwards, for monitoring only.
//!
//! - Tombstones and transaction markers are counted and skipped.
//! - Anything else that does not parse (invalid JSON, not a Debezium event, a bad key) goes to
//!   the dead-letter table `<table>_dlq` with its raw bytes and the reason: never lost, never
//!   fatal. Dead letters are committed *before* the bronze commit, so they are at-least-once:
//!   a crash between the two commits writes them again on the next run (bronze stays
//!   exactly-once). When only tombstones or dead letters were read, the bronze commit carries
//!   offsets only.
//! - A commit conflict (another writer committed to bronze meanwhile) reloads the table and
//!   reads again from its stored offsets, a bounded number of times.

mod offsets;
mod read;
mod rows;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin};
use flowctl_lakehouse::bronze::{
    CLUSTER_SUMMARY_KEY, DLQ_SUFFIX, OFFSETS_SUMMARY_KEY, bronze_columns, dlq_columns,
};
use flowctl_lakehouse::{IcebergSettings, Lakehouse, LakehouseError, TableName, TableSchema};
use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
use flowctl_model::duration::parse_duration;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

pub use offsets::{
    Offsets, PartitionPlan, Plan, StoredState, Watermarks, decode as decode_offsets,
    encode as encode_offsets, plan,
};
pub use read::{Counts, Limits, Selection};
pub use rows::{BronzeRows, DeadLetter};

use crate::error::KafkaJobError;
use crate::settings::{Connection, KafkaSettings};

/// The `type:` value of this job type.
pub const TYPE_NAME: &str = "kafka_to_iceberg";
/// Rows per Arrow batch when `batch_size` is not given.
pub const DEFAULT_BATCH_SIZE: usize = 50_000;
/// How many times a commit conflict is retried (reload, read again, commit).
const MAX_ATTEMPTS: u32 = 4;
/// Give up waiting for the end of a partition after this long without any message.
const IDLE_LIMIT: Duration = Duration::from_secs(10);

/// Fields of a `kafka_to_iceberg` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BronzeConfig {
    /// Topics to read (give this or `topic_pattern`).
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// A regular expression: every topic whose whole name matches is read (internal `__`
    /// topics excluded). Give this or `topics`.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The bronze table, `namespace.name`; dead letters go to `<table>_dlq`. Both are created
    /// when missing.
    pub table: String,
    /// Stop after this many messages (of any kind); the rest is read by the next run.
    #[serde(default)]
    pub max_events: Option<u64>,
    /// Stop reading after this long (e.g. `30s`, `5m`); what was read is committed.
    #[serde(default)]
    pub max_duration: Option<String>,
    /// Rows per in-memory batch (default 50000).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Consumer group whose offsets are committed after each run, for monitoring (the bronze
    /// table's own offsets decide where a run starts). Default `flowctl.<dag>.<task>`.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// A validated configuration.
struct Job {
    selection: Selection,
    table: TableName,
    dlq: TableName,
    max_events: Option<u64>,
    max_duration: Option<Duration>,
    batch_size: usize,
    group_id: String,
}

impl Job {
    fn from_config(config: BronzeConfig, ctx: &JobContext) -> Result<Self, KafkaJobError> {
        let bad = |m: String| KafkaJobError::Config(m);
        let selection = match (config.topics, config.topic_pattern) {
            (Some(topics), None) if !topics.is_empty() => {
                if topics.iter().any(|t| t.trim().is_empty()) {
                    return Err(bad("`topics` contains an empty topic name".into()));
                }
                Selection::Topics(topics)
            }
            (None, Some(pattern)) => {
                let regex = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| bad(format!("invalid `topic_pattern`: {e}")))?;
                Selection::Pattern(regex)
            }
            (Some(_), Some(_)) => {
                return Err(bad(
                    "give either `topics` or `topic_pattern`, not both".into()
                ));
            }
            _ => {
                return Err(bad(
                    "give `topics` (a non-empty list) or `topic_pattern`".into()
                ));
            }
        };
        let table = TableName::parse(&config.table)?;
        let dlq = TableName::parse(&format!("{}{DLQ_SUFFIX}", config.table))?;
        let max_duration = config
            .max_duration
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| bad(format!("`max_duration`: {e}")))?;
        if config.max_events == Some(0) {
            return Err(bad("`max_events` must be at least 1".into()));
        }
        if config.batch_size == Some(0) {
            return Err(bad("`batch_size` must be at least 1".into()));
        }
        Ok(Self {
            selection,
            table,
            dlq,
            max_events: config.max_events,
            max_duration,
            batch_size: config.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            group_id: config
                .group_id
                .unwrap_or_else(|| format!("flowctl.{}.{}", ctx.dag_id, ctx.task_id)),
        })
    }
}

/// The `kafka_to_iceberg` plugin.
pub struct BronzeJob {
    spec: Arc<dyn JobTypeSpec>,
}

impl BronzeJob {
    /// The plugin, ready to register.
    pub fn new() -> Self {
        Self {
            spec: Arc::new(TypedJobSpec::<BronzeConfig>::new(TYPE_NAME)),
        }
    }
}

impl Default for BronzeJob {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl JobPlugin for BronzeJob {
    fn spec(&self) -> Arc<dyn JobTypeSpec> {
        Arc::clone(&self.spec)
    }

    async fn run(&self, config: serde_json::Value, ctx: JobContext) -> Result<JobOutput, JobError> {
        let config: BronzeConfig = serde_json::from_value(config)
            .map_err(|e| JobError::fatal(format!("invalid kafka_to_iceberg step: {e}")))?;
        let job = Job::from_config(config, &ctx)?;
        Ok(run(job, &ctx).await?)
    }
}

/// What a committed (or no-op) run did.
struct Done {
    counts: Counts,
    next: Offsets,
    committed: bool,
}

async fn run(job: Job, ctx: &JobContext) -> Result<JobOutput, KafkaJobError> {
    let settings = KafkaSettings::from_target(&ctx.target.settings)?;
    let lake = IcebergSettings::from_target(&ctx.target.settings, &ctx.project_dir)?
        .open()
        .await?;
    lake.create_table_if_missing(&job.table, &TableSchema::Columns(bronze_columns()))
        .await?;
    lake.create_table_if_missing(&job.dlq, &TableSchema::Columns(dlq_columns()))
        .await?;
    let group_id = job.group_id.clone();
    let (connection, consumer) = blocking(move || {
        let connection = settings.connect()?;
        let consumer = consumer(&connection, &group_id)?;
        Ok((connection, consumer))
    })
    .await?;
    ctx.log.system(format!(
        "reading {} from {}{} into {}",
        match &job.selection {
            Selection::Topics(t) => format!("topic(s) {}", t.join(", ")),
            Selection::Pattern(r) => format!("topics matching {}", r.as_str()),
        },
        connection.bootstrap_servers,
        if connection.properties.is_empty() {
            String::new()
        } else {
            format!(" ({})", connection.describe_properties())
        },
        job.table
    ));
    let consumer = Arc::new(consumer);
    let done = ingest(&job, ctx, &lake, &connection, &consumer).await?;

    #[cfg(test)]
    crate::fault::fail_at(&ctx.run_id, crate::fault::Point::AfterIceberg)?;

    if done.committed {
        commit_group(ctx, consumer, &done.next).await;
    }
    let c = &done.counts;
    ctx.log.system(format!(
        "{} event(s) (c={} u={} d={} r={} t={}), {} tombstone(s), {} transaction marker(s), \
         {} dead letter(s); next offsets {}",
        c.events(),
        c.by_op[0],
        c.by_op[1],
        c.by_op[2],
        c.by_op[3],
        c.by_op[4],
        c.tombstones,
        c.markers,
        c.dead_letters,
        offsets::encode(&done.next)
    ));
    let mut output = JobOutput::default();
    let mut put = |k: &str, v: String| {
        output.outputs.insert(k.to_owned(), v);
    };
    put("events", c.events().to_string());
    for (i, op) in ["c", "u", "d", "r", "t"].iter().enumerate() {
        put(&format!("events_{op}"), c.by_op[i].to_string());
    }
    put("tombstones", c.tombstones.to_string());
    put("transaction_markers", c.markers.to_string());
    put("dlq", c.dead_letters.to_string());
    put("offsets", offsets::encode(&done.next));
    if let Some(ts) = c.max_source_ts_ms {
        put("max_event_ts_ms", ts.to_string());
    }
    Ok(output)
}

/// Reads and commits, retrying commit conflicts from freshly loaded offsets.
async fn ingest(
    job: &Job,
    ctx: &JobContext,
    lake: &Lakehouse,
    connection: &Connection,
    consumer: &Arc<BaseConsumer>,
) -> Result<Done, KafkaJobError> {
    // Dead letters already committed by an earlier attempt of this run (a conflict retry reads
    // them again): not written twice.
    let mut dead_written: HashSet<(String, i32, i64)> = HashSet::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let table = lake.load_table(&job.table).await?;
        let stored = StoredState::from_table(&table)?;
        let started = Instant::now();
        let limits = Limits {
            max_events: job.max_events,
            deadline: job.max_duration.map(|d| started + d),
            idle: IDLE_LIMIT,
        };
        let ingested_at_us = chrono::Utc::now().timestamp_micros();
        let outcome = {
            let consumer = Arc::clone(consumer);
            let selection = job.selection.clone();
            let stored = stored.clone();
            let instance = connection.embedded.map(|b| b.instance_id().to_owned());
            let cancel = ctx.cancel.clone();
            let rows = BronzeRows::new(job.batch_size, ingested_at_us);
            blocking(move || {
                read::read(
                    &consumer,
                    &selection,
                    &stored,
                    instance.as_deref(),
                    limits,
                    &cancel,
                    rows,
                )
            })
            .await?
        };
        for notice in &outcome.plan.notices {
            ctx.log.system(notice.clone());
        }
        if let Some(why) = &outcome.stopped_early {
            ctx.log.system(format!(
                "stopped before the high watermarks ({why}); the next run continues from here"
            ));
        }
        ctx.log.system(format!(
            "read {} message(s) in {:.2}s (partitions and watermarks {:.2}s, first message \
             after {:.2}s)",
            outcome.consumed,
            started.elapsed().as_secs_f64(),
            outcome.setup.as_secs_f64(),
            outcome.first_message.unwrap_or_default().as_secs_f64(),
        ));
        if ctx.cancel.is_cancelled() {
            return Err(KafkaJobError::Cancelled);
        }
        let cluster_same = stored.cluster.as_deref() == Some(outcome.cluster_id.as_str());
        if outcome.rows.is_empty()
            && outcome.dead_letters.is_empty()
            && outcome.next == stored.offsets
            && (cluster_same || outcome.next.is_empty())
        {
            ctx.log
                .system("nothing new since the last run: no commit".to_owned());
            return Ok(Done {
                counts: outcome.counts,
                next: outcome.next,
                committed: false,
            });
        }
        let fresh: Vec<DeadLetter> = outcome
            .dead_letters
            .iter()
            .filter(|d| !dead_written.contains(&(d.topic.clone(), d.partition, d.offset)))
            .cloned()
            .collect();
        if !fresh.is_empty() {
            append_dead_letters(lake, &job.dlq, &fresh, ingested_at_us).await?;
            ctx.log.system(format!(
                "{} dead letter(s) written to {}",
                fresh.len(),
                job.dlq
            ));
            dead_written.extend(fresh.into_iter().map(|d| (d.topic, d.partition, d.offset)));
        }

        #[cfg(test)]
        {
            use crate::fault::{Point, fail_at, fires};
            fail_at(&ctx.run_id, Point::BeforeIceberg)?;
            if fires(&ctx.run_id, Point::ConcurrentWriter) {
                // Another writer commits on top of the table this attempt loaded.
                let summary = BTreeMap::from([("flowctl.test.other-writer".into(), "1".into())]);
                lake.append(&table, Vec::new(), summary).await?;
            }
        }
        if ctx.cancel.is_cancelled() {
            return Err(KafkaJobError::Cancelled);
        }

        let summary = BTreeMap::from([
            (
                OFFSETS_SUMMARY_KEY.to_owned(),
                offsets::encode(&outcome.next),
            ),
            (CLUSTER_SUMMARY_KEY.to_owned(), outcome.cluster_id.clone()),
        ]);
        let batches = outcome.rows.finish()?;
        match lake.append(&table, batches, summary).await {
            Ok(snapshot) => {
                ctx.log.system(format!(
                    "committed snapshot {snapshot} of {} with the next offsets",
                    job.table
                ));
                return Ok(Done {
                    counts: outcome.counts,
                    next: outcome.next,
                    committed: true,
                });
            }
            Err(e @ LakehouseError::CommitConflict { .. }) if attempt < MAX_ATTEMPTS => {
                ctx.log.system(format!(
                    "{e}; reading again from the stored offsets (attempt {} of {MAX_ATTEMPTS})",
                    attempt + 1
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Appends dead letters, retrying conflicts (the DLQ carries no offsets: a plain re-append).
async fn append_dead_letters(
    lake: &Lakehouse,
    name: &TableName,
    rows: &[DeadLetter],
    ingested_at_us: i64,
) -> Result<(), KafkaJobError> {
    let batch = rows::dlq_batch(rows, ingested_at_us)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let table = lake.load_table(name).await?;
        match lake
            .append(&table, vec![batch.clone()], BTreeMap::new())
            .await
        {
            Ok(_) => return Ok(()),
            Err(LakehouseError::CommitConflict { .. }) if attempt < MAX_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Commits the group's offsets for monitoring; a failure only warns (bronze holds the truth).
async fn commit_group(ctx: &JobContext, consumer: Arc<BaseConsumer>, next: &Offsets) {
    let mut list = TopicPartitionList::new();
    for (topic, parts) in next {
        for (partition, offset) in parts {
            if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                ctx.log
                    .system(format!("warning: group offsets not committed: {e}"));
                return;
            }
        }
    }
    if list.count() == 0 {
        return;
    }
    let task = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync));
    match tokio::time::timeout(Duration::from_secs(15), task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => ctx.log.system(format!(
            "warning: consumer group offsets not committed (monitoring only; bronze holds \
             the offsets): {e}"
        )),
        Ok(Err(e)) => ctx
            .log
            .system(format!("warning: consumer group commit task failed: {e}")),
        Err(_) => ctx
            .log
            .system("warning: consumer group commit timed out (monitoring only)".to_owned()),
    }
}

/// A consumer for explicit assignment: no auto-commit, no offset store.
fn consumer(connection: &Connection, group_id: &str) -> Result<BaseConsumer, KafkaJobError> {
    Ok(connection
        .client_config(&[
            ("group.id", group_id),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("fetch.wait.max.ms", "100"),
            // A batch job wants the whole backlog quickly: a deep prefetch queue, and no
            // 1 s pause (librdkafka's default) each time the queue is full.
            ("queued.min.messages", "1000000"),
            ("queued.max.messages.kbytes", "1048576"),
            ("fetch.queue.backoff.ms", "5"),
            ("fetch.max.bytes", "104857600"),
        ])
        .create()?)
}

/// Runs blocking client work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaJobError> + Send + 'static,
) -> Result<T, KafkaJobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KafkaJobError::Kafka(format!("kafka task failed: {e}")))?
}
