//! Writing record batches into new Parquet data files of a table (not yet committed).

use arrow_array::RecordBatch;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, DataFileFormat, TableMetadata};
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

use crate::error::Result;
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
