//! End-to-end tests of the `iceberg_merge` job over real Iceberg tables in temp dirs.

mod common;
mod current;
mod faults;
mod plugin;
mod pyiceberg;
mod redelivery;
mod scd2;
