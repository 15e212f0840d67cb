//! Shared fixtures: a fresh lakehouse per test and small batch builders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_cast::display::array_value_to_string;
use arrow_schema::{DataType, Field, Schema};
use flowctl_lakehouse::{Column, ColumnType, LakeTable, Lakehouse, TableName, TableSchema};

/// A lakehouse in its own temp dir (kept alive as long as the fixture).
pub struct Lake {
    pub dir: tempfile::TempDir,
    pub lake: Lakehouse,
}

impl Lake {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lakehouse::open(
            dir.path().join("catalog.db").to_str().unwrap(),
            dir.path().join("warehouse"),
        )
        .await
        .unwrap();
        Self { dir, lake }
    }

    /// A second, independent connection to the same catalog (another "process").
    pub async fn reopen(&self) -> Lakehouse {
        Lakehouse::open(self.catalog_path().to_str().unwrap(), self.warehouse_path())
            .await
            .unwrap()
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.dir.path().join("catalog.db")
    }

    pub fn warehouse_path(&self) -> PathBuf {
        self.dir.path().join("warehouse").canonicalize().unwrap()
    }

    /// A `(id long required, name string)` table.
    pub async fn simple_table(&self, name: &str) -> LakeTable {
        let schema = TableSchema::Columns(vec![
            Column::required("id", ColumnType::Long),
            Column::optional("name", ColumnType::String),
        ]);
        self.lake
            .create_table_if_missing(&TableName::parse(name).unwrap(), &schema)
            .await
            .unwrap()
    }

    pub async fn load(&self, name: &str) -> LakeTable {
        self.lake
            .load_table(&TableName::parse(name).unwrap())
            .await
            .unwrap()
    }
}

/// A batch `(id, name)` with `name = "n<id>"`.
pub fn id_batch(ids: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(names)) as ArrayRef,
        ],
    )
    .unwrap()
}

/// The sorted values of the `id` column across batches.
pub fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let col = b
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        out.extend(col.iter().map(|v| v.unwrap()));
    }
    out.sort_unstable();
    out
}

/// Every row as `column -> display text` ("" for null), sorted by the `id` column's text.
pub fn rows(batches: &[RecordBatch]) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            let mut map = BTreeMap::new();
            for (i, f) in b.schema().fields().iter().enumerate() {
                let col = b.column(i);
                let text = if col.is_null(row) {
                    String::new()
                } else {
                    array_value_to_string(col, row).unwrap()
                };
                map.insert(f.name().clone(), text);
            }
            out.push(map);
        }
    }
    out.sort_by_key(|r| r.get("id").and_then(|v| v.parse::<i64>().ok()));
    out
}

pub fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every Parquet file under `dir`, as `file://` paths.
pub fn parquet_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(format!("file://{}", path.display()));
            }
        }
    }
    out.sort();
    out
}
