//! The merge: read new bronze snapshots, apply their changes to the silver rows of the touched
//! keys, and commit one copy-on-write overwrite that also records the last bronze snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use flowctl_cdc::{self as cdc, TypedValue};
use flowctl_lakehouse::arrow_array::RecordBatch;
use flowctl_lakehouse::arrow_schema::SchemaRef;
use flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY;
use flowctl_lakehouse::iceberg::spec::PrimitiveLiteral;
use flowctl_lakehouse::{
    Column, ColumnType, DataFileInfo, LakeTable, Lakehouse, LakehouseError, TableName, TableSchema,
};
use indexmap::IndexMap;

use crate::apply::{self, Applied, Layout};
use crate::arrow_rows::{self, Row};
use crate::changes::{self, Change};
use crate::config::{MergeConfig, MergeMode};
use crate::decode::Decoders;
use crate::error::MergeError;
use crate::group::Groups;
use crate::source;
use crate::source::{Keep, Kept};
use crate::values::{self, Key, storage_of_arrow};

/// SCD2 column: when the version became current (the change's source time).
pub const EFFECTIVE_FROM: &str = "effective_from";
/// SCD2 column: when the version stopped being current (null while current).
pub const EFFECTIVE_TO: &str = "effective_to";
/// SCD2 column: whether the version is the key's current one.
pub const IS_CURRENT: &str = "is_current";
/// Silver columns holding the merge order of the change each row comes from (`source.lsn`,
/// `source.ts_ms`, Kafka offset, Kafka partition): a change that is not newer than the stored
/// one (a re-delivered event in a later bronze batch) is ignored instead of reverting the row.
pub const ORDER_COLUMNS: [&str; 4] = [
    "_cdc_lsn",
    "_cdc_source_ts_ms",
    "_cdc_offset",
    "_cdc_partition",
];
/// Snapshot-summary key of a silver table holding its live row count after the commit.
pub const LIVE_ROWS_SUMMARY_KEY: &str = "flowctl.merge.live-rows";
/// How many times a merge is redone after a commit conflict before giving up.
pub const MAX_ATTEMPTS: u32 = 5;
/// Rows per written batch.
const BATCH_ROWS: usize = 65_536;
/// From this many rows, silver's new rows are written as one file per core, concurrently.
const PARALLEL_WRITE_ROWS: usize = 65_536;

/// Test seam: runs right before each commit attempt (numbered from 0); an error returned here
/// is treated as that commit's failure (inject a `CommitConflict` to exercise the redo path).
pub type BeforeCommit = dyn Fn(u32) -> Result<(), LakehouseError> + Send + Sync;

/// Optional hooks into a merge (tests inject faults through them).
#[derive(Clone, Default)]
pub struct MergeHooks {
    /// See [`BeforeCommit`].
    pub before_commit: Option<Arc<BeforeCommit>>,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Keys that were not live and are now.
    pub inserted: u64,
    /// Live keys that changed and are still live.
    pub updated: u64,
    /// Live keys that were deleted.
    pub deleted: u64,
    /// Live rows (current mode) or current versions (scd2) after the merge.
    pub rows: u64,
    /// The last bronze snapshot merged (now or by an earlier run).
    pub source_snapshot: Option<i64>,
    /// The silver snapshot committed, `None` when there was nothing new.
    pub silver_snapshot: Option<i64>,
    /// Silver data files replaced by this commit (copy-on-write).
    pub replaced_files: Vec<String>,
    /// Change events read (after the `source_table` filter).
    pub changes: u64,
    /// Truncate events seen and not applied.
    pub truncates_ignored: u64,
    /// Commit attempts made (1 without conflicts).
    pub attempts: u32,
    /// Bronze was read a second time, keeping every change: a key's latest change had TOAST
    /// placeholders whose values come from the key's earlier changes in the same merge
    /// (`current` mode keeps only each key's latest change otherwise).
    pub reread_for_toast: bool,
}

/// Runs the merge, redoing it from a fresh read after a commit conflict (at most
/// [`MAX_ATTEMPTS`] times).
pub async fn merge(
    lake: &Lakehouse,
    config: &MergeConfig,
    hooks: &MergeHooks,
) -> Result<MergeOutcome, MergeError> {
    let plan = Plan::new(config)?;
    // SCD2 makes a version of every change; `current` needs only each key's latest one.
    let mut keep = if plan.is_scd2() {
        Keep::Every
    } else {
        Keep::Latest
    };
    let mut attempt = 0;
    loop {
        match merge_once(lake, &plan, hooks, attempt, keep).await {
            Err(e) if e.is_conflict() && attempt + 1 < MAX_ATTEMPTS => attempt += 1,
            Ok(Attempt::Done(mut outcome)) => {
                outcome.attempts = attempt + 1;
                outcome.reread_for_toast = keep == Keep::Every && !plan.is_scd2();
                return Ok(outcome);
            }
            // Nothing was written: read again, keeping every change.
            Ok(Attempt::NeedsEveryChange) if keep == Keep::Latest => keep = Keep::Every,
            Ok(Attempt::NeedsEveryChange) => {
                return Err(MergeError::Config(
                    "internal: a merge keeping every change asked for them again".into(),
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How a merge attempt ended (errors aside).
enum Attempt {
    /// Committed, or nothing to do.
    Done(MergeOutcome),
    /// Kept only each key's latest change, and a key needs its earlier ones: a latest change
    /// with TOAST placeholders whose values come from them.
    NeedsEveryChange,
}

/// The validated configuration.
pub(crate) struct Plan<'a> {
    pub config: &'a MergeConfig,
    source: TableName,
    target: TableName,
    /// The step's declared column types.
    pub declared: HashMap<String, cdc::ColumnType>,
}

impl<'a> Plan<'a> {
    fn new(config: &'a MergeConfig) -> Result<Self, MergeError> {
        let name = |n: &str, what: &str| {
            TableName::parse(n).map_err(|e| MergeError::Config(format!("`{what}`: {e}")))
        };
        if config.key.is_empty() {
            return Err(MergeError::Config("`key` names no column".into()));
        }
        let mut declared = HashMap::new();
        for (column, ty) in &config.columns {
            let ty: cdc::ColumnType = ty
                .parse()
                .map_err(|e| MergeError::Config(format!("columns.{column}: {e}")))?;
            declared.insert(column.clone(), ty);
        }
        if config.mode == MergeMode::Scd2 {
            for reserved in [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT] {
                if config.key.iter().any(|k| k == reserved) || declared.contains_key(reserved) {
                    return Err(MergeError::Config(format!(
                        "`{reserved}` is an SCD2 column of silver and cannot be a source column"
                    )));
                }
            }
        }
        for reserved in ORDER_COLUMNS {
            if config.key.iter().any(|k| k == reserved) || declared.contains_key(reserved) {
                return Err(MergeError::Config(format!(
                    "`{reserved}` is a bookkeeping column of silver and cannot be a source column"
                )));
            }
        }
        Ok(Self {
            config,
            source: name(&config.source, "source")?,
            target: name(&config.target, "target")?,
            declared,
        })
    }

    fn is_scd2(&self) -> bool {
        self.config.mode == MergeMode::Scd2
    }

    /// Silver columns that the merge maintains itself (never taken from the source).
    pub fn reserved(&self, name: &str) -> bool {
        ORDER_COLUMNS.contains(&name)
            || (self.is_scd2() && [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT].contains(&name))
    }
}

fn order_columns() -> Vec<Column> {
    vec![
        Column::optional(ORDER_COLUMNS[0], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[1], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[2], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[3], ColumnType::Int),
    ]
}

async fn merge_once(
    lake: &Lakehouse,
    plan: &Plan<'_>,
    hooks: &MergeHooks,
    attempt: u32,
    keep: Keep,
) -> Result<Attempt, MergeError> {
    let bronze = lake.load_table(&plan.source).await?;
    let silver = if lake.table_exists(&plan.target).await? {
        Some(lake.load_table(&plan.target).await?)
    } else {
        None
    };
    let summary = silver
        .as_ref()
        .map(LakeTable::current_summary)
        .unwrap_or_default();
    let processed = match summary.get(SILVER_SOURCE_SNAPSHOT_KEY) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            MergeError::Config(format!(
                "silver table {} has a corrupt `{SILVER_SOURCE_SNAPSHOT_KEY}`: {v}",
                plan.target
            ))
        })?),
    };
    let live_before: u64 = summary
        .get(LIVE_ROWS_SUMMARY_KEY)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let pending = bronze.snapshots_after(processed)?;
    let Some(last) = pending.last().map(|s| s.snapshot_id) else {
        return Ok(Attempt::Done(MergeOutcome {
            rows: live_before,
            source_snapshot: processed,
            ..MergeOutcome::default()
        }));
    };
    let ids: Vec<i64> = pending.iter().map(|s| s.snapshot_id).collect();
    // The changes point at their texts in `events`, which live until the rows are applied.
    let source::Bronze {
        events,
        extracted,
        kept,
    } = source::read_changes(&bronze, &ids, plan.config, &plan.declared, keep).await?;

    let wanted = wanted_columns(plan, &extracted, silver.as_ref())?;
    let silver = match silver {
        Some(table) => {
            let existing = table.arrow_schema()?;
            let new: Vec<Column> = wanted
                .iter()
                .map(|(name, ty)| Column::optional(name.clone(), *ty))
                .chain(order_columns())
                .filter(|c| existing.field_with_name(&c.name).is_err())
                .collect();
            // A column added in the source appears in silver; older rows read it as null.
            if new.is_empty() {
                table
            } else {
                lake.add_columns(&table, &new).await?
            }
        }
        None if wanted.is_empty() => {
            // No row to learn the columns from yet: nothing to create, nothing lost.
            return Ok(Attempt::Done(MergeOutcome {
                changes: extracted.len() as u64,
                truncates_ignored: extracted.truncates,
                ..MergeOutcome::default()
            }));
        }
        None => {
            let mut columns: Vec<Column> = wanted
                .iter()
                .map(|(name, ty)| Column::optional(name.clone(), *ty))
                .collect();
            if plan.is_scd2() {
                columns.push(Column::required(EFFECTIVE_FROM, ColumnType::Timestamptz));
                columns.push(Column::optional(EFFECTIVE_TO, ColumnType::Timestamptz));
                columns.push(Column::required(IS_CURRENT, ColumnType::Boolean));
            }
            columns.extend(order_columns());
            lake.create_table_if_missing(&plan.target, &TableSchema::Columns(columns))
                .await?
        }
    };
    let schema = silver.arrow_schema()?;
    let layout = layout_of(plan, &schema)?;
    let key_idx: Vec<usize> = plan
        .config
        .key
        .iter()
        .map(|k| {
            schema.index_of(k).map_err(|_| {
                MergeError::Config(format!(
                    "key column `{k}` is not a column of {}",
                    plan.target
                ))
            })
        })
        .collect::<Result<_, _>>()?;

    // Group the changes by key, each group in merge order (or one per key: its latest).
    let mut latest: Vec<Change> = Vec::new();
    let (groups, superseded) = match kept {
        Kept::Every(grouping) => (grouping.finish(extracted.changes()), Vec::new()),
        Kept::Latest(winners) => {
            let (keys, changes, superseded) = winners.into_parts();
            latest = changes;
            (Groups::of_latest(keys, &latest), superseded)
        }
    };

    // Read only the files that may hold a touched key, keep the rows of untouched keys.
    let candidates = candidate_files(&silver, plan, &groups).await?;
    // Stored rows of each group, by group number.
    let mut stored: Vec<Vec<Row>> = Vec::new();
    stored.resize_with(groups.len(), Vec::new);
    let mut kept: Vec<Row> = Vec::new();
    let mut replaced = Vec::new();
    for file in candidates {
        let mut rows = Vec::new();
        for batch in silver.read_files(std::slice::from_ref(&file)).await? {
            rows.extend(arrow_rows::from_batch(&batch)?);
        }
        let mut touched = false;
        let mut untouched = Vec::new();
        for row in rows {
            match groups.find(&row_key(&row, &key_idx)) {
                Some(g) => {
                    touched = true;
                    stored[g].push(row);
                }
                None => untouched.push(row),
            }
        }
        if touched {
            replaced.push(file.path.clone());
            kept.extend(untouched);
        }
    }

    // Apply each key's changes.
    let decoders = Decoders::new(plan, &schema);
    let step = ApplyStep {
        groups: &groups,
        superseded: &superseded,
        events: &events,
        decoders: &decoders,
        layout: &layout,
        scd2: plan.is_scd2(),
    };
    let (applied, tally) = step.run_all(stored)?;
    if tally.incomplete {
        return Ok(Attempt::NeedsEveryChange);
    }
    let mut outcome = MergeOutcome {
        changes: extracted.len() as u64,
        truncates_ignored: extracted.truncates,
        inserted: tally.inserted,
        updated: tally.updated,
        deleted: tally.deleted,
        ..MergeOutcome::default()
    };
    let mut output = kept;
    output.extend(applied);
    // Cluster by key so each file covers a narrow key range (pruned by bounds next time).
    output.sort_by(|a, b| {
        key_idx
            .iter()
            .map(|&i| values::compare(&a[i], &b[i]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let out_batches = to_batches(&schema, &output)?;
    // What the merge built is freed on another thread while this one writes and commits: a
    // million changes, the bronze batches and the rows are hundreds of megabytes to hand back.
    drop(groups);
    free_in_background((events, extracted, latest, output));
    let live_after = (live_before + outcome.inserted).saturating_sub(outcome.deleted);
    let summary = BTreeMap::from([
        (SILVER_SOURCE_SNAPSHOT_KEY.to_owned(), last.to_string()),
        (LIVE_ROWS_SUMMARY_KEY.to_owned(), live_after.to_string()),
    ]);
    if let Some(hook) = &hooks.before_commit {
        hook(attempt)?;
    }
    let committed = lake
        .overwrite_groups(&silver, &replaced, file_groups(out_batches), summary)
        .await?;
    outcome.rows = live_after;
    outcome.source_snapshot = Some(last);
    outcome.silver_snapshot = Some(committed);
    outcome.replaced_files = replaced;
    Ok(Attempt::Done(outcome))
}

/// The data columns silver must have for these changes: the existing ones, then new ones in
/// the order the events show them. Types: silver's own, else declared, else the event schema's,
/// else guessed from the JSON values.
fn wanted_columns(
    plan: &Plan<'_>,
    extracted: &changes::Extracted,
    silver: Option<&LakeTable>,
) -> Result<IndexMap<String, ColumnType>, MergeError> {
    let mut known: IndexMap<String, ColumnType> = IndexMap::new();
    if let Some(table) = silver {
        for field in table.arrow_schema()?.fields() {
            if let Some(ty) = storage_of_arrow(field.data_type()) {
                known.insert(field.name().clone(), ty);
            }
        }
    }
    let declared = |name: &str| plan.declared.get(name).map(values::storage_type);
    let wanted = |name: &str| {
        plan.config.keeps(name) && !plan.reserved(name) && !cdc::is_metadata_field(name)
    };
    for schema in &extracted.schemas {
        for column in schema.iter() {
            if wanted(&column.name) && !known.contains_key(&column.name) {
                let ty = declared(&column.name).unwrap_or_else(|| values::storage_type(&column.ty));
                known.insert(column.name.clone(), ty);
            }
        }
    }
    for (name, guess) in &extracted.seen {
        if known.contains_key(name) || !plan.config.keeps(name) || cdc::is_metadata_field(name) {
            continue;
        }
        if plan.reserved(name) {
            return Err(MergeError::Config(format!(
                "source column `{name}` collides with a column the merge maintains in {}",
                plan.target
            )));
        }
        // A column only ever null in schemaless events is kept as text.
        let ty = declared(name).or(*guess).unwrap_or(ColumnType::String);
        known.insert(name.clone(), ty);
    }
    // SCD2 bookkeeping columns are not data columns.
    Ok(known
        .into_iter()
        .filter(|(n, _)| !plan.reserved(n))
        .collect())
}

fn layout_of(plan: &Plan<'_>, schema: &SchemaRef) -> Result<Layout, MergeError> {
    let scd2 = if plan.is_scd2() {
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| {
                MergeError::Config(format!(
                    "{} is not an SCD2 table (no `{name}` column): use another target or `mode: current`",
                    plan.target
                ))
            })
        };
        Some([
            index(EFFECTIVE_FROM)?,
            index(EFFECTIVE_TO)?,
            index(IS_CURRENT)?,
        ])
    } else {
        None
    };
    let order = ORDER_COLUMNS.map(|name| schema.index_of(name).ok());
    let order = match order {
        [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
        _ => None,
    };
    Ok(Layout {
        width: schema.fields().len(),
        scd2,
        order,
    })
}

fn row_key(row: &Row, key_idx: &[usize]) -> Key {
    Key::of(
        key_idx
            .iter()
            .map(|&i| row.get(i).unwrap_or(&TypedValue::Null)),
    )
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
    batches.extend(other.map_err(|_| MergeError::Config("a merge batch thread panicked".into()))??);
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
fn free_in_background<T: Send + 'static>(value: T) {
    let _detached = std::thread::Builder::new()
        .name("flowctl-merge-free".into())
        .spawn(move || drop(value));
}

/// Below this many keys (or rows), one thread costs less than starting another.
const PARALLEL_APPLY_KEYS: usize = 4096;

/// How many keys a merge inserted, updated and deleted.
#[derive(Default)]
struct Tally {
    inserted: u64,
    updated: u64,
    deleted: u64,
    /// Some key needs its earlier changes, which were not kept (see `Applied::incomplete`).
    incomplete: bool,
}

/// Applying each group's changes to its stored rows.
struct ApplyStep<'a, 'c> {
    groups: &'a Groups<'c>,
    /// With only each key's latest change kept: whether each key (group) had others.
    superseded: &'a [bool],
    events: &'a changes::Events,
    decoders: &'a Decoders,
    layout: &'a Layout,
    scd2: bool,
}

impl ApplyStep<'_, '_> {
    /// Applies every group (`stored[g]` is group `g`'s stored rows). Keys are independent and
    /// decoding the winning rows is CPU-bound, so the groups are split in two halves, one per
    /// thread, when there are many.
    fn run_all(&self, mut stored: Vec<Vec<Row>>) -> Result<(Vec<Row>, Tally), MergeError> {
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
            b.map_err(|_| MergeError::Config("a merge apply thread panicked".into()))??;
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
                apply::scd2(existing, group, &decode, self.layout)?
            } else {
                let complete = !self.superseded.get(g).copied().unwrap_or(false);
                apply::current(
                    existing,
                    group,
                    self.groups.deletes(g),
                    complete,
                    &decode,
                    self.layout,
                )?
            };
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

/// Live files whose bounds on the first key column may include a touched key (every file when
/// the key is not an integer or a file has no bounds).
async fn candidate_files(
    silver: &LakeTable,
    plan: &Plan<'_>,
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
    let first = &plan.config.key[0];
    let Some(field_id) = silver
        .iceberg()
        .metadata()
        .current_schema()
        .field_by_name(first)
        .map(|f| f.id)
    else {
        return Ok(files);
    };
    let bound = |d: Option<&flowctl_lakehouse::iceberg::spec::Datum>| match d.map(|d| d.literal()) {
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
                (Some(lo), Some(hi)) => {
                    let i = touched.partition_point(|&k| k < lo);
                    touched.get(i).is_some_and(|&k| k <= hi)
                }
                _ => true,
            }
        })
        .collect())
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
