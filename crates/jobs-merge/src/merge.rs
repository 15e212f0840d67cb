//! The merge: read new bronze snapshots, apply their changes to the silver rows of the touched
//! keys, and commit one copy-on-write overwrite that also records the last bronze snapshot.
//!
//! This module is the orchestration; each stage is its own module, in the order a merge attempt
//! runs them:
//!
//! 1. [`crate::plan`]: the validated configuration, the bronze snapshots to read and which of
//!    their changes win (read by [`crate::source`]);
//! 2. [`crate::schema`]: the silver schema those changes need (table created or widened);
//! 3. [`crate::prune`]: the silver files that may hold a touched key, and their rows;
//! 4. [`crate::apply`]: the changes applied to the stored rows of their keys;
//! 5. [`crate::commit`]: the new files written and committed in one snapshot.
//!
//! A commit conflict (another writer committed first) redoes the attempt from a fresh read.

use std::sync::Arc;

use flowctl_lakehouse::{Lakehouse, LakehouseError};

use crate::apply::ApplyStep;
use crate::changes::Change;
use crate::commit::{self, Record};
use crate::config::MergeConfig;
use crate::decode::Decoders;
use crate::error::MergeError;
use crate::plan::{self, Plan};
use crate::prune::{self, Stored};
use crate::schema::{Evolution, Silver};
use crate::source::{self, Keep};

/// How many times a merge is redone after a commit conflict before giving up.
pub const MAX_ATTEMPTS: u32 = 5;

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
    // Every check that needs no table runs before anything is read or committed.
    let plan = Plan::new(config)?;
    let mut keep = plan.first_keep();
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
                return Err(MergeError::Internal(
                    "a merge keeping every change asked for them again".into(),
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

/// One merge attempt: read, derive silver's schema, apply, commit.
async fn merge_once(
    lake: &Lakehouse,
    plan: &Plan<'_>,
    hooks: &MergeHooks,
    attempt: u32,
    keep: Keep,
) -> Result<Attempt, MergeError> {
    // Plan: what to read from bronze.
    let (bronze, silver) = plan.load(lake).await?;
    let progress = plan.progress(silver.as_ref(), &bronze)?;
    let ids = progress.pending(&bronze)?;
    let Some(&last) = ids.last() else {
        return Ok(Attempt::Done(MergeOutcome {
            rows: progress.live_rows,
            source_snapshot: progress.processed,
            ..MergeOutcome::default()
        }));
    };
    // The changes point at their texts in `events`, which live until the rows are applied.
    let source::Bronze {
        events,
        extracted,
        kept,
    } = source::read_changes(&bronze, &ids, plan.config, &plan.declared, keep).await?;

    // Schema: the columns silver needs for these changes, committed on their own — only after
    // every check of the configuration against silver has passed (`Evolution::check` refuses
    // what `Silver::of` would), so a refused merge leaves silver as it was.
    let evolution = Evolution::derive(plan, &extracted, silver)?;
    evolution.check(plan)?;
    let Some(table) = evolution.commit(lake, plan).await? else {
        return Ok(Attempt::Done(MergeOutcome {
            changes: extracted.len() as u64,
            truncates_ignored: extracted.truncates,
            ..MergeOutcome::default()
        }));
    };
    let silver = Silver::of(plan, table)?;

    // Group the changes by key, each group in merge order (or one per key: its latest).
    let mut latest: Vec<Change> = Vec::new();
    let (groups, superseded) = plan::group(kept, &extracted, &mut latest);

    // Pruning: read only the files that may hold a touched key, keep the rows of untouched keys.
    let Stored {
        by_group,
        untouched,
        replaced,
    } = prune::read_touched(&silver.table, &plan.config.key[0], &silver.key, &groups).await?;

    // Apply each key's changes.
    let decoders = Decoders::new(plan, &silver.schema);
    let step = ApplyStep {
        groups: &groups,
        superseded: &superseded,
        events: &events,
        decoders: &decoders,
        layout: &silver.layout,
        scd2: plan.is_scd2(),
    };
    let (applied, tally) = step.run_all(by_group)?;
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

    // Commit: the untouched rows of the replaced files and the applied ones, in new files.
    let mut output = untouched;
    output.extend(applied);
    let batches = commit::sorted_batches(&silver.schema, &mut output, &silver.key)?;
    // What the merge built is freed on another thread while this one writes and commits: a
    // million changes, the bronze batches and the rows are hundreds of megabytes to hand back.
    drop(groups);
    commit::free_in_background((events, extracted, latest, output));
    let live_after = (progress.live_rows + outcome.inserted).saturating_sub(outcome.deleted);
    let record = Record {
        source_snapshot: last,
        live_rows: live_after,
        source_uuid: progress.source_uuid.clone(),
    };
    let committed = commit::commit(
        lake,
        &silver.table,
        &replaced,
        batches,
        &record,
        hooks.before_commit.as_deref(),
        attempt,
    )
    .await?;
    outcome.rows = live_after;
    outcome.source_snapshot = Some(last);
    outcome.silver_snapshot = Some(committed);
    outcome.replaced_files = replaced;
    Ok(Attempt::Done(outcome))
}
