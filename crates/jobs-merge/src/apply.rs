//! Applying the changes to the stored rows: each touched key's ordered changes to its rows, in
//! `current` or `scd2` mode, and every touched key of a merge, counting what became of them.
//!
//! Keys are independent of each other, so a merge of many keys applies them on two threads.

use flowctl_cdc::{OrderingKey, TypedValue};

use crate::arrow_rows::Row;
use crate::changes::{Action, Change, Events};
use crate::decode::Decoders;
use crate::error::MergeError;
use crate::group::Groups;
use crate::order::{is_newer, supersedes};

/// Below this many keys (or rows), one thread costs less than starting another.
pub(crate) const PARALLEL_APPLY_KEYS: usize = 4096;

/// Where things are in a silver row.
pub(crate) struct Layout {
    /// Width of a row (every column of the silver schema).
    pub width: usize,
    /// SCD2 columns' positions: `effective_from`, `effective_to`, `is_current`.
    pub scd2: Option<[usize; 3]>,
    /// Merge-order columns' positions (see `ORDER_COLUMNS`), when silver has them.
    pub order: Option<[usize; 4]>,
}

impl Layout {
    /// The merge order of the change a stored row comes from (`None` when not recorded).
    fn order_of(&self, row: &Row) -> Option<OrderingKey> {
        let [lsn, ts, offset, partition] = self.order?;
        let long = |i: usize| match row.get(i) {
            Some(TypedValue::Int64(n)) => Some(*n),
            _ => None,
        };
        let partition = match row.get(partition) {
            Some(TypedValue::Int32(n)) => *n,
            _ => return None,
        };
        Some(OrderingKey::new(
            long(lsn),
            long(ts),
            long(offset)?,
            partition,
        ))
    }
}

/// Where the changes newer than the stored row's start: an older one, or the same source change
/// delivered again (Debezium is at-least-once), must not revert or repeat the row. `changes` are
/// in merge order, so the newer ones are a suffix.
fn first_newer(changes: &[&Change], stored: Option<OrderingKey>) -> usize {
    match stored {
        None => 0,
        Some(s) => changes.partition_point(|c| !is_newer(c.order, s)),
    }
}

/// The change (its index) that decides how a key ends: the first delivery of its latest source
/// change, as [`crate::winners::Winners`] picks it (see [`supersedes`]). `changes` are in merge
/// order, so the deliveries of the latest source change are the last ones, usually only one.
fn decisive(changes: &[&Change]) -> Option<usize> {
    let latest = changes.last()?.order;
    let mut best = changes.partition_point(|c| is_newer(latest, c.order));
    for i in best + 1..changes.len() {
        if supersedes(changes[i].order, changes[best].order) {
            best = i;
        }
    }
    Some(best)
}

/// Decodes a change's row into a silver row (data columns filled, TOAST as `Unavailable`).
pub(crate) type Decoder<'a> = dyn Fn(&Change) -> Result<Row, MergeError> + 'a;

/// The rows of a key after its changes, and whether the key was / is live.
pub(crate) struct Applied {
    pub rows: Vec<Row>,
    pub was_live: bool,
    pub is_live: bool,
    /// Whether any change applied (all may be older re-deliveries).
    pub changed: bool,
    /// The key's latest change has TOAST placeholders to fill from earlier changes that were
    /// not given (`rows` is then not the key's row: the merge must be redone with them).
    pub incomplete: bool,
}

/// Fills TOAST placeholders with the previous version's values (null without one).
fn fill_unavailable(row: &mut Row, previous: Option<&Row>) {
    for (i, cell) in row.iter_mut().enumerate() {
        if matches!(cell, TypedValue::Unavailable) {
            *cell = previous
                .and_then(|p| p.get(i))
                .cloned()
                .unwrap_or(TypedValue::Null);
        }
    }
}

fn has_unavailable(row: &Row) -> bool {
    row.iter().any(|c| matches!(c, TypedValue::Unavailable))
}

/// `current` mode: the latest change wins; deletes remove the row. Only the changes since the
/// last delete are decoded, and only the last one unless it leaves TOAST gaps to fill.
///
/// `deletes[i]` tells whether `changes[i]` is a delete (see `Groups::deletes`). `complete`
/// tells whether `changes` are all of the key's changes since `existing`, or only its latest one
/// (see `Applied::incomplete`).
pub(crate) fn current(
    mut existing: Vec<Row>,
    changes: &[&Change],
    deletes: &[bool],
    complete: bool,
    decode: &Decoder<'_>,
    layout: &Layout,
) -> Result<Applied, MergeError> {
    // A key has one row in current mode; keep the last if a past writer left more.
    let stored = existing.pop();
    let was_live = stored.is_some();
    let first = first_newer(changes, stored.as_ref().and_then(|r| layout.order_of(r)));
    let (changes, deletes) = (&changes[first..], &deletes[first..]);
    let changed = !changes.is_empty();
    // Later deliveries of the change that decides the key repeat it (with other offsets).
    let end = decisive(changes).map_or(0, |i| i + 1);
    let (changes, deletes) = (&changes[..end], &deletes[..end]);
    let last_delete = deletes.iter().rposition(|&d| d);
    let (start, base) = match last_delete {
        Some(i) => (i + 1, None),
        None => (0, stored),
    };
    let upserts = &changes[start..];
    let Some(last) = upserts.last() else {
        let is_live = base.is_some();
        return Ok(Applied {
            rows: base.into_iter().collect(),
            was_live,
            is_live,
            changed,
            incomplete: false,
        });
    };
    let mut row = decode(last)?;
    if has_unavailable(&row) && !complete {
        return Ok(Applied {
            rows: Vec::new(),
            was_live,
            is_live: true,
            changed,
            incomplete: true,
        });
    }
    if has_unavailable(&row) {
        // Replay the chain so each placeholder takes the value current at its change.
        let mut state = base;
        for change in upserts {
            let mut next = decode(change)?;
            fill_unavailable(&mut next, state.as_ref());
            state = Some(next);
        }
        row = state.unwrap_or_default();
    }
    Ok(Applied {
        rows: vec![row],
        was_live,
        is_live: true,
        changed,
        incomplete: false,
    })
}

/// `scd2` mode: every upsert closes the current version (if any) at the change's time and
/// opens a new one; a delete closes the current version.
///
/// Idempotent: a change that is not a later source change than the last one applied to the key
/// (a re-delivery, or an older change sent again) changes nothing. The last one applied is the
/// greatest merge order among the key's versions: each keeps the order of the change that opened
/// it. A delete that closed a version left no order of its own, and needs none: a delete sent
/// again finds no current version to close, and the changes before it are not newer than the
/// versions they opened.
///
/// No version lasts no time: a change at (or, with a source clock going back, before) the time
/// the current version began replaces it (an upsert: the version takes the new row and keeps
/// its start) or removes it (a delete: the version never was visible).
pub(crate) fn scd2(
    mut versions: Vec<Row>,
    changes: &[&Change],
    decode: &Decoder<'_>,
    layout: &Layout,
) -> Result<Applied, MergeError> {
    let Some([from, to, current]) = layout.scd2 else {
        return Err(MergeError::Internal(
            "scd2 columns missing from silver".into(),
        ));
    };
    let is_current = |r: &Row| matches!(r.get(current), Some(TypedValue::Boolean(true)));
    let began = |r: &Row| match r.get(from) {
        Some(TypedValue::TimestampTz(t) | TypedValue::Timestamp(t)) => Some(*t),
        _ => None,
    };
    let mut open = versions.iter().position(is_current);
    let was_live = open.is_some();
    let mut last = versions.iter().filter_map(|r| layout.order_of(r)).max();
    let mut changed = false;
    for change in changes {
        if last.is_some_and(|l| !is_newer(change.order, l)) {
            continue;
        }
        last = Some(change.order);
        let upsert = change.action == Action::Upsert;
        let Some(i) = open else {
            // A delete of a key without a current version changes nothing.
            if upsert {
                let row = decode(change)?;
                versions.push(opened(row, None, change.ts_micros, layout));
                open = Some(versions.len() - 1);
                changed = true;
            }
            continue;
        };
        changed = true;
        let start = began(&versions[i]);
        match start.filter(|&start| change.ts_micros <= start) {
            // The current version would last no time: the change takes its place.
            Some(start) if upsert => {
                let row = decode(change)?;
                versions[i] = opened(row, Some(&versions[i]), start, layout);
            }
            Some(_) => {
                versions.swap_remove(i);
                open = None;
            }
            None => {
                let ts = TypedValue::TimestampTz(change.ts_micros);
                let row = &mut versions[i];
                row[to] = ts;
                row[current] = TypedValue::Boolean(false);
                open = None;
                if upsert {
                    let row = decode(change)?;
                    let version = opened(row, Some(&versions[i]), change.ts_micros, layout);
                    versions.push(version);
                    open = Some(versions.len() - 1);
                }
            }
        }
    }
    Ok(Applied {
        rows: versions,
        was_live,
        is_live: open.is_some(),
        changed,
        incomplete: false,
    })
}

/// A change's row as the key's current version from `ts` (µs), its TOAST placeholders filled
/// from the `previous` version.
fn opened(mut row: Row, previous: Option<&Row>, ts: i64, layout: &Layout) -> Row {
    row.resize(layout.width, TypedValue::Null);
    fill_unavailable(&mut row, previous);
    if let Some([from, to, current]) = layout.scd2 {
        row[from] = TypedValue::TimestampTz(ts);
        row[to] = TypedValue::Null;
        row[current] = TypedValue::Boolean(true);
    }
    row
}

/// How many keys a merge inserted, updated and deleted.
#[derive(Default)]
pub(crate) struct Tally {
    /// Keys that were not live and are now.
    pub inserted: u64,
    /// Live keys that changed and are still live.
    pub updated: u64,
    /// Live keys that were deleted.
    pub deleted: u64,
    /// Some key needs its earlier changes, which were not kept (see `Applied::incomplete`).
    pub incomplete: bool,
}

/// Applying each group's changes to its stored rows.
pub(crate) struct ApplyStep<'a, 'c> {
    /// The touched keys' changes.
    pub groups: &'a Groups<'c>,
    /// With only each key's latest change kept: whether each key (group) had others.
    pub superseded: &'a [bool],
    /// The bronze texts the changes point at.
    pub events: &'a Events,
    /// Turns a change into a silver row.
    pub decoders: &'a Decoders,
    /// Where things are in a silver row.
    pub layout: &'a Layout,
    /// `mode: scd2` (else `current`).
    pub scd2: bool,
}

impl ApplyStep<'_, '_> {
    /// Applies every group (`stored[g]` is group `g`'s stored rows). Keys are independent and
    /// decoding the winning rows is CPU-bound, so the groups are split in two halves, one per
    /// thread, when there are many.
    pub fn run_all(&self, mut stored: Vec<Vec<Row>>) -> Result<(Vec<Row>, Tally), MergeError> {
        if stored.len() < PARALLEL_APPLY_KEYS {
            return self.run(0, stored);
        }
        let mid = stored.len() / 2;
        let second = stored.split_off(mid);
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| self.run(mid, second));
            let mine = self.run(0, stored);
            (mine, other.join())
        });
        let (mut rows, mut tally) = a?;
        let (more, t) =
            b.map_err(|_| MergeError::Internal("a merge apply thread panicked".into()))??;
        rows.extend(more);
        tally.inserted += t.inserted;
        tally.updated += t.updated;
        tally.deleted += t.deleted;
        tally.incomplete |= t.incomplete;
        Ok((rows, tally))
    }

    /// Applies groups `first..first + stored.len()`.
    fn run(&self, first: usize, stored: Vec<Vec<Row>>) -> Result<(Vec<Row>, Tally), MergeError> {
        let decode = |c: &Change| self.decoders.decode(c, self.events, self.layout);
        let mut output = Vec::with_capacity(stored.len());
        let mut tally = Tally::default();
        for (g, existing) in (first..).zip(stored) {
            let group = self.groups.changes(g);
            let Applied {
                rows,
                was_live,
                is_live,
                changed,
                incomplete,
            } = if self.scd2 {
                scd2(existing, group, &decode, self.layout)?
            } else {
                let complete = !self.superseded.get(g).copied().unwrap_or(false);
                current(
                    existing,
                    group,
                    self.groups.deletes(g),
                    complete,
                    &decode,
                    self.layout,
                )?
            };
            // The merge is redone with every change kept: what was applied so far is moot.
            if incomplete {
                tally.incomplete = true;
                return Ok((Vec::new(), tally));
            }
            if changed {
                match (was_live, is_live) {
                    (false, true) => tally.inserted += 1,
                    (true, true) => tally.updated += 1,
                    (true, false) => tally.deleted += 1,
                    (false, false) => {}
                }
            }
            output.extend(rows);
        }
        Ok((output, tally))
    }
}
