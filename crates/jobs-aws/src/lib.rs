//! flowctl's AWS job plugins, for steps' `aws:` variants:
//!
//! - `glue_job`: runs a Glue job (creating or updating its definition first when the step
//!   gives one) and waits for the run;
//! - `athena_query`: runs a query (inline or a templated `file:`) and optionally checks its
//!   result;
//! - `s3_wait`: waits for a key, or any key under a prefix;
//! - `s3_upload`: uploads local files with their MD5.
//!
//! Remote runs are durable: their id is stored in the task's handles before waiting, so a
//! retry or a restarted scheduler reconnects to the run instead of starting a second one, and
//! a timeout or cancel stops the remote run. Where the jobs run comes from the target's
//! settings ([`AwsSettings`]); credentials from the SDK's standard chain.

#![warn(missing_docs)]

pub mod athena;
mod error;
pub mod glue;
pub mod s3;
pub mod settings;
pub mod step;
#[cfg(test)]
mod testing;
mod wait;

use std::sync::Arc;

use flowctl_engine::job::{JobPlugin, JobRegistry};

pub use aws_config;
pub use aws_sdk_athena;
pub use aws_sdk_glue;
pub use aws_sdk_s3;
pub use settings::{AthenaSettings, AwsClients, AwsSettings, Databases};

/// Every AWS job type, ready to register.
pub fn plugins() -> Vec<Arc<dyn JobPlugin>> {
    vec![
        Arc::new(glue::GlueJob::new()),
        Arc::new(athena::AthenaQuery::new()),
        Arc::new(s3::S3Wait::new()),
        Arc::new(s3::S3Upload::new()),
    ]
}

/// Adds every AWS job type to `registry`.
pub fn register(registry: &mut JobRegistry) {
    for plugin in plugins() {
        registry.register(plugin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_the_four_job_types() {
        let mut registry = JobRegistry::new();
        register(&mut registry);
        assert_eq!(
            registry.catalog().names().collect::<Vec<_>>(),
            ["athena_query", "glue_job", "s3_upload", "s3_wait"]
        );
    }

    /// Every field of every config struct carries a description in the JSON Schema (what
    /// `flowctl schema` shows DAG authors).
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
        let schemas = [
            ("glue_job", schemars::schema_for!(glue::GlueJobConfig)),
            (
                "athena_query",
                schemars::schema_for!(athena::AthenaQueryConfig),
            ),
            ("s3_wait", schemars::schema_for!(s3::S3WaitConfig)),
            ("s3_upload", schemars::schema_for!(s3::S3UploadConfig)),
        ];
        for (name, schema) in schemas {
            let value = serde_json::to_value(schema).unwrap();
            undocumented(&value, name, &mut missing);
        }
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
    }

    /// The specs check fields offline as `flowctl validate` does: unknown keys and the rules
    /// across fields are reported.
    #[test]
    fn specs_reject_bad_steps_offline() {
        let catalog = {
            let mut registry = JobRegistry::new();
            register(&mut registry);
            registry.catalog()
        };
        let check = |ty: &str, v: serde_json::Value| catalog.get(ty).unwrap().check(&v);
        let err = check(
            "glue_job",
            serde_json::json!({"job_name": "j", "argumnets": {}}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("unknown field `argumnets`"),
            "{}",
            err.message
        );
        let err = check("athena_query", serde_json::json!({"sql": "x", "file": "y"})).unwrap_err();
        assert!(err.message.contains("not both"), "{}", err.message);
        let err = check("s3_wait", serde_json::json!({"bucket": "b"})).unwrap_err();
        assert!(err.message.contains("give `key`"), "{}", err.message);
        assert!(check("s3_upload", serde_json::json!({"files": ["a.py"]})).is_ok());
        assert!(check("glue_job", serde_json::json!({"job_name": "cdc-bronze", "arguments": {"--topic": "{{ params.topic }}"}})).is_ok());
    }
}
