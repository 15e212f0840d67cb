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
/// Below this many rows a write keeps parquet-rs's default (a few rows say little, and a
/// small file costs little either way).
const DICTIONARY_MIN_SAMPLE_ROWS: usize = 256;

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
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return builder.build();
    };
    for field in first.schema().fields() {
        let mut distinct = DistinctValues::default();
        let mut rows = 0;
        for column in batches
            .iter()
            .filter_map(|b| b.column_by_name(field.name()))
        {
            let take = column.len().min(DICTIONARY_SAMPLE_ROWS - rows);
            if !distinct.add(column.slice(0, take).as_ref()) {
                // A type the sample does not read: keep the default.
                rows = 0;
                break;
            }
            rows += take;
            if rows == DICTIONARY_SAMPLE_ROWS {
                break;
            }
        }
        if rows >= DICTIONARY_MIN_SAMPLE_ROWS && distinct.count() * 2 > rows {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Counts the distinct non-null values of flat columns of primitive, text or binary values (by
/// hash: a collision only makes the count a little low).
#[derive(Default)]
struct DistinctValues {
    hashes: std::collections::HashSet<u64, foldhash::fast::RandomState>,
    hasher: foldhash::fast::FixedState,
}

impl DistinctValues {
    /// Adds the values of `array`; `false` for a type it does not read.
    fn add(&mut self, array: &dyn arrow_array::Array) -> bool {
        use arrow_array::cast::AsArray;
        use arrow_schema::DataType;
        use std::hash::BuildHasher;
        let hasher = self.hasher.clone();
        let mut insert = |bytes: &[u8]| {
            self.hashes.insert(hasher.hash_one(bytes));
        };
        match array.data_type() {
            DataType::Utf8 => array
                .as_string::<i32>()
                .iter()
                .flatten()
                .for_each(|v| insert(v.as_bytes())),
            DataType::LargeUtf8 => array
                .as_string::<i64>()
                .iter()
                .flatten()
                .for_each(|v| insert(v.as_bytes())),
            DataType::Utf8View => array
                .as_string_view()
                .iter()
                .flatten()
                .for_each(|v| insert(v.as_bytes())),
            DataType::Binary => array.as_binary::<i32>().iter().flatten().for_each(insert),
            DataType::LargeBinary => array.as_binary::<i64>().iter().flatten().for_each(insert),
            ty if ty.is_primitive() => {
                let Some(width) = ty.primitive_width() else {
                    return false;
                };
                let data = array.to_data();
                let Some(values) = data.buffers().first().map(|b| b.as_slice()) else {
                    return false;
                };
                let start = data.offset() * width;
                let Some(values) = values.get(start..start + data.len() * width) else {
                    return false;
                };
                let nulls = data.nulls();
                values
                    .chunks_exact(width)
                    .enumerate()
                    .filter(|(i, _)| nulls.is_none_or(|n| n.is_valid(*i)))
                    .for_each(|(_, v)| insert(v));
            }
            _ => return false,
        }
        true
    }

    fn count(&self) -> usize {
        self.hashes.len()
    }
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
        // Nothing to sample, or too little: the defaults.
        assert!(writer_properties(&[]).dictionary_enabled(&ColumnPath::from("offset")));
        let few = RecordBatch::try_from_iter([(
            "offset",
            Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef,
        )])
        .unwrap();
        assert!(
            writer_properties(std::slice::from_ref(&few))
                .dictionary_enabled(&ColumnPath::from("offset"))
        );
        // The sample spans batches: a small first batch does not decide alone.
        let repeated = RecordBatch::try_from_iter([(
            "offset",
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i % 10))) as ArrayRef,
        )])
        .unwrap();
        assert!(
            writer_properties(&[few, repeated]).dictionary_enabled(&ColumnPath::from("offset"))
        );
    }
}
