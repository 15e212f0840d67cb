//! The invalid-DAG corpus: every `tests/invalid/NN_name.yaml` must produce exactly the
//! diagnostics in `tests/invalid/NN_name.expected` (Display form, blank line between
//! diagnostics) when validated with the binary's job registry (every job type), with the
//! repository root as the project directory (SQL files named by `file:` live in
//! `tests/invalid/sql/`); `dup_a.yaml` + `dup_b.yaml` are
//! loaded together (a DAG id defined twice) against `dup.expected`. Every
//! `tests/valid/*.yaml` must produce none.
//!
//! `FLOWCTL_BLESS=1 cargo test --test it validate_corpus` rewrites the `.expected` files;
//! review the diff by eye: each message must be right and each line:col must point at the
//! offending text.

use std::path::{Path, PathBuf};

use flowctl_model::diagnostic::Diagnostic;
use flowctl_model::load::{LoadOptions, Loaded, load_dags};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Loads `tests/<dir>/<name>` for each name, as one set, with paths shown relative to the
/// repository root.
fn load(dir: &str, names: &[String]) -> Loaded {
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                format!("tests/{dir}/{n}"),
                read(&tests_dir().join(dir).join(n)),
            )
        })
        .collect();
    let registry = crate::plugins::registry();
    let catalog = registry.catalog();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let opts = LoadOptions {
        catalog: &catalog,
        target_kind: None,
        pools: None,
        project_dir: Some(root),
    };
    load_dags(&files, &opts)
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{d}\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn yaml_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(tests_dir().join(dir))
        .unwrap_or_else(|e| panic!("cannot list tests/{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_invalid_dag_reports_exactly_its_expected_diagnostics() {
    let bless = std::env::var("FLOWCTL_BLESS").is_ok_and(|v| v == "1");
    let names: Vec<String> = yaml_files("invalid")
        .into_iter()
        .filter(|n| !n.starts_with("dup_"))
        .collect();
    assert!(
        names.len() >= 90,
        "the corpus has only {} files",
        names.len()
    );

    let mut cases: Vec<(Vec<String>, String)> = names
        .into_iter()
        .map(|n| {
            let expected = format!("{}.expected", n.trim_end_matches(".yaml"));
            (vec![n], expected)
        })
        .collect();
    cases.push((
        vec!["dup_a.yaml".into(), "dup_b.yaml".into()],
        "dup.expected".into(),
    ));

    let mut mismatches = Vec::new();
    for (names, expected_name) in cases {
        let loaded = load("invalid", &names);
        let actual = render(&loaded.diagnostics);
        assert!(!actual.is_empty(), "{names:?} should be invalid");
        let expected_path = tests_dir().join("invalid").join(&expected_name);
        if bless {
            std::fs::write(&expected_path, &actual).expect("write the .expected file");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "== tests/invalid/{expected_name}\n-- expected:\n{expected}-- actual:\n{actual}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} corpus file(s) differ (FLOWCTL_BLESS=1 rewrites them):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_valid_dag_loads_without_diagnostics() {
    let names = yaml_files("valid");
    assert!(!names.is_empty());
    let loaded = load("valid", &names);
    assert_eq!(render(&loaded.diagnostics), "");
    assert_eq!(loaded.dags.len(), names.len());
}
