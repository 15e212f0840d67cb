//! Writing silver's new rows and the merge's one atomic commit: the new data files replace the
//! files they were read from (copy-on-write), and the snapshot summary records the last bronze
//! snapshot merged and the live row count, so the data and the merge's progress can never
//! disagree.

use std::collections::BTreeMap;

use flowctl_lakehouse::arrow_array::RecordBatch;
use flowctl_lakehouse::arrow_schema::SchemaRef;
use flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY;
use flowctl_lakehouse::{LakeTable, Lakehouse};

use crate::apply::PARALLEL_APPLY_KEYS;
use crate::arrow_rows::{self, Row};
use crate::error::MergeError;
use crate::merge::BeforeCommit;
use crate::values;

/// Snapshot-summary key of a silver table holding its live row count after the commit.
pub const LIVE_ROWS_SUMMARY_KEY: &str = "flowctl.merge.live-rows";
/// Snapshot-summary key of a silver table holding the table UUID of the bronze table it was
/// merged from: snapshot ids are only meaningful within that table.
pub const SOURCE_UUID_SUMMARY_KEY: &str = "flowctl.merge.source-table-uuid";
/// Rows per written batch.
const BATCH_ROWS: usize = 65_536;
/// From this many rows, silver's new rows are written as one file per core, concurrently.
const PARALLEL_WRITE_ROWS: usize = 65_536;

/// Sorts `rows` by the key columns (`key` being their positions) and makes them Arrow batches.
/// Clustered by key, each file covers a narrow key range: pruned by its bounds next time.
pub(crate) fn sorted_batches(
    schema: &SchemaRef,
    rows: &mut [Row],
    key: &[usize],
) -> Result<Vec<RecordBatch>, MergeError> {
    rows.sort_by(|a, b| {
        key.iter()
            .map(|&i| values::compare(&a[i], &b[i]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    to_batches(schema, rows)
}

/// The rows as Arrow batches of at most [`BATCH_ROWS`] rows, built on two threads when there
/// are many.
fn to_batches(schema: &SchemaRef, rows: &[Row]) -> Result<Vec<RecordBatch>, MergeError> {
    let refs: Vec<&Row> = rows.iter().collect();
    // At least two batches for two threads.
    let size = BATCH_ROWS.min(refs.len().div_ceil(2)).max(1);
    let chunks: Vec<&[&Row]> = refs.chunks(size).collect();
    let convert = |part: &[&[&Row]]| {
        part.iter()
            .map(|chunk| arrow_rows::to_batch(schema, chunk))
            .collect::<Result<Vec<_>, _>>()
    };
    if refs.len() < PARALLEL_APPLY_KEYS {
        return convert(&chunks);
    }
    let (first, second) = chunks.split_at(chunks.len() / 2);
    let (mine, other) = std::thread::scope(|scope| {
        let other = scope.spawn(|| convert(second));
        (convert(first), other.join())
    });
    let mut batches = mine?;
    batches
        .extend(other.map_err(|_| MergeError::Internal("a merge batch thread panicked".into()))??);
    Ok(batches)
}

/// The output batches (sorted by key) split in contiguous groups, one data file each, to be
/// written concurrently: one group per core when there are many rows, else one.
fn file_groups(batches: Vec<RecordBatch>) -> Vec<Vec<RecordBatch>> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let groups = if rows >= PARALLEL_WRITE_ROWS {
        cores.min(batches.len()).max(1)
    } else {
        1
    };
    let per_group = batches.len().div_ceil(groups).max(1);
    let mut out: Vec<Vec<RecordBatch>> = Vec::with_capacity(groups);
    for batch in batches {
        match out.last_mut() {
            Some(group) if group.len() < per_group => group.push(batch),
            _ => out.push(vec![batch]),
        }
    }
    out
}

/// Drops `value` on a short-lived thread (or here, if no thread can be started: the failed
/// spawn drops its closure, and the value in it, before returning).
pub(crate) fn free_in_background<T: Send + 'static>(value: T) {
    let _detached = std::thread::Builder::new()
        .name("flowctl-merge-free".into())
        .spawn(move || drop(value));
}

/// What the commit records in silver's snapshot summary besides the data (read back by
/// [`crate::plan::Plan::progress`]).
pub(crate) struct Record {
    /// The last bronze snapshot merged.
    pub source_snapshot: i64,
    /// The bronze table's UUID.
    pub source_uuid: String,
    /// Silver's live rows (current mode) or current versions (scd2) after the commit.
    pub live_rows: u64,
}

/// Writes `batches` (sorted by key) as new data files and commits them in one snapshot that
/// removes the `replaced` files and holds `record` in its summary. `before_commit` runs
/// right before the commit, numbered `attempt`. Returns the snapshot's id.
pub(crate) async fn commit(
    lake: &Lakehouse,
    silver: &LakeTable,
    replaced: &[String],
    batches: Vec<RecordBatch>,
    record: &Record,
    before_commit: Option<&BeforeCommit>,
    attempt: u32,
) -> Result<i64, MergeError> {
    let summary = BTreeMap::from([
        (
            SILVER_SOURCE_SNAPSHOT_KEY.to_owned(),
            record.source_snapshot.to_string(),
        ),
        (
            LIVE_ROWS_SUMMARY_KEY.to_owned(),
            record.live_rows.to_string(),
        ),
        (
            SOURCE_UUID_SUMMARY_KEY.to_owned(),
            record.source_uuid.clone(),
        ),
    ]);
    if let Some(hook) = before_commit {
        hook(attempt)?;
    }
    Ok(lake
        .overwrite_groups(silver, replaced, file_groups(batches), summary)
        .await?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flowctl_lakehouse::arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn batch(rows: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from((0..rows).collect::<Vec<_>>()));
        RecordBatch::try_from_iter([("id", ids)]).unwrap()
    }

    #[test]
    fn many_rows_are_written_as_contiguous_groups_few_as_one() {
        let sizes = |groups: Vec<Vec<RecordBatch>>| -> Vec<Vec<usize>> {
            groups
                .iter()
                .map(|g| g.iter().map(RecordBatch::num_rows).collect())
                .collect()
        };
        assert_eq!(sizes(file_groups(vec![batch(10), batch(20)])), [[10, 20]]);
        assert!(file_groups(Vec::new()).iter().all(Vec::is_empty));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let many: Vec<RecordBatch> = (0..4).map(|_| batch(20_000)).collect();
        let groups = sizes(file_groups(many));
        assert_eq!(groups.len(), cores.min(4));
        assert_eq!(groups.concat(), [20_000; 4], "every batch, in order");
    }
}
