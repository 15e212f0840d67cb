//! Parsing of the `$FLOWCTL_OUTPUT` file, GitHub Actions' `$GITHUB_OUTPUT` convention:
//! `key=value` lines and multi-line `key<<DELIMITER` ... `DELIMITER` blocks.

use std::borrow::Cow;

use indexmap::IndexMap;

/// Largest output file read (as GitHub Actions' per-step limit): outputs are stored with the
/// attempt and rendered into templates, they are not a data channel.
pub(crate) const MAX_OUTPUT_FILE_BYTES: usize = 1024 * 1024;

/// A malformed output file, with the 1-based line where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputError {
    pub line: usize,
    pub message: String,
}

/// Parses the file's bytes into outputs in first-written order; a key written twice keeps
/// its last value (as in GitHub Actions).
pub(crate) fn parse_outputs(bytes: &[u8]) -> Result<IndexMap<String, String>, OutputError> {
    let text = std::str::from_utf8(bytes).map_err(|err| OutputError {
        line: line_of_offset(bytes, err.valid_up_to()),
        message: "not valid UTF-8".to_owned(),
    })?;
    let mut outputs = IndexMap::new();
    // `lines()` also strips a `\r` before each `\n`.
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    while let Some((number, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (key, value) = match split_line(line) {
            Some(Form::KeyValue { key, value }) => (key, value.to_owned()),
            Some(Form::Heredoc { key, delimiter }) => {
                if delimiter.is_empty() {
                    return Err(error(number, format!("missing delimiter after `{key}<<`")));
                }
                let mut body: Vec<&str> = Vec::new();
                loop {
                    match lines.next() {
                        Some((_, text)) if text == delimiter => break,
                        Some((_, text)) => body.push(text),
                        None => {
                            let message = format!(
                                "`{key}<<{delimiter}` is never closed by a `{delimiter}` line"
                            );
                            return Err(error(number, message));
                        }
                    }
                }
                (key, body.join("\n"))
            }
            None => {
                let message = format!(
                    "expected `key=value` or `key<<DELIMITER`, got {:?}",
                    shorten(line)
                );
                return Err(error(number, message));
            }
        };
        check_key(key).map_err(|message| error(number, message))?;
        outputs.insert(key.to_owned(), value);
    }
    Ok(outputs)
}

enum Form<'a> {
    KeyValue { key: &'a str, value: &'a str },
    Heredoc { key: &'a str, delimiter: &'a str },
}

/// Whichever of `=` and `<<` comes first decides the form (the GitHub runner's rule), so
/// values may contain `<<` and delimiters may contain `=`.
fn split_line(line: &str) -> Option<Form<'_>> {
    let equals = line.find('=');
    let heredoc = line.find("<<");
    match (equals, heredoc) {
        (Some(eq), hd) if hd.is_none_or(|hd| eq < hd) => Some(Form::KeyValue {
            key: &line[..eq],
            value: &line[eq + 1..],
        }),
        (_, Some(hd)) => Some(Form::Heredoc {
            key: &line[..hd],
            delimiter: &line[hd + 2..],
        }),
        (None, None) => None,
        // Unreachable: `(Some, None)` is caught by the first arm.
        (Some(_), None) => None,
    }
}

/// Output names as GitHub Actions allows them: they are read in templates as
/// `outputs.<step>.<key>`.
fn check_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid output name {:?}: use letters, digits, `_` and `-`, starting with a letter or `_`",
            shorten(key)
        ))
    }
}

fn error(line: usize, message: String) -> OutputError {
    OutputError { line, message }
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Keeps error messages readable when a script dumped something large by mistake.
fn shorten(text: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, OutputError> {
        parse_outputs(text.as_bytes()).map(|outputs| outputs.into_iter().collect())
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn key_value_lines_split_at_the_first_equals() {
        let parsed = parse("a=1\nurl=s3://b/k?x=y\n\nempty=\r\nsql=a << b\n").unwrap();
        let expected = [
            ("a", "1"),
            ("url", "s3://b/k?x=y"),
            ("empty", ""),
            ("sql", "a << b"),
        ];
        assert_eq!(parsed, pairs(&expected));
    }

    #[test]
    fn heredoc_blocks_keep_inner_lines_verbatim() {
        let text = "rows<<EOF\nline 1\n\nx=y\nEOF\nafter=1\nd<<A=B\nv\r\nA=B\none<<END\nEND\n";
        let parsed = parse(text).unwrap();
        let expected = [
            ("rows", "line 1\n\nx=y"),
            ("after", "1"),
            ("d", "v"),
            ("one", ""),
        ];
        assert_eq!(parsed, pairs(&expected));
    }

    #[test]
    fn later_writes_replace_earlier_values_in_place() {
        assert_eq!(
            parse("a=1\nb=2\na=3").unwrap(),
            pairs(&[("a", "3"), ("b", "2")])
        );
    }

    #[test]
    fn malformed_lines_report_their_line_number() {
        assert_eq!(
            parse("a=1\n\njust text\n"),
            Err(OutputError {
                line: 3,
                message: "expected `key=value` or `key<<DELIMITER`, got \"just text\"".into()
            })
        );
        let err = parse("a=1\nbody<<EOF\nx\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("never closed by a `EOF` line"),
            "{}",
            err.message
        );
        assert_eq!(parse("x<<\n").unwrap_err().line, 1);
    }

    #[test]
    fn output_names_must_be_usable_in_templates() {
        for (text, line) in [
            ("=v", 1),
            ("a=1\n1a=v", 2),
            ("has space=v", 1),
            ("a.b<<E\nE", 1),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text}");
            assert!(
                err.message.starts_with("invalid output name"),
                "{}",
                err.message
            );
        }
        assert_eq!(parse("_a-b_9=v").unwrap(), pairs(&[("_a-b_9", "v")]));
    }

    #[test]
    fn invalid_utf8_reports_its_line() {
        let err = parse_outputs(b"a=1\nb=\xff\n").unwrap_err();
        assert_eq!(
            err,
            OutputError {
                line: 2,
                message: "not valid UTF-8".into()
            }
        );
    }

    #[test]
    fn long_lines_are_shortened_in_messages() {
        let line = "x".repeat(500);
        let err = parse(&line).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message);
        assert!(err.message.contains('…'));
    }
}
