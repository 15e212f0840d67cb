//! flowctl's Kafka job plugins.
//!
//! - [`produce`] — `kafka_produce`: publishes a JSONL file of messages to a topic (the demo's
//!   source; tests).
//! - [`bronze`] — `kafka_to_iceberg`: Debezium change events into an Iceberg bronze table,
//!   exactly once (offsets committed with the data), malformed messages into `<table>_dlq`;
//!   offsets the broker lost before they were read fail the step, or with `on_gap: skip`
//!   are recorded in `<table>_dlq` (never skipped silently).
//! - [`settings`] — a target's `kafka:` block (`bootstrap: embedded` or `host:port,...`,
//!   pass-through librdkafka `properties`), a typed target section checked when
//!   `flowctl.yaml` is read.
//! - [`embedded`] — the in-process broker (librdkafka's mock cluster) used by default.
//! - [`client`] — the context every Kafka client of an attempt is created with: librdkafka's
//!   own log lines go to the attempt's log (each distinct message once), and a broker that
//!   cannot be reached within the request timeout fails the attempt with one clear line.
//!
//! Both job types follow the engine's typed contract: their fields are a config struct
//! ([`produce::ProduceConfig`], [`bronze::BronzeConfig`]) whose pure check runs at `flowctl
//! validate` and again before every attempt, and the job implements
//! [`flowctl_engine::job::Job`]. The binary calls [`register`] to add the job types and the
//! target sections they read (`kafka:`, `iceberg:`) to its registry.

use flowctl_engine::job::JobRegistry;
use flowctl_lakehouse::IcebergTarget;

pub mod bronze;
pub mod client;
pub mod embedded;
mod error;
#[cfg(test)]
mod fault;
pub mod produce;
pub mod settings;
#[cfg(test)]
mod tests;
mod topic;

pub use error::KafkaJobError;

/// Adds `kafka_produce` and `kafka_to_iceberg` to `registry`, with the target settings they
/// read: the `kafka:` block ([`settings::KafkaSettings`]) and the `iceberg:` block
/// ([`IcebergTarget`], also registered by the other lakehouse job types: it is added once).
pub fn register(registry: &mut JobRegistry) {
    registry
        .add(produce::ProduceJob::new())
        .add(bronze::BronzeJob::new())
        .add_target_section::<settings::KafkaSettings>()
        .add_target_section::<IcebergTarget>();
}
