//! The fields of a `sql` step. Doc comments become the JSON Schema's descriptions.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::privacy::SaltSource;
use crate::write::WriteMode;

/// Fields of a `sql` step: a query over the lakehouse catalog whose result becomes a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The query, inline. Tables are `namespace.table` (`SELECT * FROM silver.orders_current`).
    /// Give either `sql` or `file`.
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
    /// `pseudonymize` option and the `pseudonymize(value)` SQL function).
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
}

/// Checks the rules serde cannot express; messages name the fields.
pub(crate) fn check(config: &SqlConfig) -> Result<(), String> {
    match (&config.sql, &config.file) {
        (Some(_), Some(_)) => return Err("give either `sql` or `file`, not both".into()),
        (None, None) => return Err("missing the query: give `sql` (inline) or `file`".into()),
        (Some(sql), None) if sql.trim().is_empty() => return Err("`sql` is empty".into()),
        _ => {}
    }
    if !config.pseudonymize.is_empty() && !config.salt_source().is_set() {
        return Err("`pseudonymize` needs `salt_env` or `salt_file`".into());
    }
    if config.salt_env.is_some() && config.salt_file.is_some() {
        return Err("give either `salt_env` or `salt_file`, not both".into());
    }
    Ok(())
}
