//! `flowctl drift`: compares what the repository declares with what is live, and reports each
//! difference. DAG files are compared with the versions applied to the state store; on an
//! `aws` target, `flowctl_jobs_aws::drift` compares what the DAGs' steps declare there (each
//! Glue job with `GetJob`, each Glue script in S3 with the local file, the Athena workgroups
//! and Glue databases and tables they name) with what is live. This command knows no job type:
//! it only prints what comes back.
//!
//! Exit codes follow `terraform plan -detailed-exitcode`: 0 no drift, 2 drift found, 1 the
//! check itself failed — so a nightly job can tell "drifted" from "broken".

mod dags;

use std::path::PathBuf;

use flowctl_engine::job::{JobRegistry, TargetInfo};
use serde::Serialize;

use super::open_store;
use super::validate::{check_dag_files, report_diagnostics};
use crate::error::{CliError, CliResult, Exit};
use crate::output::out;
use crate::project::Project;

/// One thing that differs between the repository and what is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What kind of thing: `dag`, `glue_job`, `glue_script`, `athena_workgroup`,
    /// `glue_database`, `glue_table`.
    pub kind: &'static str,
    /// Which one (DAG id, job name, S3 URL, ...).
    pub name: String,
    /// What differs, in words.
    pub difference: String,
}

impl Difference {
    fn new(kind: &'static str, name: &str, difference: String) -> Self {
        Self {
            kind,
            name: name.to_string(),
            difference,
        }
    }
}

/// The whole report, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    drift: bool,
    target: String,
    /// What was compared, e.g. `3 DAGs`, `2 Glue jobs`.
    checked: Vec<String>,
    differences: Vec<Difference>,
}

/// Runs `flowctl drift`. Every failure of the check itself exits 1.
pub async fn run(
    project: &Project,
    registry: &JobRegistry,
    paths: &[PathBuf],
    target: Option<&str>,
    json: bool,
) -> CliResult {
    let report = check(project, registry, paths, target)
        .await
        .map_err(|mut e| {
            e.exit = Exit::Failed;
            e
        })?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::failed(format!("cannot encode the report: {e}")))?;
        out!("{text}");
    } else {
        print_report(&report);
    }
    if report.drift {
        return Err(CliError {
            exit: Exit::Usage, // 2: drift found (the -detailed-exitcode convention)
            message: String::new(),
        });
    }
    Ok(())
}

async fn check(
    project: &Project,
    registry: &JobRegistry,
    paths: &[PathBuf],
    target: Option<&str>,
) -> CliResult<Report> {
    let target_name = project.target_name(target);
    let target_config = project.target(&target_name)?;
    let checked_files = check_dag_files(project, registry, paths, None)?;
    if !checked_files.diagnostics.is_empty() {
        report_diagnostics(&checked_files);
        return Err(CliError::failed(
            "the DAG files do not validate: fix them before checking drift",
        ));
    }
    let dags = checked_files.dags;
    let store = open_store(project).await?;
    let mut differences = dags::dag_drift(&store, registry, &dags).await?;
    let mut checked = vec![format!(
        "{} DAG file{} against the state store",
        dags.len(),
        if dags.len() == 1 { "" } else { "s" }
    )];
    let target = TargetInfo {
        name: target_name.clone(),
        kind: target_config.kind,
        settings: target_config.settings.clone(),
    };
    let live = flowctl_jobs_aws::drift::aws_drift(&project.dir, &target, &dags)
        .await
        .map_err(|e| CliError::failed(e.message))?;
    if let Some(aws) = live {
        differences.extend(aws.differences.into_iter().map(|d| Difference {
            kind: d.kind,
            name: d.name,
            difference: d.difference,
        }));
        checked.extend(aws.checked);
    } else {
        checked.push(format!(
            "nothing live on target `{target_name}` (kind {}): use --target aws to compare AWS",
            target_config.kind
        ));
    }
    Ok(Report {
        drift: !differences.is_empty(),
        target: target_name,
        checked,
        differences,
    })
}

fn print_report(report: &Report) {
    for line in &report.checked {
        out!("checked: {line}");
    }
    if report.differences.is_empty() {
        out!("no drift on target `{}`", report.target);
        return;
    }
    let width = report
        .differences
        .iter()
        .map(|d| d.kind.len() + d.name.len() + 1)
        .max()
        .unwrap_or(0);
    for d in &report.differences {
        let subject = format!("{} {}", d.kind, d.name);
        out!("~ {subject:<width$}  {}", d.difference);
    }
    out!(
        "drift: {} difference{} on target `{}`",
        report.differences.len(),
        if report.differences.len() == 1 {
            ""
        } else {
            "s"
        },
        report.target
    );
}
