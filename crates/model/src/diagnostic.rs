//! User-facing errors with a position and the offending source line.

use std::fmt;

use crate::span::Span;

/// One problem found in a file.
///
/// Displayed as `file:line:col: message`, followed by the offending source line and a
/// caret line under the offending text:
///
/// ```text
/// dags/x.yaml:12:5: unknown key `retires` in step `load` (did you mean `retries`?)
///    12 |     retires: 3
///       |     ^^^^^^^
/// ```
///
/// Without a position: `file: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it.
    pub file: String,
    /// Where in the file; `None` for problems with the whole file (unreadable, empty).
    pub span: Option<Span>,
    /// What was found and what was expected.
    pub message: String,
    /// The rendered excerpt printed under the message: the offending source line (with its
    /// line number) and a caret line. Built by [`Diagnostic::at`].
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// A diagnostic about a whole file (no position).
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            span: None,
            message: message.into(),
            snippet: None,
        }
    }

    /// A diagnostic at `span` in `source`, underlining `width` characters (at least one, at
    /// most to the end of the line).
    pub fn at(
        file: impl Into<String>,
        source: &str,
        span: Span,
        width: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            span: Some(span),
            message: message.into(),
            snippet: render_snippet(source, span, width),
        }
    }
}

/// Renders the source line of `span` and a caret line under `width` characters from its column.
/// `None` when the line does not exist (a position past the end of the text).
fn render_snippet(source: &str, span: Span, width: usize) -> Option<String> {
    let index = usize::try_from(span.line).ok()?.checked_sub(1)?;
    let line = source.lines().nth(index)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let col = usize::try_from(span.col).unwrap_or(1).max(1) - 1;
    // Tabs before the column are copied so the carets line up in any tab width.
    let pad: String = line
        .chars()
        .chain(std::iter::repeat(' '))
        .take(col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let rest = line.chars().count().saturating_sub(col);
    let carets = "^".repeat(width.min(rest).max(1));
    let number = span.line.to_string();
    let gutter = " ".repeat(number.len() + 3);
    let source_line = format!("   {number} | {line}");
    Some(format!(
        "{}\n{gutter} | {pad}{carets}",
        source_line.trim_end()
    ))
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(span) => write!(f, "{}:{}: {}", self.file, span, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_and_carets_under_the_span() {
        let text = "steps:\n  load:\n    retires: 3\n";
        let d = Diagnostic::at("x.yaml", text, Span::new(3, 5), 7, "unknown key `retires`");
        assert_eq!(
            d.to_string(),
            "x.yaml:3:5: unknown key `retires`\n   3 |     retires: 3\n     |     ^^^^^^^"
        );
    }

    #[test]
    fn clamps_width_to_the_line_and_keeps_tabs() {
        let text = "a:\tb";
        let d = Diagnostic::at("f", text, Span::new(1, 4), 50, "m");
        assert_eq!(d.to_string(), "f:1:4: m\n   1 | a:\tb\n     |   \t^");
    }

    #[test]
    fn without_span_prints_file_and_message() {
        assert_eq!(
            Diagnostic::new("f.yaml", "file is empty").to_string(),
            "f.yaml: file is empty"
        );
    }

    #[test]
    fn gutter_grows_with_line_number() {
        let text = "x\n".repeat(12);
        let d = Diagnostic::at("f", &text, Span::new(12, 1), 1, "m");
        assert_eq!(d.snippet.as_deref(), Some("   12 | x\n      | ^"));
    }
}
