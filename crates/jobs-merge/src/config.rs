//! The `iceberg_merge` step's fields and their offline check.
//!
//! [`MergeConfig::check`] (the [`JobConfig`] contract) refuses, at `flowctl validate` and again
//! on the rendered fields before every attempt, everything that needs no catalog or data: table
//! names without a namespace, a target equal to its source, an empty, duplicated or reserved
//! `key`, a `columns` type the merge's own parser ([`flowctl_cdc::ColumnType`]'s `FromStr`)
//! refuses, `include`/`exclude` naming a key column or the same column, a malformed
//! `source_table`. A templated value is skipped (checked once rendered).

use flowctl_cdc as cdc;
use flowctl_lakehouse::TableName;
use flowctl_model::catalog::{JobConfig, Problems};
use flowctl_model::template::is_templated;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, ORDER_COLUMNS};

/// How silver keeps the rows of a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// One row per live key: the latest change wins, deletes remove the row.
    #[default]
    Current,
    /// Slowly changing dimension type 2: every new source change opens a version
    /// (`effective_from`, `effective_to`, `is_current`); updates and deletes close the current
    /// one. A change delivered again (the same LSN) changes nothing.
    Scd2,
}

/// Fields of an `iceberg_merge` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// The bronze table (`namespace.table`) holding raw Debezium change events.
    pub source: String,
    /// The silver table to maintain (`namespace.table`, not the source); created on the first
    /// run.
    pub target: String,
    /// Primary-key column(s) of the source table: at least one, each named once.
    pub key: Vec<String>,
    /// `current` (one row per live key, the default) or `scd2` (history with validity intervals).
    #[serde(default)]
    pub mode: MergeMode,
    /// Only merge events whose `source_table` is this (bronze may hold several source tables):
    /// `table` or `schema.table`.
    #[serde(default)]
    pub source_table: Option<String>,
    /// Column types (`decimal(12,2)`, `timestamptz`, `bigint`, ...) by column name: used when the
    /// events carry no schema, and overriding the schema's type when they do.
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Keep only these columns of the source rows besides the key columns, which are always
    /// kept (and so are not listed here).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Leave these columns of the source rows out of silver (not a key column, not a column
    /// of `include`).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Parses a declared column type with the parser the merge decodes with at run time.
pub(crate) fn column_type(declared: &str) -> Result<cdc::ColumnType, String> {
    declared
        .parse::<cdc::ColumnType>()
        .map_err(|e| e.to_string())
}

/// Why `name` cannot be a source column in `mode` (a column the merge maintains in silver).
fn reserved_reason(name: &str, mode: MergeMode) -> Option<String> {
    if ORDER_COLUMNS.contains(&name) {
        return Some(format!(
            "`{name}` is a bookkeeping column of silver and cannot be a source column"
        ));
    }
    (mode == MergeMode::Scd2 && [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT].contains(&name))
        .then(|| format!("`{name}` is an SCD2 column of silver and cannot be a source column"))
}

/// Checks a `source_table` filter: `table` or `schema.table`.
fn check_source_table(filter: &str) -> Result<(), String> {
    let parts: Vec<&str> = filter.split('.').collect();
    if filter.trim().is_empty() {
        Err(
            "is empty: name the source table (`table` or `schema.table`), or leave it out to \
             merge every table in bronze"
                .to_owned(),
        )
    } else if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
        Err(format!("`{filter}`: expected `table` or `schema.table`"))
    } else {
        Ok(())
    }
}

impl JobConfig for MergeConfig {
    fn check(&self, problems: &mut Problems) {
        let mut table = |field: &str, value: &str| {
            if is_templated(value) {
                return None;
            }
            TableName::parse(value)
                .map_err(|e| problems.field(field, e.to_string()))
                .ok()
        };
        let source = table("source", &self.source);
        let target = table("target", &self.target);
        if let (Some(source), Some(target)) = (source, target)
            && source == target
        {
            problems.field(
                "target",
                format!(
                    "`{target}` is also the `source`: silver must be another table than the \
                     bronze table it is merged from"
                ),
            );
        }

        if self.key.is_empty() {
            problems.field(
                "key",
                "names no column: list the source table's primary-key column(s)",
            );
        }
        for (i, column) in self.key.iter().enumerate() {
            let at = ["key".to_owned(), i.to_string()];
            if is_templated(column) {
                continue;
            }
            if column.trim().is_empty() {
                problems.at(at, "an empty column name");
            } else if self.key[..i].contains(column) {
                problems.at(at, format!("`{column}` is listed twice"));
            } else if let Some(reason) = reserved_reason(column, self.mode) {
                problems.at(at, reason);
            }
        }
        let is_key = |column: &String| self.key.contains(column);

        for (column, declared) in &self.columns {
            if column.trim().is_empty() {
                problems.at(["columns", column.as_str()], "an empty column name");
                continue;
            }
            if let Some(reason) = reserved_reason(column, self.mode) {
                problems.at(["columns", column.as_str()], reason);
            }
            problems.check_value(&["columns", column.as_str()], declared, column_type);
        }

        for (i, column) in self.include.iter().flatten().enumerate() {
            let at = ["include".to_owned(), i.to_string()];
            if is_templated(column) {
                continue;
            }
            if column.trim().is_empty() {
                problems.at(at, "an empty column name");
            } else if is_key(column) {
                problems.at(
                    at,
                    format!(
                        "`{column}` is a key column: key columns are always kept, leave it out"
                    ),
                );
            }
        }
        let included = |column: &String| self.include.iter().flatten().any(|c| c == column);
        for (i, column) in self.exclude.iter().enumerate() {
            let at = ["exclude".to_owned(), i.to_string()];
            if is_templated(column) {
                continue;
            }
            if column.trim().is_empty() {
                problems.at(at, "an empty column name");
            } else if is_key(column) {
                problems.at(
                    at,
                    format!("`{column}` is a key column: key columns cannot be excluded"),
                );
            } else if included(column) {
                problems.at(
                    at,
                    format!("`{column}` is also in `include`: keep it or leave it out, not both"),
                );
            }
        }

        if let Some(filter) = &self.source_table {
            problems.check_value(&["source_table"], filter, check_source_table);
        }
    }
}

impl MergeConfig {
    /// Whether a source column goes to silver.
    pub(crate) fn keeps(&self, column: &str) -> bool {
        if self.key.iter().any(|k| k == column) {
            return true;
        }
        if self.exclude.iter().any(|c| c == column) {
            return false;
        }
        match &self.include {
            Some(list) => list.iter().any(|c| c == column),
            None => true,
        }
    }

    /// Whether a bronze `source_schema`/`source_table` pair passes the `source_table` filter.
    pub(crate) fn wants(&self, schema: Option<&str>, table: Option<&str>) -> bool {
        let Some(filter) = self.source_table.as_deref() else {
            return true;
        };
        match filter.split_once('.') {
            Some((s, t)) => schema == Some(s) && table == Some(t),
            None => table == Some(filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_model::catalog::{JobTypeSpec, TypedJobSpec};
    use serde_json::{Value, json};

    fn config(fields: Value) -> MergeConfig {
        serde_json::from_value(fields).unwrap()
    }

    /// The problems `check` reports, as `path: message`.
    fn problems(fields: Value) -> Vec<String> {
        let mut problems = Problems::new();
        config(fields).check(&mut problems);
        problems
            .into_vec()
            .into_iter()
            .map(|e| format!("{}: {}", e.path.join("."), e.message))
            .collect()
    }

    /// Fields that pass, with `changes` merged over them.
    fn with(changes: Value) -> Value {
        let mut fields = json!({"source": "bronze.cdc", "target": "silver.orders", "key": ["id"]});
        for (k, v) in changes.as_object().unwrap() {
            fields[k] = v.clone();
        }
        fields
    }

    #[test]
    fn filters_and_column_selection() {
        let config: MergeConfig = serde_json::from_value(json!({
            "source": "bronze.x", "target": "silver.x", "key": ["id"],
            "source_table": "public.orders", "include": ["total"], "exclude": ["id"]
        }))
        .unwrap();
        assert_eq!(config.mode, MergeMode::Current);
        assert!(config.wants(Some("public"), Some("orders")));
        assert!(!config.wants(Some("audit"), Some("orders")));
        assert!(config.keeps("id"), "key columns are always kept");
        assert!(config.keeps("total"));
        assert!(!config.keeps("note"));
        let err = serde_json::from_value::<MergeConfig>(json!({
            "source": "b.x", "target": "s.x", "key": ["id"], "mode": "scd3"
        }));
        assert!(err.is_err());
    }

    #[test]
    fn a_realistic_step_passes() {
        let fields = with(json!({
            "mode": "scd2", "source_table": "public.users",
            "columns": {"id": "bigint", "email": "varchar(200)", "total": "decimal(12,2)",
                        "tags": "text[]", "created_at": "timestamp with time zone"},
            "include": ["email", "total"], "exclude": ["password_hash"],
        }));
        assert_eq!(problems(fields), Vec::<String>::new());
    }

    #[test]
    fn table_names_need_a_namespace_and_the_target_is_not_the_source() {
        assert_eq!(
            problems(with(json!({"source": "cdc", "target": "silver."}))),
            [
                "source: invalid table name `cdc`: expected `namespace.table`",
                "target: invalid table name `silver.`: the table name is empty",
            ]
        );
        assert_eq!(
            problems(with(json!({"target": "bronze.cdc"}))),
            [
                "target: `bronze.cdc` is also the `source`: silver must be another table than the \
              bronze table it is merged from"
            ]
        );
    }

    #[test]
    fn key_must_name_distinct_real_columns() {
        assert_eq!(
            problems(with(json!({"key": []}))),
            ["key: names no column: list the source table's primary-key column(s)"]
        );
        assert_eq!(
            problems(with(json!({"key": ["id", "", "id", "_cdc_lsn"]}))),
            [
                "key.1: an empty column name",
                "key.2: `id` is listed twice",
                "key.3: `_cdc_lsn` is a bookkeeping column of silver and cannot be a source column",
            ]
        );
        assert_eq!(
            problems(with(json!({"key": ["is_current"], "mode": "scd2"}))),
            ["key.0: `is_current` is an SCD2 column of silver and cannot be a source column"]
        );
        assert!(
            problems(with(json!({"key": ["is_current"]}))).is_empty(),
            "only in scd2"
        );
    }

    #[test]
    fn column_types_are_parsed_as_the_merge_parses_them() {
        let found = problems(with(json!({"columns": {
            "a": "bigintt", "b": "decimal(40,2)", "c": "bigint", "effective_to": "timestamptz",
            "": "text",
        }, "mode": "scd2"})));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("columns.a: invalid column type `bigintt`: unknown type"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("columns.b: invalid column type `decimal(40,2)`"),
            "{found:?}"
        );
        assert_eq!(
            found[2],
            "columns.effective_to: `effective_to` is an SCD2 column of silver and cannot be a \
             source column"
        );
        assert_eq!(found[3], "columns.: an empty column name");
        // The same parser as the run: what passes here decodes there.
        for ty in [
            "decimal(38,0)",
            "numeric(10)",
            "int[]",
            "list<text>",
            "timestamp_ntz",
        ] {
            assert!(column_type(ty).is_ok(), "{ty}");
        }
    }

    #[test]
    fn include_and_exclude_do_not_conflict_with_the_key_or_each_other() {
        assert_eq!(
            problems(with(json!({
                "key": ["id", "line"],
                "include": ["id", "total", "", "note"],
                "exclude": ["line", "note", "secret"],
            }))),
            [
                "include.0: `id` is a key column: key columns are always kept, leave it out",
                "include.2: an empty column name",
                "exclude.0: `line` is a key column: key columns cannot be excluded",
                "exclude.1: `note` is also in `include`: keep it or leave it out, not both",
            ]
        );
    }

    #[test]
    fn source_table_is_table_or_schema_dot_table() {
        for ok in ["orders", "public.orders"] {
            assert!(
                problems(with(json!({"source_table": ok}))).is_empty(),
                "{ok}"
            );
        }
        assert_eq!(
            problems(with(json!({"source_table": "shop.public.orders"}))),
            ["source_table: `shop.public.orders`: expected `table` or `schema.table`"]
        );
        assert_eq!(
            problems(with(json!({"source_table": ".orders"}))),
            ["source_table: `.orders`: expected `table` or `schema.table`"]
        );
        assert_eq!(problems(with(json!({"source_table": ""}))).len(), 1);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let spec = TypedJobSpec::<MergeConfig>::new("iceberg_merge");
        let errors = spec
            .check(&json!({
                "source": "cdc", "target": "cdc", "key": [],
                "columns": {"total": "money"}, "source_table": "a.b.c",
            }))
            .unwrap_err();
        let paths: Vec<String> = errors.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(
            paths,
            ["source", "target", "key", "columns.total", "source_table"]
        );
    }

    #[test]
    fn templated_values_are_left_for_the_rendered_check() {
        let fields = json!({
            "source": "bronze.{{ params.domain }}_cdc",
            "target": "{{ params.silver }}",
            "key": ["{{ params.key }}", "{{ params.key }}"],
            "columns": {"total": "{{ params.money_type }}"},
            "include": ["{{ params.key }}"],
            "exclude": ["{{ params.key }}"],
            "source_table": "{{ params.table }}",
        });
        assert_eq!(problems(fields), Vec::<String>::new());
        // Once rendered, the same check applies.
        let rendered = json!({
            "source": "bronze.shop_cdc", "target": "bronze.shop_cdc", "key": ["id", "id"],
            "columns": {"total": "money"}, "source_table": "orders",
        });
        assert_eq!(problems(rendered).len(), 3);
    }
}
