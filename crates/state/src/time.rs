//! Timestamps as stored: fixed-width RFC 3339 UTC text with microseconds, which sorts and
//! compares as text the same way the instants do.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::StoreError;

/// Formats an instant the way the store keeps it: `2026-01-01T00:00:00.000000Z`.
pub fn format_ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored timestamp.
pub fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

pub(crate) fn parse_opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_ts).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_timestamps_are_fixed_width_and_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let c = a + chrono::Duration::hours(10);
        let (fa, fb, fc) = (format_ts(a), format_ts(b), format_ts(c));
        assert_eq!(fa, "2026-01-01T00:00:00.000000Z");
        assert_eq!(fa.len(), fc.len());
        assert!(fa < fb && fb < fc);
        assert_eq!(parse_ts(&fb).unwrap(), b);
        assert!(parse_ts("yesterday").is_err());
    }
}
