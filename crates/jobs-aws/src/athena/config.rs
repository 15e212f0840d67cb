//! The fields of an `athena_query` step and their checks. Doc comments become the JSON
//! Schema's descriptions; [`JobConfig::check`] reports every mistake Athena would refuse
//! that needs no AWS call (an inline query is read for what can be known without Athena: how
//! many statements it holds, whether a view's body is a query), at `flowctl validate` and
//! again before every attempt. A `file:` query is a template: [`JobConfig::template_files`]
//! names it, so validation checks its variables.

use std::time::Duration;

use flowctl_model::catalog::{JobConfig, Problems, TemplateFile};
use flowctl_model::template::is_templated;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::fields::{not_blank, s3_location};
use crate::settings::workgroup_name;
use crate::wait::{interval, parse_interval};

/// How often a query's state is read when the step does not say.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Fields of an `athena_query` step: run one query on Athena and wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AthenaQueryConfig {
    /// The query, inline: one statement (Athena runs one per query). Give either `sql` or
    /// `file`.
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
    /// or `{min_rows: N}` (N at least 1). Data rows are counted over every result page; the header row of a
    /// SELECT result is not a data row. A failed check fails the step without retry.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Publish the query's result as this view, `database.view` (e.g. `gold.revenue_5m`): the
    /// query runs as `CREATE OR REPLACE VIEW <view> AS <query>`, an atomic swap readers never
    /// see half-done, so a gold SQL file stays the plain SELECT the local `sql` step runs.
    /// The query must then be a query (`SELECT`, `WITH`, `VALUES`), not `INSERT` or DDL.
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
    /// The poll interval (checked by [`JobConfig::check`]).
    pub fn poll_interval(&self) -> Duration {
        interval(self.poll_interval.as_deref(), DEFAULT_POLL_INTERVAL)
    }
}

impl JobConfig for AthenaQueryConfig {
    fn check(&self, problems: &mut Problems) {
        match (&self.sql, &self.file) {
            (Some(_), Some(_)) => problems.job("give either `sql` or `file`, not both"),
            (None, None) => problems.job("missing the query: give `sql` (inline) or `file`"),
            _ => {}
        }
        if let Some(sql) = &self.sql {
            let view = self.create_view.is_some();
            problems.check_value(&["sql"], sql, |sql| inline_query(sql, view));
        }
        if let Some(file) = &self.file {
            problems.check_value(&["file"], file, not_blank);
        }
        for (field, value) in [("database", &self.database), ("catalog", &self.catalog)] {
            if let Some(value) = value {
                problems.check_value(&[field], value, not_blank);
            }
        }
        if let Some(workgroup) = &self.workgroup {
            problems.check_value(&["workgroup"], workgroup, |w| {
                not_blank(w).and_then(|()| workgroup_name(w))
            });
        }
        if let Some(location) = &self.output_location {
            problems.check_value(&["output_location"], location, s3_location);
        }
        if let Some(view) = &self.create_view {
            problems.check_value(&["create_view"], view, view_name);
            if self.expect.is_some() {
                problems.field(
                    "expect",
                    "`expect` checks a query's rows; `create_view` returns none: use one",
                );
            }
        }
        if self.expect == Some(Expect::MinRows(0)) {
            problems.at(
                ["expect", "min_rows"],
                "0 lets every result pass: give at least 1",
            );
        }
        if let Some(poll) = &self.poll_interval {
            problems.check_value(&["poll_interval"], poll, parse_interval);
        }
    }

    fn template_files(&self) -> Vec<TemplateFile> {
        self.file
            .iter()
            .filter(|f| !f.trim().is_empty() && !is_templated(f))
            .map(|f| TemplateFile {
                field: vec!["file".into()],
                path: f.clone(),
            })
            .collect()
    }
}

/// `database.view`: identifiers of letters, digits and underscores.
fn view_name(view: &str) -> Result<(), String> {
    let parts: Vec<&str> = view.split('.').collect();
    let identifier =
        |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if parts.len() == 2 && parts.iter().all(|p| identifier(p)) {
        Ok(())
    } else {
        Err(format!(
            "must be `database.view` (letters, digits, underscores), found `{view}`"
        ))
    }
}

/// An inline query: one statement; with `create_view`, a query (the view's body).
fn inline_query(sql: &str, create_view: bool) -> Result<(), String> {
    not_blank(sql)?;
    let statements = statements(sql);
    if statements.is_empty() {
        return Err("holds no statement (only comments or `;`): give the query".into());
    }
    if statements.len() > 1 {
        return Err(format!(
            "holds {} statements: Athena runs one statement per query (use one step each)",
            statements.len()
        ));
    }
    if create_view {
        let first = statements[0];
        let is_query = first.starts_with('(')
            || ["select", "with", "values", "table"]
                .iter()
                .any(|k| first.eq_ignore_ascii_case(k));
        if !is_query {
            return Err(format!(
                "with `create_view` the query becomes the view's body: it must be a SELECT, found `{first}`"
            ));
        }
    }
    Ok(())
}

/// The first word (or `(`) of each statement of `sql`: statements are split at `;` outside
/// string literals, quoted identifiers and comments; empty ones are dropped.
fn statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut firsts = Vec::new();
    let mut first: Option<&str> = None;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let skip = if rest.starts_with("--") {
            rest.find('\n').unwrap_or(rest.len())
        } else if let Some(comment) = rest.strip_prefix("/*") {
            comment.find("*/").map_or(rest.len(), |end| end + 4)
        } else {
            match bytes[i] {
                quote @ (b'\'' | b'"' | b'`') => {
                    first.get_or_insert(&rest[..1]);
                    // A doubled quote inside is the quote itself: scanning on finds it.
                    rest[1..]
                        .find(quote as char)
                        .map_or(rest.len(), |end| end + 2)
                }
                b';' => {
                    firsts.extend(first.take());
                    1
                }
                b if b.is_ascii_whitespace() => 1,
                b if b.is_ascii_alphanumeric() || b == b'_' => {
                    let len = rest
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                        .count();
                    first.get_or_insert(&rest[..len]);
                    len
                }
                _ => {
                    let len = rest.chars().next().map_or(1, char::len_utf8);
                    first.get_or_insert(&rest[..len]);
                    len
                }
            }
        };
        i += skip.max(1);
    }
    firsts.extend(first);
    firsts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<AthenaQueryConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Each problem as `path: message`.
    fn problems(v: serde_json::Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<AthenaQueryConfig>(&v)
            .iter()
            .map(|e| format!("{}: {}", e.path.join("."), e.message))
            .collect()
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
    fn each_mistake_is_reported_at_its_field() {
        let cases = [
            (
                json!({"sql": "x", "file": "y"}),
                ": give either `sql` or `file`, not both",
            ),
            (json!({}), ": missing the query"),
            (json!({"sql": " "}), "sql: is empty"),
            (json!({"sql": "-- nothing\n"}), "sql: holds no statement"),
            (json!({"file": ""}), "file: is empty"),
            (
                json!({"sql": "SELECT 1", "output_location": "/tmp"}),
                "output_location: must be an s3://bucket/prefix/ URL, found `/tmp`",
            ),
            (
                json!({"sql": "SELECT 1", "poll_interval": "1"}),
                "poll_interval: invalid duration `1`",
            ),
            (
                json!({"sql": "SELECT 1", "create_view": "revenue"}),
                "create_view: must be `database.view`",
            ),
            (
                json!({"sql": "SELECT 1", "create_view": "g.v; DROP"}),
                "create_view: must be `database.view`",
            ),
            (
                json!({"sql": "SELECT 1", "create_view": "g.v", "expect": "no_rows"}),
                "expect: `expect` checks a query's rows; `create_view` returns none: use one",
            ),
            (
                json!({"sql": "SELECT 1", "expect": {"min_rows": 0}}),
                "expect.min_rows: 0 lets every result pass",
            ),
            (
                json!({"sql": "SELECT 1", "workgroup": "data team"}),
                "workgroup: `data team` is not an Athena workgroup name",
            ),
            (
                json!({"sql": "SELECT 1", "database": ""}),
                "database: is empty",
            ),
            (
                json!({"sql": "DELETE FROM t; SELECT 1;"}),
                "sql: holds 2 statements: Athena runs one statement per query",
            ),
            (
                json!({"sql": "INSERT INTO gold.x SELECT 1", "create_view": "gold.v"}),
                "sql: with `create_view` the query becomes the view's body: it must be a SELECT, found `INSERT`",
            ),
        ];
        for (value, expected) in cases {
            let found = problems(value.clone());
            assert_eq!(found.len(), 1, "{value}: {found:?}");
            assert!(found[0].starts_with(expected), "{value}: {found:?}");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let found = problems(json!({
            "sql": "SELECT 1; SELECT 2",
            "file": "q.sql",
            "output_location": "results/",
            "create_view": "revenue",
            "expect": "no_rows",
            "poll_interval": "0s"
        }));
        let paths: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "",
                "sql",
                "output_location",
                "create_view",
                "expect",
                "poll_interval"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn good_queries_and_templates_pass() {
        for ok in [
            json!({"file": "q.sql"}),
            json!({"file": "q.sql", "create_view": "gold.revenue_5m"}),
            json!({"sql": "SELECT ';' AS semi, \"a;b\" FROM t -- one; statement\n;"}),
            json!({"sql": "/* a; b */ WITH x AS (SELECT 1) SELECT * FROM x", "create_view": "gold.v"}),
            json!({"sql": "(SELECT 1)", "create_view": "gold.v"}),
            json!({"sql": "SELECT 'it''s; fine'"}),
            json!({
                "sql": "SELECT * FROM t WHERE ds = '{{ ds }}'; {{ params.more }}",
                "workgroup": "{{ params.wg }}",
                "output_location": "{{ params.out }}",
                "create_view": "{{ params.view }}",
                "poll_interval": "{{ params.poll }}"
            }),
        ] {
            assert_eq!(problems(ok.clone()), Vec::<String>::new(), "{ok}");
        }
    }

    #[test]
    fn a_file_is_a_template_file() {
        let c = parse(json!({"file": "jobs/sql/gold.sql"})).unwrap();
        let files = c.template_files();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "jobs/sql/gold.sql");
        assert_eq!(files[0].field, ["file"]);
        assert!(
            parse(json!({"sql": "SELECT 1"}))
                .unwrap()
                .template_files()
                .is_empty()
        );
        assert!(
            parse(json!({"file": "jobs/{{ params.f }}.sql"}))
                .unwrap()
                .template_files()
                .is_empty()
        );
    }
}
