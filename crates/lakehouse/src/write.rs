//! Writing record batches into new Parquet data files of a table (not yet committed).

use arrow_array::RecordBatch;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, DataFileFormat, TableMetadata, TableMetadataRef};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use uuid::Uuid;

use crate::error::{LakehouseError, Result};
use crate::schema::{arrow_schema_of, conform_batch};

/// Writes `batches` as ZSTD-compressed Parquet files under the table's data directory and returns
/// their manifest descriptions (with column statistics computed by the `iceberg` crate).
///
/// Every call uses a fresh UUID as file-name prefix: `DefaultFileNameGenerator` numbers files from
/// zero per instance, so a shared prefix would reuse names across writes.
pub(crate) async fn write_data_files(
    metadata: &TableMetadata,
    file_io: &FileIO,
    batches: &[RecordBatch],
) -> Result<Vec<DataFile>> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(Vec::new());
    }
    let schema = metadata.current_schema().clone();
    let arrow_schema = arrow_schema_of(&schema)?;
    let properties = writer_properties(batches);
    let parquet = ParquetWriterBuilder::new(properties, schema);
    let locations = DefaultLocationGenerator::new(metadata)?;
    let names =
        DefaultFileNameGenerator::new(Uuid::new_v4().to_string(), None, DataFileFormat::Parquet);
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        parquet,
        file_io.clone(),
        locations,
        names,
    );
    let mut writer = DataFileWriterBuilder::new(rolling).build(None).await?;
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        writer.write(conform_batch(batch, &arrow_schema)?).await?;
    }
    Ok(writer.close().await?)
}

/// Rows of each column looked at to decide whether to dictionary-encode it.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;

/// Parquet settings for writing `batches`: ZSTD pages, and dictionary encoding only for the
/// columns whose values repeat.
///
/// parquet-rs dictionary-encodes every column and falls back to plain pages only once a
/// dictionary outgrows its page: for a column of distinct values (keys, offsets, LSNs, event
/// times, JSON payloads) that hashes every value into a dictionary that only makes the file
/// bigger. So each column's first rows are sampled: a column whose sample is mostly distinct
/// values is written plain.
fn writer_properties(batches: &[RecordBatch]) -> WriterProperties {
    // parquet-rs defaults to uncompressed pages, ~20× larger for CDC payloads.
    let mut builder =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    if let Some(sample) = batches.iter().find(|b| b.num_rows() > 0) {
        let rows = sample.num_rows().min(DICTIONARY_SAMPLE_ROWS);
        let schema = sample.schema();
        for (field, column) in schema.fields().iter().zip(sample.columns()) {
            let distinct = distinct_values(column.slice(0, rows).as_ref());
            if distinct.is_some_and(|n| n * 2 > rows) {
                builder = builder
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
    }
    builder.build()
}

/// How many distinct values `array` holds (nulls aside), for flat columns of primitive, text
/// or binary values; `None` for other types.
fn distinct_values(array: &dyn arrow_array::Array) -> Option<usize> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let mut seen: std::collections::HashSet<&[u8], foldhash::fast::RandomState> =
        std::collections::HashSet::default();
    let data;
    match array.data_type() {
        DataType::Utf8 => seen.extend(array.as_string::<i32>().iter().flatten().map(str::as_bytes)),
        DataType::LargeUtf8 => {
            seen.extend(array.as_string::<i64>().iter().flatten().map(str::as_bytes))
        }
        DataType::Utf8View => {
            seen.extend(array.as_string_view().iter().flatten().map(str::as_bytes))
        }
        DataType::Binary => seen.extend(array.as_binary::<i32>().iter().flatten()),
        DataType::LargeBinary => seen.extend(array.as_binary::<i64>().iter().flatten()),
        ty if ty.is_primitive() => {
            let width = ty.primitive_width()?;
            data = array.to_data();
            let values = data.buffers().first()?.as_slice();
            let start = data.offset() * width;
            let values = values.get(start..start + data.len() * width)?;
            let nulls = data.nulls();
            seen.extend(
                values
                    .chunks_exact(width)
                    .enumerate()
                    .filter(|(i, _)| nulls.is_none_or(|n| n.is_valid(*i)))
                    .map(|(_, v)| v),
            );
        }
        _ => return None,
    }
    Some(seen.len())
}

/// [`write_data_files`] for each group of batches, the groups written concurrently (up to one
/// per core at a time, each on its own task: encoding and compressing Parquet is CPU-bound).
/// The files come back in group order.
pub(crate) async fn write_data_file_groups(
    metadata: TableMetadataRef,
    file_io: &FileIO,
    groups: Vec<Vec<RecordBatch>>,
) -> Result<Vec<DataFile>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(cores));
    let tasks: Vec<AbortOnDrop<Result<Vec<DataFile>>>> = groups
        .into_iter()
        .map(|batches| {
            let (metadata, file_io, permits) = (metadata.clone(), file_io.clone(), permits.clone());
            AbortOnDrop(tokio::spawn(async move {
                // The semaphore is never closed; a closed one would only mean no limit.
                let _permit = permits.acquire_owned().await.ok();
                write_data_files(&metadata, &file_io, &batches).await
            }))
        })
        .collect();
    let mut files = Vec::new();
    for mut task in tasks {
        match (&mut task.0).await {
            Ok(written) => files.extend(written?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(LakehouseError::Iceberg(iceberg::Error::new(
                    iceberg::ErrorKind::Unexpected,
                    format!("writing data files: {e}"),
                )));
            }
        }
    }
    Ok(files)
}

/// A spawned task that stops when its result is no longer awaited.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn only_columns_whose_values_repeat_are_dictionary_encoded() {
        let rows = 10_000;
        let column = |values: ArrayRef| values;
        let batch = RecordBatch::try_from_iter([
            (
                "offset",
                column(Arc::new(Int64Array::from_iter_values(0..rows))),
            ),
            (
                "op",
                column(Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["c", "u", "d"][i as usize % 3]),
                ))),
            ),
            (
                "after",
                column(Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{{\"id\":{i}}}")),
                ))),
            ),
            (
                "partition",
                column(Arc::new(Int32Array::from_iter_values(
                    (0..rows).map(|i| (i % 3) as i32),
                ))),
            ),
            (
                // Mostly null: the few values repeat.
                "note",
                column(Arc::new(Int64Array::from_iter(
                    (0..rows).map(|i| (i % 100 == 0).then_some(7)),
                ))),
            ),
        ])
        .unwrap();
        let properties = writer_properties(&[batch.slice(0, 0), batch]);
        let dictionary = |name: &str| properties.dictionary_enabled(&ColumnPath::from(name));
        assert!(!dictionary("offset"));
        assert!(!dictionary("after"));
        assert!(dictionary("op"));
        assert!(dictionary("partition"));
        assert!(dictionary("note"));
        assert!(dictionary("a_column_not_in_the_batch"));
        assert_eq!(
            properties.compression(&ColumnPath::from("after")),
            Compression::ZSTD(ZstdLevel::default())
        );
        // Nothing to sample: the defaults.
        assert!(writer_properties(&[]).dictionary_enabled(&ColumnPath::from("offset")));
    }
}
