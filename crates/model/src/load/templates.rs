//! Template checks on every string of every checked job: syntax, unknown variables,
//! undeclared params, and outputs of steps that are not upstream.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::graph::Upstreams;
use super::steps::Draft;
use crate::check::Checker;
use crate::span::Span;
use crate::suggest;
use crate::template::{CONTEXT_VARIABLES, analyze};
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
        }
    }
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
