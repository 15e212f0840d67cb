//! Which of two deliveries of a key's changes is the later change in the source, and which are
//! the same change delivered again.
//!
//! Debezium is at-least-once: after a connector restart it sends changes again, with the same
//! source position (`source.lsn`, `source.ts_ms`) and a new, later Kafka offset. The merge order
//! ([`OrderingKey`]: LSN, source time, offset, partition) puts such a re-delivery right after
//! the original, so the merge compares *source positions*: a change is only applied when its
//! source position is past the key's last applied change. Only an LSN identifies a change: two
//! changes of a key can share a source time (MySQL stamps a whole transaction with one), so
//! events without an LSN are ordered by source time and then Kafka order, as before — a
//! re-delivery of those cannot be told from a second change, and is applied again (same
//! values; SCD2 replaces the open version rather than opening a zero-length one).

use flowctl_cdc::OrderingKey;

/// Whether the change at `order` has a source position that identifies it (an LSN).
#[inline]
fn positioned(order: &OrderingKey) -> bool {
    order.lsn.is_some()
}

/// Whether the change at `order` is a later change in the source than the one at `than`: a
/// greater source position (LSN, then source time). The same position is the same change
/// delivered again, whatever its Kafka offset; without an LSN on either side, the whole merge
/// order (source time, then Kafka order) decides.
///
/// Changes sorted in merge order are sorted by source position too, so `is_newer(c, than)`
/// holds for a suffix of them.
#[inline]
pub(crate) fn is_newer(order: OrderingKey, than: OrderingKey) -> bool {
    if positioned(&order) || positioned(&than) {
        (order.lsn, order.source_ts_ms) > (than.lsn, than.source_ts_ms)
    } else {
        order > than
    }
}

/// Whether, of a key's changes, the one at `candidate` is kept over the one kept so far at
/// `kept`, so that the key ends as its latest source change says, as first delivered: a later
/// source change wins; of deliveries of the same change, the earliest (its re-deliveries have
/// later offsets); of deliveries in the same merge order, the later one seen.
#[inline]
pub(crate) fn supersedes(candidate: OrderingKey, kept: OrderingKey) -> bool {
    is_newer(candidate, kept) || (!is_newer(kept, candidate) && candidate <= kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lsn: Option<i64>, ts: Option<i64>, offset: i64) -> OrderingKey {
        OrderingKey::new(lsn, ts, offset, 0)
    }

    #[test]
    fn the_source_position_decides_and_a_redelivery_is_not_newer() {
        let original = at(Some(100), Some(5), 10);
        let redelivered = at(Some(100), Some(5), 99);
        assert!(!is_newer(redelivered, original));
        assert!(!is_newer(original, redelivered));
        assert!(is_newer(at(Some(101), Some(1), 0), original));
        assert!(!is_newer(at(Some(99), Some(9), 500), original));
        // Without an LSN, the source time, then the Kafka order: a second change in the same
        // millisecond is not dropped as if it were a re-delivery.
        assert!(is_newer(at(None, Some(6), 0), at(None, Some(5), 9)));
        assert!(is_newer(at(None, Some(5), 12), at(None, Some(5), 9)));
        // A source time beats none; without any, the Kafka order.
        assert!(is_newer(at(None, Some(1), 0), at(None, None, 9)));
        assert!(!is_newer(at(None, None, 9), at(None, Some(1), 0)));
        assert!(is_newer(at(None, None, 10), at(None, None, 9)));
        assert!(!is_newer(at(None, None, 9), at(None, None, 9)));
    }

    #[test]
    fn the_first_delivery_of_the_latest_change_is_kept() {
        let original = at(Some(100), Some(5), 10);
        let redelivered = at(Some(100), Some(5), 99);
        assert!(!supersedes(redelivered, original));
        assert!(supersedes(original, redelivered));
        assert!(supersedes(at(Some(101), None, 0), redelivered));
        assert!(!supersedes(at(Some(99), None, 200), original));
        // The same merge order: the later one seen.
        assert!(supersedes(original, original));
        // Without positions, the later offset.
        assert!(supersedes(at(None, None, 10), at(None, None, 9)));
        assert!(!supersedes(at(None, None, 9), at(None, None, 10)));
    }
}
