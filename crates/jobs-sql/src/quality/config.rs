//! The fields of a `quality` step and its checks. Doc comments become the JSON Schema's
//! descriptions.

use std::collections::BTreeMap;
use std::time::Duration;

use flowctl_lakehouse::TableName;
use flowctl_model::catalog::{JobConfig, Problems};
use flowctl_model::template::is_templated;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::sql_text::{check_env_var_name, parse_query};

/// Default table the check results are appended to.
pub const DEFAULT_RESULTS_TABLE: &str = "quality.check_results";

/// Fields of a `quality` step: checks over one table, results appended to a results table.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// The table checked, `namespace.table`.
    pub table: String,
    /// The checks, run in order; all of them run even when one fails.
    pub checks: Vec<Check>,
    /// Where results are appended (created when missing). Default `quality.check_results`.
    #[serde(default = "default_results_table")]
    pub results_table: String,
}

fn default_results_table() -> String {
    DEFAULT_RESULTS_TABLE.to_owned()
}

/// What a failed check does to the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The step fails (after every check ran).
    #[default]
    Error,
    /// The failure is recorded and logged; the step still succeeds.
    Warn,
}

impl Severity {
    /// `error` or `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// One check: an optional `name`, a `severity` and exactly one kind (`not_null`, `unique`,
/// `accepted_values`, `range`, `row_count`, `freshness`, `sql`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Name in results and messages. Default: derived from the kind and its columns.
    #[serde(default)]
    pub name: Option<String>,
    /// `error` (default): a failure fails the step; `warn`: a failure is only reported.
    #[serde(default)]
    pub severity: Severity,
    /// Column that must hold no nulls.
    #[serde(default)]
    pub not_null: Option<String>,
    /// Columns whose combined values must be unique.
    #[serde(default)]
    pub unique: Option<Vec<String>>,
    /// A column whose non-null values must be in a list.
    #[serde(default)]
    pub accepted_values: Option<AcceptedValues>,
    /// A column whose non-null values must lie within bounds (inclusive).
    #[serde(default)]
    pub range: Option<RangeCheck>,
    /// Bounds on the number of rows, or equality with a count computed elsewhere.
    #[serde(default)]
    pub row_count: Option<RowCount>,
    /// The newest value of a time column must be recent enough.
    #[serde(default)]
    pub freshness: Option<Freshness>,
    /// A query over the catalog that must return no rows (each row it returns is a violation).
    #[serde(default)]
    pub sql: Option<String>,
}

/// `accepted_values: {column, values}`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    /// The column checked.
    pub column: String,
    /// The allowed values (compared as text: `1` and `"1"` are the same).
    pub values: Vec<serde_json::Value>,
}

/// `range: {column, min, max}` (at least one bound).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeCheck {
    /// The column checked.
    pub column: String,
    /// Smallest allowed value (inclusive).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest allowed value (inclusive).
    #[serde(default)]
    pub max: Option<f64>,
}

/// `row_count: {min, max}`, `{equals_sql}` or `{equals_query, postgres_url_env}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowCount {
    /// Fewest rows allowed.
    #[serde(default)]
    pub min: Option<u64>,
    /// Most rows allowed.
    #[serde(default)]
    pub max: Option<u64>,
    /// A query over the catalog returning one number the row count must equal.
    #[serde(default)]
    pub equals_sql: Option<String>,
    /// A query run on a Postgres database (e.g. the CDC source: `SELECT count(*) FROM
    /// public.orders`) returning one number the row count must equal.
    #[serde(default)]
    pub equals_query: Option<String>,
    /// Name of the environment variable holding the Postgres URL for `equals_query` (the URL,
    /// password included, never goes in the DAG file and is never logged).
    #[serde(default)]
    pub postgres_url_env: Option<String>,
}

/// `freshness: {column, max_age}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// A column holding milliseconds since the Unix epoch (e.g. Debezium's `ts_ms`) or a
    /// timestamp.
    pub column: String,
    /// Largest allowed age of the newest value, e.g. `15m`, `1h`.
    pub max_age: String,
}

/// A check's kind with its parameters, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// `not_null`.
    NotNull(String),
    /// `unique`.
    Unique(Vec<String>),
    /// `accepted_values`.
    AcceptedValues {
        /// Column.
        column: String,
        /// Allowed values as text.
        values: Vec<String>,
    },
    /// `range`.
    Range {
        /// Column.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// `row_count` with bounds.
    RowCountBounds {
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
    /// `row_count` equal to a catalog query's number.
    RowCountEqualsSql(String),
    /// `row_count` equal to a Postgres query's number.
    RowCountEqualsPostgres {
        /// The query.
        query: String,
        /// The environment variable holding the URL.
        url_env: String,
    },
    /// `freshness`.
    Freshness {
        /// Column.
        column: String,
        /// Maximum age.
        max_age: Duration,
    },
    /// `sql`.
    Sql(String),
}

impl CheckKind {
    /// The kind's name as written in the DAG (`not_null`, `row_count`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            CheckKind::NotNull(_) => "not_null",
            CheckKind::Unique(_) => "unique",
            CheckKind::AcceptedValues { .. } => "accepted_values",
            CheckKind::Range { .. } => "range",
            CheckKind::RowCountBounds { .. }
            | CheckKind::RowCountEqualsSql(_)
            | CheckKind::RowCountEqualsPostgres { .. } => "row_count",
            CheckKind::Freshness { .. } => "freshness",
            CheckKind::Sql(_) => "sql",
        }
    }

    /// The default check name: the kind and its columns.
    pub fn default_name(&self) -> String {
        match self {
            CheckKind::NotNull(c) => format!("not_null({c})"),
            CheckKind::Unique(cols) => format!("unique({})", cols.join(", ")),
            CheckKind::AcceptedValues { column, .. } => format!("accepted_values({column})"),
            CheckKind::Range { column, .. } => format!("range({column})"),
            CheckKind::Freshness { column, .. } => format!("freshness({column})"),
            other => other.kind_name().to_owned(),
        }
    }
}

impl Check {
    /// The kinds this check gives, by name (a checked check gives exactly one).
    fn kinds_given(&self) -> Vec<&'static str> {
        [
            ("not_null", self.not_null.is_some()),
            ("unique", self.unique.is_some()),
            ("accepted_values", self.accepted_values.is_some()),
            ("range", self.range.is_some()),
            ("row_count", self.row_count.is_some()),
            ("freshness", self.freshness.is_some()),
            ("sql", self.sql.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The check's kind with its parameters; `None` unless the check passed
    /// [`JobConfig::check`] (exactly one kind, valid parameters), which every step's config
    /// does before it runs.
    pub fn kind(&self) -> Option<CheckKind> {
        if self.kinds_given().len() != 1 {
            return None;
        }
        if let Some(column) = &self.not_null {
            return Some(CheckKind::NotNull(column.clone()));
        }
        if let Some(columns) = &self.unique {
            return Some(CheckKind::Unique(columns.clone()));
        }
        if let Some(a) = &self.accepted_values {
            let values = a
                .values
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            return Some(CheckKind::AcceptedValues {
                column: a.column.clone(),
                values,
            });
        }
        if let Some(r) = &self.range {
            return Some(CheckKind::Range {
                column: r.column.clone(),
                min: r.min,
                max: r.max,
            });
        }
        if let Some(rc) = &self.row_count {
            return row_count_kind(rc);
        }
        if let Some(f) = &self.freshness {
            let max_age = flowctl_model::duration::parse_duration(&f.max_age).ok()?;
            return Some(CheckKind::Freshness {
                column: f.column.clone(),
                max_age,
            });
        }
        self.sql.clone().map(CheckKind::Sql)
    }

    /// Reports every problem of this check, at `checks.<index>.<field>`.
    fn report(&self, index: usize, problems: &mut Problems) {
        let at = |rest: &[&str]| -> Vec<String> {
            ["checks".to_owned(), index.to_string()]
                .into_iter()
                .chain(rest.iter().map(|s| (*s).to_owned()))
                .collect()
        };
        let kinds = self.kinds_given();
        match kinds.len() {
            1 => {}
            0 => problems.at(
                at(&[]),
                "a check needs one of not_null, unique, accepted_values, range, row_count, \
                 freshness, sql",
            ),
            _ => problems.at(
                at(&[]),
                format!(
                    "a check has exactly one kind; this one has {}",
                    kinds.join(", ")
                ),
            ),
        }
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            problems.at(at(&["name"]), "must not be empty");
        }
        let mut column = |path: Vec<String>, name: &str| {
            if name.trim().is_empty() {
                problems.at(path, "must name a column");
            }
        };
        if let Some(c) = &self.not_null {
            column(at(&["not_null"]), c);
        }
        if let Some(a) = &self.accepted_values {
            column(at(&["accepted_values", "column"]), &a.column);
        }
        if let Some(r) = &self.range {
            column(at(&["range", "column"]), &r.column);
        }
        if let Some(f) = &self.freshness {
            column(at(&["freshness", "column"]), &f.column);
        }
        if let Some(columns) = &self.unique {
            if columns.is_empty() {
                problems.at(at(&["unique"]), "needs at least one column");
            }
            for (k, c) in columns.iter().enumerate() {
                let path = at(&["unique", &k.to_string()]);
                if c.trim().is_empty() {
                    problems.at(path, "must name a column");
                } else if !is_templated(c) && columns[..k].contains(c) {
                    problems.at(path, format!("`{c}` is listed twice"));
                }
            }
        }
        if let Some(a) = &self.accepted_values {
            if a.values.is_empty() {
                problems.at(
                    at(&["accepted_values", "values"]),
                    "needs at least one value",
                );
            }
            for (k, v) in a.values.iter().enumerate() {
                if matches!(
                    v,
                    serde_json::Value::Null
                        | serde_json::Value::Array(_)
                        | serde_json::Value::Object(_)
                ) {
                    problems.at(
                        at(&["accepted_values", "values", &k.to_string()]),
                        format!("{v} is not a value: use strings, numbers or booleans"),
                    );
                }
            }
        }
        if let Some(r) = &self.range {
            match (r.min, r.max) {
                (None, None) => problems.at(at(&["range"]), "needs `min`, `max` or both"),
                (Some(min), Some(max)) if min > max => {
                    problems.at(at(&["range"]), format!("min {min} is above max {max}"));
                }
                _ => {}
            }
        }
        if let Some(rc) = &self.row_count {
            report_row_count(rc, &at(&["row_count"]), problems);
        }
        if let Some(f) = &self.freshness {
            let path = at(&["freshness", "max_age"]);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            problems.check_value(&path, &f.max_age, flowctl_model::duration::parse_duration);
        }
        if let Some(sql) = &self.sql {
            check_query(&at(&["sql"]), sql, problems);
        }
    }
}

/// Reports the problems of a `row_count` block at `at` (`checks.N.row_count`).
fn report_row_count(rc: &RowCount, at: &[String], problems: &mut Problems) {
    let field =
        |name: &str| -> Vec<String> { at.iter().cloned().chain([name.to_owned()]).collect() };
    let bounds = rc.min.is_some() || rc.max.is_some();
    match (
        bounds,
        &rc.equals_sql,
        &rc.equals_query,
        &rc.postgres_url_env,
    ) {
        (true, None, None, None) => {
            if let (Some(min), Some(max)) = (rc.min, rc.max)
                && min > max
            {
                problems.at(at.iter(), format!("min {min} is above max {max}"));
            }
        }
        (false, Some(_), None, None) | (false, None, Some(_), Some(_)) => {}
        (false, None, Some(_), None) => {
            problems.at(at.iter(), "`equals_query` needs `postgres_url_env`");
        }
        (false, None, None, Some(_)) => problems.at(
            field("postgres_url_env"),
            "is only used with `equals_query`",
        ),
        (false, None, None, None) => problems.at(
            at.iter(),
            "needs `min`/`max`, `equals_sql`, or `equals_query` with `postgres_url_env`",
        ),
        _ => problems.at(
            at.iter(),
            "takes `min`/`max`, or `equals_sql`, or `equals_query` with `postgres_url_env` \
             — one form only",
        ),
    }
    if let Some(sql) = &rc.equals_sql {
        check_query(&field("equals_sql"), sql, problems);
    }
    if let Some(query) = &rc.equals_query
        && query.trim().is_empty()
    {
        problems.at(field("equals_query"), "is empty");
    }
    if let Some(var) = &rc.postgres_url_env {
        let path = field("postgres_url_env");
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        problems.check_value(&path, var, check_env_var_name);
    }
}

/// A query run on the lakehouse (a `sql` check, `row_count.equals_sql`): not empty, and when
/// known before rendering, one query DataFusion can parse.
fn check_query(at: &[String], sql: &str, problems: &mut Problems) {
    if sql.trim().is_empty() {
        problems.at(at.iter(), "is empty");
        return;
    }
    let path: Vec<&str> = at.iter().map(String::as_str).collect();
    problems.check_value(&path, sql, |q| parse_query(q).map(|_| ()));
}

/// A `row_count` block's kind; `None` unless it is one valid form.
fn row_count_kind(rc: &RowCount) -> Option<CheckKind> {
    let bounds = rc.min.is_some() || rc.max.is_some();
    match (
        bounds,
        &rc.equals_sql,
        &rc.equals_query,
        &rc.postgres_url_env,
    ) {
        (true, None, None, None) => Some(CheckKind::RowCountBounds {
            min: rc.min,
            max: rc.max,
        }),
        (false, Some(sql), None, None) => Some(CheckKind::RowCountEqualsSql(sql.clone())),
        (false, None, Some(query), Some(env)) => Some(CheckKind::RowCountEqualsPostgres {
            query: query.clone(),
            url_env: env.clone(),
        }),
        _ => None,
    }
}

impl JobConfig for QualityConfig {
    /// `table` and `results_table` need a namespace (and differ); there is at least one
    /// check; each check has exactly one kind with valid parameters (reported at
    /// `checks.N.field`); explicit check names are unique.
    fn check(&self, problems: &mut Problems) {
        let table_name = |t: &str| TableName::parse(t).map_err(|e| e.to_string());
        problems.check_value(&["table"], &self.table, table_name);
        problems.check_value(&["results_table"], &self.results_table, table_name);
        if !is_templated(&self.table)
            && let (Ok(table), Ok(results)) = (
                TableName::parse(&self.table),
                TableName::parse(&self.results_table),
            )
            && table == results
        {
            problems.field(
                "results_table",
                format!("is the checked table `{table}`: results need a table of their own"),
            );
        }
        if self.checks.is_empty() {
            problems.field("checks", "needs at least one check");
        }
        for (i, check) in self.checks.iter().enumerate() {
            check.report(i, problems);
        }
        let mut named: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, check) in self.checks.iter().enumerate() {
            let Some(name) = check.name.as_deref() else {
                continue;
            };
            if name.trim().is_empty() || is_templated(name) {
                continue;
            }
            if let Some(first) = named.get(name) {
                problems.at(
                    ["checks".to_owned(), i.to_string(), "name".to_owned()],
                    format!("`{name}` is already the name of check {first}: names must be unique"),
                );
            } else {
                named.insert(name, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::catalog::{ConfigError, check_config};
    use serde_json::{Value, json};

    fn problems(config: Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<QualityConfig>(&config)
            .iter()
            .map(ConfigError::to_string)
            .collect()
    }

    fn checks(checks: Value) -> Vec<String> {
        problems(json!({"table": "silver.orders", "checks": checks}))
    }

    #[test]
    fn every_problem_of_every_check_is_reported_at_its_field() {
        let found = checks(json!([
            {"name": "ids", "not_null": ""},
            {"unique": ["order_id", " ", "order_id"]},
            {"accepted_values": {"column": "status", "values": []}},
            {"accepted_values": {"column": "", "values": ["paid", null]}},
            {"range": {"column": "total", "min": 10, "max": 1}},
            {"range": {"column": "total"}},
            {"row_count": {"min": 5, "max": 2}},
            {"row_count": {}},
            {"row_count": {"equals_query": "SELECT count(*) FROM orders"}},
            {"row_count": {"equals_query": " ", "postgres_url_env": "SOURCE-DB"}},
            {"row_count": {"equals_sql": "SELECT count(* FROM silver.orders"}},
            {"freshness": {"column": "ts_ms", "max_age": "soon"}},
            {"sql": "SELEC 1"},
            {"name": "ids", "sql": ""},
            {"name": "", "severity": "warn"},
            {"not_null": "a", "unique": ["a"]},
        ]));
        let expected_prefixes = [
            "`checks.0.not_null`: must name a column",
            "`checks.1.unique.1`: must name a column",
            "`checks.1.unique.2`: `order_id` is listed twice",
            "`checks.2.accepted_values.values`: needs at least one value",
            "`checks.3.accepted_values.column`: must name a column",
            "`checks.3.accepted_values.values.1`: null is not a value",
            "`checks.4.range`: min 10 is above max 1",
            "`checks.5.range`: needs `min`, `max` or both",
            "`checks.6.row_count`: min 5 is above max 2",
            "`checks.7.row_count`: needs `min`/`max`",
            "`checks.8.row_count`: `equals_query` needs `postgres_url_env`",
            "`checks.9.row_count.equals_query`: is empty",
            "`checks.9.row_count.postgres_url_env`: `SOURCE-DB` is not an environment variable",
            "`checks.10.row_count.equals_sql`: SQL syntax error: ",
            "`checks.11.freshness.max_age`: ",
            "`checks.12.sql`: SQL syntax error: ",
            "`checks.13.sql`: is empty",
            "`checks.14`: a check needs one of not_null",
            "`checks.14.name`: must not be empty",
            "`checks.15`: a check has exactly one kind; this one has not_null, unique",
            "`checks.13.name`: `ids` is already the name of check 0",
        ];
        assert_eq!(found.len(), expected_prefixes.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expected_prefixes) {
            assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
        }
    }

    #[test]
    fn tables_need_a_namespace_and_results_their_own_table() {
        assert_eq!(
            problems(json!({"table": "orders", "results_table": "results",
                            "checks": [{"not_null": "id"}]})),
            [
                "`table`: invalid table name `orders`: expected `namespace.table`",
                "`results_table`: invalid table name `results`: expected `namespace.table`",
            ]
        );
        assert_eq!(
            problems(json!({"table": "quality.check_results", "checks": [{"not_null": "id"}]})),
            [
                "`results_table`: is the checked table `quality.check_results`: results need \
                 a table of their own"
            ]
        );
        assert_eq!(
            problems(json!({"table": "silver.orders", "checks": []})),
            ["`checks`: needs at least one check"]
        );
    }

    #[test]
    fn severity_values_are_checked_by_serde_at_their_field() {
        let err = check_config::<QualityConfig>(&json!({
            "table": "silver.orders",
            "checks": [{"not_null": "id"}, {"not_null": "id", "severity": "fatal"}],
        }))
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].path, ["checks", "1", "severity"]);
        assert!(err[0].message.contains("fatal"), "{}", err[0].message);
    }

    #[test]
    fn templated_values_are_left_to_the_run() {
        assert_eq!(
            problems(json!({
                "table": "{{ params.table }}",
                "checks": [
                    {"name": "{{ params.n }}", "sql": "SELECT * FROM {{ params.table }} WHER x"},
                    {"name": "{{ params.n }}", "freshness": {"column": "ts", "max_age": "{{ params.age }}"}},
                    {"row_count": {"equals_query": "SELECT 1", "postgres_url_env": "{{ params.env }}"}},
                    {"unique": ["{{ params.k }}", "{{ params.k }}"]},
                ],
            })),
            Vec::<String>::new()
        );
    }

    #[test]
    fn checked_checks_have_a_kind() {
        let config: QualityConfig = check_config(&json!({
            "table": "silver.orders",
            "checks": [
                {"accepted_values": {"column": "n", "values": [1, "two", true]}},
                {"row_count": {"equals_query": "SELECT 1", "postgres_url_env": "PG_URL"}},
                {"freshness": {"column": "ts", "max_age": "15m"}},
            ],
        }))
        .unwrap();
        let kinds: Vec<CheckKind> = config.checks.iter().filter_map(Check::kind).collect();
        assert_eq!(
            kinds,
            [
                CheckKind::AcceptedValues {
                    column: "n".into(),
                    values: vec!["1".into(), "two".into(), "true".into()],
                },
                CheckKind::RowCountEqualsPostgres {
                    query: "SELECT 1".into(),
                    url_env: "PG_URL".into(),
                },
                CheckKind::Freshness {
                    column: "ts".into(),
                    max_age: Duration::from_secs(900),
                },
            ]
        );
    }
}
