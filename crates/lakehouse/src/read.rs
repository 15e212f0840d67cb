//! Reading data files into Arrow batches with the table's current schema.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef as ArrowSchemaRef;
use futures::{StreamExt, TryStreamExt, stream};
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFileFormat, SchemaRef};

use crate::error::{LakehouseError, Result};
use crate::schema::conform_batch;
use crate::table::{DataFileInfo, LakeTable};
use crate::write::AbortOnDrop;

/// Rows per decoded batch: parquet-rs's default (1024) makes a thousand batches per million rows,
/// and each batch costs its own arrays and a conformance pass.
const BATCH_ROWS: usize = 8192;

/// Reads `files` of `table` and returns their rows as batches of the table's *current* schema
/// (all of its columns, or only `columns` when given, in the table's column order): columns are
/// matched by Iceberg field id, so a file written before a column was added yields nulls for it,
/// and renamed columns keep their data.
///
/// Batches come in the order of `files` (each file's rows in file order). Files are decoded in
/// parallel, one task per file and up to one per core: decoding Parquet is CPU-bound, and the
/// `iceberg` reader alone decodes every file on the task that polls it.
pub(crate) async fn read_files(
    table: &LakeTable,
    files: &[DataFileInfo],
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let schema = table.table.metadata().current_schema().clone();
    let full = table.arrow_schema()?;
    let (field_ids, target): (Vec<i32>, _) = match columns {
        None => (
            schema.as_struct().fields().iter().map(|f| f.id).collect(),
            full,
        ),
        Some(names) => projection(table, &schema, &full, names)?,
    };
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_file: Vec<Vec<RecordBatch>> = stream::iter(files.iter().cloned())
        .map(|file| {
            let task = scan_task(&file, &schema, &field_ids);
            let reader = table
                .table
                .reader_builder()
                .with_data_file_concurrency_limit(1)
                .with_batch_size(BATCH_ROWS)
                .build();
            let target = target.clone();
            let path = file.path;
            async move {
                let mut read = AbortOnDrop(tokio::spawn(async move {
                    let batches: Vec<RecordBatch> = reader
                        .read(stream::iter([task]).boxed())?
                        .stream()
                        .try_collect()
                        .await?;
                    // The reader's output carries the same fields; normalise to exactly the
                    // table's Arrow schema so batches of different files (and snapshots) can be
                    // concatenated.
                    batches
                        .iter()
                        .map(|b| conform_batch(b, &target))
                        .collect::<Result<Vec<_>>>()
                }));
                match (&mut read.0).await {
                    Ok(batches) => batches,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(LakehouseError::Iceberg(iceberg::Error::new(
                        iceberg::ErrorKind::Unexpected,
                        format!("reading {path}: {e}"),
                    ))),
                }
            }
        })
        .buffered(parallel)
        .try_collect()
        .await?;
    Ok(per_file.into_iter().flatten().collect())
}

fn scan_task(
    file: &DataFileInfo,
    schema: &SchemaRef,
    field_ids: &[i32],
) -> iceberg::Result<FileScanTask> {
    Ok(FileScanTask::builder()
        .with_file_size_in_bytes(file.file_size_in_bytes)
        .with_start(0)
        .with_length(file.file_size_in_bytes)
        .with_record_count(Some(file.record_count))
        .with_data_file_path(file.path.clone())
        .with_data_file_format(DataFileFormat::Parquet)
        .with_schema(schema.clone())
        .with_project_field_ids(field_ids.to_vec())
        .with_partition(None)
        .with_partition_spec(None)
        .with_case_sensitive(true)
        .build())
}

/// The field ids and Arrow schema of the named columns, in the table's column order.
fn projection(
    table: &LakeTable,
    schema: &SchemaRef,
    full: &ArrowSchemaRef,
    names: &[&str],
) -> Result<(Vec<i32>, ArrowSchemaRef)> {
    let mut indices = Vec::with_capacity(names.len());
    for name in names {
        let index = full.index_of(name).map_err(|_| {
            LakehouseError::Schema(format!(
                "table {} has no column `{name}` to read (its columns: {})",
                table.name,
                full.fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        indices.push(index);
    }
    indices.sort_unstable();
    indices.dedup();
    let ids = indices
        .iter()
        .map(|&i| schema.as_struct().fields()[i].id)
        .collect();
    Ok((ids, Arc::new(full.project(&indices)?)))
}
