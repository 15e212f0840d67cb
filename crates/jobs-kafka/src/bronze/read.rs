//! The Kafka side of a bronze run (blocking; runs on a blocking thread): find the partitions,
//! plan where each starts, read up to the high watermarks seen at start (or the limits), and
//! sort every message into bronze rows, skipped tombstones/markers, or dead letters.
//!
//! Offsets the broker no longer has are found twice: by the plan, from the low watermarks
//! fetched before reading, and while reading, when a fetch fails with offset-out-of-range
//! (the consumer runs with `auto.offset.reset=error`, so librdkafka reports it instead of
//! silently jumping to the earliest or latest offset). With `on_gap: fail` either stops the
//! read with [`KafkaJobError::DataLoss`]; with `on_gap: skip` the partition's gap is recorded
//! and its next offset becomes the broker's earliest one.

use std::ops::Range;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flowctl_cdc::{Message, parse_key, parse_value};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;
use tokio_util::sync::CancellationToken;

use super::offsets::{Gap, Offsets, OnGap, Origin, Plan, StoredState, Watermarks, plan, refusal};
use super::rows::{BronzeRows, Coordinates, DeadLetter};
use crate::client::{ClientLog, drain, request_failed};
use crate::error::KafkaJobError;

/// The consumer a bronze run reads with: its librdkafka messages go to the attempt's log.
pub type BronzeConsumer = BaseConsumer<ClientLog>;

/// Timeout of metadata, watermark and cluster-id requests: a broker that cannot be reached
/// within it fails the attempt with one line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long queued librdkafka events are served after a request failed (their reasons
/// explain the failure).
const DRAIN: Duration = Duration::from_millis(300);
/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(100);

/// Which topics to read.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These topics (each must exist).
    Topics(Vec<String>),
    /// Every topic whose whole name matches (internal `__` topics excluded).
    Pattern(Regex),
}

/// When to stop before the high watermarks.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// At most this many messages (of any kind).
    pub max_events: Option<u64>,
    /// Stop reading at this instant.
    pub deadline: Option<Instant>,
    /// Give up waiting when no message arrived for this long (control records of
    /// transactional producers and open transactions can keep the end out of reach).
    pub idle: Duration,
}

/// Counts per kind of message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Change events per op code, in `c u d r t` order.
    pub by_op: [u64; 5],
    /// Tombstones skipped.
    pub tombstones: u64,
    /// Transaction markers skipped.
    pub markers: u64,
    /// Messages sent to the dead-letter table.
    pub dead_letters: u64,
    /// The newest source event time (`source.ts_ms`) written: how far behind the source the
    /// table is (the `flowctl_cdc_lag_seconds` metric).
    pub max_source_ts_ms: Option<i64>,
}

impl Counts {
    /// Change events written.
    pub fn events(&self) -> u64 {
        self.by_op.iter().sum()
    }
}

/// One read: what to read, where the stored state says it starts, what to do with gaps.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which topics.
    pub selection: Selection,
    /// The bronze table's stored offsets and cluster.
    pub stored: StoredState,
    /// The embedded broker's instance id, when the target uses it (stored with the cluster
    /// id; a partition never read on that broker is expected to start at offset 0).
    pub embedded_instance: Option<String>,
    /// What to do with offsets the broker no longer has.
    pub on_gap: OnGap,
    /// The dead-letter table, named when a gap stops the read.
    pub dlq: String,
    /// The bootstrap list, named when the brokers cannot be reached.
    pub bootstrap: String,
    /// When to stop early.
    pub limits: Limits,
}

/// What one read produced.
pub struct ReadOutcome {
    /// The plan it followed (for logging).
    pub plan: Plan,
    /// The cluster id the offsets belong to.
    pub cluster_id: String,
    /// Bronze rows.
    pub rows: BronzeRows,
    /// Dead letters, in read order.
    pub dead_letters: Vec<DeadLetter>,
    /// Counts.
    pub counts: Counts,
    /// Next offsets after the read (stored offsets of other topics kept; a skipped gap's
    /// partition at the broker's earliest offset).
    pub next: Offsets,
    /// Gaps skipped (`on_gap: skip`): found by the plan, then while reading.
    pub gaps: Vec<Gap>,
    /// Messages consumed.
    pub consumed: u64,
    /// Why the read stopped early, if it did (limits, idle).
    pub stopped_early: Option<String>,
    /// Time spent finding partitions, watermarks and the cluster id.
    pub setup: Duration,
    /// Time from the assignment to the first message.
    pub first_message: Option<Duration>,
}

/// Maps a failed request: when the brokers could not be reached, one line saying so (the
/// reasons librdkafka queued meanwhile are served first).
fn failed(consumer: &BronzeConsumer, bootstrap: &str, what: &str, e: KafkaError) -> KafkaJobError {
    drain(consumer, DRAIN);
    request_failed(consumer.context(), bootstrap, REQUEST_TIMEOUT, what, e)
}

/// The topics the selection names, with their partition ids.
fn partitions(
    consumer: &BronzeConsumer,
    selection: &Selection,
    bootstrap: &str,
) -> Result<Vec<(String, Vec<i32>)>, KafkaJobError> {
    let mut out = Vec::new();
    match selection {
        Selection::Topics(topics) => {
            for topic in topics {
                let metadata = consumer
                    .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
                    .map_err(|e| {
                        failed(
                            consumer,
                            bootstrap,
                            &format!("fetching the metadata of topic {topic}"),
                            e,
                        )
                    })?;
                let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
                    return Err(KafkaJobError::Kafka(format!(
                        "topic {topic} does not exist"
                    )));
                };
                if let Some(err) = t.error() {
                    return Err(KafkaJobError::Kafka(format!(
                        "topic {topic}: {}",
                        rdkafka::types::RDKafkaErrorCode::from(err)
                    )));
                }
                let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                ids.sort_unstable();
                out.push((topic.clone(), ids));
            }
        }
        Selection::Pattern(regex) => {
            let metadata = consumer
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map_err(|e| failed(consumer, bootstrap, "fetching the cluster's topics", e))?;
            for t in metadata.topics() {
                if t.name().starts_with("__") || !regex.is_match(t.name()) || t.error().is_some() {
                    continue;
                }
                let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                ids.sort_unstable();
                out.push((t.name().to_owned(), ids));
            }
            out.sort();
        }
    }
    Ok(out)
}

/// The id stored with the offsets: the broker's cluster id, plus the instance id for the
/// embedded broker (whose cluster id can repeat across instances).
pub fn cluster_id(consumer: &BronzeConsumer, embedded_instance: Option<&str>) -> String {
    let id = consumer
        .client()
        .fetch_cluster_id(REQUEST_TIMEOUT)
        .unwrap_or_else(|| "unknown".to_owned());
    match embedded_instance {
        Some(instance) => format!("{id}/embedded-{instance}"),
        None => id,
    }
}

/// Plans and reads one batch. With `on_gap: fail`, a gap found by the plan stops the read
/// before any message is read.
pub fn read(
    consumer: &BronzeConsumer,
    request: &Request,
    cancel: &CancellationToken,
    rows: BronzeRows,
) -> Result<ReadOutcome, KafkaJobError> {
    let started = Instant::now();
    let bootstrap = request.bootstrap.as_str();
    // Metadata first: it is an active request, and it caches the cluster id, which
    // `fetch_cluster_id` would otherwise wait for until librdkafka's next 1 s tick.
    let topics = partitions(consumer, &request.selection, bootstrap)?;
    let cluster_id = cluster_id(consumer, request.embedded_instance.as_deref());
    let mut watermarks = Vec::new();
    for (topic, ids) in topics {
        for partition in ids {
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
                .map_err(|e| {
                    failed(
                        consumer,
                        bootstrap,
                        &format!("fetching the watermarks of topic {topic} partition {partition}"),
                        e,
                    )
                })?;
            watermarks.push(Watermarks {
                topic: topic.clone(),
                partition,
                low,
                high,
            });
        }
    }
    let origin = match request.embedded_instance {
        Some(_) => Origin::Zero,
        None => Origin::LowWatermark,
    };
    let plan = plan(&request.stored, &cluster_id, &watermarks, origin);
    if request.on_gap == OnGap::Fail && !plan.gaps.is_empty() {
        return Err(KafkaJobError::DataLoss(refusal(&plan.gaps, &request.dlq)));
    }
    let setup = started.elapsed();
    let mut track = Track {
        next: plan.initial.clone(),
        consumed: 0,
        first_message: None,
        on_gap: request.on_gap,
        dlq: &request.dlq,
        gaps: plan.gaps.clone(),
        skipped_while_reading: false,
    };
    let sorter = Sorter {
        rows,
        dead_letters: Vec::new(),
        counts: Counts::default(),
    };
    let (sorter, stopped_early) = track.consume(consumer, &plan, request.limits, cancel, sorter)?;
    Ok(ReadOutcome {
        plan,
        cluster_id,
        rows: sorter.rows,
        dead_letters: sorter.dead_letters,
        counts: sorter.counts,
        next: track.next,
        gaps: track.gaps,
        consumed: track.consumed,
        stopped_early,
        setup,
        first_message: track.first_message,
    })
}

/// Reads a plan made by hand (tests: watermarks that moved after the plan was made), returning
/// the next offsets, the gaps skipped and the counts.
#[cfg(test)]
pub(crate) fn read_plan(
    consumer: &BronzeConsumer,
    plan: &Plan,
    on_gap: OnGap,
    limits: Limits,
    rows: BronzeRows,
) -> Result<(Offsets, Vec<Gap>, Counts), KafkaJobError> {
    let mut track = Track {
        next: plan.initial.clone(),
        consumed: 0,
        first_message: None,
        on_gap,
        dlq: "b.t_dlq",
        gaps: plan.gaps.clone(),
        skipped_while_reading: false,
    };
    let sorter = Sorter {
        rows,
        dead_letters: Vec::new(),
        counts: Counts::default(),
    };
    let (sorter, _) = track.consume(consumer, plan, limits, &CancellationToken::new(), sorter)?;
    Ok((track.next, track.gaps, sorter.counts))
}

/// Where the read is: next offsets, messages consumed, gaps skipped.
struct Track<'r> {
    next: Offsets,
    consumed: u64,
    first_message: Option<Duration>,
    on_gap: OnGap,
    dlq: &'r str,
    gaps: Vec<Gap>,
    /// A partition stopped this read for a gap (a later out-of-range error may be its own).
    skipped_while_reading: bool,
}

/// Turns messages into rows: runs on its own thread, so parsing overlaps with polling.
struct Sorter {
    rows: BronzeRows,
    dead_letters: Vec<DeadLetter>,
    counts: Counts,
}

/// Messages handed from the polling thread to the sorter, copied into one buffer.
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    items: Vec<Item>,
}

struct Item {
    /// Index into the plan's partitions (for the topic name).
    plan_index: usize,
    partition: i32,
    offset: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    timestamp_ms: Option<i64>,
}

/// Messages per chunk.
const CHUNK: usize = 2048;

impl Chunk {
    fn push(&mut self, plan_index: usize, message: &BorrowedMessage<'_>) {
        let mut copy = |bytes: Option<&[u8]>| {
            bytes.map(|b| {
                let start = self.buf.len();
                self.buf.extend_from_slice(b);
                start..self.buf.len()
            })
        };
        let key = copy(message.key());
        let value = copy(message.payload());
        self.items.push(Item {
            plan_index,
            partition: message.partition(),
            offset: message.offset(),
            key,
            value,
            timestamp_ms: message.timestamp().to_millis(),
        });
    }
}

/// A partition still being read.
struct Active<'a> {
    plan_index: usize,
    topic: &'a str,
    partition: i32,
    end: i64,
    /// The broker no longer has this partition's next offset (seen after an out-of-range
    /// error, `on_gap: skip`): messages already fetched are still read, and the partition stops
    /// with a gap once none is left.
    lost: Option<Gap>,
}

impl Track<'_> {
    /// Reads the planned partitions; returns the sorter and why it stopped early, if it did.
    fn consume(
        &mut self,
        consumer: &BronzeConsumer,
        plan: &Plan,
        limits: Limits,
        cancel: &CancellationToken,
        sorter: Sorter,
    ) -> Result<(Sorter, Option<String>), KafkaJobError> {
        let mut active: Vec<Active<'_>> = plan
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.start < p.end)
            .map(|(plan_index, p)| Active {
                plan_index,
                topic: &p.topic,
                partition: p.partition,
                end: p.end,
                lost: None,
            })
            .collect();
        if active.is_empty() {
            return Ok((sorter, None));
        }
        let mut assignment = TopicPartitionList::new();
        for p in plan.partitions.iter().filter(|p| p.start < p.end) {
            assignment.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.start))?;
        }
        consumer.assign(&assignment)?;
        let (chunks, received) = mpsc::sync_channel::<Chunk>(8);
        let outcome = std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let mut sorter = sorter;
                for chunk in received {
                    sorter.sort_chunk(&chunk, plan)?;
                }
                Ok::<_, KafkaJobError>(sorter)
            });
            let polled = self.poll_until_done(consumer, plan, &mut active, limits, cancel, &chunks);
            drop(chunks); // ends the sorter's loop
            let sorted = worker
                .join()
                .map_err(|_| KafkaJobError::Kafka("the message sorter panicked".into()))?;
            Ok::<_, KafkaJobError>((sorted?, polled?))
        });
        // Best effort: the next attempt assigns afresh anyway.
        let _ = consumer.unassign();
        outcome
    }

    fn poll_until_done(
        &mut self,
        consumer: &BronzeConsumer,
        plan: &Plan,
        active: &mut Vec<Active<'_>>,
        limits: Limits,
        cancel: &CancellationToken,
        chunks: &mpsc::SyncSender<Chunk>,
    ) -> Result<Option<String>, KafkaJobError> {
        let mut chunk = Chunk::default();
        let send = |chunk: &mut Chunk| {
            if chunk.items.is_empty() {
                return Ok(());
            }
            chunks
                .send(std::mem::take(chunk))
                .map_err(|_| KafkaJobError::Kafka("the message sorter stopped".into()))
        };
        let assigned = Instant::now();
        let mut last_progress = assigned;
        let mut polls = 0u32;
        while !active.is_empty() {
            polls = polls.wrapping_add(1);
            // Checked every 256 messages: cheap enough, and cancellation is still prompt.
            if polls.is_multiple_of(256) || polls == 1 {
                if cancel.is_cancelled() {
                    return Err(KafkaJobError::Cancelled);
                }
                if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                    send(&mut chunk)?;
                    return Ok(Some("max_duration reached".into()));
                }
            }
            if limits.max_events.is_some_and(|max| self.consumed >= max) {
                send(&mut chunk)?;
                return Ok(Some("max_events reached".into()));
            }
            let message = match consumer.poll(POLL) {
                None => {
                    polls = 0; // re-check cancel and deadline on the next turn
                    send(&mut chunk)?;
                    self.stop_lost(active);
                    self.skip_control_records(consumer, active);
                    if !active.is_empty() && last_progress.elapsed() >= limits.idle {
                        return Ok(Some(format!(
                            "no message for {:?} before the end of {} partition(s)",
                            limits.idle,
                            active.len()
                        )));
                    }
                    continue;
                }
                Some(Err(e)) => {
                    if out_of_range(&e) {
                        send(&mut chunk)?;
                        self.out_of_range(consumer, plan, active)?;
                    }
                    // Transient client errors (a broker connection dropped) are retried by
                    // librdkafka, and the client context wrote librdkafka's reason to the
                    // attempt's log; the idle limit bounds a broker that never comes back.
                    tracing::debug!(error = %e, "kafka consumer error");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            let (topic, partition, offset) =
                (message.topic(), message.partition(), message.offset());
            let Some(index) = active
                .iter()
                .position(|a| a.partition == partition && a.topic == topic)
            else {
                continue; // a partition already complete: beyond this run's batch
            };
            if offset >= active[index].end {
                // Offsets up to the end were skipped (control records): the batch is complete.
                let end = active.swap_remove(index).end;
                if let Some(parts) = self.next.get_mut(topic) {
                    parts.insert(partition, end);
                }
                continue;
            }
            last_progress = Instant::now();
            if active[index]
                .lost
                .as_ref()
                .is_some_and(|lost| !lost.beyond_end() && offset + 1 >= lost.low)
            {
                // Already fetched up to the broker's earliest offset: nothing was lost.
                active[index].lost = None;
            }
            if self.first_message.is_none() {
                self.first_message = Some(assigned.elapsed());
            }
            self.consumed += 1;
            chunk.push(active[index].plan_index, &message);
            if chunk.items.len() >= CHUNK {
                send(&mut chunk)?;
            }
            if let Some(parts) = self.next.get_mut(topic) {
                parts.insert(partition, offset + 1);
            }
            if offset + 1 >= active[index].end {
                active.swap_remove(index);
            }
        }
        send(&mut chunk)?;
        Ok(None)
    }

    /// A fetch failed with offset-out-of-range: the broker deleted offsets before this read
    /// reached them (or the partition was recreated). With `on_gap: fail` the read stops,
    /// naming every partition whose stored offset the broker no longer has (nothing is
    /// committed, so that is what is lost); with `on_gap: skip` each active partition whose
    /// next offset is gone is marked, and stops with a gap once what was fetched is read.
    fn out_of_range(
        &mut self,
        consumer: &BronzeConsumer,
        plan: &Plan,
        active: &mut [Active<'_>],
    ) -> Result<(), KafkaJobError> {
        let watermarks = |topic: &str, partition: i32| {
            consumer
                .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
                .map_err(|e| {
                    KafkaJobError::Kafka(format!(
                        "fetching the watermarks of topic {topic} partition {partition} after \
                         an offset-out-of-range error: {e}"
                    ))
                })
        };
        let mut explained = false;
        match self.on_gap {
            OnGap::Fail => {
                let mut gaps = Vec::new();
                for p in plan.partitions.iter().filter(|p| p.start < p.end) {
                    let (low, high) = watermarks(&p.topic, p.partition)?;
                    gaps.extend(Gap::find(&p.topic, p.partition, p.start, low, high));
                }
                if !gaps.is_empty() {
                    return Err(KafkaJobError::DataLoss(refusal(&gaps, self.dlq)));
                }
            }
            OnGap::Skip => {
                explained = self.skipped_while_reading;
                for a in active.iter_mut() {
                    if a.lost.is_some() {
                        explained = true;
                        continue;
                    }
                    let expected = self.next_of(a.topic, a.partition);
                    let (low, high) = watermarks(a.topic, a.partition)?;
                    a.lost = Gap::find(a.topic, a.partition, expected, low, high);
                    explained |= a.lost.is_some();
                }
            }
        }
        if explained {
            return Ok(());
        }
        Err(KafkaJobError::Kafka(
            "a fetch failed with offset-out-of-range, but the broker still has every offset \
             this read expected (nothing was committed; the next attempt reads again)"
                .to_owned(),
        ))
    }

    /// The next offset of a partition being read.
    fn next_of(&self, topic: &str, partition: i32) -> i64 {
        self.next
            .get(topic)
            .and_then(|parts| parts.get(&partition))
            .copied()
            .unwrap_or_default()
    }

    /// Stops the partitions marked lost once nothing fetched is left to read (the queue was
    /// empty): each gap is recorded from the offset after the last one read, and the
    /// partition's next offset becomes the broker's earliest one (its rest is the next run's).
    fn stop_lost(&mut self, active: &mut Vec<Active<'_>>) {
        active.retain(|a| {
            let Some(lost) = &a.lost else {
                return true;
            };
            let expected = self.next_of(a.topic, a.partition);
            if let Some(gap) = Gap::find(a.topic, a.partition, expected, lost.low, lost.high) {
                if let Some(parts) = self.next.get_mut(a.topic) {
                    parts.insert(a.partition, gap.low);
                }
                self.gaps.push(gap);
            }
            self.skipped_while_reading = true;
            false
        });
    }

    /// Partitions whose consumer position passed the end without delivering the last offsets
    /// (transaction control records occupy offsets but are never delivered) are complete.
    fn skip_control_records(&mut self, consumer: &BronzeConsumer, active: &mut Vec<Active<'_>>) {
        let Ok(positions) = consumer.position() else {
            return;
        };
        active.retain(|a| {
            let position = positions
                .find_partition(a.topic, a.partition)
                .and_then(|e| e.offset().to_raw());
            match position {
                Some(pos) if pos >= a.end => {
                    if let Some(parts) = self.next.get_mut(a.topic) {
                        parts.insert(a.partition, a.end);
                    }
                    false
                }
                _ => true,
            }
        });
    }
}

/// Whether a consumer error is librdkafka's report of an offset the broker does not have
/// (`auto.offset.reset=error`).
fn out_of_range(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)
    )
}

impl Sorter {
    fn sort_chunk(&mut self, chunk: &Chunk, plan: &Plan) -> Result<(), KafkaJobError> {
        for item in &chunk.items {
            let at = Coordinates {
                topic: &plan.partitions[item.plan_index].topic,
                partition: item.partition,
                offset: item.offset,
            };
            let bytes = |r: &Option<Range<usize>>| r.clone().map(|r| &chunk.buf[r]);
            self.sort(at, bytes(&item.key), bytes(&item.value), item.timestamp_ms)?;
        }
        Ok(())
    }

    /// Sorts one message into bronze, the skipped kinds, or the dead letters.
    fn sort(
        &mut self,
        at: Coordinates<'_>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: Option<i64>,
    ) -> Result<(), KafkaJobError> {
        let dead = |error: String| DeadLetter {
            topic: at.topic.to_owned(),
            partition: at.partition,
            offset: at.offset,
            raw_key: key.map(<[u8]>::to_vec),
            raw_value: value.map(<[u8]>::to_vec),
            error,
        };
        let event = match parse_value(value.unwrap_or_default()) {
            Ok(Message::Change(event)) => event,
            Ok(Message::Tombstone) => {
                self.counts.tombstones += 1;
                return Ok(());
            }
            Ok(Message::Transaction(_)) => {
                self.counts.markers += 1;
                return Ok(());
            }
            Err(e) => {
                self.counts.dead_letters += 1;
                self.dead_letters.push(dead(e.to_string()));
                return Ok(());
            }
        };
        let key_json = match key.map(parse_key).transpose() {
            Ok(Some(Some(columns))) => Some(
                serde_json::to_string(&columns)
                    .map_err(|e| KafkaJobError::Kafka(format!("re-encoding a key: {e}")))?,
            ),
            Ok(_) => None,
            Err(e) => {
                self.counts.dead_letters += 1;
                self.dead_letters.push(dead(format!("key: {e}")));
                return Ok(());
            }
        };
        self.rows
            .push(at, key_json.as_deref(), timestamp_ms, &event)?;
        let slot = match event.op.code() {
            "c" => 0,
            "u" => 1,
            "d" => 2,
            "r" => 3,
            _ => 4,
        };
        self.counts.by_op[slot] += 1;
        if let Some(ts) = event.source.ts_ms {
            self.counts.max_source_ts_ms = self.counts.max_source_ts_ms.max(Some(ts));
        }
        Ok(())
    }
}
