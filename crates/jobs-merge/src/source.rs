//! Reading the pending bronze files and extracting their changes: file by file, one file per
//! core decoded at a time, each file's changes extracted as soon as it is decoded (the cores
//! decode one file while they scan another, instead of waiting for every file before scanning
//! any), and only a window of files in flight, so memory does not grow with the file count.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use flowctl_cdc as cdc;
use flowctl_lakehouse::{DataFileInfo, LakeTable, LakehouseError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::changes::{self, Change, Events, Extracted};
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
    // Files decoded at once: one per core.
    let decoding = Arc::new(Semaphore::new(cores));
    let config = Arc::new(config.clone());
    let declared = Arc::new(declared.clone());
    // Change buffers handed back once their changes are taken (`Keep::Latest`), for the next
    // files to fill.
    let buffers: Arc<Mutex<Vec<Vec<Change>>>> = Arc::default();
    let start = |file: DataFileInfo| {
        let table = table.clone();
        let decoding = decoding.clone();
        let config = config.clone();
        let declared = declared.clone();
        let buffers = buffers.clone();
        AbortOnDrop(tokio::spawn(async move {
            // The semaphore is never closed; a closed one would only mean no limit.
            let permit = decoding.acquire_owned().await.ok();
            let batches = table
                .read_files_columns(std::slice::from_ref(&file), &changes::READ_COLUMNS)
                .await?;
            // Decoding the next file overlaps with scanning this one.
            drop(permit);
            // Scanning is CPU-bound: off the async workers.
            let scanned = tokio::task::spawn_blocking({
                let (config, declared) = (config.clone(), declared.clone());
                move || {
                    let buffer = lock(&buffers).pop().unwrap_or_default();
                    changes::extract(&batches, &config, &declared, buffer).map(|e| (batches, e))
                }
            });
            let (batches, mut extracted) = joined(scanned.await)??;
            if extracted.has_unkeyed_deletes() {
                let extra = table
                    .read_files_columns(std::slice::from_ref(&file), &changes::DELETE_KEY_COLUMNS)
                    .await?;
                extracted.key_deletes(&batches, &extra, &config, &declared)?;
            }
            // Only the texts the changes point at are kept; the other columns are freed now.
            let mut events = Events::default();
            events.extend(&batches)?;
            Ok::<_, MergeError>((events, extracted))
        }))
    };
    // Files are started in order, a window of them at a time: one per core and one more, so
    // a core never waits for the loop below to take a file in. Memory stays at a few files'
    // worth however many files there are.
    let mut files = files.into_iter();
    let mut window: VecDeque<AbortOnDrop<_>> = files.by_ref().take(cores + 1).map(start).collect();
    let mut bronze = Bronze {
        events: Events::default(),
        extracted: Extracted::default(),
        kept: match keep {
            Keep::Every => Kept::Every(Grouping::default()),
            Keep::Latest => Kept::Latest(Winners::default()),
        },
    };
    // In file order: ties in merge order keep bronze order.
    while let Some(mut task) = window.pop_front() {
        let (events, mut part) = joined((&mut task.0).await)??;
        window.extend(files.next().map(start));
        // Keys are numbered as files arrive, while later files are still being read.
        match &mut bronze.kept {
            Kept::Every(grouping) => grouping.add(part.parts()),
            Kept::Latest(winners) => {
                let mut changes = part.take_changes(bronze.events.len())?;
                winners.add(&mut changes);
                lock(&buffers).push(changes);
            }
        }
        bronze.extracted.append(part, bronze.events.len())?;
        bronze.events.append(events);
    }
    Ok(bronze)
}

/// The buffer pool, even if a thread panicked while holding it (a pool of empty vectors cannot
/// be left inconsistent).
fn lock(buffers: &Mutex<Vec<Vec<Change>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Change>>> {
    buffers.lock().unwrap_or_else(|e| e.into_inner())
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
