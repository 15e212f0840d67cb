//! End-to-end tests: an in-process broker, real Iceberg files in a temp dir, the job run as
//! the engine runs it (fields checked by the registry's adapter first) with a
//! `JobContext::for_test` context.

mod support;

mod bronze_e2e;
mod faults;
mod gaps;
mod pyiceberg;
