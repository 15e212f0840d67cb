//! flowctl's model layer: DAG files parsed with positions, validated, and turned into typed
//! [`dag::Dag`] values; schedules and data intervals; templates; the project file.
//!
//! Everything here is pure (no I/O apart from [`load::discover_dag_files`] listing files):
//! every user error is caught here, with a precise [`diagnostic::Diagnostic`].

pub mod catalog;
mod check;
pub mod dag;
pub mod diagnostic;
pub mod diff;
pub mod duration;
pub mod load;
pub mod project;
pub mod project_schema;
pub mod schedule;
pub mod schema;
pub mod span;
pub mod suggest;
pub mod target;
pub mod template;
#[cfg(test)]
mod testing;
pub mod yaml;
