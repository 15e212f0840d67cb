//! Durations as written in DAG files: `500ms`, `30s`, `5m`, `1h30m`, `2d`.

use std::time::Duration;

/// Units from largest to smallest: a duration lists each at most once, in this order.
const UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const EXPECTED: &str =
    "expected a number followed by a unit (d, h, m, s, ms), e.g. `30s`, `5m`, `1h30m`";

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h30m` or `2d`.
///
/// Each part is a whole number followed by a unit (`d`, `h`, `m`, `s`, `ms`); parts go from
/// the largest unit to the smallest, each unit at most once. The error says what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration: {EXPECTED}"));
    }
    if trimmed.contains(char::is_whitespace) {
        return Err(format!(
            "invalid duration `{trimmed}`: spaces are not allowed; {EXPECTED}"
        ));
    }
    let mut rest = trimmed;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration `{trimmed}`: {EXPECTED}"));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "invalid duration `{trimmed}`: `{number}` has no unit; {EXPECTED}"
            ));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "invalid duration `{trimmed}`: unknown unit `{unit}`; {EXPECTED}"
            ));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(format!(
                "invalid duration `{trimmed}`: units must go from largest to smallest, each at most once (d, h, m, s, ms)"
            ));
        }
        last_unit = Some(index);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration `{trimmed}`: `{number}` is too large"))?;
        total_ms = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("invalid duration `{trimmed}`: too large"))?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `500ms`, `0s`).
/// Precision below a millisecond is dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, size) in UNITS {
        let count = ms / size;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            ms -= count * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn explains_what_is_wrong() {
        let err = parse_duration("30").unwrap_err();
        assert!(err.contains("`30` has no unit"), "{err}");
        let err = parse_duration("5 minutes").unwrap_err();
        assert!(err.contains("spaces are not allowed"), "{err}");
        let err = parse_duration("3x").unwrap_err();
        assert!(err.contains("unknown unit `x`"), "{err}");
        let err = parse_duration("30m1h").unwrap_err();
        assert!(err.contains("largest to smallest"), "{err}");
        let err = parse_duration("5m5m").unwrap_err();
        assert!(err.contains("largest to smallest"), "{err}");
        assert!(
            parse_duration("")
                .unwrap_err()
                .starts_with("empty duration")
        );
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(
            parse_duration("99999999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_duration("999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn format_is_the_inverse_of_parse() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(
            format_duration(Duration::from_millis(93_784_005)),
            "1d2h3m4s5ms"
        );
        for text in ["2d", "1h", "45m", "1m30s", "1s500ms", "3d4h"] {
            let parsed = parse_duration(text).expect("valid");
            assert_eq!(format_duration(parsed), text);
        }
    }
}
