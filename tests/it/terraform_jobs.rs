//! terraform/ defines every Glue job the DAGs' aws variants name: the job names are collected
//! from `dags/*.yaml` with the real job registry, then `tests/python/check_terraform.py` parses
//! every .tf file with PyPI `python-hcl2` and checks those jobs (and the buckets' and
//! backends' hardening). Skipped with a hint without python-hcl2, except in CI.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use flowctl_model::load::{LoadOptions, discover_dag_files, load_dags};

/// Exit status of check_terraform.py when python-hcl2 is missing.
const NOT_INSTALLED: i32 = 3;

fn glue_jobs_named_by_dags(root: &Path) -> BTreeSet<String> {
    let registry = crate::plugins::registry();
    let catalog = registry.catalog();
    let files = discover_dag_files(&[root.join("dags")]).expect("list dags/");
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                std::fs::read_to_string(f).expect("read DAG"),
            )
        })
        .collect();
    let loaded = load_dags(
        &sources,
        &LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        },
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
        .dags
        .iter()
        .flat_map(|dag| dag.steps.values())
        .filter_map(|step| step.job_for(flowctl_model::dag::TargetKind::Aws))
        .filter(|job| job.job_type == "glue_job")
        .filter_map(|job| job.config.get("job_name")?.as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_glue_job_a_dag_names_is_defined_in_terraform() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jobs = glue_jobs_named_by_dags(root);
    assert!(
        jobs.contains("cdc-bronze") && jobs.contains("cdc-silver"),
        "the cdc_orders DAG runs Glue jobs on aws: {jobs:?}"
    );
    let python = flowctl_testkit::python();
    let output = Command::new(&python)
        .arg(root.join("tests/python/check_terraform.py"))
        .arg("--root")
        .arg(root.join("terraform"))
        .arg("--jobs")
        .args(&jobs)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipped: cannot run {} ({e}); {}",
                python.display(),
                HCL_HINT
            );
            return;
        }
        Err(e) => panic!("cannot run {}: {e}", python.display()),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(NOT_INSTALLED) && std::env::var_os("CI").is_none() {
        eprintln!("skipped: python-hcl2 is not installed; {HCL_HINT}");
        return;
    }
    assert!(
        output.status.success(),
        "check_terraform.py failed:\n{stdout}\n{stderr}"
    );
    for job in &jobs {
        assert!(
            stdout.contains(job.as_str()),
            "{job} not reported as checked:\n{stdout}"
        );
    }
}

const HCL_HINT: &str = "install with `~/.cache/flowctl-ci-venv/bin/pip install python-hcl2==8.1.4` \
     (or set FLOWCTL_PYTHON)";
