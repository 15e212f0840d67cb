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
//! * Idempotent: a change that is not a later source change (LSN, then source time) than what
//!   the key already has, such as an event Debezium (at-least-once) delivered again with a new
//!   Kafka offset, changes nothing in either mode; an SCD2 version never starts and ends at the
//!   same time.
//! * Copy-on-write: only the data files holding touched keys are rewritten, in one `overwrite`
//!   commit; a commit conflict reloads and redoes the merge.
//!
//! The job type ([`MergeJob`], registered by [`register`]) follows the engine's typed contract:
//! its fields are [`MergeConfig`], whose pure check (table names, a target that is its own
//! source, `key`, `columns` types, `include`/`exclude`, `source_table`) runs at `flowctl
//! validate` and before every attempt; the catalog and warehouse come from the target's
//! `iceberg:` block ([`flowctl_lakehouse::IcebergTarget`]); a lakehouse or catalog failure is
//! retryable exactly when [`flowctl_lakehouse::LakehouseError::is_retryable`] says so.

#![warn(missing_docs)]

mod apply;
mod arrow_rows;
mod changes;
mod commit;
mod config;
mod decode;
mod error;
mod group;
mod json_scan;
mod keys;
mod merge;
mod order;
mod plan;
mod plugin;
mod prune;
mod row_scan;
mod schema;
mod source;
mod values;
mod winners;

use flowctl_engine::job::JobRegistry;
use flowctl_lakehouse::IcebergTarget;

pub use commit::LIVE_ROWS_SUMMARY_KEY;
pub use config::{MergeConfig, MergeMode};
pub use error::MergeError;
pub use merge::{BeforeCommit, MAX_ATTEMPTS, MergeHooks, MergeOutcome, merge};
pub use plugin::{MergeJob, TYPE_NAME};
pub use schema::{EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, ORDER_COLUMNS};

/// Registers the `iceberg_merge` job type and the target settings it reads (`iceberg:`).
pub fn register(registry: &mut JobRegistry) {
    registry.add(MergeJob::new());
    registry.add_target_section::<IcebergTarget>();
}
