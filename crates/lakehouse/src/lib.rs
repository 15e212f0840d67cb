//! flowctl's Iceberg table layer.
//!
//! Tables live in an Iceberg **SQL catalog** (a SQLite file or a Postgres database; the same
//! tables PyIceberg's `SqlCatalog` uses) with a warehouse directory on local disk. Built on the
//! official `iceberg` crate 0.10 for the catalog, Parquet writing (with column statistics) and
//! reading; snapshots are produced by this crate (see the `commit` module) because the official
//! crate can only fast-append and re-bases commits silently. Every commit here:
//!
//! - is made against the [`LakeTable`] the caller loaded and succeeds only if the table is still
//!   in that state (a compare-and-swap of the catalog row's metadata pointer); otherwise
//!   [`LakehouseError::CommitConflict`] (retryable: reload, redo, commit);
//! - carries caller properties in the snapshot summary (Kafka offsets for bronze, the last
//!   processed bronze snapshot for silver), atomically with the data;
//! - writes ZSTD Parquet data files with unique names and standard Iceberg v2 metadata.
//!
//! ```no_run
//! # async fn demo(batches: Vec<arrow_array::RecordBatch>) -> flowctl_lakehouse::Result<()> {
//! use std::collections::BTreeMap;
//! use flowctl_lakehouse::{Column, ColumnType, Lakehouse, TableName, TableSchema};
//!
//! let lake = Lakehouse::open(".flowctl/catalog.db", ".flowctl/warehouse").await?;
//! let name = TableName::parse("bronze.orders")?;
//! let schema = TableSchema::Columns(vec![Column::required("id", ColumnType::Long)]);
//! let table = lake.create_table_if_missing(&name, &schema).await?;
//! let offsets = table.current_summary(); // where the last run stopped
//! let summary = BTreeMap::from([("kafka.offsets".to_owned(), "{\"0\":42}".to_owned())]);
//! lake.append(&table, batches, summary).await?;
//! let rows = lake.load_table(&name).await?.scan().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod bronze;
mod cas;
mod commit;
mod error;
mod location;
mod names;
mod read;
mod schema;
mod settings;
mod table;
mod write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::RecordBatch;
use iceberg::io::LocalFsStorageFactory;
use iceberg::spec::FormatVersion;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, TableCreation};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalog, SqlCatalogBuilder,
};

pub use error::{LakehouseError, Result};
pub use names::TableName;
pub use schema::{Column, ColumnType, TableSchema};
pub use settings::{DEFAULT_CATALOG, DEFAULT_WAREHOUSE, IcebergSettings, IcebergTarget};
pub use table::{DataFileInfo, LakeTable, SnapshotInfo};
/// The Arrow and Iceberg crates this API speaks, re-exported so callers use matching versions.
pub use {arrow_array, arrow_schema, iceberg};

use cas::PointerSwap;
use commit::Change;
use location::Dialect;

/// The catalog name flowctl registers its tables under (`catalog_name` column); PyIceberg must
/// open the catalog with the same name to see them.
pub const DEFAULT_CATALOG_NAME: &str = "flowctl";

/// Where the catalog and the warehouse are.
#[derive(Clone, Debug)]
pub struct LakehouseConfig {
    /// `sqlite:…` URL, `postgres://…` URL, or a path to a SQLite file (created if missing).
    pub catalog_url: String,
    /// Warehouse directory (created if missing) or `file://` URL.
    pub warehouse: String,
    /// Catalog name inside the catalog database.
    pub catalog_name: String,
}

impl LakehouseConfig {
    /// A config with the [`DEFAULT_CATALOG_NAME`].
    pub fn new(catalog_url: impl Into<String>, warehouse: impl Into<String>) -> Self {
        Self {
            catalog_url: catalog_url.into(),
            warehouse: warehouse.into(),
            catalog_name: DEFAULT_CATALOG_NAME.to_owned(),
        }
    }
}

/// A connection to an Iceberg SQL catalog and its warehouse.
#[derive(Clone, Debug)]
pub struct Lakehouse {
    catalog: Arc<SqlCatalog>,
    swap: PointerSwap,
    warehouse: String,
}

impl Lakehouse {
    /// Opens (creating if needed) the catalog at `catalog_url` with its warehouse at `warehouse`,
    /// under the catalog name [`DEFAULT_CATALOG_NAME`]. See [`LakehouseConfig`] for the forms.
    pub async fn open(catalog_url: &str, warehouse: impl AsRef<std::path::Path>) -> Result<Self> {
        let warehouse = warehouse.as_ref().to_string_lossy().into_owned();
        Self::open_with(LakehouseConfig::new(catalog_url, warehouse)).await
    }

    /// Opens a catalog described by `config`.
    pub async fn open_with(config: LakehouseConfig) -> Result<Self> {
        let url = location::catalog_url(&config.catalog_url)?;
        let warehouse = location::warehouse_location(&config.warehouse)?;
        let bind_style = match url.dialect {
            Dialect::Sqlite => SqlBindStyle::QMark,
            Dialect::Postgres => SqlBindStyle::DollarNumeric,
        };
        let props = HashMap::from([
            (SQL_CATALOG_PROP_URI.to_owned(), url.url.clone()),
            (SQL_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse.clone()),
            (
                SQL_CATALOG_PROP_BIND_STYLE.to_owned(),
                bind_style.to_string(),
            ),
        ]);
        // The storage seam: an object-store warehouse would pass iceberg-storage-opendal's
        // factory here (and the warehouse check in `location` would let s3:// through).
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::new(LocalFsStorageFactory))
            .load(config.catalog_name.clone(), props)
            .await?;
        // Connect after the catalog so its tables exist before the swap pool ever runs.
        let swap = PointerSwap::connect(&url, &config.catalog_name).await?;
        Ok(Self {
            catalog: Arc::new(catalog),
            swap,
            warehouse,
        })
    }

    /// The underlying `iceberg` catalog (e.g. for a DataFusion catalog provider). Commits made
    /// through it bypass this crate's base-state check; use it for reads.
    pub fn catalog(&self) -> Arc<SqlCatalog> {
        self.catalog.clone()
    }

    /// The warehouse location (`file:///…`).
    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }

    /// Creates the namespace `namespace` (dot-separated levels) unless it exists.
    pub async fn create_namespace_if_missing(&self, namespace: &str) -> Result<()> {
        let ident =
            iceberg::NamespaceIdent::from_vec(namespace.split('.').map(str::to_owned).collect())?;
        if self.catalog.namespace_exists(&ident).await? {
            return Ok(());
        }
        match self.catalog.create_namespace(&ident, HashMap::new()).await {
            Ok(_) => Ok(()),
            // Lost a race with another creator: the namespace exists, which is what we wanted.
            // The SQL catalog reports that race as a raw unique-constraint error, not as
            // NamespaceAlreadyExists, so look again rather than trust the error kind.
            Err(e) if e.kind() == iceberg::ErrorKind::NamespaceAlreadyExists => Ok(()),
            Err(e) if self.catalog.namespace_exists(&ident).await.unwrap_or(false) => {
                tracing::debug!("namespace {namespace} created concurrently: {e}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Namespaces at the top level of the catalog, sorted.
    pub async fn list_namespaces(&self) -> Result<Vec<String>> {
        let mut all: Vec<String> = self
            .catalog
            .list_namespaces(None)
            .await?
            .into_iter()
            .map(|n| n.join("."))
            .collect();
        all.sort();
        Ok(all)
    }

    /// Whether the table exists.
    pub async fn table_exists(&self, name: &TableName) -> Result<bool> {
        Ok(self.catalog.table_exists(&name.ident()?).await?)
    }

    /// The tables of `namespace`, sorted; empty if the namespace does not exist.
    pub async fn list_tables(&self, namespace: &str) -> Result<Vec<TableName>> {
        let ident =
            iceberg::NamespaceIdent::from_vec(namespace.split('.').map(str::to_owned).collect())?;
        if !self.catalog.namespace_exists(&ident).await? {
            return Ok(Vec::new());
        }
        let mut tables: Vec<TableName> = self
            .catalog
            .list_tables(&ident)
            .await?
            .iter()
            .map(TableName::from_ident)
            .collect();
        tables.sort();
        Ok(tables)
    }

    /// Loads the table's current state.
    pub async fn load_table(&self, name: &TableName) -> Result<LakeTable> {
        let ident = name.ident()?;
        match self.catalog.load_table(&ident).await {
            Ok(table) => Ok(LakeTable {
                name: name.clone(),
                table,
            }),
            Err(e) if e.kind() == iceberg::ErrorKind::TableNotFound => {
                Err(LakehouseError::TableNotFound(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the table (and its namespace) as an unpartitioned format-v2 table unless it
    /// exists, then loads it. An existing table is returned as it is, whatever its schema.
    pub async fn create_table_if_missing(
        &self,
        name: &TableName,
        schema: &TableSchema,
    ) -> Result<LakeTable> {
        if self.table_exists(name).await? {
            return self.load_table(name).await;
        }
        self.create_namespace_if_missing(&name.namespace_string())
            .await?;
        let creation = TableCreation::builder()
            .name(name.name().to_owned())
            .schema(schema.to_iceberg()?)
            .format_version(FormatVersion::V2)
            .properties([
                ("write.format.default".to_owned(), "parquet".to_owned()),
                (
                    "write.parquet.compression-codec".to_owned(),
                    "zstd".to_owned(),
                ),
            ])
            .build();
        match self
            .catalog
            .create_table(&name.namespace_ident()?, creation)
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == iceberg::ErrorKind::TableAlreadyExists => {}
            // Same race as for namespaces: another writer created it first.
            Err(e) if self.table_exists(name).await.unwrap_or(false) => {
                tracing::debug!("table {name} created concurrently: {e}");
            }
            Err(e) => return Err(e.into()),
        }
        self.load_table(name).await
    }

    /// Adds the `columns` that the table does not have yet (as optional columns; existing
    /// names are left alone) and returns the reloaded table. Files written before read the new
    /// columns as null.
    pub async fn add_columns(&self, base: &LakeTable, columns: &[Column]) -> Result<LakeTable> {
        let schema = base.table.metadata().current_schema().clone();
        let mut tx = Transaction::new(&base.table);
        let mut action = tx.update_schema();
        let mut any = false;
        for column in columns {
            if schema.field_by_name(&column.name).is_none() {
                action =
                    action.add_column(AddColumn::optional(&column.name, column.iceberg_type()?));
                any = true;
            }
        }
        if !any {
            return Ok(base.clone());
        }
        tx = action.apply(tx)?;
        let table = tx
            .commit(self.catalog.as_ref())
            .await
            .map_err(|e| with_table(e, base))?;
        Ok(LakeTable {
            name: base.name.clone(),
            table,
        })
    }

    /// Appends `batches` in one snapshot whose summary also holds `summary`, on top of `base`.
    ///
    /// Batches are matched to the table's columns by name (see [`TableSchema`]); empty batches
    /// are skipped. With no rows at all the snapshot still commits if `summary` is not empty
    /// (an offsets-only commit). Returns the new snapshot id.
    pub async fn append(
        &self,
        base: &LakeTable,
        batches: Vec<RecordBatch>,
        summary: BTreeMap<String, String>,
    ) -> Result<i64> {
        self.overwrite(base, &[], batches, summary).await
    }

    /// Copy-on-write overwrite on top of `base`: removes the live data files `delete_files`
    /// (paths as in [`DataFileInfo::path`]) and adds `add_batches` as new files, in one snapshot
    /// with `summary`. Every path must be live in `base`, else
    /// [`LakehouseError::UnknownDataFile`]. Returns the new snapshot id.
    pub async fn overwrite(
        &self,
        base: &LakeTable,
        delete_files: &[String],
        add_batches: Vec<RecordBatch>,
        summary: BTreeMap<String, String>,
    ) -> Result<i64> {
        let added =
            write::write_data_files(base.table.metadata(), base.table.file_io(), &add_batches)
                .await?;
        let change = Change {
            added,
            removed: delete_files.iter().cloned().collect::<HashSet<_>>(),
            properties: summary,
        };
        commit::commit(&self.swap, base, change).await
    }

    /// [`Lakehouse::overwrite`] where each group of `add_files` is written as its own data
    /// file(s), the groups concurrently: for a caller with much data already split in ranges
    /// (e.g. rows sorted by key, so that each file covers a narrow key range).
    pub async fn overwrite_groups(
        &self,
        base: &LakeTable,
        delete_files: &[String],
        add_files: Vec<Vec<RecordBatch>>,
        summary: BTreeMap<String, String>,
    ) -> Result<i64> {
        let added = write::write_data_file_groups(
            base.table.metadata_ref(),
            base.table.file_io(),
            add_files,
        )
        .await?;
        let change = Change {
            added,
            removed: delete_files.iter().cloned().collect::<HashSet<_>>(),
            properties: summary,
        };
        commit::commit(&self.swap, base, change).await
    }

    /// Replaces the whole content of the table with `batches` (gold `mode: replace`): an
    /// overwrite of every live data file. Returns the new snapshot id.
    pub async fn replace_all(
        &self,
        base: &LakeTable,
        batches: Vec<RecordBatch>,
        summary: BTreeMap<String, String>,
    ) -> Result<i64> {
        let live: Vec<String> = base
            .data_files()
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect();
        self.overwrite(base, &live, batches, summary).await
    }
}

impl LakeTable {
    /// All rows of the current snapshot, as batches of the current schema.
    pub async fn scan(&self) -> Result<Vec<RecordBatch>> {
        let files = self.data_files().await?;
        read::read_files(self, &files, None).await
    }

    /// The rows of the given data files (e.g. those holding keys a merge must rewrite).
    pub async fn read_files(&self, files: &[DataFileInfo]) -> Result<Vec<RecordBatch>> {
        read::read_files(self, files, None).await
    }

    /// Only the named `columns` of the rows of the given data files (in the table's column
    /// order): a reader that needs a few columns skips decoding the others. An unknown column
    /// is a [`LakehouseError::Schema`] error naming the table's columns.
    pub async fn read_files_columns(
        &self,
        files: &[DataFileInfo],
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>> {
        read::read_files(self, files, Some(columns)).await
    }

    /// The rows added by each of `snapshot_ids`, in that order: the incremental read of an
    /// append-only table (see [`LakeTable::snapshots_after`]).
    pub async fn read_added_by(&self, snapshot_ids: &[i64]) -> Result<Vec<RecordBatch>> {
        let files = self.files_added_by_all(snapshot_ids).await?;
        read::read_files(self, &files, None).await
    }

    /// Only the named `columns` of the rows added by each of `snapshot_ids`, in that order
    /// (see [`LakeTable::read_added_by`] and [`LakeTable::read_files_columns`]).
    pub async fn read_added_by_columns(
        &self,
        snapshot_ids: &[i64],
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>> {
        let files = self.files_added_by_all(snapshot_ids).await?;
        read::read_files(self, &files, Some(columns)).await
    }

    async fn files_added_by_all(&self, snapshot_ids: &[i64]) -> Result<Vec<DataFileInfo>> {
        let mut files = Vec::new();
        for id in snapshot_ids {
            files.extend(self.files_added_by(*id).await?);
        }
        Ok(files)
    }
}

/// Names the table in a conflict reported by the `iceberg` crate's own commit path.
fn with_table(e: iceberg::Error, base: &LakeTable) -> LakehouseError {
    match LakehouseError::from(e) {
        LakehouseError::CommitConflict { detail, .. } => LakehouseError::CommitConflict {
            table: base.name.to_string(),
            detail,
        },
        other => other,
    }
}

/// Compile-time check: the futures of the public API can be spawned on a multi-threaded runtime.
#[allow(dead_code)]
fn assert_futures_are_send(lake: &Lakehouse, table: &LakeTable) {
    fn send<T: Send>(_: T) {}
    send(lake.append(table, Vec::new(), BTreeMap::new()));
    send(lake.overwrite(table, &[], Vec::new(), BTreeMap::new()));
    send(lake.overwrite_groups(table, &[], Vec::new(), BTreeMap::new()));
    send(lake.replace_all(table, Vec::new(), BTreeMap::new()));
    send(lake.add_columns(table, &[]));
    send(lake.load_table(&table.name));
    send(table.scan());
    send(table.read_added_by(&[]));
    send(table.read_added_by_columns(&[], &[]));
    send(table.read_files_columns(&[], &[]));
    send(table.data_files());
}
