//! Template checks on every string of every checked job: syntax, unknown variables,
//! undeclared params, and outputs of steps that are not upstream.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::graph::Upstreams;
use super::steps::Draft;
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::suggest;
use crate::template::{CONTEXT_VARIABLES, analyze, analyze_positioned, is_templated};
use crate::yaml::{self, Node, Typed};

struct Scope<'a> {
    drafts: &'a [Draft<'a>],
    ids: HashMap<&'a str, usize>,
    params: Option<&'a Map<String, Value>>,
    upstreams: &'a Upstreams,
}

/// Checks the templates of every step. With `params = None` (the `params:` section itself
/// is invalid) params are not checked.
pub(super) fn check(
    ck: &mut Checker,
    drafts: &[Draft],
    params: Option<&Map<String, Value>>,
    upstreams: &Upstreams,
    project_dir: Option<&Path>,
) {
    let mut scope = Scope {
        drafts,
        ids: drafts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.as_str(), i))
            .collect(),
        params,
        upstreams,
    };
    for (step, draft) in drafts.iter().enumerate() {
        for site in &draft.jobs {
            for field in &site.fields {
                walk(ck, &mut scope, step, &site.place, &field.value);
            }
            for (path, node) in &site.template_files {
                check_file(ck, &mut scope, step, &site.place, project_dir, path, node);
            }
        }
    }
}

/// Checks a template file named by a job (a `file:` SQL query) like an inline string; its
/// problems point into the file. Without a project directory (a DAG checked on its own) the
/// file cannot be found and is left to the run.
fn check_file(
    ck: &mut Checker,
    scope: &mut Scope,
    step: usize,
    place: &str,
    project_dir: Option<&Path>,
    path: &str,
    node: &Node,
) {
    let Some(dir) = project_dir else { return };
    if is_templated(path) {
        return;
    }
    let full = dir.join(path);
    let text = match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "it does not exist".to_string(),
                _ => e.to_string(),
            };
            ck.on(
                node,
                format!("{place} names `{path}`, which cannot be read: {why} (paths are relative to the project directory)"),
            );
            return;
        }
    };
    let mut report = |span: Span, width: usize, message: String| {
        ck.diagnostics
            .push(Diagnostic::at(path, &text, span, width, message));
    };
    let used = match analyze_positioned(&text) {
        Ok(used) => used,
        Err(err) => {
            let (span, width) = match (&err.range, err.line) {
                (Some(range), _) => {
                    let start = range.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let col = text[..start]
                        .rsplit('\n')
                        .next()
                        .map_or(0, |l| l.chars().count())
                        + 1;
                    (
                        Span::new(to_u32(line), to_u32(col)),
                        text.get(range.clone()).map_or(1, |t| t.chars().count()),
                    )
                }
                (None, Some(line)) => (Span::new(to_u32(line), 1), 1),
                (None, None) => (Span::new(1, 1), 1),
            };
            report(
                span,
                width,
                format!(
                    "invalid template in `{path}` (used by {place}): {}",
                    err.message
                ),
            );
            return;
        }
    };
    for var in &used.variables {
        if let Some((message, shown)) = problem(scope, step, place, var) {
            let (span, width) = locate_in_text(&text, shown);
            report(span, width, format!("{message} (in `{path}`)"));
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The first place `needle` appears as a whole name in `text` (line 1, column 1 if nowhere).
fn locate_in_text(text: &str, needle: &str) -> (Span, usize) {
    for (index, line) in text.lines().enumerate() {
        if let Some(byte) = find_name(line, needle) {
            let col = line[..byte].chars().count() + 1;
            return (
                Span::new(to_u32(index + 1), to_u32(col)),
                needle.chars().count(),
            );
        }
    }
    (Span::new(1, 1), 1)
}

fn walk(ck: &mut Checker, scope: &mut Scope, step: usize, place: &str, node: &Node) {
    match &node.value {
        yaml::Value::Scalar(_) => {
            if let Some(Typed::Str(text)) = node.typed() {
                check_string(ck, scope, step, place, node, text);
            }
        }
        yaml::Value::Seq(items) => items.iter().for_each(|n| walk(ck, scope, step, place, n)),
        yaml::Value::Map(entries) => {
            entries
                .iter()
                .for_each(|e| walk(ck, scope, step, place, &e.value));
        }
    }
}

fn check_string(
    ck: &mut Checker,
    scope: &mut Scope,
    step: usize,
    place: &str,
    node: &Node,
    text: &str,
) {
    let used = match analyze(text) {
        Ok(used) => used,
        Err(why) => {
            ck.on(node, format!("invalid template in {place}: {why}"));
            return;
        }
    };
    for var in &used.variables {
        if let Some((message, shown)) = problem(scope, step, place, var) {
            let (span, width) = locate(ck.text, node, shown);
            ck.at(span, width, message);
        }
    }
}

/// What is wrong with one variable reference (`params.topic`, `outputs.a.rows`, `ds`), and
/// the text to underline.
fn problem<'v>(
    scope: &mut Scope,
    step: usize,
    place: &str,
    var: &'v str,
) -> Option<(String, &'v str)> {
    let mut segments = var.split('.');
    let root = segments.next().unwrap_or(var);
    let second = segments.next();
    let id = &scope.drafts[step].id;
    if !CONTEXT_VARIABLES.contains(&root) {
        let hint = match suggest::did_you_mean(root, CONTEXT_VARIABLES.iter().copied()) {
            Some(close) => format!(" (did you mean `{close}`?)"),
            None => format!("; available: {}", CONTEXT_VARIABLES.join(", ")),
        };
        return Some((
            format!("unknown template variable `{root}` in {place}{hint}"),
            root,
        ));
    }
    match (root, second) {
        ("params", Some(param)) => {
            let params = scope.params?;
            if params.contains_key(param) {
                return None;
            }
            let declared = if params.is_empty() {
                "no params are declared".to_string()
            } else {
                format!(
                    "declared: {}",
                    params.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            let hint = suggest::hint(param, params.keys().map(String::as_str));
            Some((
                format!(
                    "unknown param `{param}` in {place}{hint}: declare it under `params:` ({declared})"
                ),
                var_prefix(var, 2),
            ))
        }
        ("outputs", Some(source)) => {
            let shown = var_prefix(var, 2);
            if source == id {
                return Some((
                    format!(
                        "{place} reads its own outputs (`{var}`): outputs come from upstream steps"
                    ),
                    shown,
                ));
            }
            let Some(&source_index) = scope.ids.get(source) else {
                let hint = suggest::hint(source, scope.drafts.iter().map(|d| d.id.as_str()));
                return Some((
                    format!("`{var}` in {place} refers to unknown step `{source}`{hint}"),
                    shown,
                ));
            };
            if scope.upstreams.contains(step, source_index) {
                return None;
            }
            Some((
                format!(
                    "{place} reads `{var}`, but `{source}` is not upstream of `{id}`: add `{source}` to its `depends_on`"
                ),
                shown,
            ))
        }
        _ => None,
    }
}

/// The first `n` dot-separated segments of `var`.
pub(super) fn var_prefix(var: &str, n: usize) -> &str {
    match var.match_indices('.').nth(n - 1) {
        Some((i, _)) => &var[..i],
        None => var,
    }
}

/// The position of `needle` (as a whole name) in the source text of `node`, falling back
/// to the node itself.
pub(super) fn locate(text: &str, node: &Node, needle: &str) -> (Span, usize) {
    let fallback = (node.span, node.width);
    let Some(scalar) = node.as_scalar() else {
        return fallback;
    };
    let first = node.span.line as usize;
    // Block and folded scalars span more lines than they start on: look at all of them.
    let count = scalar.text.lines().count().max(1) + 1;
    for (offset, line) in text
        .lines()
        .skip(first.saturating_sub(1))
        .take(count)
        .enumerate()
    {
        let start_col = if offset == 0 {
            (node.span.col as usize).saturating_sub(1)
        } else {
            0
        };
        let start_byte = line
            .char_indices()
            .nth(start_col)
            .map(|(b, _)| b)
            .unwrap_or(line.len());
        if let Some(byte) = find_name(&line[start_byte..], needle).map(|b| b + start_byte) {
            let col = line[..byte].chars().count() + 1;
            let span = Span::new(
                u32::try_from(first + offset).unwrap_or(u32::MAX),
                u32::try_from(col).unwrap_or(u32::MAX),
            );
            return (span, needle.chars().count());
        }
    }
    fallback
}

/// Byte offset of `needle` in `hay` where it is not part of a longer name.
fn find_name(hay: &str, needle: &str) -> Option<usize> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    hay.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| is_name(c) || c == '.') && !after.is_some_and(is_name)
    })
}
