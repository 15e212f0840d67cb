//! flowctl's Kafka job plugins.
//!
//! - [`produce`] — `kafka_produce`: publishes a JSONL file of messages to a topic (the demo's
//!   source; tests).
//! - [`bronze`] — `kafka_to_iceberg`: Debezium change events into an Iceberg bronze table,
//!   exactly once (offsets committed with the data), malformed messages into `<table>_dlq`.
//! - [`settings`] — a target's `kafka:` block (`bootstrap: embedded` or `host:port,...`,
//!   pass-through librdkafka `properties`).
//! - [`embedded`] — the in-process broker (librdkafka's mock cluster) used by default.
//!
//! The binary calls [`register`] to add the job types to its registry.

use std::sync::Arc;

use flowctl_engine::job::JobRegistry;

pub mod bronze;
pub mod embedded;
mod error;
#[cfg(test)]
mod fault;
pub mod produce;
pub mod settings;
#[cfg(test)]
mod tests;

pub use error::KafkaJobError;

/// Adds `kafka_produce` and `kafka_to_iceberg` to `registry`.
pub fn register(registry: &mut JobRegistry) {
    registry
        .register(Arc::new(produce::ProduceJob::new()))
        .register(Arc::new(bronze::BronzeJob::new()));
}
