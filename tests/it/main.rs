//! End-to-end tests of the `flowctl` binary (one integration-test binary for the whole package).

mod support;

/// The binary's own registration of every job type and target section.
#[path = "../../src/plugins.rs"]
mod plugins;

mod cli_apply;
mod cli_aws;
mod cli_crash;
mod cli_demo;
mod cli_drift;
mod cli_ha;
mod cli_notify;
mod cli_run;
mod cli_scheduler;
mod cli_serve;
mod cli_signals;
mod cli_validate;
mod plugin_conformance;
mod schema_current;
mod terraform_jobs;
mod validate_corpus;
