//! Dates typed on the command line.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `2026-01-31`, `2026-01-31T06:00`, `2026-01-31T06:00:00` (or with a space), or RFC 3339.
/// Without an offset the date is in `tz` (the DAG's time zone).
pub fn parse_local_datetime(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        })
        .ok_or_else(|| {
            "expected a date (`2026-01-31`), a date and time (`2026-01-31T06:00`) or RFC 3339 \
             (`2026-01-31T06:00:00Z`)"
                .to_string()
        })?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{text} does not exist in {} (clocks skip it for daylight saving)",
            tz.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_without_offset_are_in_the_dag_time_zone() {
        let paris: Tz = "Europe/Paris".parse().expect("tz");
        let t = parse_local_datetime("2026-01-31", paris).expect("date");
        assert_eq!(t.to_rfc3339(), "2026-01-30T23:00:00+00:00");
        let t = parse_local_datetime("2026-07-01T06:00", paris).expect("datetime");
        assert_eq!(t.to_rfc3339(), "2026-07-01T04:00:00+00:00");
        let t = parse_local_datetime("2026-07-01T06:00:00Z", paris).expect("rfc3339");
        assert_eq!(t.to_rfc3339(), "2026-07-01T06:00:00+00:00");
        assert!(
            parse_local_datetime("2026-03-29T02:30", paris)
                .unwrap_err()
                .contains("daylight")
        );
        assert!(parse_local_datetime("yesterday", paris).is_err());
    }
}
