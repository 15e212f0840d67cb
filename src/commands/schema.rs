//! `flowctl schema`: the JSON Schema of the DAG file format (or, with `--project`, of
//! `flowctl.yaml`), generated from the types and the registered plugins.

use std::path::Path;

use flowctl_engine::job::JobRegistry;

use crate::error::{CliError, CliResult};

/// The schema as pretty-printed JSON with a trailing newline (the checked-in form): of DAG
/// files, or with `project` of the project file.
pub fn render(registry: &JobRegistry, project: bool) -> String {
    let schema = if project {
        flowctl_model::project_schema::project_json_schema(registry.target_sections())
    } else {
        flowctl_model::schema::dag_json_schema(&registry.catalog())
    };
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// Runs `flowctl schema [--project] [--output FILE]`.
pub fn run(registry: &JobRegistry, project: bool, output: Option<&Path>) -> CliResult {
    let text = render(registry, project);
    match output {
        Some(path) => crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| CliError::environment(format!("cannot write {}: {e}", path.display()))),
        None => {
            crate::output::out_text(&text);
            Ok(())
        }
    }
}
