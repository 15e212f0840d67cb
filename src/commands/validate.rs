//! `flowctl validate`: offline checks of DAG files.

use std::path::PathBuf;

use flowctl_engine::job::JobRegistry;
use flowctl_model::dag::Dag;
use flowctl_model::diagnostic::Diagnostic;
use flowctl_model::load::{LoadOptions, discover_dag_files, load_dags};

use crate::error::{CliError, CliResult};
use crate::output::{errln, out};
use crate::project::Project;

/// DAG files read from disk and checked.
pub struct CheckedDags {
    pub files: usize,
    pub dags: Vec<Dag>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads every DAG file under `paths` (default: the project's dags directories) and validates it.
pub fn check_dag_files(
    project: &Project,
    registry: &JobRegistry,
    paths: &[PathBuf],
    target: Option<&str>,
) -> CliResult<CheckedDags> {
    let paths = project.dag_paths(paths);
    for path in &paths {
        if !path.exists() {
            return Err(CliError::usage(format!(
                "{}: no such file or directory",
                Project::display_path(path)
            )));
        }
    }
    let files = discover_dag_files(&paths)
        .map_err(|e| CliError::environment(format!("cannot list DAG files: {e}")))?;
    let mut sources = Vec::with_capacity(files.len());
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::environment(format!("cannot read {}: {e}", Project::display_path(file)))
        })?;
        sources.push((Project::display_path(file), text));
    }
    let target_kind = match target {
        Some(name) => Some(project.target(name)?.kind),
        None => None,
    };
    let catalog = registry.catalog();
    let options = LoadOptions {
        catalog: &catalog,
        target_kind,
        pools: Some(&project.config.pools),
        project_dir: Some(&project.dir),
    };
    let loaded = load_dags(&sources, &options);
    Ok(CheckedDags {
        files: files.len(),
        dags: loaded.dags,
        diagnostics: loaded.diagnostics,
    })
}

/// Prints every diagnostic to stderr and a summary line.
pub fn report_diagnostics(checked: &CheckedDags) {
    for diagnostic in &checked.diagnostics {
        errln!("{diagnostic}\n");
    }
    let files_with_errors = {
        let mut files: Vec<&str> = checked
            .diagnostics
            .iter()
            .map(|d| d.file.as_str())
            .collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    };
    errln!(
        "error: {} problem{} in {} file{}",
        checked.diagnostics.len(),
        plural(checked.diagnostics.len()),
        files_with_errors,
        plural(files_with_errors)
    );
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Runs `flowctl validate`.
pub fn run(
    project: &Project,
    registry: &JobRegistry,
    paths: &[PathBuf],
    target: Option<&str>,
) -> CliResult {
    let checked = check_dag_files(project, registry, paths, target)?;
    if checked.files == 0 {
        return Err(CliError::usage("no DAG files found (*.yaml, *.yml)"));
    }
    if !checked.diagnostics.is_empty() {
        report_diagnostics(&checked);
        return Err(CliError::failed(""));
    }
    let steps: usize = checked.dags.iter().map(|d| d.steps.len()).sum();
    out!(
        "ok: {} DAG{} with {} step{} in {} file{}{}",
        checked.dags.len(),
        plural(checked.dags.len()),
        steps,
        plural(steps),
        checked.files,
        plural(checked.files),
        target.map(|t| format!(" (target {t})")).unwrap_or_default()
    );
    Ok(())
}
