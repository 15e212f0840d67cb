//! `flowctl apply`: validate, then store every DAG in one transaction, printing a plan.

use std::collections::BTreeSet;
use std::path::PathBuf;

use flowctl_engine::job::JobRegistry;
use flowctl_model::dag::Dag;
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::{DagChange, DagUpsert, Store};

use super::validate::{check_dag_files, plural, report_diagnostics};
use super::{open_store, store_error};
use crate::error::{CliError, CliResult};
use crate::output::out;
use crate::project::Project;

/// What applying would do to one DAG.
pub(crate) enum Planned {
    Create,
    Change(Vec<String>),
    Same,
}

/// Runs `flowctl apply`.
pub async fn run(
    project: &Project,
    registry: &JobRegistry,
    paths: &[PathBuf],
    dry_run: bool,
    prune: bool,
) -> CliResult {
    let checked = check_dag_files(project, registry, paths, None)?;
    if !checked.diagnostics.is_empty() {
        report_diagnostics(&checked);
        return Err(CliError::failed(
            "nothing was applied: fix the problems above first",
        ));
    }
    if checked.files == 0 {
        return Err(CliError::usage("no DAG files found (*.yaml, *.yml)"));
    }
    let store = open_store(project).await?;
    let stored = store.list_dags().await.map_err(store_error)?;
    let in_files: BTreeSet<&str> = checked.dags.iter().map(|d| d.id.as_str()).collect();
    let gone: Vec<String> = stored
        .iter()
        .filter(|d| !in_files.contains(d.dag_id.as_str()))
        .map(|d| d.dag_id.clone())
        .collect();

    let mut dags: Vec<&Dag> = checked.dags.iter().collect();
    dags.sort_by(|a, b| a.id.cmp(&b.id));
    let (mut created, mut changed, mut unchanged) = (0usize, 0usize, 0usize);
    for dag in &dags {
        let stored_hash = stored
            .iter()
            .find(|s| s.dag_id == dag.id)
            .map(|s| s.version_hash.as_str());
        match plan_one(&store, registry, dag, stored_hash).await? {
            Planned::Create => {
                created += 1;
                out!("+ {}  ({})", dag.id, describe(dag));
            }
            Planned::Change(changes) => {
                changed += 1;
                out!("~ {}", dag.id);
                for change in changes {
                    out!("    {change}");
                }
            }
            Planned::Same => unchanged += 1,
        }
    }
    let removed = if prune { gone.len() } else { 0 };
    for dag_id in &gone {
        if prune {
            out!("- {dag_id}  (and its runs)");
        } else {
            out!("! {dag_id} is applied but no longer in the files (apply --prune removes it)");
        }
    }

    if created + changed + removed == 0 {
        out!(
            "no changes: {unchanged} DAG{} up to date",
            plural(unchanged)
        );
        return Ok(());
    }
    let summary =
        format!("{created} created, {changed} changed, {removed} removed, {unchanged} unchanged");
    if dry_run {
        out!("plan: {summary} (dry run: nothing written)");
        return Ok(());
    }
    let upserts: Vec<DagUpsert> = dags
        .iter()
        .map(|d| DagUpsert {
            dag_id: d.id.clone(),
            hash: d.source.hash.clone(),
            source_path: project.project_relative(&d.source.path),
            source: d.source.text.clone(),
        })
        .collect();
    let prune_ids = if prune { gone } else { Vec::new() };
    let report = store
        .apply_dags(&upserts, &prune_ids)
        .await
        .map_err(store_error)?;
    // Count what the transaction did: another apply may have raced this one.
    let count =
        |want: fn(&DagChange) -> bool| report.applied.iter().filter(|(_, c)| want(c)).count();
    out!(
        "applied: {} created, {} changed, {} removed, {} unchanged",
        count(|c| matches!(c, DagChange::Created)),
        count(|c| matches!(c, DagChange::Updated { .. })),
        report.removed.len(),
        count(|c| matches!(c, DagChange::Unchanged)),
    );
    Ok(())
}

/// Compares a DAG from the files with its stored version.
pub(crate) async fn plan_one(
    store: &Store,
    registry: &JobRegistry,
    dag: &Dag,
    stored_hash: Option<&str>,
) -> CliResult<Planned> {
    let Some(hash) = stored_hash else {
        return Ok(Planned::Create);
    };
    if hash == dag.source.hash {
        return Ok(Planned::Same);
    }
    let Some(version) = store
        .get_dag_version(&dag.id, hash)
        .await
        .map_err(store_error)?
    else {
        return Ok(Planned::Change(vec![
            "stored version not found; replacing it".into(),
        ]));
    };
    let catalog = registry.catalog();
    let options = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    let mut changes = match parse_dag(&version.source_path, &version.source, &options) {
        Ok(old) => flowctl_model::diff::diff_dags(&old, dag),
        Err(_) => vec!["the stored version no longer validates; replacing it".into()],
    };
    if changes.is_empty() {
        // Same meaning, different text (comments, formatting).
        changes.push("file text changed (comments or formatting only)".into());
    }
    Ok(Planned::Change(changes))
}

/// One-line description of a new DAG.
fn describe(dag: &Dag) -> String {
    let schedule = match &dag.schedule {
        Some(s) => format!("schedule {}", s.expr()),
        None => "manual".to_string(),
    };
    format!(
        "{} step{}, {schedule}",
        dag.steps.len(),
        plural(dag.steps.len())
    )
}
