//! A loaded table: one consistent view of its metadata, snapshots and data files.

use std::collections::BTreeMap;

use arrow_schema::SchemaRef as ArrowSchemaRef;
use chrono::{DateTime, Utc};
use iceberg::spec::{DataContentType, DataFile, ManifestContentType, ManifestStatus, SnapshotRef};
use iceberg::table::Table;

use crate::error::{LakehouseError, Result};
use crate::names::TableName;
use crate::schema::arrow_schema_of;

/// A table as loaded from the catalog at one moment.
///
/// Writes take a `LakeTable` as their base and commit only if the table still is in exactly
/// this state (optimistic concurrency): read what you need from it (offsets, the last processed
/// upstream snapshot, the files to rewrite), then commit against it. If another writer committed
/// in between, the commit fails with [`LakehouseError::CommitConflict`].
#[derive(Debug, Clone)]
pub struct LakeTable {
    pub(crate) name: TableName,
    pub(crate) table: Table,
}

/// One snapshot of a table's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub snapshot_id: i64,
    /// The snapshot it was committed on top of (`None` for the first).
    pub parent_id: Option<i64>,
    /// Iceberg data sequence number (increases with every commit).
    pub sequence_number: i64,
    /// Commit time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// `append`, `overwrite`, `delete` or `replace`.
    pub operation: String,
    /// All summary properties: Iceberg's counters (`added-records`, `total-records`, ...) and
    /// the caller's own properties given at commit time.
    pub summary: BTreeMap<String, String>,
}

impl SnapshotInfo {
    /// The commit time as a UTC date-time (`None` if out of chrono's range).
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.timestamp_ms)
    }

    fn from_snapshot(s: &SnapshotRef) -> Self {
        let summary = s.summary();
        Self {
            snapshot_id: s.snapshot_id(),
            parent_id: s.parent_snapshot_id(),
            sequence_number: s.sequence_number(),
            timestamp_ms: s.timestamp_ms(),
            operation: summary.operation.as_str().to_owned(),
            summary: summary
                .additional_properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// A data file of a table, as its manifest describes it.
#[derive(Debug, Clone)]
pub struct DataFileInfo {
    /// Full path (`file:///…/data/….parquet`); this is what [`crate::Lakehouse::overwrite`] takes.
    pub path: String,
    /// Number of rows.
    pub record_count: u64,
    /// Size on storage.
    pub file_size_in_bytes: u64,
    /// The snapshot that added the file.
    pub added_snapshot_id: i64,
    pub(crate) data_file: DataFile,
}

impl DataFileInfo {
    /// The file's manifest entry: column statistics (`lower_bounds`, `upper_bounds`,
    /// `null_value_counts`, `value_counts` keyed by field id), partition, format.
    pub fn data_file(&self) -> &DataFile {
        &self.data_file
    }
}

impl LakeTable {
    /// The table's name.
    pub fn name(&self) -> &TableName {
        &self.name
    }

    /// The underlying `iceberg` table (metadata, file IO), e.g. for a DataFusion provider.
    pub fn iceberg(&self) -> &Table {
        &self.table
    }

    /// The metadata file this view was loaded from.
    pub fn metadata_location(&self) -> Option<&str> {
        self.table.metadata_location()
    }

    /// The table's current schema as Arrow (fields carry their Iceberg field ids as metadata).
    pub fn arrow_schema(&self) -> Result<ArrowSchemaRef> {
        arrow_schema_of(self.table.metadata().current_schema())
    }

    /// The current snapshot id, `None` for a table never written to.
    pub fn current_snapshot_id(&self) -> Option<i64> {
        self.table.metadata().current_snapshot_id()
    }

    /// The current snapshot's summary properties (empty for a table never written to).
    ///
    /// Caller properties live in the snapshot that committed them only: read them from the
    /// current snapshot when every commit to the table sets them (bronze offsets, silver's last
    /// processed bronze snapshot), or use [`LakeTable::latest_summary_value`].
    pub fn current_summary(&self) -> BTreeMap<String, String> {
        self.table
            .metadata()
            .current_snapshot()
            .map(|s| SnapshotInfo::from_snapshot(s).summary)
            .unwrap_or_default()
    }

    /// The value of `key` in the newest snapshot of the current branch's history that has it.
    pub fn latest_summary_value(&self, key: &str) -> Option<String> {
        self.history()
            .into_iter()
            .rev()
            .find_map(|s| s.summary.get(key).cloned())
    }

    /// Every snapshot in the table's metadata, oldest first (by sequence number).
    pub fn snapshots(&self) -> Vec<SnapshotInfo> {
        let mut all: Vec<_> = self
            .table
            .metadata()
            .snapshots()
            .map(SnapshotInfo::from_snapshot)
            .collect();
        all.sort_by_key(|s| (s.sequence_number, s.timestamp_ms));
        all
    }

    /// The current snapshot and its ancestors, oldest first.
    pub fn history(&self) -> Vec<SnapshotInfo> {
        let metadata = self.table.metadata();
        let mut chain = Vec::new();
        let mut next = metadata.current_snapshot_id();
        while let Some(id) = next {
            let Some(snapshot) = metadata.snapshot_by_id(id) else {
                break; // an expired ancestor ends the known history
            };
            chain.push(SnapshotInfo::from_snapshot(snapshot));
            next = snapshot.parent_snapshot_id();
        }
        chain.reverse();
        chain
    }

    /// The snapshots of the current history committed after `after`, oldest first; all of them
    /// when `after` is `None`. This is "what has not been processed yet" for an incremental
    /// reader that remembers the last snapshot it processed.
    ///
    /// Errors with [`LakehouseError::SnapshotNotFound`] if `after` is not in the history (the
    /// table was rewritten, or the id belongs to another table): silently starting over would
    /// reprocess everything.
    pub fn snapshots_after(&self, after: Option<i64>) -> Result<Vec<SnapshotInfo>> {
        let history = self.history();
        let Some(after) = after else {
            return Ok(history);
        };
        match history.iter().position(|s| s.snapshot_id == after) {
            Some(i) => Ok(history[i + 1..].to_vec()),
            None => Err(LakehouseError::SnapshotNotFound {
                table: self.name.to_string(),
                snapshot_id: after,
            }),
        }
    }

    /// The live data files of the current snapshot.
    pub async fn data_files(&self) -> Result<Vec<DataFileInfo>> {
        let Some(snapshot) = self.table.metadata().current_snapshot() else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        let list = self.table.manifest_list_reader(snapshot).load().await?;
        for manifest in list.entries() {
            if manifest.content != ManifestContentType::Data {
                continue;
            }
            let loaded = manifest.load_manifest(self.table.file_io()).await?;
            for entry in loaded.entries() {
                if entry.is_alive() && entry.content_type() == DataContentType::Data {
                    files.push(file_info(entry)?);
                }
            }
        }
        Ok(files)
    }

    /// The data files added by snapshot `snapshot_id` (whether or not they are still live).
    pub async fn files_added_by(&self, snapshot_id: i64) -> Result<Vec<DataFileInfo>> {
        let snapshot = self
            .table
            .metadata()
            .snapshot_by_id(snapshot_id)
            .ok_or_else(|| LakehouseError::SnapshotNotFound {
                table: self.name.to_string(),
                snapshot_id,
            })?;
        let mut files = Vec::new();
        let list = self.table.manifest_list_reader(snapshot).load().await?;
        for manifest in list.entries() {
            // Manifests written by this snapshot are the only ones that can hold its additions.
            if manifest.content != ManifestContentType::Data
                || manifest.added_snapshot_id != snapshot_id
            {
                continue;
            }
            let loaded = manifest.load_manifest(self.table.file_io()).await?;
            for entry in loaded.entries() {
                if entry.status() == ManifestStatus::Added
                    && entry.snapshot_id() == Some(snapshot_id)
                    && entry.content_type() == DataContentType::Data
                {
                    files.push(file_info(entry)?);
                }
            }
        }
        Ok(files)
    }
}

fn file_info(entry: &iceberg::spec::ManifestEntry) -> Result<DataFileInfo> {
    let missing = |what: &str| {
        LakehouseError::Iceberg(iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            format!("manifest entry for {} has no {what}", entry.file_path()),
        ))
    };
    Ok(DataFileInfo {
        path: entry.file_path().to_owned(),
        record_count: entry.record_count(),
        file_size_in_bytes: entry.file_size_in_bytes(),
        added_snapshot_id: entry.snapshot_id().ok_or_else(|| missing("snapshot id"))?,
        data_file: entry.data_file().clone(),
    })
}
