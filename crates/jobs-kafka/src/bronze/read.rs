//! The Kafka side of a bronze run (blocking; runs on a blocking thread): find the partitions,
//! plan where each starts, read up to the high watermarks seen at start (or the limits), and
//! sort every message into bronze rows, skipped tombstones/markers, or dead letters.

use std::ops::Range;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flowctl_cdc::{Message, parse_key, parse_value};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;
use tokio_util::sync::CancellationToken;

use super::offsets::{Offsets, Plan, StoredState, Watermarks, plan};
use super::rows::{BronzeRows, Coordinates, DeadLetter};
use crate::error::KafkaJobError;

/// Timeout of metadata, watermark and cluster-id requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
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
    /// Next offsets after the read (stored offsets of other topics kept).
    pub next: Offsets,
    /// Messages consumed.
    pub consumed: u64,
    /// Why the read stopped early, if it did (limits, idle).
    pub stopped_early: Option<String>,
    /// Time spent finding partitions, watermarks and the cluster id.
    pub setup: Duration,
    /// Time from the assignment to the first message.
    pub first_message: Option<Duration>,
}

/// The topics the selection names, with their partition ids.
fn partitions(
    consumer: &BaseConsumer,
    selection: &Selection,
) -> Result<Vec<(String, Vec<i32>)>, KafkaJobError> {
    let mut out = Vec::new();
    match selection {
        Selection::Topics(topics) => {
            for topic in topics {
                let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
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
            let metadata = consumer.fetch_metadata(None, REQUEST_TIMEOUT)?;
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
pub fn cluster_id(consumer: &BaseConsumer, embedded_instance: Option<&str>) -> String {
    let id = consumer
        .client()
        .fetch_cluster_id(REQUEST_TIMEOUT)
        .unwrap_or_else(|| "unknown".to_owned());
    match embedded_instance {
        Some(instance) => format!("{id}/embedded-{instance}"),
        None => id,
    }
}

/// Plans and reads one batch.
pub fn read(
    consumer: &BaseConsumer,
    selection: &Selection,
    stored: &StoredState,
    embedded_instance: Option<&str>,
    limits: Limits,
    cancel: &CancellationToken,
    rows: BronzeRows,
) -> Result<ReadOutcome, KafkaJobError> {
    let started = Instant::now();
    // Metadata first: it is an active request, and it caches the cluster id, which
    // `fetch_cluster_id` would otherwise wait for until librdkafka's next 1 s tick.
    let topics = partitions(consumer, selection)?;
    let cluster_id = cluster_id(consumer, embedded_instance);
    let mut watermarks = Vec::new();
    for (topic, ids) in topics {
        for partition in ids {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)?;
            watermarks.push(Watermarks {
                topic: topic.clone(),
                partition,
                low,
                high,
            });
        }
    }
    let plan = plan(stored, &cluster_id, &watermarks);
    let setup = started.elapsed();
    let mut track = Track {
        next: plan.initial.clone(),
        consumed: 0,
        first_message: None,
    };
    let sorter = Sorter {
        rows,
        dead_letters: Vec::new(),
        counts: Counts::default(),
    };
    let (sorter, stopped_early) = track.consume(consumer, &plan, limits, cancel, sorter)?;
    Ok(ReadOutcome {
        plan,
        cluster_id,
        rows: sorter.rows,
        dead_letters: sorter.dead_letters,
        counts: sorter.counts,
        next: track.next,
        consumed: track.consumed,
        stopped_early,
        setup,
        first_message: track.first_message,
    })
}

/// Where the read is: next offsets, messages consumed.
struct Track {
    next: Offsets,
    consumed: u64,
    first_message: Option<Duration>,
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
}

impl Track {
    /// Reads the planned partitions; returns the sorter and why it stopped early, if it did.
    fn consume(
        &mut self,
        consumer: &BaseConsumer,
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
            let polled = self.poll_until_done(consumer, &mut active, limits, cancel, &chunks);
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
        consumer: &BaseConsumer,
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
                    self.skip_gaps(consumer, active);
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
                    // Transient client errors (a broker connection dropped) are retried by
                    // librdkafka; the idle limit bounds a broker that never comes back.
                    tracing::warn!(error = %e, "kafka consumer error");
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

    /// Partitions whose consumer position passed the end without delivering the last offsets
    /// (transaction control records occupy offsets but are never delivered) are complete.
    fn skip_gaps(&mut self, consumer: &BaseConsumer, active: &mut Vec<Active<'_>>) {
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
