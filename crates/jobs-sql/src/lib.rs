//! flowctl's SQL job plugins over the Iceberg lakehouse, with DataFusion:
//!
//! - [`sql_job`] (`type: sql`): a query (inline or a templated file) whose result replaces or
//!   is appended to a target table — how gold tables are made;
//! - [`quality`] (`type: quality`): checks on a table, results in a results table;
//! - [`privacy`]: the `pseudonymize(value)` SQL function and the `pseudonymize:` option, with the
//!   salt from an environment variable or a file, never the DAG file;
//! - [`query`] / [`format_batches`]: the query API behind `flowctl sql`.
//!
//! Every namespace of the catalog is a SQL schema: `SELECT * FROM silver.orders_current`.
//!
//! Both job types follow the engine's typed contract: a config struct implementing
//! `JobConfig` (every mistake knowable offline reported at its field, inline queries parsed
//! with DataFusion's own parser) and a `Job` run with the checked fields. They read the
//! target's `iceberg:` block as the typed section `flowctl_lakehouse::IcebergTarget`.
//! Lakehouse errors are retryable exactly when `LakehouseError::is_retryable` says so.

#![warn(missing_docs)]

mod error;
pub mod privacy;
pub mod quality;
mod query;
mod session;
pub mod sql_job;
mod sql_text;
mod write;

use flowctl_engine::job::JobRegistry;

/// The Arrow crate the results are made of (DataFusion's), re-exported for callers.
pub use datafusion::arrow;
pub use error::SqlError;
pub use query::{Format, format_batches, query};
pub use session::{lakehouse_session, run_sql};
pub use write::{WriteMode, write_result};

/// Adds the `sql` and `quality` job types to `registry`, and the target settings they read
/// (the `iceberg:` block, [`flowctl_lakehouse::IcebergTarget`]).
pub fn register(registry: &mut JobRegistry) {
    registry
        .add(sql_job::SqlJob)
        .add(quality::QualityJob)
        .add_target_section::<flowctl_lakehouse::IcebergTarget>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_both_job_types() {
        let mut registry = JobRegistry::new();
        register(&mut registry);
        assert_eq!(
            registry.catalog().names().collect::<Vec<_>>(),
            ["quality", "sql"]
        );
        let keys: Vec<String> = registry
            .target_sections()
            .keys_for(flowctl_engine::job::TargetKind::Local)
            .into_keys()
            .collect();
        assert_eq!(keys, ["iceberg"]);
        let sql = registry.telemetry("sql");
        let outputs: Vec<&str> = sql.outputs.iter().map(|o| o.name).collect();
        assert_eq!(outputs, ["rows", "target", "snapshot_id"]);
        assert!(!sql.reports_checks && sql.table_field.is_none() && sql.counters.is_empty());
        let quality = registry.telemetry("quality");
        let outputs: Vec<&str> = quality.outputs.iter().map(|o| o.name).collect();
        assert_eq!(outputs, ["passed", "failed", "warned"]);
        assert!(quality.reports_checks);
        assert!(quality.table_field.is_none() && quality.counters.is_empty());
        assert!(
            sql.outputs
                .iter()
                .chain(quality.outputs)
                .all(|o| !o.description.is_empty())
        );
    }

    /// Every field of every config struct carries a description in the JSON Schema (the
    /// doc comments are what `flowctl schema` shows DAG authors).
    #[test]
    fn schemas_document_every_field() {
        fn undocumented(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (name, prop) in props {
                    let described = prop
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_some_and(|d| !d.is_empty());
                    if !described {
                        out.push(format!("{path}.{name}"));
                    }
                }
            }
            if let Some(defs) = schema.get("$defs").and_then(|d| d.as_object()) {
                for (name, def) in defs {
                    undocumented(def, name, out);
                }
            }
        }
        let mut missing = Vec::new();
        let sql = serde_json::to_value(schemars::schema_for!(sql_job::SqlConfig)).unwrap();
        undocumented(&sql, "sql", &mut missing);
        let quality = serde_json::to_value(schemars::schema_for!(quality::QualityConfig)).unwrap();
        undocumented(&quality, "quality", &mut missing);
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
        let check_fields = quality["$defs"]["Check"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        for kind in [
            "not_null",
            "unique",
            "accepted_values",
            "range",
            "row_count",
            "freshness",
            "sql",
        ] {
            assert!(check_fields.iter().any(|f| f == kind), "{kind}");
        }
    }
}
