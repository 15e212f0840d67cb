//! Cron schedules and data intervals (Airflow semantics).
//!
//! A schedule's ticks cut time into data intervals `[tick, next tick)`. The run for an
//! interval is due once the interval has ended. Ticks are computed in the DAG's time zone
//! by `croner`, which handles daylight-saving changes the way cron users expect: a
//! fixed-time job (`30 2 * * *`) whose wall-clock time is skipped by a spring-forward runs
//! at the first instant after the gap, and runs once on a fall-back day; an interval job
//! (`0 * * * *`) fires on both passes of a repeated hour.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::dag::Dag;

/// `@name` shortcuts and the cron expression each stands for.
const MACROS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// A parsed schedule: a 5-field (minute precision) or 6-field (seconds first) cron
/// expression, or one of `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`,
/// `@yearly`, `@annually`. Equality compares the expression as written.
#[derive(Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.expr).finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// One data interval: `[start, end)`. `start` is the run's logical date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DataInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Schedule {
    /// Parses a schedule; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let expr = text.trim();
        if expr.is_empty() {
            return Err("empty schedule: expected a cron expression such as `*/15 * * * *` or one of @hourly, @daily, @weekly, @monthly, @yearly".to_string());
        }
        let pattern = if expr.starts_with('@') {
            match MACROS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(expr))
            {
                Some((_, pattern)) => *pattern,
                None => {
                    let names = MACROS.iter().map(|(name, _)| *name);
                    return Err(format!(
                        "unknown schedule `{expr}`{}: expected a cron expression or one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually",
                        crate::suggest::hint(expr, names)
                    ));
                }
            }
        } else {
            let fields = expr.split_whitespace().count();
            if fields != 5 && fields != 6 {
                return Err(format!(
                    "invalid cron expression `{expr}`: expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {fields}"
                ));
            }
            expr
        };
        let cron = parser().parse(pattern).map_err(|err| {
            let why = field_error(pattern).unwrap_or_else(|| describe_cron_error(&err));
            format!("invalid cron expression `{expr}`: {why}")
        })?;
        let schedule = Schedule {
            expr: expr.to_string(),
            cron,
        };
        // A pattern such as `0 0 30 2 *` parses but never fires; say so now rather than
        // leave a DAG that silently never runs.
        let probe = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        if schedule.next_after(probe, Tz::UTC).is_none() {
            return Err(format!(
                "cron expression `{expr}` never fires (no date matches it)"
            ));
        }
        Ok(schedule)
    }

    /// The expression as written in the DAG file.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first tick strictly after `t`, in time zone `tz`.
    pub fn next_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = whole_seconds(t).with_timezone(&tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last tick at or before `t`, in time zone `tz`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = whole_seconds(t).with_timezone(&tz);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The first tick at or after `t`.
    fn first_at_or_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Ticks fall on whole seconds: rounding `t` up keeps "at or after" exact.
        let up = if t == whole_seconds(t) {
            t
        } else {
            whole_seconds(t) + chrono::Duration::seconds(1)
        };
        let local = up.with_timezone(&tz);
        self.cron
            .find_next_occurrence(&local, true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last tick strictly before `t`.
    fn latest_before(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = whole_seconds(t).with_timezone(&tz);
        let inclusive = whole_seconds(t) != t;
        self.cron
            .find_previous_occurrence(&local, inclusive)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The interval starting at tick `start`.
    fn interval_from(&self, start: DateTime<Utc>, tz: Tz) -> Option<DataInterval> {
        self.next_after(start, tz)
            .map(|end| DataInterval { start, end })
    }
}

/// Cron matching works on whole seconds.
/// What is wrong with a date given by a user (see [`parse_local_datetime`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDateError {
    /// Not a date in any accepted form.
    Malformed,
    /// A wall-clock time that daylight saving skips in the time zone.
    Skipped { naive: String, tz: Tz },
}

impl fmt::Display for LocalDateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalDateError::Malformed => f.write_str(
                "expected a date (`2026-01-01`), a date and time (`2026-01-01T06:00:00`) or RFC 3339 (`2026-01-01T06:00:00Z`)",
            ),
            LocalDateError::Skipped { naive, tz } => write!(
                f,
                "{naive} does not exist in {} (clocks skip it for daylight saving)",
                tz.name()
            ),
        }
    }
}

/// Parses `2026-01-01`, `2026-01-01T06:00[:00[.fff]]` (or with a space), or RFC 3339 with an
/// offset. Dates and date-times without an offset are in `tz` (the DAG's time zone); a
/// wall-clock time that occurs twice (clocks going back) means its first occurrence.
pub fn parse_local_datetime(text: &str, tz: Tz) -> Result<DateTime<Utc>, LocalDateError> {
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
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        })
        .ok_or(LocalDateError::Malformed)?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => Err(LocalDateError::Skipped {
            naive: naive.format("%Y-%m-%dT%H:%M:%S").to_string(),
            tz,
        }),
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Names and allowed values of the fields of a 5-field expression (a 6-field one has
/// seconds first).
const FIELDS: &[(&str, &str)] = &[
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L, W"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
];

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Says which field of `pattern` is wrong, by parsing each field alone (croner's own
/// messages do not name the field).
fn field_error(pattern: &str) -> Option<String> {
    let fields: Vec<&str> = pattern.split_whitespace().collect();
    let names: Vec<(&str, &str)> = if fields.len() == 6 {
        std::iter::once(("second", "0-59"))
            .chain(FIELDS.iter().copied())
            .collect()
    } else {
        FIELDS.to_vec()
    };
    fields
        .iter()
        .zip(&names)
        .enumerate()
        .find_map(|(i, (field, (name, allowed)))| {
            let probe: Vec<&str> = (0..fields.len())
                .map(|j| if i == j { *field } else { "*" })
                .collect();
            let err = parser().parse(&probe.join(" ")).err()?;
            let why = match &err {
                croner::errors::CronError::IllegalCharacters(_) => {
                    "unexpected characters".to_string()
                }
                other => lowercase_first(&describe_cron_error(other)),
            };
            Some(format!(
                "{name} field `{field}`: {why} (allowed: {allowed})"
            ))
        })
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// croner's messages, without its type-name prefixes.
fn describe_cron_error(err: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match err {
        E::InvalidPattern(msg) | E::IllegalCharacters(msg) | E::ComponentError(msg) => {
            msg.trim_end_matches('.').to_string()
        }
        other => other.to_string().trim_end_matches('.').to_string(),
    }
}

impl Dag {
    /// The data interval `flowctl run --date DATE` uses: from the latest tick at or before
    /// `date` to the tick after it. A DAG without a schedule gets `[date, date]`.
    pub fn interval_for_date(&self, date: DateTime<Utc>) -> DataInterval {
        let point = DataInterval {
            start: date,
            end: date,
        };
        let Some(schedule) = &self.schedule else {
            return point;
        };
        let Some(start) = schedule.latest_at_or_before(date, self.timezone) else {
            return point;
        };
        schedule
            .interval_from(start, self.timezone)
            .unwrap_or(DataInterval { start, end: start })
    }

    /// The intervals the scheduler should create runs for now, oldest first (Airflow
    /// semantics: the run for `[start, end)` is due once `end <= now`).
    ///
    /// - `catchup: true`: every complete interval from `start_date` (or from
    ///   `last_scheduled_end`, when later) on, at most `limit`.
    /// - `catchup: false`: only the latest complete interval, when it starts at or after
    ///   `last_scheduled_end` and `start_date`.
    /// - Intervals starting after `end_date` are never due.
    pub fn due_intervals(
        &self,
        last_scheduled_end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DataInterval> {
        let Some(schedule) = &self.schedule else {
            return Vec::new();
        };
        if limit == 0 {
            return Vec::new();
        }
        let tz = self.timezone;
        let past_end = |start: DateTime<Utc>| self.end_date.is_some_and(|end| start > end);
        let from = match (self.start_date, last_scheduled_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if self.catchup
            && let Some(from) = from
        {
            let mut out = Vec::new();
            let mut start = schedule.first_at_or_after(from, tz);
            while let Some(s) = start {
                if out.len() >= limit || past_end(s) {
                    break;
                }
                match schedule.interval_from(s, tz) {
                    Some(interval) if interval.end <= now => out.push(interval),
                    _ => break,
                }
                start = out.last().map(|i| i.end);
            }
            return out;
        }
        // Latest complete interval: ends at the last tick at or before now.
        let Some(end) = schedule.latest_at_or_before(now, tz) else {
            return Vec::new();
        };
        let Some(mut start) = schedule.latest_before(end, tz) else {
            return Vec::new();
        };
        if let Some(end_date) = self.end_date.filter(|e| start > *e) {
            match schedule.latest_at_or_before(end_date, tz) {
                Some(s) => start = s,
                None => return Vec::new(),
            }
        }
        let Some(interval) = schedule.interval_from(start, tz) else {
            return Vec::new();
        };
        if from.is_some_and(|from| interval.start < from) {
            return Vec::new();
        }
        vec![interval]
    }

    /// Every interval whose start lies in `[from, to]` (for `backfill`), oldest first.
    /// Empty for a DAG without a schedule.
    pub fn intervals_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DataInterval> {
        let Some(schedule) = &self.schedule else {
            return Vec::new();
        };
        let tz = self.timezone;
        let mut out = Vec::new();
        let mut start = schedule.first_at_or_after(from, tz);
        while let Some(s) = start.filter(|s| *s <= to) {
            let Some(interval) = schedule.interval_from(s, tz) else {
                break;
            };
            out.push(interval);
            start = Some(interval.end);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use indexmap::IndexMap;

    use super::*;
    use crate::dag::DagSource;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid test date")
            .with_timezone(&Utc)
    }

    fn dag(schedule: &str, tz: Tz) -> Dag {
        Dag {
            id: "d".into(),
            description: None,
            schedule: Some(Schedule::parse(schedule).expect("valid schedule")),
            timezone: tz,
            start_date: None,
            end_date: None,
            catchup: false,
            max_active_runs: 1,
            max_active_tasks: None,
            params: Default::default(),
            notifications: Default::default(),
            steps: IndexMap::new(),
            source: DagSource {
                path: "d.yaml".into(),
                text: String::new(),
                hash: String::new(),
            },
        }
    }

    #[test]
    fn parses_five_and_six_fields_and_macros() {
        for ok in [
            "*/15 * * * *",
            "0 30 2 * * *",
            "@daily",
            "@HOURLY",
            "0 0 * * MON-FRI",
            "@annually",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Schedule::parse(" @daily ").map(|s| s.expr().to_string()),
            Ok("@daily".into())
        );
    }

    #[test]
    fn explains_invalid_expressions() {
        let err = Schedule::parse("* * *").unwrap_err();
        assert!(
            err.contains("expected 5 fields") && err.contains("found 3"),
            "{err}"
        );
        let err = Schedule::parse("0 0 * * * * 2026").unwrap_err();
        assert!(err.contains("found 7"), "{err}");
        let err = Schedule::parse("61 * * * *").unwrap_err();
        assert_eq!(
            err,
            "invalid cron expression `61 * * * *`: minute field `61`: number out of bounds (allowed: 0-59)"
        );
        let err = Schedule::parse("0 0 * * MOON").unwrap_err();
        assert!(
            err.ends_with(
                "day-of-week field `MOON`: unexpected characters (allowed: 0-7 or SUN-SAT)"
            ),
            "{err}"
        );
        let err = Schedule::parse("0 0 0 * * 9").unwrap_err();
        assert!(err.contains("day-of-week field `9`"), "{err}");
        let err = Schedule::parse("@dayly").unwrap_err();
        assert!(err.contains("did you mean `@daily`"), "{err}");
        let err = Schedule::parse("0 0 30 2 *").unwrap_err();
        assert!(err.contains("never fires"), "{err}");
    }

    #[test]
    fn next_and_latest_ticks_in_the_dag_time_zone() {
        let s = Schedule::parse("0 6 * * *").expect("valid");
        let paris = chrono_tz::Europe::Paris;
        // 06:00 Paris in winter is 05:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-01-10T00:00:00Z"), paris),
            Some(utc("2026-01-10T05:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-01-10T05:00:00Z"), paris),
            Some(utc("2026-01-11T05:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-01-10T05:00:00Z"), paris),
            Some(utc("2026-01-10T05:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(utc("2026-01-10T04:59:59Z"), paris),
            Some(utc("2026-01-09T05:00:00Z"))
        );
        let sub_second = utc("2026-01-10T05:00:00Z") + chrono::Duration::milliseconds(300);
        assert_eq!(
            s.next_after(sub_second, paris),
            Some(utc("2026-01-11T05:00:00Z"))
        );
    }

    #[test]
    fn daily_job_in_the_spring_forward_gap_runs_once_after_the_gap() {
        // 2026-03-29: Paris clocks jump from 02:00 to 03:00; 02:30 does not exist.
        let d = dag("30 2 * * *", chrono_tz::Europe::Paris);
        let intervals =
            d.intervals_between(utc("2026-03-27T00:00:00Z"), utc("2026-03-30T12:00:00Z"));
        let starts: Vec<_> = intervals.iter().map(|i| i.start).collect();
        assert_eq!(
            starts,
            vec![
                utc("2026-03-27T01:30:00Z"), // 02:30 CET
                utc("2026-03-28T01:30:00Z"), // 02:30 CET
                utc("2026-03-29T01:00:00Z"), // 03:00 CEST, the first instant after the gap
                utc("2026-03-30T00:30:00Z"), // 02:30 CEST
            ]
        );
        for pair in intervals.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "intervals are contiguous");
        }
        // `run --date` inside the shifted day finds the shifted tick.
        let i = d.interval_for_date(utc("2026-03-29T12:00:00Z"));
        assert_eq!(
            i,
            DataInterval {
                start: utc("2026-03-29T01:00:00Z"),
                end: utc("2026-03-30T00:30:00Z")
            }
        );
    }

    #[test]
    fn hourly_job_across_fall_back_runs_every_real_hour() {
        // 2026-10-25: Paris clocks go from 03:00 CEST back to 02:00 CET (01:00 UTC).
        let d = dag("0 * * * *", chrono_tz::Europe::Paris);
        let intervals =
            d.intervals_between(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T03:00:00Z"));
        let starts: Vec<_> = intervals.iter().map(|i| i.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-10-24T22:00:00+00:00",
                "2026-10-24T23:00:00+00:00",
                "2026-10-25T00:00:00+00:00", // 02:00 CEST
                "2026-10-25T01:00:00+00:00", // 02:00 CET, the repeated hour
                "2026-10-25T02:00:00+00:00",
                "2026-10-25T03:00:00+00:00",
            ]
        );
        assert!(
            intervals
                .iter()
                .all(|i| i.end - i.start == chrono::Duration::hours(1))
        );
    }

    #[test]
    fn daily_job_on_the_fall_back_day_runs_once() {
        let d = dag("30 2 * * *", chrono_tz::Europe::Paris);
        let intervals =
            d.intervals_between(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"));
        let starts: Vec<_> = intervals.iter().map(|i| i.start).collect();
        // 02:30 CEST on the 25th (the first pass), then 02:30 CET on the 26th.
        assert_eq!(
            starts,
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn interval_for_date_without_schedule_is_the_date_itself() {
        let mut d = dag("@daily", Tz::UTC);
        d.schedule = None;
        let at = utc("2026-02-03T10:00:00Z");
        assert_eq!(d.interval_for_date(at), DataInterval { start: at, end: at });
        assert!(d.due_intervals(None, at, 10).is_empty());
        assert!(d.intervals_between(at, at).is_empty());
    }

    #[test]
    fn catchup_creates_every_missed_interval_oldest_first_up_to_limit() {
        let mut d = dag("@daily", Tz::UTC);
        d.catchup = true;
        d.start_date = Some(utc("2026-01-01T00:00:00Z"));
        let now = utc("2026-01-05T10:00:00Z");
        let due = d.due_intervals(None, now, 100);
        let starts: Vec<_> = due
            .iter()
            .map(|i| i.start.date_naive().to_string())
            .collect();
        assert_eq!(
            starts,
            ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
        );
        assert_eq!(due.len(), 4, "[01-05, 01-06) has not ended yet");
        assert_eq!(d.due_intervals(None, now, 2).len(), 2);
        // Resume after what was already scheduled.
        let due = d.due_intervals(Some(utc("2026-01-03T00:00:00Z")), now, 100);
        assert_eq!(
            due.first().map(|i| i.start),
            Some(utc("2026-01-03T00:00:00Z"))
        );
        assert_eq!(due.len(), 2);
        // Nothing left.
        assert!(
            d.due_intervals(Some(utc("2026-01-05T00:00:00Z")), now, 100)
                .is_empty()
        );
        // end_date stops catch-up: intervals starting after it are never due.
        d.end_date = Some(utc("2026-01-02T00:00:00Z"));
        assert_eq!(d.due_intervals(None, now, 100).len(), 2);
    }

    #[test]
    fn start_date_off_the_schedule_aligns_to_the_next_tick() {
        let mut d = dag("@daily", Tz::UTC);
        d.catchup = true;
        d.start_date = Some(utc("2026-01-01T06:00:00Z"));
        let due = d.due_intervals(None, utc("2026-01-04T00:00:00Z"), 100);
        let starts: Vec<_> = due.iter().map(|i| i.start).collect();
        assert_eq!(
            starts,
            vec![utc("2026-01-02T00:00:00Z"), utc("2026-01-03T00:00:00Z")]
        );
    }

    #[test]
    fn without_catchup_only_the_latest_complete_interval_is_due() {
        let mut d = dag("0 * * * *", Tz::UTC);
        d.start_date = Some(utc("2026-01-01T00:00:00Z"));
        let now = utc("2026-01-05T10:20:00Z");
        let expected = DataInterval {
            start: utc("2026-01-05T09:00:00Z"),
            end: utc("2026-01-05T10:00:00Z"),
        };
        assert_eq!(d.due_intervals(None, now, 10), vec![expected]);
        assert_eq!(
            d.due_intervals(Some(utc("2026-01-05T08:00:00Z")), now, 10),
            vec![expected]
        );
        assert!(
            d.due_intervals(Some(expected.end), now, 10).is_empty(),
            "already scheduled"
        );
        // No start_date: the latest complete interval too.
        d.start_date = None;
        assert_eq!(d.due_intervals(None, now, 10), vec![expected]);
        // A start_date in the future: nothing yet.
        d.start_date = Some(utc("2026-02-01T00:00:00Z"));
        assert!(d.due_intervals(None, now, 10).is_empty());
        // Past end_date: the last interval starting at or before it.
        d.start_date = None;
        d.end_date = Some(utc("2026-01-03T12:30:00Z"));
        assert_eq!(
            d.due_intervals(None, now, 10),
            vec![DataInterval {
                start: utc("2026-01-03T12:00:00Z"),
                end: utc("2026-01-03T13:00:00Z")
            }]
        );
    }

    #[test]
    fn backfill_covers_starts_within_the_range_inclusive() {
        let d = dag("0 0 * * *", chrono_tz::America::New_York);
        let from = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let to = chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 3, 3, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let intervals = d.intervals_between(from, to);
        assert_eq!(intervals.len(), 3);
        assert_eq!(intervals[0].start, from);
        assert_eq!(intervals[2].start, to);
    }
}

#[cfg(test)]
mod local_date_tests {
    use super::*;

    #[test]
    fn user_dates_without_offset_are_in_the_dag_time_zone() {
        let paris: Tz = "Europe/Paris".parse().expect("tz");
        let t = parse_local_datetime("2026-01-31", paris).expect("date");
        assert_eq!(t.to_rfc3339(), "2026-01-30T23:00:00+00:00");
        let t = parse_local_datetime("2026-07-01T06:00", paris).expect("datetime");
        assert_eq!(t.to_rfc3339(), "2026-07-01T04:00:00+00:00");
        let t = parse_local_datetime("2026-07-01T06:00:00Z", paris).expect("rfc3339");
        assert_eq!(t.to_rfc3339(), "2026-07-01T06:00:00+00:00");
        let gap = parse_local_datetime("2026-03-29T02:30", paris).unwrap_err();
        assert!(gap.to_string().contains("daylight"), "{gap}");
        assert_eq!(
            parse_local_datetime("yesterday", paris),
            Err(LocalDateError::Malformed)
        );
    }
}
