//! File pruning: which silver data files the changed keys can be in, and their rows split into
//! the touched keys' (to apply the changes to) and the others (to write back unchanged).
//!
//! The merge is copy-on-write: a file holding a touched key is replaced as a whole, so only the
//! files that may hold one are read, and only the files that do hold one are replaced. Pruning
//! uses the files' bounds on the first key column, which the merge keeps narrow by writing its
//! rows sorted by key.

use flowctl_cdc::TypedValue;
use flowctl_lakehouse::iceberg::spec::{Datum, PrimitiveLiteral};
use flowctl_lakehouse::{DataFileInfo, LakeTable};

use crate::arrow_rows::{self, Row};
use crate::error::MergeError;
use crate::group::Groups;
use crate::values::Key;

/// Silver's stored rows as the merge splits them.
pub(crate) struct Stored {
    /// The stored rows of each touched key, by group number (see [`Groups`]).
    pub by_group: Vec<Vec<Row>>,
    /// The rows of untouched keys in the replaced files: written back as they are.
    pub untouched: Vec<Row>,
    /// The files replaced: those holding a touched key.
    pub replaced: Vec<String>,
}

/// Reads the files that may hold a touched key (`key` being the key columns' positions) and
/// splits their rows. A file that turns out to hold no touched key is left alone.
pub(crate) async fn read_touched(
    silver: &LakeTable,
    first_key: &str,
    key: &[usize],
    groups: &Groups<'_>,
) -> Result<Stored, MergeError> {
    let candidates = candidate_files(silver, first_key, groups).await?;
    let mut by_group: Vec<Vec<Row>> = Vec::new();
    by_group.resize_with(groups.len(), Vec::new);
    let mut written_back: Vec<Row> = Vec::new();
    let mut replaced = Vec::new();
    for file in candidates {
        let mut rows = Vec::new();
        for batch in silver.read_files(std::slice::from_ref(&file)).await? {
            rows.extend(arrow_rows::from_batch(&batch)?);
        }
        let mut touched = false;
        let mut untouched = Vec::new();
        for row in rows {
            match groups.find(&row_key(&row, key)) {
                Some(g) => {
                    touched = true;
                    by_group[g].push(row);
                }
                None => untouched.push(row),
            }
        }
        if touched {
            replaced.push(file.path.clone());
            written_back.extend(untouched);
        }
    }
    Ok(Stored {
        by_group,
        untouched: written_back,
        replaced,
    })
}

fn row_key(row: &Row, key_idx: &[usize]) -> Key {
    Key::of(
        key_idx
            .iter()
            .map(|&i| row.get(i).unwrap_or(&TypedValue::Null)),
    )
}

/// Live files whose bounds on the first key column may include a touched key (every file when
/// the key is not an integer or a file has no bounds).
async fn candidate_files(
    silver: &LakeTable,
    first_key: &str,
    groups: &Groups<'_>,
) -> Result<Vec<DataFileInfo>, MergeError> {
    let files = silver.data_files().await?;
    if files.is_empty() {
        return Ok(files);
    }
    // One key per group: a key's changes share its first column.
    let mut touched: Vec<i64> = Vec::with_capacity(groups.len());
    for g in 0..groups.len() {
        match groups.changes(g).first().and_then(|c| c.key_num()) {
            Some(n) => touched.push(n),
            None => return Ok(files),
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let Some(field_id) = silver
        .iceberg()
        .metadata()
        .current_schema()
        .field_by_name(first_key)
        .map(|f| f.id)
    else {
        return Ok(files);
    };
    let bound = |d: Option<&Datum>| match d.map(|d| d.literal()) {
        Some(PrimitiveLiteral::Int(n)) => Some(i64::from(*n)),
        Some(PrimitiveLiteral::Long(n)) => Some(*n),
        _ => None,
    };
    Ok(files
        .into_iter()
        .filter(|f| {
            let lower = bound(f.data_file().lower_bounds().get(&field_id));
            let upper = bound(f.data_file().upper_bounds().get(&field_id));
            match (lower, upper) {
                // Some touched key in [lo, hi]: the first one not below `lo` is at most `hi`.
                (Some(lo), Some(hi)) => {
                    let i = touched.partition_point(|&k| k < lo);
                    touched.get(i).is_some_and(|&k| k <= hi)
                }
                _ => true,
            }
        })
        .collect())
}
