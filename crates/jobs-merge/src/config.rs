//! The `iceberg_merge` step's fields.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// How silver keeps the rows of a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// One row per live key: the latest change wins, deletes remove the row.
    #[default]
    Current,
    /// Slowly changing dimension type 2: every change opens a version (`effective_from`,
    /// `effective_to`, `is_current`); updates and deletes close the current one.
    Scd2,
}

/// Fields of an `iceberg_merge` step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// The bronze table (`namespace.table`) holding raw Debezium change events.
    pub source: String,
    /// The silver table to maintain (`namespace.table`); created on the first run.
    pub target: String,
    /// Primary-key column(s) of the source table.
    pub key: Vec<String>,
    /// `current` (one row per live key, the default) or `scd2` (history with validity intervals).
    #[serde(default)]
    pub mode: MergeMode,
    /// Only merge events whose `source_table` is this (bronze may hold several source tables).
    /// Either `table` or `schema.table`.
    #[serde(default)]
    pub source_table: Option<String>,
    /// Column types (`decimal(12,2)`, `timestamptz`, `bigint`, ...) by column name: used when the
    /// events carry no schema, and overriding the schema's type when they do.
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Keep only these columns of the source rows (the key columns are always kept).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Leave these columns of the source rows out of silver.
    #[serde(default)]
    pub exclude: Vec<String>,
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
    use serde_json::json;

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
}
