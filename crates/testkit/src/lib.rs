//! Test support shared by flowctl's crates (dev-dependency only).
//!
//! [`pyiceberg`] runs the interop scripts in `tests/python/` with the interpreter named by
//! `FLOWCTL_PYTHON` (default `~/.cache/flowctl-ci-venv/bin/python`, the venv `.ci/run` makes).
//! Without that interpreter or without PyIceberg in it, a test is skipped with a hint saying how
//! to enable it — except in CI (`CI` set), where that is a failure.

pub mod moto;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// How to get PyIceberg where the tests look for it.
pub const PYICEBERG_INSTALL_HINT: &str = "install with `python3 -m venv ~/.cache/flowctl-ci-venv && \
     ~/.cache/flowctl-ci-venv/bin/pip install 'pyiceberg[sql-sqlite,pyarrow]==0.12.0'`";

/// Exit status with which the scripts say PyIceberg is not installed.
const NOT_INSTALLED: i32 = 3;

/// The Python interpreter the interop tests use.
pub fn python() -> PathBuf {
    match std::env::var_os("FLOWCTL_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/flowctl-ci-venv/bin/python"),
    }
}

/// The repository's `tests/python` directory.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

/// Runs `tests/python/<script> --catalog-db CATALOG --warehouse WAREHOUSE EXTRA...` and parses
/// the JSON it prints. `None` (after printing why and how to enable it) when PyIceberg is
/// unavailable outside CI; panics in CI or when the script fails.
pub fn pyiceberg(
    script: &str,
    catalog_db: &Path,
    warehouse: &Path,
    extra: &[String],
) -> Option<Value> {
    let interpreter = python();
    let unavailable = |why: String| {
        assert!(
            std::env::var_os("CI").is_none(),
            "PyIceberg interop cannot run in CI: {why}"
        );
        eprintln!("skipping PyIceberg interop ({why}): {PYICEBERG_INSTALL_HINT}");
        None
    };
    if !interpreter.exists() {
        return unavailable(format!("{} not found", interpreter.display()));
    }
    let script = scripts_dir().join(script);
    let out = Command::new(&interpreter)
        .arg(&script)
        .arg("--catalog-db")
        .arg(catalog_db)
        .arg("--warehouse")
        .arg(warehouse)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", interpreter.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(NOT_INSTALLED) {
        return unavailable(stderr.trim().to_owned());
    }
    assert!(
        out.status.success(),
        "{} failed: {stderr}",
        script.display()
    );
    Some(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    }))
}

/// `read_iceberg.py` over `tables` (every table when empty): `{"tables": {"ns.t": {...}}}`.
pub fn read_tables(catalog_db: &Path, warehouse: &Path, tables: &[&str]) -> Option<Value> {
    let extra: Vec<String> = tables
        .iter()
        .flat_map(|t| ["--table".to_owned(), (*t).to_owned()])
        .collect();
    pyiceberg("read_iceberg.py", catalog_db, warehouse, &extra)
}
