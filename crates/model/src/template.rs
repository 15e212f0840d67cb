//! Templating of step fields: minijinja with an Airflow-like context.
//!
//! Undefined variables are errors ([`UndefinedBehavior::Strict`]): validation catches the
//! ones it can see statically, and rendering refuses the rest instead of producing an
//! empty string in a command line.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::schedule::DataInterval;

/// The variables a template may use.
pub const CONTEXT_VARIABLES: &[&str] = &[
    "ds",
    "ds_nodash",
    "ts",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "dag_id",
    "task_id",
    "try_number",
    "params",
    "outputs",
    "target",
];

/// The variables a notification's `body` may use: the run's context (no `outputs`), plus
/// what the notification is about. `step`, `task_id` and `try_number` are null for the run's
/// own `on_failure` / `on_success`; `error` is null on success.
pub const NOTIFY_VARIABLES: &[&str] = &[
    "ds",
    "ds_nodash",
    "ts",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "dag_id",
    "task_id",
    "params",
    "target",
    "event",
    "step",
    "state",
    "error",
    "try_number",
];

/// What a notification is about, beyond the run.
#[derive(Debug, Clone, Copy)]
pub struct NotifyFacts<'a> {
    /// `failure`, `retry` or `success`.
    pub event: &'a str,
    /// The step, for step events (and a run's `on_retry`); `None` for the run's end.
    pub step: Option<&'a str>,
    /// `success`, `failed` or `up_for_retry`.
    pub state: &'a str,
    pub error: Option<&'a str>,
    pub try_number: Option<u32>,
}

/// The context a notification's `body` renders with (see [`NOTIFY_VARIABLES`]).
pub fn notify_context(run: &RunContext, facts: &NotifyFacts) -> Value {
    let mut ctx = task_context(run, facts.step.unwrap_or_default(), 0, &BTreeMap::new());
    if let Some(map) = ctx.as_object_mut() {
        map.remove("outputs");
        map.insert("task_id".into(), facts.step.into());
        map.insert("try_number".into(), facts.try_number.into());
        map.insert("event".into(), facts.event.into());
        map.insert("step".into(), facts.step.into());
        map.insert("state".into(), facts.state.into());
        map.insert("error".into(), facts.error.into());
    }
    ctx
}

/// What a run knows before any step starts.
#[derive(Debug, Clone, Copy)]
pub struct RunContext<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub logical_date: DateTime<Utc>,
    pub data_interval: DataInterval,
    /// The DAG's time zone (`ds` and `ts` are given in it).
    pub timezone: Tz,
    /// The run's parameters (defaults merged with `--param` overrides).
    pub params: &'a Map<String, Value>,
    /// The target's name.
    pub target: &'a str,
}

/// A template that failed to render, and where it sits in the step's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// Keys and list indices from the step's fields to the failing string.
    pub path: Vec<String>,
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "in `{}`: {}", self.path.join("."), self.message)
        }
    }
}

impl std::error::Error for RenderError {}

/// The shared template environment: strict undefined values, and trailing newlines kept
/// (a `|` block scalar's last newline belongs to the command).
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
});

/// The context one attempt of `task_id` renders its fields with.
///
/// `ds`/`ds_nodash`/`ts` are the logical date in the DAG's time zone (Airflow uses UTC; a
/// daily DAG in Europe/Paris wants its Paris date). `logical_date` and the data interval
/// bounds are RFC 3339 in UTC. `outputs` holds the outputs of upstream steps by step id.
pub fn task_context(
    run: &RunContext,
    task_id: &str,
    try_number: u32,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Value {
    let local = run.logical_date.with_timezone(&run.timezone);
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    serde_json::json!({
        "ds": local.format("%Y-%m-%d").to_string(),
        "ds_nodash": local.format("%Y%m%d").to_string(),
        "ts": local.to_rfc3339_opts(SecondsFormat::Secs, false),
        "logical_date": utc(run.logical_date),
        "data_interval_start": utc(run.data_interval.start),
        "data_interval_end": utc(run.data_interval.end),
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "task_id": task_id,
        "try_number": try_number,
        "params": run.params,
        "outputs": outputs,
        "target": run.target,
    })
}

/// Renders one template string against `ctx`.
pub fn render_str(template: &str, ctx: &Value) -> Result<String, String> {
    if !has_template_syntax(template) {
        return Ok(template.to_string());
    }
    let env: &Environment<'_> = &ENV;
    let compiled = env
        .template_from_str(template)
        .map_err(|e| describe_error(&e))?;
    compiled
        .render(minijinja::Value::from(minijinja::value::Serde(ctx)))
        .map_err(|e| {
            if e.kind() == minijinja::ErrorKind::UndefinedError {
                // minijinja does not say which name was undefined: find it in the context.
                let mut vars: Vec<String> =
                    compiled.undeclared_variables(true).into_iter().collect();
                vars.sort();
                if let Some(missing) = vars.iter().find(|v| !resolves(ctx, v)) {
                    return format!("undefined variable `{missing}`");
                }
            }
            describe_error(&e)
        })
}

/// Renders every string in `config` (nested in maps and lists too); other values are kept.
pub fn render_config(config: &Map<String, Value>, ctx: &Value) -> Result<Value, RenderError> {
    let mut path = Vec::new();
    render_value(&Value::Object(config.clone()), ctx, &mut path)
}

fn render_value(value: &Value, ctx: &Value, path: &mut Vec<String>) -> Result<Value, RenderError> {
    Ok(match value {
        Value::String(s) => Value::String(render_str(s, ctx).map_err(|message| RenderError {
            path: path.clone(),
            message,
        })?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(render_value(item, ctx, path)?);
                path.pop();
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                path.push(k.clone());
                out.insert(k.clone(), render_value(v, ctx, path)?);
                path.pop();
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Whether `dotted` (`a.b.c`) names a value in `ctx`.
fn resolves(ctx: &Value, dotted: &str) -> bool {
    dotted
        .split('.')
        .try_fold(ctx, |v, key| v.get(key))
        .is_some()
}

/// Whether `s` holds template syntax (`{{`, `{%` or `{#`): its value is known only once
/// rendered, so offline checks of a job's fields skip it (the run-time check sees the result).
pub fn is_templated(s: &str) -> bool {
    has_template_syntax(s)
}

/// Strings without `{{`, `{%` or `{#` are plain text: no need to compile them.
fn has_template_syntax(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// A template's problem in one line: `syntax error: unexpected end of input, expected ...`.
fn describe_error(err: &minijinja::Error) -> String {
    let mut out = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(line) = err.line().filter(|l| *l > 1) {
        out.push_str(&format!(" (line {line} of the template)"));
    }
    out
}

/// What a template uses, found without rendering it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateUse {
    /// Variables the template reads, with attribute chains (`params.topic`,
    /// `outputs.extract.rows`, `ds`), sorted.
    pub variables: Vec<String>,
}

/// A template's syntax error, with where it is when minijinja knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSyntaxError {
    /// What is wrong, in one line (without the position).
    pub message: String,
    /// 1-based line in the template.
    pub line: Option<usize>,
    /// Byte range of the offending text in the template.
    pub range: Option<std::ops::Range<usize>>,
}

/// [`analyze`] for a whole file: a syntax error keeps its position in the text.
pub fn analyze_positioned(template: &str) -> Result<TemplateUse, TemplateSyntaxError> {
    if !has_template_syntax(template) {
        return Ok(TemplateUse::default());
    }
    match ENV.template_from_str(template) {
        Ok(_) => analyze(template).map_err(|message| TemplateSyntaxError {
            message,
            line: None,
            range: None,
        }),
        Err(e) => Err(TemplateSyntaxError {
            message: match e.detail() {
                Some(detail) => format!("{}: {detail}", e.kind()),
                None => e.kind().to_string(),
            },
            line: e.line(),
            range: e.range(),
        }),
    }
}

/// Parses `template` and lists the variables it reads. `Err` carries the syntax error.
pub fn analyze(template: &str) -> Result<TemplateUse, String> {
    if !has_template_syntax(template) {
        return Ok(TemplateUse::default());
    }
    let env: &Environment<'_> = &ENV;
    let compiled = env
        .template_from_str(template)
        .map_err(|e| describe_error(&e))?;
    let mut variables: Vec<String> = compiled
        .undeclared_variables(true)
        .into_iter()
        // Global functions (`range`, `namespace`, ...) are not context variables.
        .filter(|v| {
            let root = v.split('.').next().unwrap_or(v);
            env.globals().all(|(name, _)| name != root)
        })
        .collect();
    variables.sort();
    Ok(TemplateUse { variables })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        let params: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"topic": "cdc.orders", "n": 3}))
                .expect("map");
        let run = RunContext {
            dag_id: "orders",
            run_id: "scheduled__2026-03-01",
            // 23:30 UTC on Feb 28 is already March 1 in Paris.
            logical_date: "2026-02-28T23:30:00Z".parse().expect("date"),
            data_interval: DataInterval {
                start: "2026-02-28T23:30:00Z".parse().expect("date"),
                end: "2026-03-01T23:30:00Z".parse().expect("date"),
            },
            timezone: chrono_tz::Europe::Paris,
            params: &params,
            target: "local",
        };
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "extract".to_string(),
            BTreeMap::from([("rows".to_string(), "42".to_string())]),
        );
        task_context(&run, "load", 2, &outputs)
    }

    #[test]
    fn context_has_every_documented_variable() {
        let ctx = ctx();
        for name in CONTEXT_VARIABLES {
            assert!(ctx.get(name).is_some(), "{name} missing");
        }
        assert_eq!(ctx["ds"], "2026-03-01", "ds is the Paris date");
        assert_eq!(ctx["ds_nodash"], "20260301");
        assert_eq!(ctx["ts"], "2026-03-01T00:30:00+01:00");
        assert_eq!(ctx["logical_date"], "2026-02-28T23:30:00+00:00");
        assert_eq!(ctx["data_interval_end"], "2026-03-01T23:30:00+00:00");
        assert_eq!(ctx["try_number"], 2);
    }

    #[test]
    fn renders_every_string_nested_and_keeps_other_values() {
        let config: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "command": ["echo", "{{ ds }} {{ params.topic }}"],
            "env": {"ROWS": "{{ outputs.extract.rows }}", "TRY": "{{ try_number }}"},
            "retries": 3,
            "script": "line {{ task_id }}\n",
        }))
        .expect("map");
        let rendered = render_config(&config, &ctx()).expect("renders");
        assert_eq!(
            rendered,
            serde_json::json!({
                "command": ["echo", "2026-03-01 cdc.orders"],
                "env": {"ROWS": "42", "TRY": "2"},
                "retries": 3,
                "script": "line load\n",
            })
        );
    }

    #[test]
    fn undefined_variables_fail_and_name_the_variable() {
        let config: Map<String, Value> = serde_json::from_value(
            serde_json::json!({"env": {"X": "{{ outputs.extract.missing }}"}}),
        )
        .expect("map");
        let err = render_config(&config, &ctx()).unwrap_err();
        assert_eq!(err.path, vec!["env", "X"]);
        assert_eq!(err.message, "undefined variable `outputs.extract.missing`");
        assert_eq!(
            err.to_string(),
            "in `env.X`: undefined variable `outputs.extract.missing`"
        );
        assert!(render_str("{{ nope }}", &ctx()).is_err());
    }

    #[test]
    fn notify_context_has_every_notify_variable_and_no_outputs() {
        let params = Map::new();
        let run = RunContext {
            dag_id: "orders",
            run_id: "manual__1",
            logical_date: "2026-03-01T00:00:00Z".parse().expect("date"),
            data_interval: DataInterval {
                start: "2026-03-01T00:00:00Z".parse().expect("date"),
                end: "2026-03-02T00:00:00Z".parse().expect("date"),
            },
            timezone: chrono_tz::UTC,
            params: &params,
            target: "local",
        };
        let facts = NotifyFacts {
            event: "retry",
            step: Some("load"),
            state: "up_for_retry",
            error: Some("exit status 1"),
            try_number: Some(2),
        };
        let ctx = notify_context(&run, &facts);
        for name in NOTIFY_VARIABLES {
            assert!(ctx.get(name).is_some(), "{name} missing");
        }
        assert!(ctx.get("outputs").is_none());
        assert_eq!(
            render_str(
                "{{ event }} {{ step }} #{{ try_number }}: {{ error }}",
                &ctx
            )
            .expect("renders"),
            "retry load #2: exit status 1"
        );
        let run_end = NotifyFacts {
            step: None,
            try_number: None,
            error: None,
            ..facts
        };
        let ctx = notify_context(&run, &run_end);
        assert_eq!(ctx["step"], Value::Null);
        assert_eq!(ctx["task_id"], Value::Null);
    }

    #[test]
    fn syntax_errors_are_reported() {
        let err = render_str("{{ ds ", &ctx()).unwrap_err();
        assert!(err.starts_with("syntax error"), "{err}");
        let err = analyze("a\n{% if %}").unwrap_err();
        assert!(err.contains("line 2 of the template"), "{err}");
    }

    #[test]
    fn analyze_lists_variables_but_not_locals_or_globals() {
        let used = analyze("{% set x = 1 %}{{ x }}{{ params.topic }}{% for i in range(3) %}{{ i }}{% endfor %}{{ outputs.a.b }}{{ dss }}")
            .expect("parses");
        assert_eq!(used.variables, vec!["dss", "outputs.a.b", "params.topic"]);
        assert_eq!(
            analyze("no templates here").expect("plain").variables,
            Vec::<String>::new()
        );
    }
}
