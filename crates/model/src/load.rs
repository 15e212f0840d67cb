//! Reading DAG files: parse, validate, and build [`Dag`] values, reporting every problem
//! of a file in one pass.
//!
//! Validation is pure: no I/O, no network, no state store. Job types are known only
//! through the [`JobTypeCatalog`] passed in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::JobTypeCatalog;
use crate::check::Checker;
use crate::dag::{Dag, DagSource};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::yaml;

mod graph;
mod notify;
mod steps;
mod templates;
mod top;

pub use steps::{DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_DELAY};
pub use top::{EXTENSION_PREFIX, TOP_LEVEL_KEYS};

/// What a validation pass knows beyond the DAG file.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The job types steps may use.
    pub catalog: &'a JobTypeCatalog,
    /// `Some("aws")`: the DAG will run on a target of that kind, so every step needs a job
    /// for it (`step x has no aws variant`), and only that variant is checked.
    /// `None`: every variant present is checked.
    pub target_kind: Option<crate::dag::TargetKind>,
    /// Pool sizes from the project file. `Some`: a `pool:` naming an undeclared pool is an
    /// error. `None`: pool names are not checked.
    pub pools: Option<&'a BTreeMap<String, u32>>,
    /// The project directory, against which files named by jobs resolve (a `file:` SQL
    /// query, read to check its templates). `None`: such files are not read.
    pub project_dir: Option<&'a Path>,
}

/// The result of loading several files: the valid DAGs, and the problems of the others.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Valid DAGs in file order. When two files define the same DAG id, only the first is here.
    pub dags: Vec<Dag>,
    /// Every problem of every file, file by file, in position order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Where a DAG id was defined (for duplicate-id reports).
struct IdSite {
    id: String,
    span: Span,
    width: usize,
}

/// The content hash a DAG version is stored under: lowercase hex SHA-256 of the file's text.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Parses and validates one DAG file; `Err` holds every problem found, in position order.
pub fn parse_dag(path: &str, text: &str, opts: &LoadOptions) -> Result<Dag, Vec<Diagnostic>> {
    parse_with_site(path, text, opts).1
}

fn parse_with_site(
    path: &str,
    text: &str,
    opts: &LoadOptions,
) -> (Option<IdSite>, Result<Dag, Vec<Diagnostic>>) {
    let mut ck = Checker::new(path, text);
    let doc = yaml::parse(text);
    ck.yaml_errors(doc.errors);
    let Some(root) = doc.root.filter(|r| !r.is_null()) else {
        if ck.diagnostics.is_empty() {
            ck.file_error("the file is empty: expected a DAG with `dag:` and `steps:`");
        }
        return (None, Err(ck.finish()));
    };
    let site = root.get("dag").and_then(|node| {
        node.as_str().map(|id| IdSite {
            id: id.to_string(),
            span: node.span,
            width: node.width,
        })
    });
    let dag = top::read_dag(&mut ck, &root, opts);
    let diagnostics = ck.finish();
    let result = match dag {
        Some(mut dag) if diagnostics.is_empty() => {
            dag.source = DagSource {
                path: path.to_string(),
                text: text.to_string(),
                hash: content_hash(text),
            };
            Ok(dag)
        }
        _ => Err(diagnostics),
    };
    (site, result)
}

/// Parses and validates several files given as `(path, text)` pairs; also reports DAG ids
/// defined in more than one file (at every definition).
pub fn load_dags(files: &[(String, String)], opts: &LoadOptions) -> Loaded {
    let mut per_file: Vec<Vec<Diagnostic>> = Vec::with_capacity(files.len());
    let mut dags: Vec<(usize, Dag)> = Vec::new();
    let mut sites: Vec<(usize, IdSite)> = Vec::new();
    for (index, (path, text)) in files.iter().enumerate() {
        let (site, result) = parse_with_site(path, text, opts);
        match result {
            Ok(dag) => {
                dags.push((index, dag));
                per_file.push(Vec::new());
            }
            Err(diagnostics) => per_file.push(diagnostics),
        }
        if let Some(site) = site {
            sites.push((index, site));
        }
    }

    // Duplicate ids: each definition names the others.
    let mut by_id: BTreeMap<&str, Vec<&(usize, IdSite)>> = BTreeMap::new();
    for entry in &sites {
        by_id.entry(entry.1.id.as_str()).or_default().push(entry);
    }
    let mut dropped: Vec<usize> = Vec::new();
    for (id, defs) in by_id.into_iter().filter(|(_, defs)| defs.len() > 1) {
        for (i, (file, site)) in defs.iter().enumerate() {
            let others: Vec<String> = defs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (f, s))| format!("{}:{}", files[*f].0, s.span))
                .collect();
            per_file[*file].push(Diagnostic::at(
                &files[*file].0,
                &files[*file].1,
                site.span,
                site.width,
                format!(
                    "duplicate DAG id `{id}`: also defined at {}",
                    others.join(", ")
                ),
            ));
            if i > 0 {
                dropped.push(*file);
            }
        }
    }

    let mut diagnostics = Vec::new();
    for (index, mut file_diagnostics) in per_file.into_iter().enumerate() {
        // The DAG file's own problems first, then those in files it names (SQL queries), each
        // file in position order.
        let own = files[index].0.as_str();
        file_diagnostics.sort_by(|a, b| {
            (a.file != own, &a.file, a.span).cmp(&(b.file != own, &b.file, b.span))
        });
        diagnostics.extend(file_diagnostics);
    }
    let dags = dags
        .into_iter()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, d)| d)
        .collect();
    Loaded { dags, diagnostics }
}

/// The DAG files named by `paths`: a directory gives every `*.yaml` / `*.yml` file below it
/// (recursively, sorted); a file gives itself. A missing path is an error.
pub fn discover_dag_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            collect_yaml(path, &mut found)?;
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot list {}: {e}", dir.display()))
    })?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_yaml(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
