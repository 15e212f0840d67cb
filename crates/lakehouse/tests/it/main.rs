//! Integration tests of flowctl-lakehouse against real files: a SQLite catalog and a local
//! warehouse in a temp dir, read back by this crate and by PyIceberg.

mod common;

mod append;
mod catalog;
mod overwrite;
mod postgres;
mod pyiceberg;
mod read;
mod types;
