//! A fast walk over the top-level members of a JSON object's text, without building values.
//!
//! The merge needs only the key columns of the ~90% of changes that lose to a later change of
//! their key, and a few columns of the winners: walking the text by hand (a byte loop, no
//! allocation) costs a fraction of a serde parse. The walk checks the object's structure
//! (names, colons, commas, closed strings and brackets, scalar tokens that start a JSON literal)
//! but not every scalar: a member's value is only fully parsed when it is used. Whenever the
//! text is not something the walk is sure about — an escaped member name, a malformed object —
//! it says so and the caller takes the serde path, which also words the error.

/// Calls `member(name, value)` for each top-level member of the JSON object `json`, in text
/// order, `value` being the member's raw JSON text (e.g. `42`, `"x"`, `{"a":1}`).
///
/// Returns `false` (after maybe calling `member` for some members) when `json` is not an object
/// this walk understands: the caller must then discard what it collected and parse `json` with
/// serde_json instead.
pub(crate) fn object_members<'a>(json: &'a str, mut member: impl FnMut(&'a str, &'a str)) -> bool {
    let b = json.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return skip_ws(b, i + 1) == b.len();
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return false;
        }
        let name_start = i + 1;
        let Some(after_name) = string_end(b, name_start) else {
            return false;
        };
        // The name's text is the name only without escapes (`\"`, `\u00e9`): leave those to serde.
        if b[name_start..after_name - 1].contains(&b'\\') {
            return false;
        }
        i = skip_ws(b, after_name);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(b, i + 1);
        let value_start = i;
        let Some(value_end) = value_end(b, i) else {
            return false;
        };
        // Every bound sits next to an ASCII byte (a quote, bracket or delimiter) or at the end of
        // the text, so it is a char boundary; `get` keeps that an invariant rather than a panic.
        match (
            json.get(name_start..after_name - 1),
            json.get(value_start..value_end),
        ) {
            (Some(name), Some(value)) => member(name, value),
            _ => return false,
        }
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return skip_ws(b, i + 1) == b.len(),
            _ => return false,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The index after the closing quote of the string whose text starts at `i` (after its opening
/// quote), `None` if it is not closed.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match b.get(i)? {
            b'"' => return Some(i + 1),
            // An escape: the next byte is escaped, whatever it is (`\"` does not close).
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The index after the JSON value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        b'-' | b'0'..=b'9' => {
            let end = scalar_end(b, i);
            // A number's bytes only (its exact syntax is checked when it is parsed).
            b[i..end]
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .then_some(end)
        }
        b't' | b'f' | b'n' => {
            let end = scalar_end(b, i);
            matches!(&b[i..end], b"true" | b"false" | b"null").then_some(end)
        }
        _ => None,
    }
}

/// The index of the first byte after a scalar token (a delimiter or the end).
fn scalar_end(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(json: &str) -> Option<Vec<(&str, &str)>> {
        let mut out = Vec::new();
        object_members(json, |n, v| out.push((n, v))).then_some(out)
    }

    #[test]
    fn members_come_with_their_raw_values_in_text_order() {
        assert_eq!(
            members(
                r#" { "id" : 7 ,"name":"a \"q\" ,}","tags":[1,{"x":"]"}],"ok":true,"n":null,"f":-1.5e3} "#
            ),
            Some(vec![
                ("id", "7"),
                ("name", r#""a \"q\" ,}""#),
                ("tags", r#"[1,{"x":"]"}]"#),
                ("ok", "true"),
                ("n", "null"),
                ("f", "-1.5e3"),
            ])
        );
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(
            members(r#"{"é":"ü"}"#),
            Some(vec![("é", r#""ü""#)]),
            "non-ASCII text is sliced on char boundaries"
        );
    }

    #[test]
    fn anything_unsure_or_malformed_is_left_to_serde() {
        for json in [
            r#"{"i\u0064":1}"#, // escaped name: its text is not the name
            "[1]",
            "null",
            r#"{"id":1"#,
            r#"{"id":1,}"#,
            r#"{"id" 1}"#,
            r#"{"id":tru}"#,
            r#"{"id":"open}"#,
            r#"{"id":[1,2}"#,
            r#"{"id":x}"#,
            r#"{"id":1} x"#,
            r#"{"id":1 2}"#,
            r#"{id:1}"#,
            "",
        ] {
            assert_eq!(members(json), None, "{json}");
        }
    }
}
