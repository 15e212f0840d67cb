//! Building the Arrow batches of bronze rows and dead-letter rows, column by column (no
//! intermediate row structs: this is the hot path of the ingest).

use std::sync::Arc;

use flowctl_cdc::ChangeEvent;
use flowctl_lakehouse::arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use flowctl_lakehouse::arrow_array::{ArrayRef, RecordBatch};
use flowctl_lakehouse::arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use flowctl_lakehouse::bronze::columns;

use crate::error::KafkaJobError;

const UTC: &str = "+00:00";

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

fn bronze_schema() -> SchemaRef {
    use columns::*;
    let s = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let l = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        s(TOPIC, false),
        Field::new(PARTITION, DataType::Int32, false),
        Field::new(OFFSET, DataType::Int64, false),
        s(KEY, true),
        l(KAFKA_TIMESTAMP_MS),
        s(OP, false),
        s(SOURCE_DB, true),
        s(SOURCE_SCHEMA, true),
        s(SOURCE_TABLE, true),
        l(SOURCE_TS_MS),
        l(TS_MS),
        l(LSN),
        l(TX_ID),
        s(BEFORE, true),
        s(AFTER, true),
        s(VALUE_SCHEMA, true),
        Field::new(INGESTED_AT, timestamp_type(), false),
    ]))
}

fn dlq_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(columns::TOPIC, DataType::Utf8, false),
        Field::new(columns::PARTITION, DataType::Int32, false),
        Field::new(columns::OFFSET, DataType::Int64, false),
        Field::new("raw_key", DataType::Binary, true),
        Field::new("raw_value", DataType::Binary, true),
        Field::new("error", DataType::Utf8, false),
        Field::new(columns::INGESTED_AT, timestamp_type(), false),
    ]))
}

/// Where one Kafka message came from.
#[derive(Debug, Clone, Copy)]
pub struct Coordinates<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// Accumulates bronze rows into batches of `batch_size` rows.
pub struct BronzeRows {
    schema: SchemaRef,
    batch_size: usize,
    ingested_at_us: i64,
    len: usize,
    done: Vec<RecordBatch>,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    key: StringBuilder,
    kafka_ts: Int64Builder,
    op: StringBuilder,
    db: StringBuilder,
    schema_name: StringBuilder,
    table: StringBuilder,
    source_ts: Int64Builder,
    ts: Int64Builder,
    lsn: Int64Builder,
    tx_id: Int64Builder,
    before: StringBuilder,
    after: StringBuilder,
    value_schema: StringBuilder,
    ingested_at: TimestampMicrosecondBuilder,
}

impl BronzeRows {
    /// Empty; every row gets `ingested_at_us` (µs since the epoch) as its ingestion time.
    pub fn new(batch_size: usize, ingested_at_us: i64) -> Self {
        Self {
            schema: bronze_schema(),
            batch_size: batch_size.max(1),
            ingested_at_us,
            len: 0,
            done: Vec::new(),
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            key: StringBuilder::new(),
            kafka_ts: Int64Builder::new(),
            op: StringBuilder::new(),
            db: StringBuilder::new(),
            schema_name: StringBuilder::new(),
            table: StringBuilder::new(),
            source_ts: Int64Builder::new(),
            ts: Int64Builder::new(),
            lsn: Int64Builder::new(),
            tx_id: Int64Builder::new(),
            before: StringBuilder::new(),
            after: StringBuilder::new(),
            value_schema: StringBuilder::new(),
            ingested_at: TimestampMicrosecondBuilder::new().with_timezone(UTC),
        }
    }

    /// Adds one change event.
    pub fn push(
        &mut self,
        at: Coordinates<'_>,
        key_json: Option<&str>,
        kafka_timestamp_ms: Option<i64>,
        event: &ChangeEvent<'_>,
    ) -> Result<(), KafkaJobError> {
        self.topic.append_value(at.topic);
        self.partition.append_value(at.partition);
        self.offset.append_value(at.offset);
        self.key.append_option(key_json);
        self.kafka_ts.append_option(kafka_timestamp_ms);
        self.op.append_value(event.op.code());
        self.db.append_option(event.source.db.as_deref());
        self.schema_name
            .append_option(event.source.schema.as_deref());
        self.table.append_option(event.source.table.as_deref());
        self.source_ts.append_option(event.source.ts_ms);
        self.ts.append_option(event.ts_ms);
        self.lsn.append_option(event.source.lsn);
        self.tx_id.append_option(event.source.tx_id);
        self.before.append_option(event.before_json());
        self.after.append_option(event.after_json());
        self.value_schema.append_option(event.schema_json());
        self.ingested_at.append_value(self.ingested_at_us);
        self.len += 1;
        if self.len >= self.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows added so far.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.done.is_empty()
    }

    fn flush(&mut self) -> Result<(), KafkaJobError> {
        if self.len == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.kafka_ts.finish()),
            Arc::new(self.op.finish()),
            Arc::new(self.db.finish()),
            Arc::new(self.schema_name.finish()),
            Arc::new(self.table.finish()),
            Arc::new(self.source_ts.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.lsn.finish()),
            Arc::new(self.tx_id.finish()),
            Arc::new(self.before.finish()),
            Arc::new(self.after.finish()),
            Arc::new(self.value_schema.finish()),
            Arc::new(self.ingested_at.finish()),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| KafkaJobError::Kafka(format!("building a bronze batch: {e}")))?;
        self.done.push(batch);
        self.len = 0;
        Ok(())
    }

    /// The batches, the last one possibly shorter.
    pub fn finish(mut self) -> Result<Vec<RecordBatch>, KafkaJobError> {
        self.flush()?;
        Ok(self.done)
    }
}

/// One message that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes as received.
    pub raw_key: Option<Vec<u8>>,
    /// Value bytes as received.
    pub raw_value: Option<Vec<u8>>,
    /// Why it was rejected.
    pub error: String,
}

/// The dead-letter rows as one batch.
pub fn dlq_batch(rows: &[DeadLetter], ingested_at_us: i64) -> Result<RecordBatch, KafkaJobError> {
    let mut topic = StringBuilder::new();
    let mut partition = Int32Builder::new();
    let mut offset = Int64Builder::new();
    let mut key = BinaryBuilder::new();
    let mut value = BinaryBuilder::new();
    let mut error = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::new().with_timezone(UTC);
    for row in rows {
        topic.append_value(&row.topic);
        partition.append_value(row.partition);
        offset.append_value(row.offset);
        key.append_option(row.raw_key.as_deref());
        value.append_option(row.raw_value.as_deref());
        error.append_value(&row.error);
        at.append_value(ingested_at_us);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(topic.finish()),
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        Arc::new(key.finish()),
        Arc::new(value.finish()),
        Arc::new(error.finish()),
        Arc::new(at.finish()),
    ];
    RecordBatch::try_new(dlq_schema(), columns)
        .map_err(|e| KafkaJobError::Kafka(format!("building a dead-letter batch: {e}")))
}
