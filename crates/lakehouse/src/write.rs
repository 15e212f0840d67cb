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
    // parquet-rs defaults to uncompressed pages, ~20× larger for CDC payloads.
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
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
