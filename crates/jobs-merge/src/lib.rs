//! flowctl's `iceberg_merge` job (silver): merges the Debezium change events that a bronze table
//! gained since the last run into a silver Iceberg table, as the current state per primary key
//! (`mode: current`) or as a type-2 slowly changing dimension (`mode: scd2`).
//!
//! * Incremental: only bronze snapshots after the one recorded in silver's current snapshot
//!   summary ([`flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY`]) are read; the new last
//!   one is recorded in the same commit as the data. No new bronze data = no commit.
//! * Typed: columns come from the events' value schema (decimals exact, timestamps, dates) or
//!   from the step's declared `columns`; a new source column is added to silver.
//! * Ordered: per key, changes apply in [`flowctl_cdc::OrderingKey`] order (LSN, source time,
//!   Kafka offset); deletes take their key from `before` or the Kafka key; the TOAST
//!   placeholder keeps the stored value.
//! * Copy-on-write: only the data files holding touched keys are rewritten, in one `overwrite`
//!   commit; a commit conflict reloads and redoes the merge.

#![warn(missing_docs)]

mod apply;
mod arrow_rows;
mod changes;
mod config;
mod decode;
mod error;
mod group;
mod json_scan;
mod keys;
mod merge;
mod plugin;
mod row_scan;
mod source;
mod values;
mod winners;

use std::sync::Arc;

use flowctl_engine::job::JobRegistry;

pub use config::{MergeConfig, MergeMode};
pub use error::MergeError;
pub use merge::{
    BeforeCommit, EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, LIVE_ROWS_SUMMARY_KEY, MAX_ATTEMPTS,
    MergeHooks, MergeOutcome, ORDER_COLUMNS, merge,
};
pub use plugin::{MergeJob, TYPE_NAME};

/// Registers the `iceberg_merge` job type.
pub fn register(registry: &mut JobRegistry) {
    registry.register(Arc::new(MergeJob::new()));
}
