//! Reading typed values out of a [`yaml`](crate::yaml) tree while collecting diagnostics.
//!
//! Every reader reports what it found and what it expected, positioned on the offending
//! node, and returns `None` so the caller can keep checking the rest of the file.

use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::duration::parse_duration;
use crate::span::Span;
use crate::suggest;
use crate::yaml::{Entry, Node, Typed, YamlError};

/// Collects the diagnostics of one file.
pub(crate) struct Checker<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    /// Reports `message` at `span`, underlining `width` characters.
    pub fn at(&mut self, span: Span, width: usize, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(self.file, self.text, span, width, message));
    }

    /// Reports `message` on `node`.
    pub fn on(&mut self, node: &Node, message: impl Into<String>) {
        self.at(node.span, node.width, message);
    }

    /// Reports a problem with the whole file.
    pub fn file_error(&mut self, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(self.file, message));
    }

    pub fn yaml_errors(&mut self, errors: Vec<YamlError>) {
        for e in errors {
            self.at(e.span, e.width, e.message);
        }
    }

    /// Diagnostics sorted by position (file-level ones first), as a reader scans the file;
    /// those in files the DAG names (a `file:` SQL query) come after the DAG file's own.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        let file = self.file;
        self.diagnostics.sort_by(|a, b| {
            (a.file != file, &a.file, a.span).cmp(&(b.file != file, &b.file, b.span))
        });
        self.diagnostics.dedup();
        self.diagnostics
    }

    /// The entries of a map, or a "expected a map" diagnostic. `what` names the value:
    /// "`steps`", "step `load`".
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match node.as_map() {
            Some(entries) => Some(entries),
            None => {
                self.on(
                    node,
                    format!("{what} must be a map, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reports every key of `entries` that is not in `allowed`, with a suggestion from
    /// `allowed`. `place` ends the message:
    /// "in step `load`", "at the top level".
    pub fn unknown_keys<'e>(
        &mut self,
        entries: impl IntoIterator<Item = &'e Entry>,
        allowed: &[&str],
        place: &str,
    ) {
        for entry in entries {
            let key = entry.key_str();
            if !allowed.contains(&key) {
                let hint = suggest::hint(key, allowed.iter().copied());
                self.on(&entry.key, format!("unknown key `{key}` {place}{hint}"));
            }
        }
    }

    /// Reports a wrong type: "invalid `retries` in step `x`: expected ..., found ...".
    pub fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.on(
            node,
            format!(
                "invalid {what}: expected {expected}, found {}",
                node.describe()
            ),
        );
    }

    /// A string (plain or quoted; numbers and booleans are not strings).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.typed() {
            Some(Typed::Str(s)) => Some(s.to_string()),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// A string, or `None` without a diagnostic when the value is null.
    pub fn optional_string(&mut self, node: &Node, what: &str) -> Option<String> {
        if node.is_null() {
            None
        } else {
            self.string(node, what)
        }
    }

    /// An integer of at least `min` (0 or 1) that fits in a `u32`.
    pub fn integer(&mut self, node: &Node, what: &str, min: u32) -> Option<u32> {
        let expected = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        match node.typed() {
            Some(Typed::Int(i)) if i >= i64::from(min) => match u32::try_from(i) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.on(
                        node,
                        format!("invalid {what}: {i} is too large (at most {})", u32::MAX),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, what, expected);
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.typed() {
            Some(Typed::Bool(b)) => Some(b),
            _ => {
                self.wrong_type(node, what, "`true` or `false`");
                None
            }
        }
    }

    /// A duration string such as `30s` or `1h30m`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        match node.typed() {
            Some(Typed::Str(s)) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(why) => {
                    self.on(node, format!("invalid {what}: {why}"));
                    None
                }
            },
            Some(Typed::Int(i)) => {
                self.on(
                    node,
                    format!("invalid {what}: expected a duration with a unit, e.g. `{i}s` or `{i}m`, found integer `{i}`"),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a duration such as `30s`, `5m` or `1h30m`");
                None
            }
        }
    }

    /// One of `choices` (snake_case names), with a suggestion when close.
    pub fn choice<'c>(&mut self, node: &Node, what: &str, choices: &[&'c str]) -> Option<&'c str> {
        let list = choices.join(", ");
        match node.typed() {
            Some(Typed::Str(s)) => match choices.iter().find(|c| **c == s) {
                Some(c) => Some(c),
                None => {
                    let hint = suggest::hint(s, choices.iter().copied());
                    self.on(
                        node,
                        format!(
                            "invalid {what}: unknown value `{s}`{hint}; expected one of: {list}"
                        ),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, what, &format!("one of: {list}"));
                None
            }
        }
    }
}

/// Whether `id` is a valid DAG or step id: `[A-Za-z0-9_.-]+`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
