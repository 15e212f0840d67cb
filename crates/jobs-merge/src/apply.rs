//! Applying one key's ordered changes to its stored rows, in `current` or `scd2` mode.

use flowctl_cdc::{OrderingKey, TypedValue};

use crate::arrow_rows::Row;
use crate::changes::{Action, Change};
use crate::error::MergeError;

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

/// Where the changes newer than the stored row's start: an older one is a re-delivery
/// (Debezium is at-least-once) and must not revert the row. `changes` are in merge order, so
/// the newer ones are a suffix.
fn first_newer(changes: &[&Change], stored: Option<OrderingKey>) -> usize {
    match stored {
        None => 0,
        Some(s) => changes.partition_point(|c| c.order <= s),
    }
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
pub(crate) fn scd2(
    mut versions: Vec<Row>,
    changes: &[&Change],
    decode: &Decoder<'_>,
    layout: &Layout,
) -> Result<Applied, MergeError> {
    let Some([from, to, current]) = layout.scd2 else {
        return Err(MergeError::Config(
            "scd2 columns missing from silver".into(),
        ));
    };
    let is_current = |r: &Row| matches!(r.get(current), Some(TypedValue::Boolean(true)));
    let mut open = versions.iter().position(is_current);
    let was_live = open.is_some();
    let changes =
        &changes[first_newer(changes, open.and_then(|i| layout.order_of(&versions[i])))..];
    let changed = !changes.is_empty();
    for change in changes {
        let ts = TypedValue::TimestampTz(change.ts_micros);
        let previous = open.inspect(|&i| {
            let row = &mut versions[i];
            row[to] = ts.clone();
            row[current] = TypedValue::Boolean(false);
        });
        open = None;
        if change.action == Action::Upsert {
            let mut row = decode(change)?;
            row.resize(layout.width, TypedValue::Null);
            fill_unavailable(&mut row, previous.map(|i| &versions[i]));
            row[from] = ts;
            row[to] = TypedValue::Null;
            row[current] = TypedValue::Boolean(true);
            versions.push(row);
            open = Some(versions.len() - 1);
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
