//! Reading the pending bronze files and extracting their changes: file by file, one file per
//! core at a time, each file's changes extracted as soon as it is decoded (the cores decode one
//! file while they scan another, instead of waiting for every file before scanning any).

use std::collections::HashMap;
use std::sync::Arc;

use flowctl_cdc as cdc;
use flowctl_lakehouse::{LakeTable, LakehouseError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::changes::{self, Events, Extracted};
use crate::config::MergeConfig;
use crate::error::MergeError;
use crate::group::Grouping;
use crate::winners::Winners;

/// Which changes a merge keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Every change, grouped by key (SCD2 makes a version of each).
    Every,
    /// Only each key's latest change (`current` mode; see [`Winners`]).
    Latest,
}

/// The changes a merge kept, by key.
pub(crate) enum Kept {
    /// Every change (their memory is in `Extracted`), keys numbered.
    Every(Grouping),
    /// Each key's latest change.
    Latest(Winners),
}

/// The changes a merge read, the bronze texts they point at, and the changes it kept.
pub(crate) struct Bronze {
    pub events: Events,
    pub extracted: Extracted,
    pub kept: Kept,
}

/// Reads the rows added by `snapshot_ids` (in that order) and extracts their changes.
pub(crate) async fn read_changes(
    table: &LakeTable,
    snapshot_ids: &[i64],
    config: &MergeConfig,
    declared: &HashMap<String, cdc::ColumnType>,
    keep: Keep,
) -> Result<Bronze, MergeError> {
    let mut files = Vec::new();
    for id in snapshot_ids {
        files.extend(table.files_added_by(*id).await?);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let permits = Arc::new(Semaphore::new(cores));
    let config = Arc::new(config.clone());
    let declared = Arc::new(declared.clone());
    let tasks: Vec<AbortOnDrop<_>> = files
        .into_iter()
        .map(|file| {
            let table = table.clone();
            let permits = permits.clone();
            let config = config.clone();
            let declared = declared.clone();
            AbortOnDrop(tokio::spawn(async move {
                // The semaphore is never closed; a closed one would only mean no limit.
                let permit = permits.acquire_owned().await.ok();
                let batches = table
                    .read_files_columns(std::slice::from_ref(&file), &changes::READ_COLUMNS)
                    .await?;
                // Decoding the next file overlaps with scanning this one.
                drop(permit);
                // Scanning is CPU-bound: off the async workers.
                let scanned = tokio::task::spawn_blocking({
                    let (config, declared) = (config.clone(), declared.clone());
                    move || changes::extract(&batches, &config, &declared).map(|e| (batches, e))
                });
                let (batches, mut extracted) = joined(scanned.await)??;
                if extracted.has_unkeyed_deletes() {
                    let extra = table
                        .read_files_columns(
                            std::slice::from_ref(&file),
                            &changes::DELETE_KEY_COLUMNS,
                        )
                        .await?;
                    extracted.key_deletes(&batches, &extra, &config, &declared)?;
                }
                // Only the texts the changes point at are kept; the other columns are freed now.
                let mut events = Events::default();
                events.extend(&batches)?;
                Ok::<_, MergeError>((events, extracted))
            }))
        })
        .collect();
    let mut bronze = Bronze {
        events: Events::default(),
        extracted: Extracted::default(),
        kept: match keep {
            Keep::Every => Kept::Every(Grouping::default()),
            Keep::Latest => Kept::Latest(Winners::default()),
        },
    };
    // In file order: ties in merge order keep bronze order.
    for mut task in tasks {
        let (events, mut part) = joined((&mut task.0).await)??;
        // Keys are numbered as files arrive, while later files are still being read.
        match &mut bronze.kept {
            Kept::Every(grouping) => grouping.add(part.parts()),
            Kept::Latest(winners) => winners.add(part.take_changes(bronze.events.len())?),
        }
        bronze.extracted.append(part, bronze.events.len())?;
        bronze.events.append(events);
    }
    Ok(bronze)
}

/// A task's result; a panic in it is resumed here, as if the work had run on this thread.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, MergeError> {
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(MergeError::Lakehouse(LakehouseError::Io(
            std::io::Error::other(format!("reading bronze was cancelled: {e}")),
        ))),
    }
}

/// A spawned task that stops when its result is no longer awaited (the merge failed on another
/// file, or was cancelled).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
