//! What changed between two versions of a DAG, in words (for `flowctl apply`).

use std::fmt::Display;

use chrono::{DateTime, Utc};

use crate::dag::Dag;

/// Human descriptions of what differs from `old` to `new` (empty = same DAG), e.g.
/// `steps added: c`, `steps modified: a, b`, `schedule: '@daily' -> '@hourly'`.
pub fn diff_dags(old: &Dag, new: &Dag) -> Vec<String> {
    let mut out = Vec::new();
    if old.description != new.description {
        out.push("description changed".to_string());
    }
    let schedule = |d: &Dag| d.schedule.as_ref().map(|s| format!("'{}'", s.expr()));
    change(
        &mut out,
        "schedule",
        schedule(old),
        schedule(new),
        "none (manual)",
    );
    change(
        &mut out,
        "timezone",
        Some(old.timezone.name()),
        Some(new.timezone.name()),
        "",
    );
    let date = |d: Option<DateTime<Utc>>| d.map(|t| t.to_rfc3339());
    change(
        &mut out,
        "start_date",
        date(old.start_date),
        date(new.start_date),
        "none",
    );
    change(
        &mut out,
        "end_date",
        date(old.end_date),
        date(new.end_date),
        "none",
    );
    change(
        &mut out,
        "catchup",
        Some(old.catchup),
        Some(new.catchup),
        "",
    );
    change(
        &mut out,
        "max_active_runs",
        Some(old.max_active_runs),
        Some(new.max_active_runs),
        "",
    );
    change(
        &mut out,
        "max_active_tasks",
        old.max_active_tasks,
        new.max_active_tasks,
        "default",
    );

    let removed: Vec<&str> = old
        .params
        .keys()
        .filter(|k| !new.params.contains_key(*k))
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = new
        .params
        .keys()
        .filter(|k| !old.params.contains_key(*k))
        .map(String::as_str)
        .collect();
    let changed: Vec<&str> = new
        .params
        .iter()
        .filter(|(k, v)| old.params.get(*k).is_some_and(|o| o != *v))
        .map(|(k, _)| k.as_str())
        .collect();
    if old.notifications != new.notifications {
        out.push("notifications changed".to_string());
    }
    list(&mut out, "params added", &added);
    list(&mut out, "params removed", &removed);
    list(&mut out, "params changed", &changed);

    let added: Vec<&str> = new
        .steps
        .keys()
        .filter(|k| !old.steps.contains_key(*k))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = old
        .steps
        .keys()
        .filter(|k| !new.steps.contains_key(*k))
        .map(String::as_str)
        .collect();
    let modified: Vec<&str> = new
        .steps
        .iter()
        .filter(|(k, step)| old.steps.get(*k).is_some_and(|o| o != *step))
        .map(|(k, _)| k.as_str())
        .collect();
    list(&mut out, "steps added", &added);
    list(&mut out, "steps removed", &removed);
    list(&mut out, "steps modified", &modified);
    out
}

fn change<T: Display + PartialEq>(
    out: &mut Vec<String>,
    what: &str,
    old: Option<T>,
    new: Option<T>,
    none: &str,
) {
    if old != new {
        let show = |v: Option<T>| v.map(|v| v.to_string()).unwrap_or_else(|| none.to_string());
        out.push(format!("{what}: {} -> {}", show(old), show(new)));
    }
}

fn list(out: &mut Vec<String>, what: &str, items: &[&str]) {
    if !items.is_empty() {
        out.push(format!("{what}: {}", items.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::JobTypeCatalog;
    use crate::load::{LoadOptions, parse_dag};

    fn dag(text: &str) -> Dag {
        let mut catalog = JobTypeCatalog::default();
        catalog.register(std::sync::Arc::new(
            crate::catalog::TypedJobSpec::<Noop>::new("noop"),
        ));
        let opts = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        parse_dag("d.yaml", text, &opts).expect("valid test DAG")
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Noop {}

    impl crate::catalog::JobConfig for Noop {}

    const BASE: &str = "dag: d\nschedule: '@daily'\nparams: {a: 1, b: 2}\nsteps:\n  a: {type: noop}\n  b: {type: noop, depends_on: a}\n  x: {type: noop}\n";

    #[test]
    fn same_dag_has_no_differences() {
        assert_eq!(diff_dags(&dag(BASE), &dag(BASE)), Vec::<String>::new());
    }

    #[test]
    fn describes_each_kind_of_change() {
        let new = "dag: d\ndescription: now described\nschedule: '@hourly'\ntimezone: Europe/Paris\ncatchup: true\nstart_date: 2026-01-01\nparams: {a: 5, c: 3}\nsteps:\n  a: {type: noop, retries: 2}\n  b: {type: noop, depends_on: a, timeout: 5m}\n  c: {type: noop}\n";
        assert_eq!(
            diff_dags(&dag(BASE), &dag(new)),
            [
                "description changed",
                "schedule: '@daily' -> '@hourly'",
                "timezone: UTC -> Europe/Paris",
                "start_date: none -> 2025-12-31T23:00:00+00:00",
                "catchup: false -> true",
                "params added: c",
                "params removed: b",
                "params changed: a",
                "steps added: c",
                "steps removed: x",
                "steps modified: a, b",
            ]
        );
        let manual = "dag: d\nparams: {a: 1, b: 2}\nsteps:\n  a: {type: noop}\n  b: {type: noop, depends_on: a}\n  x: {type: noop}\n";
        assert_eq!(
            diff_dags(&dag(BASE), &dag(manual)),
            ["schedule: '@daily' -> none (manual)"]
        );
    }
}
