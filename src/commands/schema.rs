//! `flowctl schema`: the JSON Schema of the DAG file format, generated from the types.

use std::path::Path;

use flowctl_engine::job::JobRegistry;

use crate::error::{CliError, CliResult};

/// The schema as pretty-printed JSON with a trailing newline (the checked-in form).
pub fn render(registry: &JobRegistry) -> String {
    let schema = flowctl_model::schema::dag_json_schema(&registry.catalog());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// Runs `flowctl schema [--output FILE]`.
pub fn run(registry: &JobRegistry, output: Option<&Path>) -> CliResult {
    let text = render(registry);
    match output {
        Some(path) => crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| CliError::environment(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
