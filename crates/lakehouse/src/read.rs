//! Reading data files into Arrow batches with the table's current schema.

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt, stream};
use iceberg::scan::FileScanTask;
use iceberg::spec::DataFileFormat;

use crate::error::Result;
use crate::schema::conform_batch;
use crate::table::{DataFileInfo, LakeTable};

/// Reads `files` of `table` and returns their rows as batches of the table's *current* schema:
/// columns are matched by Iceberg field id, so a file written before a column was added yields
/// nulls for it, and renamed columns keep their data.
pub(crate) async fn read_files(
    table: &LakeTable,
    files: &[DataFileInfo],
) -> Result<Vec<RecordBatch>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let schema = table.table.metadata().current_schema().clone();
    let field_ids: Vec<i32> = schema.as_struct().fields().iter().map(|f| f.id).collect();
    let tasks: Vec<iceberg::Result<FileScanTask>> = files
        .iter()
        .map(|f| {
            Ok(FileScanTask::builder()
                .with_file_size_in_bytes(f.file_size_in_bytes)
                .with_start(0)
                .with_length(f.file_size_in_bytes)
                .with_record_count(Some(f.record_count))
                .with_data_file_path(f.path.clone())
                .with_data_file_format(DataFileFormat::Parquet)
                .with_schema(schema.clone())
                .with_project_field_ids(field_ids.clone())
                .with_partition(None)
                .with_partition_spec(None)
                .with_case_sensitive(true)
                .build())
        })
        .collect();
    let reader = table.table.reader_builder().build();
    let batches: Vec<RecordBatch> = reader
        .read(stream::iter(tasks).boxed())?
        .stream()
        .try_collect()
        .await?;
    // The reader's output carries the same fields; normalise to exactly the table's Arrow schema
    // so batches from different files (and snapshots) can be concatenated.
    let target = table.arrow_schema()?;
    batches.iter().map(|b| conform_batch(b, &target)).collect()
}
