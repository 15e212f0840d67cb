//! Where a bronze run starts: the offsets stored with the table, checked against what the
//! broker has now.
//!
//! The offsets stored in the bronze table (snapshot summary, committed atomically with the
//! data) are the truth; the consumer group's committed offsets are only for monitoring.
//! Two situations are handled deliberately rather than read as "nothing new":
//!
//! - the stored cluster id differs from the broker's (a fresh embedded broker, another
//!   cluster): every partition starts from its low watermark;
//! - a stored offset is beyond a partition's high watermark (a recreated topic): that
//!   partition starts from its low watermark.
//!
//! A stored offset below the low watermark means retention deleted events before they were
//! read: the partition starts at the low watermark and the gap is reported.

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
    /// Lines for the attempt's log: restarts and gaps, said plainly.
    pub notices: Vec<String>,
}

/// Plans a run from the stored state, the broker's cluster id and the partitions' watermarks.
pub fn plan(stored: &StoredState, cluster_id: &str, partitions: &[Watermarks]) -> Plan {
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
        let start = match stored_offset {
            None => w.low,
            Some(next) if next > w.high => {
                notices.push(format!(
                    "{}[{}]: the stored next offset {next} is beyond the partition's end {} \
                     (the topic was recreated?): starting again from its low watermark {}",
                    w.topic, w.partition, w.high, w.low
                ));
                w.low
            }
            Some(next) if next < w.low => {
                notices.push(format!(
                    "{}[{}]: offsets {next}..{} were deleted by retention before they were \
                     read: {} event(s) are lost; starting at {}",
                    w.topic,
                    w.partition,
                    w.low,
                    w.low - next,
                    w.low
                ));
                w.low
            }
            Some(next) => next,
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
            &[wm("t", 0, 0, 10), wm("t", 1, 2, 9), wm("t", 2, 0, 5)],
        );
        let starts: Vec<_> = p.partitions.iter().map(|x| (x.start, x.end)).collect();
        assert_eq!(starts, [(4, 10), (9, 9), (0, 5)]);
        assert!(p.notices.is_empty(), "{:?}", p.notices);
        // Topics not read this time keep their offsets.
        assert_eq!(p.initial["gone"][&0], 3);
        assert_eq!(p.initial["t"][&2], 0);
    }

    #[test]
    fn another_cluster_restarts_every_partition_from_low() {
        let s = stored("old", &[("t", 0, 40), ("gone", 0, 3)]);
        let p = plan(&s, "new", &[wm("t", 0, 2, 50)]);
        assert_eq!(p.partitions[0].start, 2);
        assert_eq!(p.notices.len(), 1);
        assert!(p.notices[0].contains("cluster old"), "{:?}", p.notices);
        assert!(!p.initial.contains_key("gone"));
    }

    #[test]
    fn beyond_the_end_and_below_low_are_reported() {
        let s = stored("c", &[("t", 0, 100), ("t", 1, 1)]);
        let p = plan(&s, "c", &[wm("t", 0, 0, 20), wm("t", 1, 5, 8)]);
        assert_eq!(p.partitions[0].start, 0);
        assert_eq!(p.partitions[1].start, 5);
        assert!(p.notices[0].contains("beyond the partition's end 20"));
        assert!(p.notices[1].contains("4 event(s) are lost"));
    }
}
