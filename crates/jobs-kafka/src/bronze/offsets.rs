//! Where a bronze run starts: the offsets stored with the table, checked against what the
//! broker has now.
//!
//! The offsets stored in the bronze table (snapshot summary, committed atomically with the
//! data) are the truth; the consumer group's committed offsets are only for monitoring.
//! Bronze never advances past an offset it did not write (or record as a gap):
//!
//! - A partition never read on this cluster (a new table, topic or partition, or offsets that
//!   belong to another cluster: a fresh embedded broker, another cluster) starts at its low
//!   watermark on a real broker — that is not a gap. On the embedded broker it is expected to
//!   start at offset 0 ([`Origin::Zero`]): its topics were created empty by this process, so a
//!   low watermark above 0 means its size limit dropped events nobody read.
//! - A stored next offset below the partition's low watermark means retention (or the
//!   embedded broker's size limit) deleted events before they were read: a [`Gap`].
//! - A stored next offset beyond the partition's high watermark (a recreated topic, a broker
//!   that lost its data) is a [`Gap`] too, never "nothing new".
//!
//! What a run does with gaps is the step's [`OnGap`]: `fail` (the default) stops before
//! reading; `skip` starts those partitions at their low watermark and records each gap.
//! Offsets missing *inside* the range read (transaction control records, compaction) are not
//! gaps: a broker answers a fetch below its earliest offset with an out-of-range error, never
//! with later data, so only the low watermark (checked here, and again when a read meets an
//! out-of-range error) tells loss apart.

use std::collections::BTreeMap;

use flowctl_lakehouse::LakeTable;
use flowctl_lakehouse::bronze::{CLUSTER_SUMMARY_KEY, OFFSETS_SUMMARY_KEY};

use crate::error::KafkaJobError;

/// Next offset to read per topic and partition.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// What a bronze table remembers about the Kafka side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// The cluster the offsets belong to (`None` for a table never written by this job).
    pub cluster: Option<String>,
    /// Next offsets.
    pub offsets: Offsets,
}

impl StoredState {
    /// Reads the state from the newest snapshot of the table that carries it. Every commit of
    /// the job sets both keys, so this is the current snapshot's state unless another writer
    /// committed on top without them (which must not reset the offsets).
    pub fn from_table(table: &LakeTable) -> Result<Self, KafkaJobError> {
        let offsets = match table.latest_summary_value(OFFSETS_SUMMARY_KEY) {
            None => Offsets::new(),
            Some(text) => decode(&text).map_err(|e| {
                KafkaJobError::Config(format!(
                    "table {}: the stored Kafka offsets (`{OFFSETS_SUMMARY_KEY}`) are unreadable: {e}",
                    table.name()
                ))
            })?,
        };
        Ok(Self {
            cluster: table.latest_summary_value(CLUSTER_SUMMARY_KEY),
            offsets,
        })
    }
}

/// Offsets as stored: `{"<topic>": {"<partition>": <next offset>}}`.
pub fn encode(offsets: &Offsets) -> String {
    let as_text: BTreeMap<&str, BTreeMap<String, i64>> = offsets
        .iter()
        .map(|(t, ps)| {
            (
                t.as_str(),
                ps.iter().map(|(p, o)| (p.to_string(), *o)).collect(),
            )
        })
        .collect();
    serde_json::to_string(&as_text).unwrap_or_else(|_| "{}".into())
}

/// Parses [`encode`]'s format.
pub fn decode(text: &str) -> Result<Offsets, String> {
    let raw: BTreeMap<String, BTreeMap<String, i64>> =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    raw.into_iter()
        .map(|(topic, parts)| {
            let parts = parts
                .into_iter()
                .map(|(p, o)| {
                    p.parse::<i32>()
                        .map(|p| (p, o))
                        .map_err(|_| format!("partition `{p}` of topic {topic} is not a number"))
                })
                .collect::<Result<_, _>>()?;
            Ok((topic, parts))
        })
        .collect()
}

/// Where a partition never read on this cluster is expected to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// At its low watermark (a real broker: what retention deleted before the table first read
    /// the topic was never this table's).
    LowWatermark,
    /// At offset 0 (the embedded broker: its topics were created empty by this process, so
    /// anything below its low watermark was dropped unread by its size limit).
    Zero,
}

/// What a run does when the broker no longer has offsets bronze expected to read (the step's
/// `on_gap`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnGap {
    /// Stop before anything is committed (the default).
    #[default]
    Fail,
    /// Record each gap (a dead-letter row, the `gaps` output) and continue from the broker's
    /// earliest offset.
    Skip,
}

impl OnGap {
    /// `fail` or `skip`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            other => Err(format!(
                "`{other}` is not a choice: expected `fail` (stop before losing anything, the \
                 default) or `skip` (record the gap in the dead-letter table and continue)"
            )),
        }
    }
}

/// Offsets bronze expected to read next that the broker does not have: deleted before they
/// were read (`expected < low`), or beyond the partition's end (`expected > high`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The offset bronze expected to read next (stored, or where a partition never read
    /// starts).
    pub expected: i64,
    /// The partition's earliest offset: where reading continues when the gap is skipped.
    pub low: i64,
    /// The partition's end (high watermark).
    pub high: i64,
}

impl Gap {
    /// The gap at a partition whose next offset is `expected`, if the broker lacks it.
    pub fn find(topic: &str, partition: i32, expected: i64, low: i64, high: i64) -> Option<Self> {
        (expected < low || expected > high).then(|| Self {
            topic: topic.to_owned(),
            partition,
            expected,
            low,
            high,
        })
    }

    /// Whether the expected offset is beyond the partition's end (rather than deleted).
    pub fn beyond_end(&self) -> bool {
        self.expected > self.high
    }

    /// How many offsets are known to be missing (0 beyond the end: unknown).
    pub fn missing(&self) -> u64 {
        if self.beyond_end() {
            0
        } else {
            u64::try_from(self.low - self.expected).unwrap_or(0)
        }
    }

    /// `topic t partition 0: offsets 0–13,800 are gone from the broker (its earliest offset is
    /// 13,801)`.
    pub fn describe(&self) -> String {
        let at = format!("topic {} partition {}", self.topic, self.partition);
        if self.beyond_end() {
            return format!(
                "{at}: the stored next offset {} is beyond the partition's end {} (the topic \
                 was recreated, or the broker lost its data)",
                grouped(self.expected),
                grouped(self.high)
            );
        }
        let last = self.low - 1;
        let what = if last == self.expected {
            format!("offset {} is", grouped(self.expected))
        } else {
            format!(
                "offsets {}\u{2013}{} are",
                grouped(self.expected),
                grouped(last)
            )
        };
        format!(
            "{at}: {what} gone from the broker (its earliest offset is {})",
            grouped(self.low)
        )
    }

    /// The reason of the gap's dead-letter row when it is skipped.
    pub fn skipped(&self) -> String {
        if self.beyond_end() {
            format!(
                "{}; skipped (`on_gap: skip`): the partition is read again from its earliest \
                 offset {}",
                self.describe(),
                grouped(self.low)
            )
        } else {
            format!(
                "{}; skipped (`on_gap: skip`): {} event(s) lost, reading continues at offset {}",
                self.describe(),
                grouped(i64::try_from(self.missing()).unwrap_or(i64::MAX)),
                grouped(self.low)
            )
        }
    }
}

/// Why a run with `on_gap: fail` stopped: every gap, and what `on_gap: skip` would do.
pub fn refusal(gaps: &[Gap], dlq: &str) -> String {
    let described: Vec<String> = gaps.iter().map(Gap::describe).collect();
    let stopped = if gaps.iter().all(|g| !g.beyond_end()) {
        "bronze stopped before losing them"
    } else {
        "bronze stopped rather than skip past them"
    };
    format!(
        "{}; {stopped}: nothing was committed and the stored offsets are unchanged. To record \
         the gap(s) in {dlq} and continue from the broker's earliest offset, set `on_gap: skip` \
         on the step",
        described.join("; ")
    )
}

/// `13800` as `13,800`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A partition as the broker reports it at the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermarks {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Oldest offset still available.
    pub low: i64,
    /// Offset the next produced message will get (the end of this run's batch).
    pub high: i64,
}

/// Where to read one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset to read.
    pub start: i64,
    /// Read up to, not including, this offset (the high watermark seen at start).
    pub end: i64,
}

/// The partitions to read and what to tell the user about where they start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every partition of the selected topics (also those with nothing to read).
    pub partitions: Vec<PartitionPlan>,
    /// Next offsets before reading anything: the stored ones (unless the cluster changed)
    /// with every planned partition at its start.
    pub initial: Offsets,
    /// Lines for the attempt's log: restarts, said plainly.
    pub notices: Vec<String>,
    /// Offsets expected but not on the broker; those partitions start at their low watermark
    /// (read only when the step skips gaps).
    pub gaps: Vec<Gap>,
}

/// Plans a run from the stored state, the broker's cluster id and the partitions' watermarks;
/// `origin` says where a partition never read on this cluster is expected to start.
pub fn plan(
    stored: &StoredState,
    cluster_id: &str,
    partitions: &[Watermarks],
    origin: Origin,
) -> Plan {
    let mut notices = Vec::new();
    let cluster_changed = match &stored.cluster {
        Some(old) if old != cluster_id && !stored.offsets.is_empty() => {
            notices.push(format!(
                "the stored offsets belong to Kafka cluster {old}, but the broker is cluster \
                 {cluster_id} (a new embedded broker or another cluster): every partition \
                 starts again from its low watermark"
            ));
            true
        }
        _ => false,
    };
    let mut initial = if cluster_changed {
        Offsets::new()
    } else {
        stored.offsets.clone()
    };
    let mut planned = Vec::with_capacity(partitions.len());
    let mut gaps = Vec::new();
    for w in partitions {
        let stored_offset = if cluster_changed {
            None
        } else {
            stored
                .offsets
                .get(&w.topic)
                .and_then(|ps| ps.get(&w.partition))
                .copied()
        };
        let expected = match (stored_offset, origin) {
            (Some(next), _) => next,
            (None, Origin::LowWatermark) => w.low,
            (None, Origin::Zero) => 0,
        };
        let start = match Gap::find(&w.topic, w.partition, expected, w.low, w.high) {
            Some(gap) => {
                gaps.push(gap);
                w.low
            }
            None => expected,
        };
        initial
            .entry(w.topic.clone())
            .or_default()
            .insert(w.partition, start);
        planned.push(PartitionPlan {
            topic: w.topic.clone(),
            partition: w.partition,
            start,
            end: w.high,
        });
    }
    Plan {
        partitions: planned,
        initial,
        notices,
        gaps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wm(topic: &str, partition: i32, low: i64, high: i64) -> Watermarks {
        Watermarks {
            topic: topic.into(),
            partition,
            low,
            high,
        }
    }

    fn stored(cluster: &str, offsets: &[(&str, i32, i64)]) -> StoredState {
        let mut map = Offsets::new();
        for (t, p, o) in offsets {
            map.entry((*t).to_owned()).or_default().insert(*p, *o);
        }
        StoredState {
            cluster: Some(cluster.into()),
            offsets: map,
        }
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_garbage() {
        let s = stored("c", &[("a", 0, 5), ("a", 10, 7), ("b", 1, 0)]);
        let text = encode(&s.offsets);
        assert_eq!(text, r#"{"a":{"0":5,"10":7},"b":{"1":0}}"#);
        assert_eq!(decode(&text).unwrap(), s.offsets);
        assert!(decode(r#"{"a":{"x":1}}"#).is_err());
        assert!(decode("[1]").is_err());
    }

    #[test]
    fn stored_offsets_are_where_the_run_starts() {
        let s = stored("c1", &[("t", 0, 4), ("t", 1, 9), ("gone", 0, 3)]);
        let p = plan(
            &s,
            "c1",
            &[wm("t", 0, 0, 10), wm("t", 1, 2, 9), wm("t", 2, 3, 5)],
            Origin::LowWatermark,
        );
        let starts: Vec<_> = p.partitions.iter().map(|x| (x.start, x.end)).collect();
        // Partition 2 was never read: it starts at its low watermark, which is not a gap.
        assert_eq!(starts, [(4, 10), (9, 9), (3, 5)]);
        assert!(p.notices.is_empty(), "{:?}", p.notices);
        assert!(p.gaps.is_empty(), "{:?}", p.gaps);
        // Topics not read this time keep their offsets.
        assert_eq!(p.initial["gone"][&0], 3);
        assert_eq!(p.initial["t"][&2], 3);
    }

    #[test]
    fn another_cluster_restarts_every_partition_from_low() {
        let s = stored("old", &[("t", 0, 40), ("gone", 0, 3)]);
        let p = plan(&s, "new", &[wm("t", 0, 2, 50)], Origin::LowWatermark);
        assert_eq!(p.partitions[0].start, 2);
        assert_eq!(p.notices.len(), 1);
        assert!(p.notices[0].contains("cluster old"), "{:?}", p.notices);
        assert!(p.gaps.is_empty());
        assert!(!p.initial.contains_key("gone"));
    }

    #[test]
    fn below_low_and_beyond_the_end_are_gaps() {
        let s = stored("c", &[("t", 0, 100), ("t", 1, 1), ("t", 2, 5)]);
        let p = plan(
            &s,
            "c",
            &[wm("t", 0, 0, 20), wm("t", 1, 5, 8), wm("t", 2, 5, 9)],
            Origin::LowWatermark,
        );
        let starts: Vec<_> = p.partitions.iter().map(|x| x.start).collect();
        assert_eq!(starts, [0, 5, 5]);
        assert_eq!(p.initial["t"][&1], 5);
        assert_eq!(p.gaps.len(), 2, "{:?}", p.gaps);
        let beyond = &p.gaps[0];
        assert!(beyond.beyond_end());
        assert_eq!(beyond.missing(), 0);
        assert_eq!(
            beyond.describe(),
            "topic t partition 0: the stored next offset 100 is beyond the partition's end 20 \
             (the topic was recreated, or the broker lost its data)"
        );
        let gone = &p.gaps[1];
        assert_eq!((gone.expected, gone.low, gone.missing()), (1, 5, 4));
        assert_eq!(
            gone.describe(),
            "topic t partition 1: offsets 1\u{2013}4 are gone from the broker (its earliest offset \
             is 5)"
        );
        assert!(p.notices.is_empty(), "{:?}", p.notices);
    }

    #[test]
    fn the_embedded_broker_is_expected_to_start_at_zero() {
        let never_read = StoredState::default();
        let parts = [wm("t", 0, 0, 4), wm("t", 1, 13_801, 15_000)];
        let low = plan(&never_read, "c", &parts, Origin::LowWatermark);
        assert!(low.gaps.is_empty());
        let zero = plan(&never_read, "c", &parts, Origin::Zero);
        let starts: Vec<_> = zero.partitions.iter().map(|x| x.start).collect();
        assert_eq!(starts, [0, 13_801]);
        assert_eq!(zero.gaps.len(), 1);
        assert_eq!(zero.gaps[0].missing(), 13_801);
        assert_eq!(
            zero.gaps[0].describe(),
            "topic t partition 1: offsets 0\u{2013}13,800 are gone from the broker (its earliest \
             offset is 13,801)"
        );
        // Offsets of another (earlier) embedded broker: the new one starts at 0 too.
        let other = stored("old/embedded-1", &[("t", 1, 20_000)]);
        let p = plan(&other, "new/embedded-2", &parts, Origin::Zero);
        assert_eq!(p.gaps.len(), 1);
        assert_eq!(p.gaps[0].expected, 0);
    }

    #[test]
    fn gaps_are_said_plainly() {
        let one = Gap::find("t", 3, 7, 8, 10).unwrap();
        assert_eq!(
            one.describe(),
            "topic t partition 3: offset 7 is gone from the broker (its earliest offset is 8)"
        );
        assert_eq!(
            one.skipped(),
            "topic t partition 3: offset 7 is gone from the broker (its earliest offset is 8); \
             skipped (`on_gap: skip`): 1 event(s) lost, reading continues at offset 8"
        );
        assert!(Gap::find("t", 0, 8, 8, 10).is_none());
        assert!(Gap::find("t", 0, 10, 8, 10).is_none());
        let many = Gap::find("shop.public.orders", 0, 0, 13_801, 15_000).unwrap();
        assert_eq!(
            refusal(&[many.clone(), one], "bronze.shop_dlq"),
            "topic shop.public.orders partition 0: offsets 0\u{2013}13,800 are gone from the \
             broker (its earliest offset is 13,801); topic t partition 3: offset 7 is gone from \
             the broker (its earliest offset is 8); bronze stopped before losing them: nothing \
             was committed and the stored offsets are unchanged. To record the gap(s) in \
             bronze.shop_dlq and continue from the broker's earliest offset, set `on_gap: skip` \
             on the step"
        );
        let beyond = Gap::find("t", 0, 500, 0, 3).unwrap();
        assert!(refusal(&[many, beyond.clone()], "b.x_dlq").contains("rather than skip past"));
        assert!(
            beyond
                .skipped()
                .ends_with("read again from its earliest offset 0")
        );
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (13_800, "13,800"),
            (1_234_567, "1,234,567"),
            (-4200, "-4,200"),
        ] {
            assert_eq!(grouped(n), text);
        }
    }

    #[test]
    fn on_gap_choices() {
        assert_eq!(OnGap::parse("fail"), Ok(OnGap::Fail));
        assert_eq!(OnGap::parse("skip"), Ok(OnGap::Skip));
        assert_eq!(OnGap::default(), OnGap::Fail);
        let err = OnGap::parse("ignore").unwrap_err();
        assert!(
            err.starts_with("`ignore` is not a choice: expected `fail`"),
            "{err}"
        );
    }
}
