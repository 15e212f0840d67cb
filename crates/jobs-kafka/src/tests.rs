//! End-to-end tests: an in-process broker, real Iceberg files in a temp dir, the job run
//! through `JobPlugin::run` with a hand-built context.

mod support;

mod bronze_e2e;
mod faults;
mod pyiceberg;
