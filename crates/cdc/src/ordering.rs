//! The order in which the silver merge applies changes to a key.

/// The total order of change events used by the silver merge: the latest change per key is the
/// greatest key.
///
/// Fields compare in declaration order:
/// 1. `lsn` — the PostgreSQL log sequence number of the change. Row locks make two changes to the
///    same row commit one after the other, so their LSNs order them; this is the primary order.
/// 2. `source_ts_ms` — the source commit time, for connectors or flattened records without an LSN.
/// 3. `offset` — the Kafka offset: breaks ties between snapshot reads, which all share the
///    snapshot's LSN, and orders events that carry neither of the above.
/// 4. `partition` — only to make the order total; a key's events share one partition unless
///    the topic was repartitioned.
///
/// A missing value sorts before any present one (`None < Some`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderingKey {
    /// `source.lsn`.
    pub lsn: Option<i64>,
    /// `source.ts_ms`.
    pub source_ts_ms: Option<i64>,
    /// Kafka offset of the message.
    pub offset: i64,
    /// Kafka partition of the message.
    pub partition: i32,
}

impl OrderingKey {
    /// Builds a key from its parts (see the field order above).
    pub fn new(lsn: Option<i64>, source_ts_ms: Option<i64>, offset: i64, partition: i32) -> Self {
        OrderingKey {
            lsn,
            source_ts_ms,
            offset,
            partition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_then_ts_then_offset() {
        let k = OrderingKey::new;
        // A higher LSN wins even with an older timestamp and a lower offset.
        assert!(k(Some(200), Some(1), 0, 0) > k(Some(100), Some(9), 50, 0));
        // Same LSN (snapshot): timestamp, then offset.
        assert!(k(Some(100), Some(2), 0, 0) > k(Some(100), Some(1), 9, 0));
        assert!(k(Some(100), Some(1), 10, 0) > k(Some(100), Some(1), 9, 0));
        // Missing LSN sorts first; partition only breaks exact ties.
        assert!(k(Some(1), None, 0, 0) > k(None, Some(5), 99, 0));
        assert!(k(None, None, 3, 1) > k(None, None, 3, 0));
        let mut events = [
            k(Some(3), None, 0, 0),
            k(Some(1), None, 2, 0),
            k(Some(1), None, 1, 0),
        ];
        events.sort();
        assert_eq!(
            events.iter().map(|e| (e.lsn, e.offset)).collect::<Vec<_>>(),
            vec![(Some(1), 1), (Some(1), 2), (Some(3), 0)]
        );
    }
}
