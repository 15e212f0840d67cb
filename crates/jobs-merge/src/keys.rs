//! Numbering the keys of a merge's changes: the slot of each key, in order of first appearance.
//!
//! A merge looks up the key of every change it reads — a million lookups in a table of, say,
//! 100,000 keys, which outgrows the CPU caches, so each lookup would wait on memory. Integer keys
//! (the common case) therefore get their own open-addressing table whose callers name the key
//! they will look up a few changes later ([`KeyIndex::prefetch`]): its bucket is fetched while
//! the current changes are handled. General-purpose maps have no way to look ahead.

use std::collections::HashMap;

use crate::values::{FastState, Key};

/// How many changes ahead callers should [`KeyIndex::prefetch`] (enough to cover a memory
/// access with the work of the changes in between, not so many that buckets are evicted again).
pub(crate) const PREFETCH_DISTANCE: usize = 8;

/// Slots of keys, in order of first appearance.
#[derive(Default)]
pub(crate) struct KeyIndex {
    ints: IntSlots,
    texts: HashMap<String, usize, FastState>,
}

impl KeyIndex {
    /// Makes room for `keys` more integer keys: a large table grown one key at a time rehashes
    /// several times.
    pub fn reserve(&mut self, keys: usize) {
        self.ints.reserve(keys);
    }

    /// Starts fetching the table memory a lookup of `key` will read.
    pub fn prefetch(&self, key: &Key) {
        if let Key::Int(n) = key {
            self.ints.prefetch(*n);
        }
    }

    /// The key's slot, `next` if it is new (then recorded as the key's slot).
    pub fn slot(&mut self, key: &Key, next: usize) -> usize {
        match key {
            Key::Int(n) => self.ints.slot(*n, next),
            Key::Text(t) => match self.texts.get(t.as_str()) {
                Some(&slot) => slot,
                None => *self.texts.entry(t.clone()).or_insert(next),
            },
        }
    }

    /// The key's slot, if it has one.
    pub fn find(&self, key: &Key) -> Option<usize> {
        match key {
            Key::Int(n) => self.ints.find(*n),
            Key::Text(t) => self.texts.get(t.as_str()).copied(),
        }
    }
}

/// A bucket of [`IntSlots`]: a key and its slot, `EMPTY` as the slot of an unused bucket.
#[derive(Clone, Copy)]
struct Bucket {
    key: i64,
    slot: usize,
}

const EMPTY: usize = usize::MAX;

/// Integer key → slot, by linear probing in a power-of-two table kept at most half full.
#[derive(Default)]
struct IntSlots {
    buckets: Vec<Bucket>,
    /// `64 - log2(buckets.len())`: the hash's top bits pick the bucket.
    shift: u32,
    len: usize,
}

impl IntSlots {
    /// The first bucket to probe for `key` (Fibonacci hashing: consecutive ids, the usual keys,
    /// spread over the whole table).
    fn home(&self, key: i64) -> usize {
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn reserve(&mut self, more: usize) {
        let wanted = (self.len + more)
            .saturating_mul(2)
            .next_power_of_two()
            .max(16);
        if wanted > self.buckets.len() {
            self.rebuild(wanted);
        }
    }

    fn rebuild(&mut self, size: usize) {
        let old = std::mem::replace(
            &mut self.buckets,
            vec![
                Bucket {
                    key: 0,
                    slot: EMPTY
                };
                size
            ],
        );
        self.shift = 64 - size.trailing_zeros();
        for bucket in old.into_iter().filter(|b| b.slot != EMPTY) {
            let mut i = self.home(bucket.key);
            while self.buckets[i].slot != EMPTY {
                i = (i + 1) & (size - 1);
            }
            self.buckets[i] = bucket;
        }
    }

    fn prefetch(&self, key: i64) {
        if let Some(bucket) = self.buckets.get(self.home(key)) {
            prefetch_read(bucket);
        }
    }

    fn slot(&mut self, key: i64, next: usize) -> usize {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.rebuild((self.buckets.len() * 2).max(16));
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.home(key);
        loop {
            let bucket = &mut self.buckets[i];
            if bucket.slot == EMPTY {
                *bucket = Bucket { key, slot: next };
                self.len += 1;
                return next;
            }
            if bucket.key == key {
                return bucket.slot;
            }
            i = (i + 1) & mask;
        }
    }

    fn find(&self, key: i64) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.home(key);
        loop {
            let bucket = self.buckets[i];
            if bucket.slot == EMPTY {
                return None;
            }
            if bucket.key == key {
                return Some(bucket.slot);
            }
            i = (i + 1) & mask;
        }
    }
}

/// Asks the CPU to start loading `value`'s cache line (a hint: never faults, may be ignored).
#[inline]
fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it reads nothing and cannot fault, and the
    // pointer comes from a reference anyway. SSE is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_get_slots_in_order_of_first_appearance_across_growth() {
        let mut index = KeyIndex::default();
        let keys: Vec<Key> = (0..10_000i64)
            .map(|i| Key::int((i * 7919) % 5003 - 2500))
            .chain([Key::int(i64::MIN), Key::int(i64::MAX), Key::int(0)])
            .chain(["a", "b", "a"].map(|t| Key::Text(t.into())))
            .collect();
        let mut expected: Vec<&Key> = Vec::new();
        for key in &keys {
            index.prefetch(key);
            let next = expected.len();
            let slot = index.slot(key, next);
            match expected.iter().position(|k| *k == key) {
                Some(known) => assert_eq!(slot, known, "{key:?}"),
                None => {
                    assert_eq!(slot, next, "{key:?}");
                    expected.push(key);
                }
            }
        }
        for (slot, key) in expected.iter().enumerate() {
            assert_eq!(index.find(key), Some(slot), "{key:?}");
        }
        assert_eq!(index.find(&Key::int(9_999_999)), None);
        assert_eq!(index.find(&Key::Text("c".into())), None);
        assert_eq!(KeyIndex::default().find(&Key::int(1)), None);
    }
}
