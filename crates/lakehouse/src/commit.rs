//! Producing a snapshot from outside the `iceberg` crate and committing it with a real CAS.
//!
//! The official crate only offers fast-append through its transaction API, which also silently
//! re-bases a commit onto whatever the table looks like at commit time. flowctl needs two more
//! things: copy-on-write overwrites (remove chosen data files, add new ones) and commits that
//! succeed only on top of the exact state the caller read (exactly-once offsets in the snapshot
//! summary depend on it). Both are built here from the crate's public spec API:
//!
//! 1. new data files → one new manifest (`ManifestWriter::add_file`);
//! 2. manifests that hold a removed file are rewritten: the removed entries as `DELETED`, the
//!    others as `EXISTING` with their original snapshot id and sequence numbers; untouched
//!    manifests are carried over as they are;
//! 3. a v2 manifest list, a snapshot with the summary (caller properties + Iceberg's counters
//!    and totals), new table metadata with the snapshot on `main`, written as the next
//!    `NNNNN-<uuid>.metadata.json`;
//! 4. the catalog row's pointer swapped from the base metadata to the new one, only if it still
//!    points at the base. On a conflict the files written by this attempt are deleted (nothing
//!    references them) and [`LakehouseError::CommitConflict`] is returned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use iceberg::MetadataLocation;
use iceberg::spec::{
    DataFile, DataFileFormat, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestFile,
    ManifestListWriter, ManifestStatus, ManifestWriter, ManifestWriterBuilder, Operation, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Summary, TableMetadata,
    TableMetadataBuilder,
};
use uuid::Uuid;

use crate::cas::{PointerSwap, SwapOutcome};
use crate::error::{LakehouseError, Result};
use crate::table::LakeTable;

/// What a commit changes.
pub(crate) struct Change {
    pub added: Vec<DataFile>,
    /// Paths of live data files to remove.
    pub removed: HashSet<String>,
    pub properties: BTreeMap<String, String>,
}

/// Commits `change` on top of `base` and returns the new snapshot id.
pub(crate) async fn commit(swap: &PointerSwap, base: &LakeTable, change: Change) -> Result<i64> {
    let table_name = base.name.to_string();
    if change.added.is_empty() && change.removed.is_empty() && change.properties.is_empty() {
        return Err(LakehouseError::NothingToCommit(table_name));
    }
    if let Some(key) = change.properties.keys().find(|k| k.as_str() == "operation") {
        return Err(LakehouseError::ReservedSummaryKey(key.clone()));
    }
    let metadata = base.table.metadata();
    if metadata.format_version() != FormatVersion::V2 {
        return Err(LakehouseError::Unsupported(format!(
            "table {table_name} has format {}; flowctl writes format v2 tables only",
            metadata.format_version()
        )));
    }
    let base_location = base.table.metadata_location_result()?.to_owned();
    let mut written = Vec::new(); // everything this attempt wrote, for cleanup on failure
    let result = produce(base, &change, &base_location, &mut written).await;
    let (snapshot_id, new_location) = match result {
        Ok(ok) => ok,
        Err(e) => {
            written.extend(change.added.iter().map(|f| f.file_path().to_owned()));
            cleanup(base, &written).await;
            return Err(e);
        }
    };
    match swap.swap(&base.name, &base_location, &new_location).await? {
        SwapOutcome::Swapped => Ok(snapshot_id),
        SwapOutcome::Conflict => {
            written.extend(change.added.iter().map(|f| f.file_path().to_owned()));
            cleanup(base, &written).await;
            Err(LakehouseError::CommitConflict {
                table: table_name,
                detail: format!(
                    "the catalog no longer points at {base_location}; reload the table and retry"
                ),
            })
        }
    }
}

/// Writes manifests, manifest list and metadata; returns (snapshot id, new metadata location).
async fn produce(
    base: &LakeTable,
    change: &Change,
    base_location: &str,
    written: &mut Vec<String>,
) -> Result<(i64, String)> {
    let table = &base.table;
    let metadata = table.metadata();
    let file_io = table.file_io();
    let snapshot_id = new_snapshot_id(metadata);
    let sequence_number = metadata.next_sequence_number();
    let parent_id = metadata.current_snapshot_id();
    let commit_id = Uuid::new_v4();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();
    let mut counter = 0u32;
    let mut manifest_path = || {
        counter += 1;
        format!(
            "{}/metadata/{commit_id}-m{counter}.{}",
            metadata.location(),
            DataFileFormat::Avro
        )
    };
    let new_manifest = |path: &str| -> Result<ManifestWriter> {
        Ok(ManifestWriterBuilder::new(
            file_io.new_output(path)?,
            Some(snapshot_id),
            schema.clone(),
            spec.as_ref().clone(),
        )
        .build_v2_data())
    };

    let mut collector = SnapshotSummaryCollector::default();
    let mut manifests: Vec<ManifestFile> = Vec::new();
    let mut found: HashSet<String> = HashSet::new();

    if let Some(current) = metadata.current_snapshot() {
        let list = table.manifest_list_reader(current).load().await?;
        // Collected first: the crate's iterator type is not `Send`, and commit futures must be.
        let existing: Vec<ManifestFile> = list.consume_entries().into_iter().collect();
        for manifest in existing {
            let has_live = manifest.has_added_files() || manifest.has_existing_files();
            if manifest.content == ManifestContentType::Data && !has_live {
                continue; // only records deletions of an earlier snapshot, as iceberg-java drops
            }
            let may_hold_removed =
                !change.removed.is_empty() && manifest.content == ManifestContentType::Data;
            if !may_hold_removed {
                manifests.push(manifest);
                continue;
            }
            let loaded = manifest.load_manifest(file_io).await?;
            let hits = loaded
                .entries()
                .iter()
                .filter(|e| e.is_alive() && change.removed.contains(e.file_path()))
                .count();
            if hits == 0 {
                manifests.push(manifest);
                continue;
            }
            let path = manifest_path();
            let mut writer = new_manifest(&path)?;
            written.push(path);
            for entry in loaded.entries() {
                let sequence = entry
                    .sequence_number()
                    .ok_or_else(|| missing_sequence(entry))?;
                let data_file = entry.data_file().clone();
                match entry.status() {
                    ManifestStatus::Deleted => {} // deletions of older snapshots are not carried
                    _ if change.removed.contains(entry.file_path()) => {
                        found.insert(entry.file_path().to_owned());
                        collector.remove_file(&data_file, schema.clone(), spec.clone());
                        writer.add_delete_file(data_file, sequence, entry.file_sequence_number)?;
                    }
                    _ => {
                        let added_by =
                            entry.snapshot_id().ok_or_else(|| missing_sequence(entry))?;
                        writer.add_existing_file(
                            data_file,
                            added_by,
                            sequence,
                            entry.file_sequence_number,
                        )?;
                    }
                }
            }
            manifests.push(writer.write_manifest_file().await?);
        }
    }
    if let Some(path) = change.removed.iter().find(|p| !found.contains(*p)) {
        return Err(LakehouseError::UnknownDataFile {
            table: base.name.to_string(),
            path: path.clone(),
        });
    }

    if !change.added.is_empty() {
        let path = manifest_path();
        let mut writer = new_manifest(&path)?;
        written.push(path);
        for data_file in &change.added {
            collector.add_file(data_file, schema.clone(), spec.clone());
            writer.add_file(data_file.clone(), sequence_number)?;
        }
        manifests.push(writer.write_manifest_file().await?);
    }

    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-0-{commit_id}.{}",
        metadata.location(),
        DataFileFormat::Avro
    );
    let mut list = ManifestListWriter::v2(
        file_io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        parent_id,
        sequence_number,
    );
    written.push(list_path.clone());
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;

    let operation = match (change.added.is_empty(), change.removed.is_empty()) {
        (_, true) => Operation::Append,
        (true, false) => Operation::Delete,
        (false, false) => Operation::Overwrite,
    };
    let summary = summary(
        operation,
        &change.properties,
        collector.build(),
        metadata.current_snapshot().map(|s| s.summary()),
    );
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent_id)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_path)
        .with_summary(summary)
        .with_schema_id(metadata.current_schema_id())
        .build();
    let new_metadata =
        TableMetadataBuilder::new_from_metadata(metadata.clone(), Some(base_location.to_owned()))
            .add_snapshot(snapshot)?
            .set_ref(
                MAIN_BRANCH,
                SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            )?
            .build()?
            .metadata;
    let location = MetadataLocation::from_str(base_location)?
        .with_next_version()
        .with_new_metadata(&new_metadata);
    let location_string = location.to_string();
    written.push(location_string.clone());
    new_metadata.write_to(file_io, &location).await?;
    Ok((snapshot_id, location_string))
}

/// Caller properties first, then Iceberg's counters (they win on a clash, as in iceberg-java),
/// then running totals derived from the parent's.
fn summary(
    operation: Operation,
    properties: &BTreeMap<String, String>,
    counters: HashMap<String, String>,
    previous: Option<&Summary>,
) -> Summary {
    let mut all: HashMap<String, String> = properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.extend(counters);
    const TOTALS: [(&str, &str, &str); 6] = [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ];
    let number = |map: &HashMap<String, String>, key: &str| {
        map.get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (total, added, removed) in TOTALS {
        let before = previous.map_or(0, |p| number(&p.additional_properties, total));
        let now = (before + number(&all, added)).saturating_sub(number(&all, removed));
        all.insert(total.to_owned(), now.to_string());
    }
    Summary {
        operation,
        additional_properties: all,
    }
}

/// A random positive id not used by the table yet (as the `iceberg` crate does).
fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (high, low) = Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) >> 1) as i64; // >> 1 keeps it positive
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn missing_sequence(entry: &iceberg::spec::ManifestEntry) -> LakehouseError {
    LakehouseError::Iceberg(iceberg::Error::new(
        iceberg::ErrorKind::DataInvalid,
        format!(
            "manifest entry for {} lacks its snapshot id or sequence number",
            entry.file_path()
        ),
    ))
}

/// Best effort: files of a failed attempt are unreferenced, so deleting them is always safe;
/// failing to delete only leaves garbage behind.
async fn cleanup(base: &LakeTable, paths: &[String]) {
    for path in paths {
        if let Err(e) = base.table.file_io().delete(path).await {
            tracing::debug!(path, error = %e, "could not remove a file of a failed commit");
        }
    }
}
