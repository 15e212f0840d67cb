//! Engine tests, with test-only job plugins (the engine does not depend on flowctl-jobs).
//! The key behaviours run on SQLite and on Postgres (see `flowctl_state::testing`).

mod backfill_clear;
mod executor;
mod leases;
mod notify;
mod retries;
mod rules;
mod scheduler;
mod support;
mod trigger;
