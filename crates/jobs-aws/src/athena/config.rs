//! The fields of an `athena_query` step. Doc comments become the JSON Schema's descriptions.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::wait::duration_field;

/// How often a query's state is read when the step does not say.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Fields of an `athena_query` step: run one query on Athena and wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AthenaQueryConfig {
    /// The query, inline. Give either `sql` or `file`.
    #[serde(default)]
    pub sql: Option<String>,
    /// A file holding the query, relative to the project directory (e.g. the gold SQL file
    /// the local `sql` step uses). Its text is rendered as a template with the step's context
    /// (`{{ ds }}`, `{{ params.x }}`; an undefined variable is an error).
    #[serde(default)]
    pub file: Option<String>,
    /// Database the query's unqualified table names refer to (default: the target's
    /// `athena.database`).
    #[serde(default)]
    pub database: Option<String>,
    /// Data catalog (default: the target's `athena.catalog`, else `AwsDataCatalog`).
    #[serde(default)]
    pub catalog: Option<String>,
    /// Athena workgroup (default: the target's `athena.workgroup`, else Athena's `primary`).
    #[serde(default)]
    pub workgroup: Option<String>,
    /// Where results are written, `s3://bucket/prefix/` (default: the target's
    /// `athena.output_location`, else the workgroup's).
    #[serde(default)]
    pub output_location: Option<String>,
    /// A check of the result, for quality checks on AWS: `no_rows`, `{rows: N}` (exactly N)
    /// or `{min_rows: N}`. Data rows are counted over every result page; the header row of a
    /// SELECT result is not a data row. A failed check fails the step without retry.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Publish the query's result as this view, `database.view` (e.g. `gold.revenue_5m`): the
    /// query runs as `CREATE OR REPLACE VIEW <view> AS <query>`, an atomic swap readers never
    /// see half-done, so a gold SQL file stays the plain SELECT the local `sql` step runs.
    #[serde(default)]
    pub create_view: Option<String>,
    /// How often the query's state is read, e.g. `5s` (default `1s`).
    #[serde(default)]
    pub poll_interval: Option<String>,
}

/// A check of how many rows a query returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// No row (e.g. a query selecting the rows that break a rule).
    NoRows,
    /// Exactly this many rows.
    Rows(u64),
    /// At least this many rows.
    MinRows(u64),
}

impl Expect {
    /// `None` when `rows` passes the check, else what was expected.
    pub fn violation(self, rows: u64) -> Option<String> {
        match self {
            Expect::NoRows if rows != 0 => Some("no rows".to_owned()),
            Expect::Rows(n) if rows != n => Some(format!("exactly {n} row(s)")),
            Expect::MinRows(n) if rows < n => Some(format!("at least {n} row(s)")),
            _ => None,
        }
    }
}

impl AthenaQueryConfig {
    /// The poll interval (checked).
    pub fn poll_interval(&self) -> Result<Duration, String> {
        duration_field(
            "poll_interval",
            self.poll_interval.as_deref(),
            DEFAULT_POLL_INTERVAL,
        )
    }
}

/// Checks the rules serde cannot express; messages name the fields.
pub(crate) fn check(config: &AthenaQueryConfig) -> Result<(), String> {
    match (&config.sql, &config.file) {
        (Some(_), Some(_)) => return Err("give either `sql` or `file`, not both".into()),
        (None, None) => return Err("missing the query: give `sql` (inline) or `file`".into()),
        (Some(sql), None) if sql.trim().is_empty() => return Err("`sql` is empty".into()),
        _ => {}
    }
    if let Some(location) = &config.output_location
        && !location.starts_with("s3://")
    {
        return Err(format!(
            "`output_location` must be an s3://bucket/prefix/ URL, found `{location}`"
        ));
    }
    if let Some(view) = &config.create_view {
        let parts: Vec<&str> = view.split('.').collect();
        let identifier =
            |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if parts.len() != 2 || !parts.iter().all(|p| identifier(p)) {
            return Err(format!(
                "`create_view` must be `database.view` (letters, digits, underscores), found `{view}`"
            ));
        }
        if config.expect.is_some() {
            return Err(
                "`expect` checks a query's rows; `create_view` returns none: use one".into(),
            );
        }
    }
    config.poll_interval()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<AthenaQueryConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn expect_forms() {
        let c = parse(json!({"sql": "SELECT 1", "expect": "no_rows"})).unwrap();
        assert_eq!(c.expect, Some(Expect::NoRows));
        let c = parse(json!({"sql": "SELECT 1", "expect": {"rows": 3}})).unwrap();
        assert_eq!(c.expect, Some(Expect::Rows(3)));
        let c = parse(json!({"sql": "SELECT 1", "expect": {"min_rows": 1}})).unwrap();
        assert_eq!(c.expect, Some(Expect::MinRows(1)));
        assert!(parse(json!({"sql": "SELECT 1", "expect": "some_rows"})).is_err());
        assert_eq!(Expect::NoRows.violation(0), None);
        assert_eq!(Expect::NoRows.violation(2).as_deref(), Some("no rows"));
        assert_eq!(Expect::Rows(2).violation(2), None);
        assert_eq!(
            Expect::Rows(2).violation(3).as_deref(),
            Some("exactly 2 row(s)")
        );
        assert_eq!(Expect::MinRows(2).violation(5), None);
        assert_eq!(
            Expect::MinRows(2).violation(1).as_deref(),
            Some("at least 2 row(s)")
        );
    }

    #[test]
    fn rules() {
        let err = |v| check(&parse(v).unwrap()).unwrap_err();
        assert!(err(json!({"sql": "x", "file": "y"})).contains("not both"));
        assert!(err(json!({})).contains("missing the query"));
        assert!(err(json!({"sql": " "})).contains("`sql` is empty"));
        assert!(err(json!({"sql": "x", "output_location": "/tmp"})).contains("`output_location`"));
        assert!(err(json!({"sql": "x", "poll_interval": "1"})).contains("`poll_interval`"));
        assert_eq!(check(&parse(json!({"file": "q.sql"})).unwrap()), Ok(()));
        assert!(err(json!({"sql": "x", "create_view": "revenue"})).contains("`create_view`"));
        assert!(err(json!({"sql": "x", "create_view": "g.v; DROP"})).contains("`create_view`"));
        assert!(
            err(json!({"sql": "x", "create_view": "g.v", "expect": "no_rows"})).contains("use one")
        );
        assert_eq!(
            check(&parse(json!({"file": "q.sql", "create_view": "gold.revenue_5m"})).unwrap()),
            Ok(())
        );
    }
}
