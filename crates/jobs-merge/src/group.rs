//! Changes grouped by key, each group in merge order, in one flat array.

use flowctl_cdc::OrderingKey;

use crate::changes::{Action, Change};
use crate::keys::{KeyIndex, PREFETCH_DISTANCE};
use crate::values::Key;

/// Numbers the keys of changes as they arrive in bronze order (part by part, e.g. while later
/// bronze files are still being read), then builds the [`Groups`].
#[derive(Default)]
pub(crate) struct Grouping {
    keys: KeyIndex,
    /// Each change's group, in bronze order.
    ids: Vec<usize>,
    /// The merge order of each group's last change so far, and whether the group's changes
    /// arrived out of merge order (bronze is mostly in order, so most groups need no sort).
    last: Vec<OrderingKey>,
    unsorted: Vec<bool>,
}

impl Grouping {
    /// Numbers the keys of the next changes in bronze order.
    pub fn add(&mut self, parts: &[Vec<Change>]) {
        for part in parts {
            self.add_part(part);
        }
    }

    fn add_part(&mut self, changes: &[Change]) {
        let count = changes.len();
        if self.ids.is_empty() {
            // Room for as many keys as the first part has changes (up to a million): a large
            // map grown one key at a time rehashes several times.
            let room = count.min(1 << 20);
            self.keys.reserve(room);
            self.last.reserve(room);
            self.unsorted.reserve(room);
        }
        self.ids.reserve(count);
        for (i, c) in changes.iter().enumerate() {
            if let Some(ahead) = changes.get(i + PREFETCH_DISTANCE) {
                self.keys.prefetch(&ahead.key);
            }
            let next = self.last.len();
            let g = self.keys.slot(&c.key, next);
            if g == next {
                self.last.push(c.order);
                self.unsorted.push(false);
            } else {
                self.unsorted[g] |= c.order < self.last[g];
                self.last[g] = c.order;
            }
            self.ids.push(g);
        }
    }

    /// The groups of `changes`: every change [`Grouping::add`] was given, in the same order.
    pub fn finish<'c>(self, changes: impl Iterator<Item = &'c Change> + Clone) -> Groups<'c> {
        let Self {
            keys,
            ids,
            last,
            unsorted,
        } = self;
        let mut bounds = vec![0; last.len() + 1];
        for &g in &ids {
            bounds[g + 1] += 1;
        }
        for g in 1..bounds.len() {
            bounds[g] += bounds[g - 1];
        }
        // A counting sort: a second pass in the same order puts each change in its group's slot.
        let mut cursor = bounds.clone();
        let mut flat: Vec<&Change> = Vec::new();
        if let Some(first) = changes.clone().next() {
            flat = vec![first; ids.len()];
        }
        let mut deletes = vec![false; ids.len()];
        for (change, &g) in changes.zip(&ids) {
            flat[cursor[g]] = change;
            deletes[cursor[g]] = change.action == Action::Delete;
            cursor[g] += 1;
        }
        for (g, _) in unsorted.iter().enumerate().filter(|(_, u)| **u) {
            let range = bounds[g]..bounds[g + 1];
            flat[range.clone()].sort_by_key(|c| c.order);
            for (slot, change) in deletes[range.clone()].iter_mut().zip(&flat[range]) {
                *slot = change.action == Action::Delete;
            }
        }
        Groups {
            keys,
            bounds,
            flat,
            deletes,
        }
    }
}

/// The changes of each touched key. Groups are numbered in order of first appearance; their
/// changes share one allocation (a counting sort) instead of a vector per key.
pub(crate) struct Groups<'c> {
    keys: KeyIndex,
    /// Group `g` is `flat[bounds[g]..bounds[g + 1]]`.
    bounds: Vec<usize>,
    flat: Vec<&'c Change>,
    /// Whether `flat[i]` is a delete: applying a key looks for its last delete, and reading
    /// that from here instead of from each change saves a cache miss per change.
    deletes: Vec<bool>,
}

impl<'c> Groups<'c> {
    /// One group per key holding only its latest change, `latest[g]` being the change of the
    /// key `keys` numbers `g` (see [`crate::winners::Winners`]).
    pub fn of_latest(keys: KeyIndex, latest: &'c [Change]) -> Self {
        Groups {
            keys,
            bounds: (0..=latest.len()).collect(),
            flat: latest.iter().collect(),
            deletes: latest.iter().map(|c| c.action == Action::Delete).collect(),
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// The group number of a key, if it has changes.
    pub fn find(&self, key: &Key) -> Option<usize> {
        self.keys.find(key)
    }

    /// Group `g`'s changes, in merge order (stable: ties keep bronze order).
    pub fn changes(&self, g: usize) -> &[&'c Change] {
        &self.flat[self.bounds[g]..self.bounds[g + 1]]
    }

    /// Whether each of group `g`'s changes (as [`Groups::changes`] lists them) is a delete.
    pub fn deletes(&self, g: usize) -> &[bool] {
        &self.deletes[self.bounds[g]..self.bounds[g + 1]]
    }
}
