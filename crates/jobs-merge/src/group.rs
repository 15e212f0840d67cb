//! Changes grouped by key, each group in merge order, in one flat array.

use std::collections::HashMap;

use flowctl_cdc::OrderingKey;

use crate::changes::Change;
use crate::values::{FastState, Key};

/// The changes of each touched key. Groups are numbered in order of first appearance; their
/// changes share one allocation (a counting sort) instead of a vector per key.
pub(crate) struct Groups<'c> {
    /// Integer keys are looked up by value: comparing a borrowed key would read the change it
    /// lives in, a cache miss per change once there are more changes than cache.
    ints: HashMap<i64, usize, FastState>,
    texts: HashMap<&'c str, usize, FastState>,
    /// Group `g` is `flat[bounds[g]..bounds[g + 1]]`.
    bounds: Vec<usize>,
    flat: Vec<&'c Change>,
}

impl<'c> Groups<'c> {
    /// Groups `changes` by key, each group sorted by [`OrderingKey`] (stable: ties keep bronze
    /// order).
    pub fn new(changes: &'c [Change]) -> Self {
        let mut groups = Self {
            ints: HashMap::default(),
            texts: HashMap::default(),
            bounds: Vec::new(),
            flat: Vec::new(),
        };
        // One pass in bronze order: each change's group, and which groups arrive out of merge
        // order (bronze is mostly in order, so most groups need no sort).
        let mut last: Vec<OrderingKey> = Vec::new();
        let mut unsorted: Vec<bool> = Vec::new();
        let ids: Vec<usize> = changes
            .iter()
            .map(|c| {
                let next = last.len();
                let g = match &c.key {
                    Key::Int(n) => *groups.ints.entry(*n).or_insert(next),
                    Key::Text(t) => *groups.texts.entry(t.as_str()).or_insert(next),
                };
                if g == next {
                    last.push(c.order);
                    unsorted.push(false);
                } else {
                    unsorted[g] |= c.order < last[g];
                    last[g] = c.order;
                }
                g
            })
            .collect();
        let mut bounds = vec![0; last.len() + 1];
        for &g in &ids {
            bounds[g + 1] += 1;
        }
        for g in 1..bounds.len() {
            bounds[g] += bounds[g - 1];
        }
        let mut cursor = bounds.clone();
        let mut slots = vec![0; changes.len()];
        for (i, &g) in ids.iter().enumerate() {
            slots[cursor[g]] = i;
            cursor[g] += 1;
        }
        let mut flat: Vec<&Change> = slots.into_iter().map(|i| &changes[i]).collect();
        for (g, _) in unsorted.iter().enumerate().filter(|(_, u)| **u) {
            flat[bounds[g]..bounds[g + 1]].sort_by_key(|c| c.order);
        }
        groups.bounds = bounds;
        groups.flat = flat;
        groups
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// The group number of a key, if it has changes.
    pub fn find(&self, key: &Key) -> Option<usize> {
        match key {
            Key::Int(n) => self.ints.get(n),
            Key::Text(t) => self.texts.get(t.as_str()),
        }
        .copied()
    }

    /// Group `g`'s changes, in merge order.
    pub fn changes(&self, g: usize) -> &[&'c Change] {
        &self.flat[self.bounds[g]..self.bounds[g + 1]]
    }
}
