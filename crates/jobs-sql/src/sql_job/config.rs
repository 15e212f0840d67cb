//! The fields of a `sql` step and their offline check. Doc comments become the JSON Schema's
//! descriptions.

use flowctl_lakehouse::TableName;
use flowctl_model::catalog::{JobConfig, Problems, TemplateFile};
use flowctl_model::template::is_templated;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::privacy::{FUNCTION_NAME, SaltSource};
use crate::sql_text::{calls_function, check_env_var_name, output_columns, parse_query};
use crate::write::WriteMode;

/// Fields of a `sql` step: a query over the lakehouse catalog whose result becomes a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The query, inline: one SELECT / WITH / VALUES statement. Tables are `namespace.table`
    /// (`SELECT * FROM silver.orders_current`). Give either `sql` or `file`.
    #[serde(default)]
    pub sql: Option<String>,
    /// A file holding the query, relative to the project directory. Its text is rendered as a
    /// template with the step's context (`{{ ds }}`, `{{ params.x }}`; an undefined variable
    /// is an error).
    #[serde(default)]
    pub file: Option<String>,
    /// The table the result is written to, `namespace.table`; created from the result's
    /// columns when missing.
    pub target: String,
    /// `replace` (default): the table's content becomes the result; `append`: the rows are
    /// added.
    #[serde(default)]
    pub mode: WriteMode,
    /// Result columns replaced by their pseudonym (`hex(sha256(value || '::' || salt))`)
    /// before writing. Needs `salt_env` or `salt_file`.
    #[serde(default)]
    pub pseudonymize: Vec<String>,
    /// Name of the environment variable holding the pseudonymisation salt (for the
    /// `pseudonymize` option and the `pseudonymize(value)` SQL function), e.g. `FLOWCTL_SALT`.
    #[serde(default)]
    pub salt_env: Option<String>,
    /// File holding the pseudonymisation salt, relative to the project directory.
    #[serde(default)]
    pub salt_file: Option<String>,
}

impl SqlConfig {
    /// The step's salt source.
    pub fn salt_source(&self) -> SaltSource {
        SaltSource {
            salt_env: self.salt_env.clone(),
            salt_file: self.salt_file.clone(),
        }
    }

    /// The inline query, when it is known before rendering.
    fn plain_sql(&self) -> Option<&str> {
        self.sql.as_deref().filter(|s| !is_templated(s))
    }
}

impl JobConfig for SqlConfig {
    /// The query: exactly one of `sql` and `file`; an inline, untemplated query must parse,
    /// be one query, name the columns `pseudonymize` lists (when its select list is explicit)
    /// and have a salt if it calls `pseudonymize()`. The target needs a namespace; salt
    /// settings must be usable.
    fn check(&self, problems: &mut Problems) {
        match (&self.sql, &self.file) {
            (Some(_), Some(_)) => problems.job("give either `sql` or `file`, not both"),
            (None, None) => problems.job("missing the query: give `sql` (inline) or `file`"),
            _ => {}
        }
        if let Some(file) = &self.file
            && file.trim().is_empty()
        {
            problems.field("file", "must name a SQL file");
        }
        let salted = self.salt_env.is_some() || self.salt_file.is_some();
        let query = match self.plain_sql() {
            Some(sql) if sql.trim().is_empty() => {
                problems.field("sql", "is empty");
                None
            }
            Some(sql) => match parse_query(sql) {
                Ok(query) => Some(query),
                Err(message) => {
                    problems.field("sql", message);
                    None
                }
            },
            None => None,
        };
        if let Some(query) = &query
            && !salted
            && calls_function(query, FUNCTION_NAME)
        {
            problems.field(
                "sql",
                "calls pseudonymize(), which needs a salt: set `salt_env` (an environment \
                 variable name) or `salt_file` (a file path)",
            );
        }
        problems.check_value(&["target"], &self.target, |t| {
            TableName::parse(t).map_err(|e| e.to_string())
        });
        if !self.pseudonymize.is_empty() && !salted {
            problems.field(
                "pseudonymize",
                "needs a salt: set `salt_env` (an environment variable name) or `salt_file` \
                 (a file path)",
            );
        }
        let columns = query.as_deref().and_then(output_columns);
        for (i, column) in self.pseudonymize.iter().enumerate() {
            if is_templated(column) {
                continue;
            }
            let at = ["pseudonymize".to_owned(), i.to_string()];
            if column.is_empty() {
                problems.at(at, "must name a result column");
            } else if self.pseudonymize[..i].contains(column) {
                problems.at(at, format!("`{column}` is listed twice"));
            } else if let Some(columns) = &columns
                && columns.surely_lacks(column)
            {
                problems.at(
                    at,
                    format!(
                        "the query's result has no column `{column}` (its columns: {})",
                        columns.names.join(", ")
                    ),
                );
            }
        }
        if self.salt_env.is_some() && self.salt_file.is_some() {
            problems.job("give either `salt_env` or `salt_file`, not both");
        }
        if let Some(var) = &self.salt_env {
            problems.check_value(&["salt_env"], var, check_env_var_name);
        }
        if let Some(file) = &self.salt_file
            && file.trim().is_empty()
        {
            problems.field("salt_file", "must name a file");
        }
    }

    /// The `file:` query, rendered with the step's context before it runs.
    fn template_files(&self) -> Vec<TemplateFile> {
        self.file
            .iter()
            .filter(|f| !f.trim().is_empty())
            .map(|f| TemplateFile {
                field: vec!["file".into()],
                path: f.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::catalog::ConfigError;
    use serde_json::json;

    fn problems(config: serde_json::Value) -> Vec<String> {
        flowctl_model::catalog::config_problems::<SqlConfig>(&config)
            .iter()
            .map(ConfigError::to_string)
            .collect()
    }

    #[test]
    fn a_good_step_passes() {
        assert_eq!(
            problems(json!({
                "sql": "SELECT user_id, email, country FROM silver.users WHERE is_current",
                "target": "silver.users_pseudonymised",
                "pseudonymize": ["user_id", "email"],
                "salt_file": ".flowctl/salt",
            })),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(json!({"file": "jobs/sql/gold.sql", "target": "gold.t",
                            "pseudonymize": ["anything"], "salt_env": "FLOWCTL_SALT"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_problem_is_reported_at_its_field_all_of_them() {
        let found = problems(json!({
            "sql": "SELECT user_id, pseudonymize(email) AS email_key FROM silver.users",
            "target": "users_private",
            "pseudonymize": ["user_id", "email", "", "user_id"],
            "salt_env": "$FLOWCTL_SALT",
        }));
        assert_eq!(
            found,
            [
                "`target`: invalid table name `users_private`: expected `namespace.table`",
                "`pseudonymize.1`: the query's result has no column `email` (its columns: \
                 user_id, email_key)",
                "`pseudonymize.2`: must name a result column",
                "`pseudonymize.3`: `user_id` is listed twice",
                "`salt_env`: `$FLOWCTL_SALT` is not an environment variable name (letters, \
                 digits and `_`, not starting with a digit): write the name without `$` \
                 (`FLOWCTL_SALT`)",
            ]
        );
    }

    #[test]
    fn query_problems_are_reported_at_sql() {
        let syntax = problems(json!({"sql": "SELEC id FROM bronze.t", "target": "gold.t"}));
        assert_eq!(syntax.len(), 1, "{syntax:?}");
        assert!(
            syntax[0].starts_with("`sql`: SQL syntax error: "),
            "{syntax:?}"
        );
        assert!(syntax[0].contains("SELEC"), "{syntax:?}");
        let unsalted = problems(json!({
            "sql": "SELECT pseudonymize(email) AS k FROM silver.users",
            "target": "gold.t",
            "pseudonymize": ["k"],
        }));
        assert_eq!(
            unsalted,
            [
                "`sql`: calls pseudonymize(), which needs a salt: set `salt_env` (an \
                 environment variable name) or `salt_file` (a file path)",
                "`pseudonymize`: needs a salt: set `salt_env` (an environment variable name) \
                 or `salt_file` (a file path)",
            ]
        );
        let two = problems(json!({"sql": "SELECT 1; SELECT 2", "target": "gold.t"}));
        assert_eq!(
            two,
            ["`sql`: holds 2 SQL statements; give exactly one query"]
        );
        let insert = problems(json!({"sql": "INSERT INTO gold.t VALUES (1)", "target": "gold.t"}));
        assert_eq!(
            insert,
            ["`sql`: must be a query (SELECT, WITH or VALUES), found `INSERT`"]
        );
        let empty = problems(json!({"sql": "  ", "target": "gold.t"}));
        assert_eq!(empty, ["`sql`: is empty"]);
    }

    #[test]
    fn conflicting_and_missing_fields_are_job_problems() {
        assert_eq!(
            problems(
                json!({"sql": "SELECT 1", "file": "q.sql", "target": "gold.t",
                            "salt_env": "A", "salt_file": "s"})
            ),
            [
                "give either `sql` or `file`, not both",
                "give either `salt_env` or `salt_file`, not both",
            ]
        );
        assert_eq!(
            problems(json!({"target": "gold.t", "salt_file": " "})),
            [
                "missing the query: give `sql` (inline) or `file`",
                "`salt_file`: must name a file",
            ]
        );
        assert_eq!(
            problems(json!({"target": "gold.t", "file": ""})),
            ["`file`: must name a SQL file"]
        );
    }

    #[test]
    fn templated_values_are_left_to_the_run() {
        assert_eq!(
            problems(json!({
                "sql": "SELEC {{ params.cols }} FROM silver.users",
                "target": "{{ params.target }}",
                "pseudonymize": ["{{ params.col }}", "email"],
                "salt_env": "{{ params.salt_var }}",
            })),
            Vec::<String>::new()
        );
        // With `*` or a `file:` query the result's columns are unknown offline.
        assert_eq!(
            problems(
                json!({"sql": "SELECT * FROM silver.users", "target": "gold.t",
                            "pseudonymize": ["nope"], "salt_env": "S"})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_file_is_a_template_file() {
        let config: SqlConfig =
            serde_json::from_value(json!({"file": "jobs/sql/q.sql", "target": "gold.t"})).unwrap();
        assert_eq!(
            config.template_files(),
            [TemplateFile {
                field: vec!["file".into()],
                path: "jobs/sql/q.sql".into()
            }]
        );
        let inline: SqlConfig =
            serde_json::from_value(json!({"sql": "SELECT 1", "target": "gold.t"})).unwrap();
        assert!(inline.template_files().is_empty());
    }
}
