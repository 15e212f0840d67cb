//! The latest change of each key, kept as bronze files arrive: what a `current`-mode merge
//! needs, in a tenth of the memory of every change.
//!
//! In `current` mode a key ends up as its latest change says (the row it carries, or gone after
//! a delete), so the earlier changes need not be kept. The one exception is a latest change with
//! TOAST placeholders: their values come from the key's earlier changes. A merge that finds such
//! a winner among keys with several changes is redone with every change kept (see
//! `Keep::Every`), which is rare: placeholders are only sent for unchanged large values.

use crate::changes::Change;
use crate::keys::{KeyIndex, PREFETCH_DISTANCE};
use crate::order::supersedes;
#[cfg(test)]
use crate::values::Key;

/// The latest change of each key: its latest source change, as first delivered (see
/// [`supersedes`]: a re-delivery of a change does not replace it; of changes in the same merge
/// order, the later in bronze order).
#[derive(Default)]
pub(crate) struct Winners {
    keys: KeyIndex,
    /// Each key's latest change, in order of the keys' first appearance.
    latest: Vec<Change>,
    /// Whether the key had other changes than its latest one in this merge.
    superseded: Vec<bool>,
}

impl Winners {
    /// Takes in the next changes in bronze order, leaving `changes` empty (its memory can be
    /// reused for the next part: a merge of a million changes holds only one per key).
    pub fn add(&mut self, changes: &mut Vec<Change>) {
        if self.latest.is_empty() {
            // Room for as many keys as the first part has changes (up to a million): a large
            // map grown one key at a time rehashes several times.
            let room = changes.len().min(1 << 20);
            self.keys.reserve(room);
            self.latest.reserve(room);
            self.superseded.reserve(room);
        }
        let mut changes = changes.drain(..);
        while let Some(change) = changes.next() {
            if let Some(ahead) = changes.as_slice().get(PREFETCH_DISTANCE - 1) {
                self.keys.prefetch(&ahead.key);
            }
            let next = self.latest.len();
            let slot = self.keys.slot(&change.key, next);
            if slot == next {
                self.latest.push(change);
                self.superseded.push(false);
            } else {
                self.superseded[slot] = true;
                // Of changes in the same merge order, the later one in bronze wins (as a stable
                // sort of every change would have it); a re-delivery (same source position, a
                // later offset) does not replace the change it repeats.
                if supersedes(change.order, self.latest[slot].order) {
                    self.latest[slot] = change;
                }
            }
        }
    }

    /// The key numbering (slots), each key's latest change by slot, and whether each key had
    /// other changes than its latest one.
    pub fn into_parts(self) -> (KeyIndex, Vec<Change>, Vec<bool>) {
        (self.keys, self.latest, self.superseded)
    }
}

#[cfg(test)]
mod tests {
    use flowctl_cdc::OrderingKey;

    use super::*;
    use crate::changes::Action;

    fn change(key: i64, offset: i64, lsn: Option<i64>, action: Action) -> Change {
        Change::for_test(
            Key::int(key),
            OrderingKey::new(lsn, None, offset, 0),
            action,
        )
    }

    #[test]
    fn the_latest_change_in_merge_order_wins_and_ties_go_to_the_later_one() {
        let mut winners = Winners::default();
        winners.add(&mut vec![
            change(1, 10, Some(100), Action::Upsert),
            change(2, 11, Some(101), Action::Upsert),
            // Arrives later with an older LSN (a re-delivery): does not win.
            change(1, 12, Some(99), Action::Delete),
        ]);
        winners.add(&mut vec![
            change(2, 13, Some(105), Action::Delete),
            change(3, 14, Some(106), Action::Upsert),
        ]);
        let (keys, latest, superseded) = winners.into_parts();
        assert_eq!(latest.len(), 3);
        let slot = |key: i64| keys.find(&Key::int(key)).unwrap();
        assert_eq!(latest[slot(1)].order.offset, 10);
        assert_eq!(latest[slot(2)].action, Action::Delete);
        assert_eq!(latest[slot(3)].order.offset, 14);
        assert!(superseded[slot(1)] && superseded[slot(2)]);
        assert!(!superseded[slot(3)]);
        assert_eq!(keys.find(&Key::int(4)), None);

        // Equal merge order: the later change in bronze order wins.
        let mut tie = Winners::default();
        let same = OrderingKey::new(Some(7), None, 1, 0);
        tie.add(&mut vec![Change::for_test(
            Key::int(9),
            same,
            Action::Upsert,
        )]);
        tie.add(&mut vec![Change::for_test(
            Key::int(9),
            same,
            Action::Delete,
        )]);
        assert_eq!(tie.into_parts().1[0].action, Action::Delete);
    }

    #[test]
    fn a_redelivery_does_not_replace_the_change_it_repeats() {
        let mut winners = Winners::default();
        winners.add(&mut vec![
            change(1, 10, Some(100), Action::Upsert),
            change(1, 11, Some(200), Action::Upsert),
            // The same source change (LSN 200) again, at later offsets: the first delivery stays.
            change(1, 40, Some(200), Action::Upsert),
        ]);
        winners.add(&mut vec![
            change(1, 41, Some(200), Action::Upsert),
            // An older change again does not win either.
            change(1, 42, Some(100), Action::Upsert),
        ]);
        let (_, latest, superseded) = winners.into_parts();
        assert_eq!((latest[0].order.offset, superseded[0]), (11, true));
    }
}
