//! A job-type catalog for tests that mimics the built-in `shell` and `noop` types (the
//! real ones live in flowctl-jobs, which depends on this crate).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{JobTypeCatalog, TypedJobSpec};

/// `shell`'s fields.
#[allow(dead_code)]
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shell {
    command: Command,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<std::path::PathBuf>,
}

impl crate::catalog::JobConfig for Shell {}

#[allow(dead_code)]
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Command {
    Script(String),
    Argv(Vec<String>),
}

/// `noop` has no fields.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Noop {}

impl crate::catalog::JobConfig for Noop {}

/// A catalog with `shell` and `noop`.
pub fn catalog() -> JobTypeCatalog {
    let mut catalog = JobTypeCatalog::default();
    catalog.register(Arc::new(TypedJobSpec::<Shell>::new("shell")));
    catalog.register(Arc::new(TypedJobSpec::<Noop>::new("noop")));
    catalog
}
