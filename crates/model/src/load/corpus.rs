//! The invalid-DAG corpus (`tests/invalid` at the workspace root) run against a catalog that
//! mimics the built-in job types, so the model can be checked on its own. The root
//! package's `tests/it/validate_corpus.rs` runs the same files with the real registry.
//! `FLOWCTL_BLESS=1` rewrites the `.expected` files.

use std::path::{Path, PathBuf};

use super::{LoadOptions, load_dags};
use crate::diagnostic::Diagnostic;
use crate::testing;

/// Files whose messages come from the real `shell` type's own checks (messages this crate's
/// stand-in does not reproduce) or list the catalog's job types: only the real-registry run
/// compares them.
const REAL_REGISTRY_ONLY: &[&str] = &[
    "26_unknown_job_type_typo",
    "27_unknown_job_type",
    "30_shell_command_not_a_command",
];

/// Files from this number on check the fields of the CDC, SQL and AWS job types, which this
/// crate's stand-in catalog does not have: only the real-registry run compares them.
const FIRST_JOB_FIELD_CASE: u32 = 55;

/// Whether a corpus file needs the real job types.
fn needs_real_registry(stem: &str) -> bool {
    REAL_REGISTRY_ONLY.contains(&stem)
        || stem
            .split('_')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= FIRST_JOB_FIELD_CASE)
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{d}\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `names` (files of `tests/invalid`) as one load and compares with `expected`.
fn check(names: &[&str], expected: &str, bless: bool, mismatches: &mut Vec<String>) {
    let dir = tests_dir().join("invalid");
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("tests/invalid/{n}"), read(&dir.join(n))))
        .collect();
    let catalog = testing::catalog();
    let opts = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    let loaded = load_dags(&files, &opts);
    let actual = render(&loaded.diagnostics);
    assert!(!actual.is_empty(), "{names:?} should be invalid");
    let expected_path = dir.join(expected);
    if bless {
        std::fs::write(&expected_path, &actual).expect("write .expected");
    } else if std::fs::read_to_string(&expected_path).ok().as_deref() != Some(actual.as_str()) {
        mismatches.push(format!("== {expected} (actual output):\n{actual}"));
    }
}

#[test]
fn invalid_corpus_matches_expected_output() {
    let bless = std::env::var("FLOWCTL_BLESS").is_ok_and(|v| v == "1");
    let dir = tests_dir().join("invalid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".yaml") && !n.starts_with("dup_"))
        .collect();
    names.sort();
    assert!(names.len() >= 35, "the corpus has {} files", names.len());
    let mut mismatches = Vec::new();
    for name in &names {
        let stem = name.trim_end_matches(".yaml");
        if needs_real_registry(stem) {
            continue;
        }
        check(&[name], &format!("{stem}.expected"), bless, &mut mismatches);
    }
    check(
        &["dup_a.yaml", "dup_b.yaml"],
        "dup.expected",
        bless,
        &mut mismatches,
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn valid_files_have_no_diagnostics() {
    let dir = tests_dir().join("valid");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("tests/valid exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.display().to_string(), read(&p)))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    let catalog = testing::catalog();
    let opts = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: None,
    };
    let loaded = load_dags(&files, &opts);
    assert_eq!(render(&loaded.diagnostics), "");
    assert_eq!(loaded.dags.len(), files.len());
}
