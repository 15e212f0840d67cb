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
//! - **Bronze never advances past an offset it did not write.** When the broker no longer has
//!   offsets the table has not read (retention deleted them; the embedded broker keeps only
//!   ~5 MiB per partition), or a stored offset is beyond a partition's end (a recreated
//!   topic), that is a gap (`offsets.rs` explains how gaps are told apart from transaction
//!   markers and compaction, and where a partition never read starts: its low watermark, or
//!   offset 0 on the embedded broker). With `on_gap: fail` (the default) the step fails,
//!   naming topic, partition and the missing offsets, and commits nothing; with `on_gap:
//!   skip` each gap becomes a row of `<table>_dlq` (no key or value, the reason naming the
//!   range) and counts in the `gaps` output, and reading continues at the broker's earliest
//!   offset. The consumer runs with `auto.offset.reset=error` (whatever the target's
//!   properties say), so an offset that disappears while it reads is reported, never silently
//!   replaced by the earliest or latest one.
//! - librdkafka's own log lines go to the attempt's log, each distinct message once; a broker
//!   that cannot be reached within the request timeout fails the attempt with one line naming
//!   the bootstrap list and what failed ([`crate::client`]).
//!
//! The step's fields are [`BronzeConfig`], whose pure check (`topics` xor `topic_pattern`,
//! topic names, the pattern's regex, the table names, `max_events`, `max_duration`,
//! `batch_size`, `group_id`, `on_gap`) runs at `flowctl validate` and again before every
//! attempt. An attempt reads the target's `kafka:` and `iceberg:` blocks and creates its Kafka
//! client before it creates any table, so a client property librdkafka refuses creates
//! nothing. A lakehouse or catalog error is retryable exactly when
//! [`flowctl_lakehouse::LakehouseError::is_retryable`] says so; lost offsets never are.

mod config;
mod offsets;
mod read;
mod rows;
mod telemetry;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, Telemetry};
use flowctl_lakehouse::bronze::{
    CLUSTER_SUMMARY_KEY, OFFSETS_SUMMARY_KEY, bronze_columns, dlq_columns,
};
use flowctl_lakehouse::{
    IcebergSettings, IcebergTarget, Lakehouse, LakehouseError, TableName, TableSchema,
};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

pub use config::BronzeConfig;
pub use offsets::{
    Gap, Offsets, OnGap, Origin, PartitionPlan, Plan, StoredState, Watermarks,
    decode as decode_offsets, encode as encode_offsets, plan,
};
#[cfg(test)]
pub(crate) use read::read_plan;
pub use read::{BronzeConsumer, Counts, Limits, Request, Selection};
pub use rows::{BronzeRows, DeadLetter};

use config::{max_duration, tables, topic_regex};
use telemetry::{COUNTERS, OUTPUTS};

use crate::client::ClientLog;
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

/// What an attempt works with: the checked fields, parsed.
struct Ingest {
    selection: Selection,
    table: TableName,
    dlq: TableName,
    max_events: Option<u64>,
    max_duration: Option<Duration>,
    batch_size: usize,
    group_id: String,
    on_gap: OnGap,
}

impl Ingest {
    /// Parses fields that passed [`BronzeConfig`]'s check (which refuses everything these
    /// parsers do: an error here is a bug in that check).
    fn new(config: BronzeConfig, ctx: &JobContext) -> Result<Self, KafkaJobError> {
        let unchecked = |field: &str, e: String| {
            KafkaJobError::Config(format!(
                "`{field}` passed the step's check but cannot be used (a bug): {e}"
            ))
        };
        let selection = match (config.topics, config.topic_pattern) {
            (_, Some(pattern)) => Selection::Pattern(
                topic_regex(&pattern).map_err(|e| unchecked("topic_pattern", e))?,
            ),
            (topics, None) => Selection::Topics(topics.unwrap_or_default()),
        };
        let (table, dlq) = tables(&config.table).map_err(|e| unchecked("table", e))?;
        let max_duration = config
            .max_duration
            .as_deref()
            .map(max_duration)
            .transpose()
            .map_err(|e| unchecked("max_duration", e))?;
        let on_gap = config
            .on_gap
            .as_deref()
            .map(OnGap::parse)
            .transpose()
            .map_err(|e| unchecked("on_gap", e))?
            .unwrap_or_default();
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
            on_gap,
        })
    }
}

/// The `kafka_to_iceberg` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct BronzeJob;

impl BronzeJob {
    /// The job type, ready to register.
    pub fn new() -> Self {
        Self
    }
}

impl Job for BronzeJob {
    type Config = BronzeConfig;
    const TYPE: &'static str = TYPE_NAME;

    fn telemetry(&self) -> Telemetry {
        Telemetry {
            outputs: OUTPUTS,
            table_field: Some("table"),
            counters: COUNTERS,
            event_time_output: Some("max_event_ts_ms"),
            ..Telemetry::default()
        }
    }

    async fn run(&self, config: BronzeConfig, ctx: JobContext) -> Result<JobOutput, JobError> {
        let kafka = ctx.target.section::<KafkaSettings>()?;
        let iceberg = ctx
            .target
            .section::<IcebergTarget>()?
            .resolve(&ctx.project_dir);
        let ingest = Ingest::new(config, &ctx)?;
        Ok(run(ingest, kafka, iceberg, &ctx).await?)
    }
}

/// What a committed (or no-op) run did.
struct Done {
    counts: Counts,
    next: Offsets,
    /// Offsets skipped as gone from the broker (`on_gap: skip`).
    gaps: u64,
    committed: bool,
}

async fn run(
    job: Ingest,
    settings: KafkaSettings,
    iceberg: IcebergSettings,
    ctx: &JobContext,
) -> Result<JobOutput, KafkaJobError> {
    // The client first: a property librdkafka refuses must not leave tables behind.
    let group_id = job.group_id.clone();
    let log = ctx.log.clone();
    let (connection, consumer) = blocking(move || {
        let connection = settings.connect()?;
        let consumer = consumer(&connection, &group_id, log)?;
        Ok((connection, consumer))
    })
    .await?;
    if let Some(reset) = connection.properties.get(AUTO_OFFSET_RESET)
        && reset != "error"
    {
        ctx.log.system(format!(
            "the target's Kafka property {AUTO_OFFSET_RESET}={reset} is not used by \
             {TYPE_NAME}: it reads from the offsets stored in its table, and an offset the \
             broker no longer has is a gap (see `on_gap`), never a silent jump"
        ));
    }
    let consumer = Arc::new(consumer);
    let result = run_with(&job, ctx, iceberg, &connection, &consumer).await;
    // Closing a consumer serves its queue until librdkafka lets go (a while when the brokers
    // are unreachable): not on an async thread.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    result
}

async fn run_with(
    job: &Ingest,
    ctx: &JobContext,
    iceberg: IcebergSettings,
    connection: &Connection,
    consumer: &Arc<BronzeConsumer>,
) -> Result<JobOutput, KafkaJobError> {
    let lake = iceberg.open().await?;
    lake.create_table_if_missing(&job.table, &TableSchema::Columns(bronze_columns()))
        .await?;
    lake.create_table_if_missing(&job.dlq, &TableSchema::Columns(dlq_columns()))
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
    let done = ingest(job, ctx, &lake, connection, consumer).await?;

    #[cfg(test)]
    crate::fault::fail_at(&ctx.run_id, crate::fault::Point::AfterIceberg)?;

    if done.committed {
        commit_group(ctx, Arc::clone(consumer), &done.next).await;
    }
    let c = &done.counts;
    ctx.log.system(format!(
        "{} event(s) (c={} u={} d={} r={} t={}), {} tombstone(s), {} transaction marker(s), \
         {} dead letter(s), {} offset(s) skipped as gone; next offsets {}",
        c.events(),
        c.by_op[0],
        c.by_op[1],
        c.by_op[2],
        c.by_op[3],
        c.by_op[4],
        c.tombstones,
        c.markers,
        c.dead_letters,
        done.gaps,
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
    put("gaps", done.gaps.to_string());
    put("offsets", offsets::encode(&done.next));
    if let Some(ts) = c.max_source_ts_ms {
        put("max_event_ts_ms", ts.to_string());
    }
    Ok(output)
}

/// Reads and commits, retrying commit conflicts from freshly loaded offsets.
async fn ingest(
    job: &Ingest,
    ctx: &JobContext,
    lake: &Lakehouse,
    connection: &Connection,
    consumer: &Arc<BronzeConsumer>,
) -> Result<Done, KafkaJobError> {
    // Dead letters already committed by an earlier attempt of this run (a conflict retry reads
    // them again): not written twice. Gaps likewise, by topic, partition and range.
    let mut dead_written: HashSet<(String, i32, i64)> = HashSet::new();
    let mut gaps_written: HashSet<(String, i32, i64, i64)> = HashSet::new();
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
            let request = Request {
                selection: job.selection.clone(),
                stored: stored.clone(),
                embedded_instance: connection.embedded.map(|b| b.instance_id().to_owned()),
                on_gap: job.on_gap,
                dlq: job.dlq.to_string(),
                bootstrap: connection.bootstrap_servers.clone(),
                limits,
            };
            let cancel = ctx.cancel.clone();
            let rows = BronzeRows::new(job.batch_size, ingested_at_us);
            blocking(move || read::read(&consumer, &request, &cancel, rows)).await?
        };
        for notice in &outcome.plan.notices {
            ctx.log.system(notice.clone());
        }
        for gap in &outcome.gaps {
            ctx.log
                .system(format!("{}; recorded in {}", gap.skipped(), job.dlq));
        }
        let gaps: u64 = outcome.gaps.iter().map(Gap::missing).sum();
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
            && outcome.gaps.is_empty()
            && outcome.next == stored.offsets
            && (cluster_same || outcome.next.is_empty())
        {
            ctx.log
                .system("nothing new since the last run: no commit".to_owned());
            return Ok(Done {
                counts: outcome.counts,
                next: outcome.next,
                gaps,
                committed: false,
            });
        }
        let gap_key = |g: &Gap| (g.topic.clone(), g.partition, g.expected, g.low);
        let fresh_gaps: Vec<&Gap> = outcome
            .gaps
            .iter()
            .filter(|g| !gaps_written.contains(&gap_key(g)))
            .collect();
        let mut fresh: Vec<DeadLetter> = outcome
            .dead_letters
            .iter()
            .filter(|d| !dead_written.contains(&(d.topic.clone(), d.partition, d.offset)))
            .cloned()
            .collect();
        let fresh_letters = fresh.len();
        // A gap's row: where the missing offsets start, no key or value, the range as reason.
        fresh.extend(fresh_gaps.iter().map(|g| DeadLetter {
            topic: g.topic.clone(),
            partition: g.partition,
            offset: g.expected,
            raw_key: None,
            raw_value: None,
            error: g.skipped(),
        }));
        if !fresh.is_empty() {
            append_dead_letters(lake, &job.dlq, &fresh, ingested_at_us).await?;
            ctx.log.system(format!(
                "{} dead letter(s) and {} gap(s) written to {}",
                fresh_letters,
                fresh_gaps.len(),
                job.dlq
            ));
            gaps_written.extend(fresh_gaps.into_iter().map(gap_key));
            fresh.truncate(fresh_letters);
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
                    gaps,
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
async fn commit_group(ctx: &JobContext, consumer: Arc<BronzeConsumer>, next: &Offsets) {
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

/// The librdkafka property bronze sets whatever the target says.
const AUTO_OFFSET_RESET: &str = "auto.offset.reset";

/// A consumer for a test, made as a run makes it (librdkafka's lines dropped).
#[cfg(test)]
pub(crate) fn test_consumer(connection: &Connection) -> BronzeConsumer {
    consumer(
        connection,
        "flowctl.test",
        flowctl_engine::job::LogSink::discard(),
    )
    .expect("a consumer")
}

/// A consumer for explicit assignment: no auto-commit, no offset store, and an offset the
/// broker does not have is an error (`auto.offset.reset=error`, set after the target's
/// properties), never a silent jump. librdkafka's log lines go to `log`.
fn consumer(
    connection: &Connection,
    group_id: &str,
    log: flowctl_engine::job::LogSink,
) -> Result<BronzeConsumer, KafkaJobError> {
    let mut config = connection.client_config(&[
        ("group.id", group_id),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
        ("fetch.wait.max.ms", "100"),
        // A batch job wants the whole backlog quickly: a deep prefetch queue, and no
        // 1 s pause (librdkafka's default) each time the queue is full.
        ("queued.min.messages", "1000000"),
        ("queued.max.messages.kbytes", "1048576"),
        ("fetch.queue.backoff.ms", "5"),
        ("fetch.max.bytes", "104857600"),
    ]);
    config.set(AUTO_OFFSET_RESET, "error");
    Ok(config.create_with_context(ClientLog::attempt(log))?)
}

/// Runs blocking client work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaJobError> + Send + 'static,
) -> Result<T, KafkaJobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KafkaJobError::Kafka(format!("kafka task failed: {e}")))?
}

#[cfg(test)]
mod tests;
