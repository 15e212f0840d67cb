//! A YAML tree that remembers where every node came from.
//!
//! Built from `saphyr-parser` events. Compared with a plain YAML value tree it keeps:
//! the position of every key and value (for diagnostics), the key order, and whether a
//! scalar was quoted (`"3"` is a string, `3` an integer). Duplicate keys are errors
//! (YAML says keys are unique; silently keeping the last one hides typos), anchors and
//! aliases are resolved, and merge keys (`<<: *base`) are applied, explicit keys winning.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use crate::span::Span;

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Position of the node's first character (for a quoted scalar, its opening quote).
    pub span: Span,
    /// How many characters of the node's first line to underline in a diagnostic.
    pub width: usize,
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique.
    Map(Vec<Entry>),
}

/// A scalar as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's text, after unquoting/unescaping.
    pub text: String,
    /// `false` for plain scalars, whose type comes from their text (YAML 1.2 core schema);
    /// `true` for quoted and block scalars, which are always strings.
    pub is_string: bool,
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Entry {
    /// The key's text (keys are always scalars).
    pub fn key_str(&self) -> &str {
        match &self.key.value {
            Value::Scalar(s) => &s.text,
            _ => "",
        }
    }
}

/// A scalar interpreted with the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Typed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// A problem in the YAML text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub span: Span,
    /// Characters to underline.
    pub width: usize,
    pub message: String,
}

/// The result of parsing: the tree (absent on a syntax error or an empty file) and every
/// problem found. Duplicate keys do not stop parsing: the first occurrence is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: Option<Node>,
    pub errors: Vec<YamlError>,
}

impl Node {
    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping's entries, if this node is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The sequence's items, if this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry for `key`, if this node is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key_str() == key)
    }

    /// The value for `key`, if this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The scalar's typed interpretation; `None` for sequences and mappings.
    pub fn typed(&self) -> Option<Typed<'_>> {
        self.as_scalar().map(Scalar::typed)
    }

    /// The text of a string scalar (quoted, or plain text that is not a number, bool or null).
    pub fn as_str(&self) -> Option<&str> {
        match self.typed()? {
            Typed::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null scalar (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(self.typed(), Some(Typed::Null))
    }

    /// What this node is, for "found ..." in messages: ``string `abc` ``, ``integer `3` ``,
    /// `a list`, `a map`, `null`.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a map".to_string(),
            Value::Scalar(s) => match s.typed() {
                Typed::Null => "null".to_string(),
                Typed::Bool(b) => format!("boolean `{b}`"),
                Typed::Int(_) => format!("integer `{}`", s.text),
                Typed::Float(_) => format!("number `{}`", s.text),
                Typed::Str(text) => format!("string `{}`", shorten(text)),
            },
        }
    }

    /// The node as JSON (core-schema typing for plain scalars; map keys as strings).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key_str().to_string(), e.value.to_json()))
                    .collect(),
            ),
            Value::Scalar(s) => match s.typed() {
                Typed::Null => J::Null,
                Typed::Bool(b) => J::Bool(b),
                Typed::Int(i) => J::from(i),
                // NaN and infinities have no JSON form: keep them as the text written.
                Typed::Float(f) => serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or_else(|| J::String(s.text.clone())),
                Typed::Str(text) => J::String(text.to_string()),
            },
        }
    }

    /// The node reached by following `path` (map keys, or sequence indices as decimal
    /// strings). Returns the deepest node reached and how many segments were followed.
    pub fn descend<'a>(&'a self, path: &[String]) -> (&'a Node, usize) {
        let mut node = self;
        for (depth, segment) in path.iter().enumerate() {
            let next = match &node.value {
                Value::Map(_) => node.get(segment),
                Value::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                Value::Scalar(_) => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, depth),
            }
        }
        (node, path.len())
    }
}

impl Scalar {
    /// The YAML 1.2 core-schema interpretation of this scalar.
    pub fn typed(&self) -> Typed<'_> {
        if self.is_string {
            return Typed::Str(&self.text);
        }
        let t = self.text.as_str();
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
            "true" | "True" | "TRUE" => return Typed::Bool(true),
            "false" | "False" | "FALSE" => return Typed::Bool(false),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                return Typed::Float(f64::INFINITY);
            }
            "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
            _ => {}
        }
        if let Some(i) = parse_int(t) {
            return Typed::Int(i);
        }
        if is_core_float(t)
            && let Ok(f) = t.parse::<f64>()
        {
            return Typed::Float(f);
        }
        Typed::Str(t)
    }
}

/// Core-schema integers: decimal with optional sign, `0o` octal, `0x` hex.
fn parse_int(t: &str) -> Option<i64> {
    if let Some(hex) = t.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Core-schema floats: `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`.
fn is_core_float(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = all_digits(int)
        && frac.is_none_or(all_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Long values are cut in messages so the message stays on one readable line.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    let first_line = text.lines().next().unwrap_or("");
    if first_line.chars().count() > MAX {
        let cut: String = first_line.chars().take(MAX).collect();
        format!("{cut}…")
    } else if first_line.len() < text.trim_end().len() {
        format!("{first_line}…")
    } else {
        first_line.to_string()
    }
}

/// Parses `text` as a single YAML document.
pub fn parse(text: &str) -> Document {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                if builder.on_event(event, span).is_break() {
                    break;
                }
            }
            Err(err) => {
                let mark = err.marker();
                let hint = match unclosed_bracket(text, mark.index(), mark.line()) {
                    Some((c, line, col)) => {
                        format!(" (the `{c}` at line {line}, column {col} is never closed)")
                    }
                    // The usual cause: a key indented under a scalar, or `: ` in a value.
                    None if err.info() == "mapping values are not allowed in this context" => {
                        " (check this line's indentation, or quote a value containing `: `)"
                            .to_string()
                    }
                    None => String::new(),
                };
                builder.errors.push(YamlError {
                    span: marker_span(mark),
                    width: 1,
                    message: format!("invalid YAML: {}{hint}", err.info()),
                });
                return Document {
                    root: None,
                    errors: builder.errors,
                };
            }
        }
    }
    Document {
        root: builder.root,
        errors: builder.errors,
    }
}

/// The parser reports an unclosed `[` or `{` where it gives up, often lines later and as
/// "invalid indentation": find a bracket opened on an earlier line and still open at
/// `error_index` (a character index), skipping quoted text and comments.
fn unclosed_bracket(
    text: &str,
    error_index: usize,
    error_line: usize,
) -> Option<(char, usize, usize)> {
    let mut open: Vec<(char, usize, usize)> = Vec::new();
    let (mut line, mut col) = (1, 0);
    let mut quote: Option<char> = None;
    let mut in_comment = false;
    let mut previous = '\n';
    let mut chars = text.chars().take(error_index);
    while let Some(c) = chars.next() {
        col += 1;
        match (quote, c) {
            (_, '\n') => {
                line += 1;
                col = 0;
                in_comment = false;
                // Quoted strings rarely span lines; an apostrophe in plain text must not
                // hide the rest of the file.
                quote = None;
            }
            _ if in_comment => {}
            (Some('"'), '\\') => {
                chars.next();
                col += 1;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if !previous.is_alphanumeric() => quote = Some(c),
            (None, '#') if previous.is_whitespace() => in_comment = true,
            (None, '[' | '{') => open.push((c, line, col)),
            (None, ']' | '}') => {
                open.pop();
            }
            _ => {}
        }
        previous = c;
    }
    open.into_iter().rev().find(|(_, l, _)| *l < error_line)
}

fn marker_span(mark: &saphyr_parser::Marker) -> Span {
    Span {
        line: u32::try_from(mark.line()).unwrap_or(u32::MAX),
        col: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
    }
}

/// A collection being built.
enum Frame {
    Seq {
        start: Node,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Node,
        anchor: usize,
        entries: Vec<Entry>,
        /// Position in `entries` of each key (duplicate checks stay linear in big maps).
        index: HashMap<String, usize>,
        /// Entries from `<<` merge keys, applied at the end (explicit keys win).
        merged: Vec<Entry>,
        pending_key: Option<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<YamlError>,
}

impl Builder {
    fn on_event(
        &mut self,
        event: Event<'_>,
        span: saphyr_parser::Span,
    ) -> std::ops::ControlFlow<()> {
        let start = marker_span(&span.start);
        let width = if span.end.line() == span.start.line() {
            // 0 for an absent value (`key:` with nothing after it).
            span.end.col().saturating_sub(span.start.col())
        } else {
            usize::MAX
        };
        let empty = |value| Node {
            span: start,
            width,
            value,
        };
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.errors.push(YamlError {
                        span: start,
                        width: 3,
                        message: "expected a single YAML document, found a second one (`---`)"
                            .to_string(),
                    });
                    return std::ops::ControlFlow::Break(());
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_string = !matches!(style, ScalarStyle::Plain);
                let is_string = self.apply_tag(tag.as_deref(), is_string, start, width);
                let node = empty(Value::Scalar(Scalar {
                    text: text.into_owned(),
                    is_string,
                }));
                self.complete(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.complete(node, 0);
                }
                None => self.errors.push(YamlError {
                    span: start,
                    width,
                    message: "alias refers to an anchor that is not defined before it".to_string(),
                }),
            },
            Event::SequenceStart(anchor, tag) => {
                self.apply_tag(tag.as_deref(), false, start, width);
                self.stack.push(Frame::Seq {
                    start: empty(Value::Seq(Vec::new())),
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.apply_tag(tag.as_deref(), false, start, width);
                self.stack.push(Frame::Map {
                    start: empty(Value::Map(Vec::new())),
                    anchor,
                    entries: Vec::new(),
                    index: HashMap::new(),
                    merged: Vec::new(),
                    pending_key: None,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    mut start,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    start.value = Value::Seq(items);
                    self.complete(start, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut start,
                    anchor,
                    mut entries,
                    index,
                    merged,
                    ..
                }) = self.stack.pop()
                {
                    for entry in merged {
                        if !index.contains_key(entry.key_str()) {
                            entries.push(entry);
                        }
                    }
                    start.value = Value::Map(entries);
                    self.complete(start, anchor);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        std::ops::ControlFlow::Continue(())
    }

    /// Core tags (`!!str`, `!!int`, ...) decide a scalar's type; any other tag is an error
    /// because nothing in flowctl gives it a meaning.
    fn apply_tag(&mut self, tag: Option<&Tag>, is_string: bool, span: Span, width: usize) -> bool {
        let Some(tag) = tag else { return is_string };
        if tag.is_yaml_core_schema() {
            match tag.suffix.as_str() {
                "str" => return true,
                "int" | "float" | "bool" | "null" => return false,
                "map" | "seq" => return is_string,
                _ => {}
            }
        }
        let shown = if tag.is_yaml_core_schema() {
            format!("!!{}", tag.suffix)
        } else {
            format!("{}{}", tag.handle, tag.suffix)
        };
        self.errors.push(YamlError {
            span,
            width: width.min(shown.chars().count()),
            message: format!("unsupported YAML tag `{shown}`"),
        });
        is_string
    }

    /// Adds a finished node to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                index,
                merged,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    if node.as_scalar().is_none() {
                        self.errors.push(YamlError {
                            span: node.span,
                            width: node.width,
                            message: format!("expected a plain key, found {}", node.describe()),
                        });
                    }
                    *pending_key = Some(node);
                }
                Some(key) => {
                    let mut value = node;
                    // An absent value has no text of its own: point at its key instead.
                    if value.width == 0 && value.is_null() {
                        value.span = key.span;
                        value.width = key.width;
                    }
                    let Some(key_scalar) = key.as_scalar() else {
                        return;
                    };
                    if key_scalar.text == "<<" && !key_scalar.is_string {
                        Self::merge(&mut self.errors, merged, &value);
                        return;
                    }
                    if let Some(first) = index.get(&key_scalar.text).map(|&i| &entries[i]) {
                        self.errors.push(YamlError {
                            span: key.span,
                            width: key.width,
                            message: format!(
                                "duplicate key `{}` (first defined at line {}, column {})",
                                key_scalar.text, first.key.span.line, first.key.span.col
                            ),
                        });
                        return;
                    }
                    index.insert(key_scalar.text.clone(), entries.len());
                    entries.push(Entry { key, value });
                }
            },
        }
    }

    /// `<<: map` or `<<: [map, map]`: earlier maps win over later ones.
    fn merge(errors: &mut Vec<YamlError>, merged: &mut Vec<Entry>, value: &Node) {
        let sources: Vec<&Node> = match &value.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        for source in sources {
            match source.as_map() {
                Some(entries) => {
                    for entry in entries {
                        if !merged.iter().any(|e| e.key_str() == entry.key_str()) {
                            merged.push(entry.clone());
                        }
                    }
                }
                None => errors.push(YamlError {
                    span: source.span,
                    width: source.width,
                    message: format!(
                        "a merge key `<<` needs a map or a list of maps, found {}",
                        source.describe()
                    ),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let doc = parse(text);
        assert_eq!(doc.errors, vec![]);
        doc.root.expect("a root node")
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let n = root("dag: x\nsteps:\n  a:\n    command: \"echo hi\"\n");
        let step = n.get("steps").and_then(|s| s.entry("a")).expect("step a");
        assert_eq!(step.key.span, Span::new(3, 3));
        let command = step.value.get("command").expect("command");
        assert_eq!(command.span, Span::new(4, 14));
        assert_eq!(command.width, 9, "quotes included");
        assert_eq!(command.as_str(), Some("echo hi"));
    }

    #[test]
    fn types_plain_scalars_with_the_core_schema() {
        let n = root(
            "a: 3\nb: \"3\"\nc: true\nd: ~\ne: 1.5\nf: three\ng: 0x1f\nh: !!str 4\ni: 1e3\nj: 1.2.3\n",
        );
        assert_eq!(n.get("a").and_then(Node::typed), Some(Typed::Int(3)));
        assert_eq!(n.get("b").and_then(Node::typed), Some(Typed::Str("3")));
        assert_eq!(n.get("c").and_then(Node::typed), Some(Typed::Bool(true)));
        assert_eq!(n.get("d").and_then(Node::typed), Some(Typed::Null));
        assert_eq!(n.get("e").and_then(Node::typed), Some(Typed::Float(1.5)));
        assert_eq!(n.get("f").and_then(Node::typed), Some(Typed::Str("three")));
        assert_eq!(n.get("g").and_then(Node::typed), Some(Typed::Int(31)));
        assert_eq!(n.get("h").and_then(Node::typed), Some(Typed::Str("4")));
        assert_eq!(n.get("i").and_then(Node::typed), Some(Typed::Float(1000.0)));
        assert_eq!(n.get("j").and_then(Node::typed), Some(Typed::Str("1.2.3")));
        assert_eq!(
            n.get("f").map(Node::describe).as_deref(),
            Some("string `three`")
        );
        assert_eq!(
            n.get("a").map(Node::describe).as_deref(),
            Some("integer `3`")
        );
    }

    #[test]
    fn reports_both_positions_of_a_duplicate_key() {
        let doc = parse("a: 1\nb:\n  x: 1\n  x: 2\n");
        assert_eq!(doc.errors.len(), 1);
        let err = &doc.errors[0];
        assert_eq!(err.span, Span::new(4, 3));
        assert_eq!(
            err.message,
            "duplicate key `x` (first defined at line 3, column 3)"
        );
        let root = doc.root.expect("tree is still built");
        assert_eq!(
            root.get("b").and_then(|b| b.get("x")).and_then(Node::typed),
            Some(Typed::Int(1))
        );
    }

    #[test]
    fn resolves_aliases_and_merge_keys() {
        let n =
            root("base: &b {retries: 3, timeout: 5m}\nstep:\n  <<: *b\n  retries: 1\ncopy: *b\n");
        let step = n.get("step").expect("step");
        assert_eq!(
            step.get("retries").and_then(Node::typed),
            Some(Typed::Int(1))
        );
        assert_eq!(step.get("timeout").and_then(Node::as_str), Some("5m"));
        assert_eq!(
            n.get("copy")
                .and_then(|c| c.get("retries"))
                .and_then(Node::typed),
            Some(Typed::Int(3))
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let doc = parse("a: 1\nb: [1, 2\nc: 3\n");
        assert!(doc.root.is_none());
        assert_eq!(doc.errors.len(), 1);
        assert!(
            doc.errors[0].message.starts_with("invalid YAML: "),
            "{:?}",
            doc.errors
        );
        assert_eq!(doc.errors[0].span.line, 3);
    }

    #[test]
    fn points_at_an_unclosed_bracket_on_an_earlier_line() {
        let doc = parse("a:\n  b: [1, \"x]\" # ]\n  c: 3\nd: 4\n");
        let message = &doc.errors[0].message;
        assert!(
            message.ends_with("(the `[` at line 2, column 6 is never closed)"),
            "{message}"
        );
        let doc = parse("a: ['it''s', \"[\"]\nb: c: d\n");
        assert!(
            !doc.errors[0].message.contains("never closed"),
            "brackets were closed"
        );
        assert!(
            doc.errors[0]
                .message
                .contains("check this line's indentation")
        );
    }

    #[test]
    fn rejects_several_documents_and_unknown_tags() {
        let doc = parse("a: 1\n---\nb: 2\n");
        assert_eq!(doc.errors[0].span, Span::new(2, 1));
        let doc = parse("a: !Ref x\n");
        assert_eq!(doc.errors[0].message, "unsupported YAML tag `!Ref`");
    }

    #[test]
    fn empty_values_point_at_their_key() {
        let n = root("key:\nother: 1\n");
        let v = n.get("key").expect("key");
        assert!(v.is_null());
        assert_eq!(v.span, Span::new(1, 1));
        assert_eq!(v.width, 3);
    }

    #[test]
    fn descends_paths_to_the_deepest_node() {
        let n = root("a:\n  b: [x, y]\n");
        let (node, depth) = n.descend(&["a".into(), "b".into(), "1".into()]);
        assert_eq!((node.as_str(), depth), (Some("y"), 3));
        let (node, depth) = n.descend(&["a".into(), "missing".into()]);
        assert_eq!((node.span, depth), (Span::new(2, 3), 1));
        assert_eq!(n.to_json(), serde_json::json!({"a": {"b": ["x", "y"]}}));
    }
}
