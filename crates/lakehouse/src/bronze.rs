//! The layout of bronze tables (raw Debezium change events, append-only) and their dead-letter
//! tables: the contract between the `kafka_to_iceberg` job that writes them and the
//! `iceberg_merge` job (and users' SQL) that read them.

use crate::{Column, ColumnType};

/// Snapshot-summary key holding the next Kafka offset to read per topic partition, as JSON
/// `{"<topic>": {"<partition>": <next offset>}}`: committed atomically with the data.
pub const OFFSETS_SUMMARY_KEY: &str = "flowctl.kafka.next-offsets";
/// Snapshot-summary key holding the Kafka cluster id the offsets belong to (a recreated or
/// embedded broker has another id, so stored offsets must not be applied to it blindly).
pub const CLUSTER_SUMMARY_KEY: &str = "flowctl.kafka.cluster-id";

/// Column names of a bronze table, in order.
pub mod columns {
    /// Kafka topic the event was read from.
    pub const TOPIC: &str = "kafka_topic";
    /// Kafka partition.
    pub const PARTITION: &str = "kafka_partition";
    /// Kafka offset.
    pub const OFFSET: &str = "kafka_offset";
    /// Kafka key as JSON text (the primary key; schema wrapper removed), null when absent.
    pub const KEY: &str = "kafka_key";
    /// Kafka message timestamp (ms since epoch), when the broker set one.
    pub const KAFKA_TIMESTAMP_MS: &str = "kafka_timestamp_ms";
    /// Debezium op: c, u, d, r, t.
    pub const OP: &str = "op";
    /// `source.db`.
    pub const SOURCE_DB: &str = "source_db";
    /// `source.schema`.
    pub const SOURCE_SCHEMA: &str = "source_schema";
    /// `source.table`.
    pub const SOURCE_TABLE: &str = "source_table";
    /// `source.ts_ms`: when the change happened in the source database.
    pub const SOURCE_TS_MS: &str = "source_ts_ms";
    /// Event `ts_ms`: when Debezium processed the change.
    pub const TS_MS: &str = "ts_ms";
    /// `source.lsn` (Postgres WAL position).
    pub const LSN: &str = "lsn";
    /// `source.txId`.
    pub const TX_ID: &str = "tx_id";
    /// `before` as JSON text (null when absent).
    pub const BEFORE: &str = "before";
    /// `after` as JSON text (null when absent).
    pub const AFTER: &str = "after";
    /// The value schema (Kafka Connect JSON converter `schema`) as JSON text, when present:
    /// silver derives typed columns (decimals, timestamps) from it.
    pub const VALUE_SCHEMA: &str = "value_schema";
    /// When flowctl wrote the event.
    pub const INGESTED_AT: &str = "ingested_at";
}

/// The bronze table's columns.
pub fn bronze_columns() -> Vec<Column> {
    use columns::*;
    vec![
        Column::required(TOPIC, ColumnType::String),
        Column::required(PARTITION, ColumnType::Int),
        Column::required(OFFSET, ColumnType::Long),
        Column::optional(KEY, ColumnType::String),
        Column::optional(KAFKA_TIMESTAMP_MS, ColumnType::Long),
        Column::required(OP, ColumnType::String),
        Column::optional(SOURCE_DB, ColumnType::String),
        Column::optional(SOURCE_SCHEMA, ColumnType::String),
        Column::optional(SOURCE_TABLE, ColumnType::String),
        Column::optional(SOURCE_TS_MS, ColumnType::Long),
        Column::optional(TS_MS, ColumnType::Long),
        Column::optional(LSN, ColumnType::Long),
        Column::optional(TX_ID, ColumnType::Long),
        Column::optional(BEFORE, ColumnType::String),
        Column::optional(AFTER, ColumnType::String),
        Column::optional(VALUE_SCHEMA, ColumnType::String),
        Column::required(INGESTED_AT, ColumnType::Timestamptz),
    ]
}

/// Suffix of a bronze table's dead-letter table (`bronze.orders` → `bronze.orders_dlq`).
pub const DLQ_SUFFIX: &str = "_dlq";

/// The dead-letter table's columns: messages that are not valid JSON or not Debezium events,
/// kept whole with the reason, never lost.
pub fn dlq_columns() -> Vec<Column> {
    vec![
        Column::required(columns::TOPIC, ColumnType::String),
        Column::required(columns::PARTITION, ColumnType::Int),
        Column::required(columns::OFFSET, ColumnType::Long),
        Column::optional("raw_key", ColumnType::Binary),
        Column::optional("raw_value", ColumnType::Binary),
        Column::required("error", ColumnType::String),
        Column::required(columns::INGESTED_AT, ColumnType::Timestamptz),
    ]
}

/// Snapshot-summary key of a silver table holding the id of the last bronze snapshot merged.
pub const SILVER_SOURCE_SNAPSHOT_KEY: &str = "flowctl.merge.source-snapshot-id";
