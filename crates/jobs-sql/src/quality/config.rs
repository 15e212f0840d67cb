//! The fields of a `quality` step and its checks. Doc comments become the JSON Schema's
//! descriptions.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

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
    /// The check's kind; an error unless exactly one kind is given and its parameters work.
    pub fn kind(&self) -> Result<CheckKind, String> {
        let mut kinds = Vec::new();
        if let Some(column) = &self.not_null {
            kinds.push(CheckKind::NotNull(column.clone()));
        }
        if let Some(columns) = &self.unique {
            if columns.is_empty() {
                return Err("`unique` needs at least one column".into());
            }
            kinds.push(CheckKind::Unique(columns.clone()));
        }
        if let Some(a) = &self.accepted_values {
            if a.values.is_empty() {
                return Err("`accepted_values.values` is empty".into());
            }
            let values = a
                .values
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    other => Err(format!(
                        "`accepted_values.values` holds {other}: use strings, numbers or booleans"
                    )),
                })
                .collect::<Result<_, _>>()?;
            kinds.push(CheckKind::AcceptedValues {
                column: a.column.clone(),
                values,
            });
        }
        if let Some(r) = &self.range {
            if r.min.is_none() && r.max.is_none() {
                return Err("`range` needs `min`, `max` or both".into());
            }
            if let (Some(min), Some(max)) = (r.min, r.max)
                && min > max
            {
                return Err(format!("`range`: min {min} is above max {max}"));
            }
            kinds.push(CheckKind::Range {
                column: r.column.clone(),
                min: r.min,
                max: r.max,
            });
        }
        if let Some(rc) = &self.row_count {
            kinds.push(row_count_kind(rc)?);
        }
        if let Some(f) = &self.freshness {
            let max_age = flowctl_model::duration::parse_duration(&f.max_age)
                .map_err(|e| format!("`freshness.max_age`: {e}"))?;
            kinds.push(CheckKind::Freshness {
                column: f.column.clone(),
                max_age,
            });
        }
        if let Some(sql) = &self.sql {
            if sql.trim().is_empty() {
                return Err("`sql` is empty".into());
            }
            kinds.push(CheckKind::Sql(sql.clone()));
        }
        match kinds.len() {
            1 => Ok(kinds.remove(0)),
            0 => Err(
                "a check needs one of not_null, unique, accepted_values, range, \
                 row_count, freshness, sql"
                    .into(),
            ),
            _ => Err(format!(
                "a check has exactly one kind; this one has {}",
                kinds
                    .iter()
                    .map(CheckKind::kind_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

fn row_count_kind(rc: &RowCount) -> Result<CheckKind, String> {
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
                return Err(format!("`row_count`: min {min} is above max {max}"));
            }
            Ok(CheckKind::RowCountBounds {
                min: rc.min,
                max: rc.max,
            })
        }
        (false, Some(sql), None, None) => Ok(CheckKind::RowCountEqualsSql(sql.clone())),
        (false, None, Some(query), Some(env)) => Ok(CheckKind::RowCountEqualsPostgres {
            query: query.clone(),
            url_env: env.clone(),
        }),
        (false, None, Some(_), None) => {
            Err("`row_count.equals_query` needs `postgres_url_env`".into())
        }
        (false, None, None, Some(_)) => {
            Err("`row_count.postgres_url_env` is only used with `equals_query`".into())
        }
        _ => Err(
            "`row_count` takes `min`/`max`, or `equals_sql`, or `equals_query` with \
             `postgres_url_env` — one form only"
                .into(),
        ),
    }
}

/// Checks the rules serde cannot express; the path names the check.
pub(crate) fn check(config: &QualityConfig) -> Result<(), (Vec<String>, String)> {
    if config.checks.is_empty() {
        return Err((vec!["checks".into()], "no checks given".into()));
    }
    for (i, c) in config.checks.iter().enumerate() {
        c.kind()
            .map_err(|message| (vec!["checks".into(), i.to_string()], message))?;
    }
    Ok(())
}
