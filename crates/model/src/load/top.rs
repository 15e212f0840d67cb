//! The top level of a DAG file: id, schedule, time zone, dates, limits, params, defaults.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::LoadOptions;
use super::notify;
use super::steps::{self, Settings};
use crate::check::{Checker, is_valid_id};
use crate::dag::{Dag, DagSource, Notifications};
use crate::schedule::{LocalDateError, Schedule};
use crate::suggest;
use crate::yaml::{Node, Typed};

/// Keys allowed at the top level of a DAG file. Keys starting with `x-` are also allowed
/// and ignored: a place for YAML anchors (`x-retry: &retry {...}`), as in Compose files.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "dag",
    "description",
    "schedule",
    "timezone",
    "start_date",
    "end_date",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "params",
    "defaults",
    "on_failure",
    "on_retry",
    "on_success",
    "steps",
];

/// Prefix of top-level keys that flowctl ignores.
pub const EXTENSION_PREFIX: &str = "x-";

/// Reads and checks the whole file. `None` when something is wrong (all of it reported).
pub(super) fn read_dag(ck: &mut Checker, root: &Node, opts: &LoadOptions) -> Option<Dag> {
    let Some(entries) = root.as_map() else {
        ck.on(
            root,
            format!(
                "a DAG file must be a map with `dag:` and `steps:`, found {}",
                root.describe()
            ),
        );
        return None;
    };
    let checked = entries
        .iter()
        .filter(|e| !e.key_str().starts_with(EXTENSION_PREFIX));
    ck.unknown_keys(checked, TOP_LEVEL_KEYS, "at the top level");

    let id = match root.get("dag") {
        Some(node) => read_id(ck, node),
        None => {
            ck.on(
                root,
                "missing `dag:`: every DAG file needs an id, e.g. `dag: orders_cdc`",
            );
            None
        }
    };
    let description = root
        .get("description")
        .and_then(|n| ck.optional_string(n, "`description`"));
    let schedule = root.get("schedule").and_then(|n| read_schedule(ck, n));
    let timezone = match root.get("timezone") {
        Some(node) => read_timezone(ck, node),
        None => Some(Tz::UTC),
    };
    // Dates without an offset are in the DAG's time zone; with a bad zone, UTC still
    // lets the dates themselves be checked.
    let tz = timezone.unwrap_or(Tz::UTC);
    let start_date = root
        .get("start_date")
        .and_then(|n| read_date(ck, n, "`start_date`", tz));
    let end_date = root
        .get("end_date")
        .and_then(|n| read_date(ck, n, "`end_date`", tz));
    if let (Some(start), Some(end), Some(node)) = (start_date, end_date, root.get("end_date"))
        && end < start
    {
        ck.on(
            node,
            "`end_date` is before `start_date`: the DAG could never run",
        );
    }
    let catchup = match root.get("catchup") {
        Some(node) => ck.boolean(node, "`catchup`"),
        None => Some(false),
    };
    if let (Some(true), Some(node)) = (catchup, root.get("catchup"))
        && root.get("start_date").is_none()
    {
        ck.on(
            node,
            "`catchup: true` needs a `start_date` (catch-up creates every run since it)",
        );
    }
    let max_active_runs = match root.get("max_active_runs") {
        Some(node) => ck.integer(node, "`max_active_runs`", 1),
        None => Some(1),
    };
    let max_active_tasks = root
        .get("max_active_tasks")
        .map(|n| ck.integer(n, "`max_active_tasks`", 1));
    let params = match root.get("params") {
        Some(node) if !node.is_null() => match ck.map(node, "`params`") {
            Some(_) => match node.to_json() {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            },
            None => None,
        },
        _ => Some(serde_json::Map::new()),
    };
    let defaults = match root.get("defaults") {
        Some(node) if !node.is_null() => steps::read_defaults(ck, node, opts, params.as_ref()),
        _ => Some(Settings::default()),
    };
    let notifications = read_notifications(ck, root, params.as_ref());
    let step_list = match root.get("steps") {
        Some(node) => steps::read_steps(ck, node, opts, defaults.as_ref(), params.as_ref()),
        None => {
            ck.on(root, "missing `steps:`: a DAG needs at least one step");
            None
        }
    };

    Some(Dag {
        id: id?,
        description,
        schedule,
        timezone: timezone?,
        start_date,
        end_date,
        catchup: catchup?,
        max_active_runs: max_active_runs?,
        max_active_tasks: max_active_tasks.flatten(),
        params: params?,
        notifications: notifications?,
        steps: step_list?,
        source: DagSource {
            path: String::new(),
            text: String::new(),
            hash: String::new(),
        },
    })
}

/// The run-level `on_failure` / `on_retry` / `on_success`.
fn read_notifications(
    ck: &mut Checker,
    root: &Node,
    params: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<Notifications> {
    let mut read = |key: &str| match root.get(key) {
        Some(node) => notify::read_list(ck, key, node, "at the top level", params),
        None => Some(Vec::new()),
    };
    let on_failure = read("on_failure");
    let on_retry = read("on_retry");
    let on_success = read("on_success");
    Some(Notifications {
        on_failure: on_failure?,
        on_retry: on_retry?,
        on_success: on_success?,
    })
}

fn read_id(ck: &mut Checker, node: &Node) -> Option<String> {
    let id = ck.string(node, "`dag`")?;
    if is_valid_id(&id) {
        Some(id)
    } else {
        ck.on(
            node,
            format!("invalid DAG id `{id}`: use only letters, digits, `_`, `.` and `-`"),
        );
        None
    }
}

fn read_schedule(ck: &mut Checker, node: &Node) -> Option<Schedule> {
    if node.is_null() {
        return None;
    }
    let text = ck.string(node, "`schedule`")?;
    match Schedule::parse(&text) {
        Ok(schedule) => Some(schedule),
        Err(why) => {
            ck.on(node, why);
            None
        }
    }
}

fn read_timezone(ck: &mut Checker, node: &Node) -> Option<Tz> {
    let name = ck.string(node, "`timezone`")?;
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    let same_but_case = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(&name));
    let hint = match same_but_case {
        Some(tz) => format!(" (did you mean `{}`?)", tz.name()),
        None => suggest::hint(&name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())),
    };
    ck.on(node, format!("unknown time zone `{name}`{hint}: expected an IANA name such as `UTC` or `Europe/Paris`"));
    None
}

/// `2026-01-01`, `2026-01-01T06:00:00` (or with a space), or RFC 3339 with an offset.
/// Dates and date-times without an offset are in the DAG's time zone.
fn read_date(ck: &mut Checker, node: &Node, what: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = match node.typed() {
        Some(Typed::Str(s)) => s.to_string(),
        _ => {
            ck.wrong_type(node, what, "a date such as `2026-01-01`");
            return None;
        }
    };
    match crate::schedule::parse_local_datetime(&text, tz) {
        Ok(t) => Some(t),
        Err(err @ LocalDateError::Malformed) => {
            ck.on(
                node,
                format!("invalid {what}: {err}, found string `{text}`"),
            );
            None
        }
        Err(err) => {
            ck.on(node, format!("invalid {what}: {err}"));
            None
        }
    }
}
