//! Integration tests of flowctl-jobs-sql: real Iceberg tables in temp directories.

mod common;
mod gold;
mod postgres;
mod privacy;
mod pyiceberg;
mod quality;
mod query;
mod sql;
