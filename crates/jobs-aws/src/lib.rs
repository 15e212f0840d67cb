//! flowctl's AWS job plugins, for steps' `aws:` variants:
//!
//! - `glue_job`: runs a Glue job (creating or updating its definition first when the step
//!   gives one) and waits for the run;
//! - `athena_query`: runs a query (inline or a templated `file:`) and optionally checks its
//!   result;
//! - `s3_wait`: waits for a key, or any key under a prefix;
//! - `s3_upload`: uploads local files with their MD5.
//!
//! Each job type is a config struct implementing `JobConfig` (its fields, their JSON Schema,
//! and a pure check reporting every mistake at its field, run by `flowctl validate` and again
//! before every attempt) and a unit struct implementing `Job` ([`GlueJob`], [`AthenaQuery`],
//! [`S3Wait`], [`S3Upload`]). Remote runs are durable: their id is stored in the task's
//! handles before waiting, so a retry or a restarted scheduler reconnects to the run instead
//! of starting a second one, and a timeout or cancel stops the remote run. Where the jobs run
//! comes from the target's settings ([`AwsSettings`], a top-level target section);
//! credentials from the SDK's standard chain.
//!
//! [`drift`] compares what the DAGs' `aws:` variants declare (Glue jobs and scripts, Athena
//! workgroups, Glue databases and tables) with what is live, for `flowctl drift`.

#![warn(missing_docs)]

pub mod athena;
pub mod drift;
mod error;
mod fields;
pub mod glue;
pub mod s3;
pub mod settings;
#[cfg(test)]
mod testing;
mod wait;

use flowctl_engine::job::JobRegistry;

pub use athena::AthenaQuery;
pub use glue::GlueJob;
pub use s3::{S3Upload, S3Wait};

pub use aws_config;
pub use aws_sdk_athena;
pub use aws_sdk_glue;
pub use aws_sdk_s3;
pub use settings::{AthenaSettings, AwsClients, AwsSettings, Databases};

/// Adds every AWS job type to `registry`, and the aws target's settings ([`AwsSettings`]).
pub fn register(registry: &mut JobRegistry) {
    registry
        .add(GlueJob)
        .add(AthenaQuery)
        .add(S3Wait)
        .add(S3Upload)
        .add_target_section::<AwsSettings>();
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
            ("aws target", schemars::schema_for!(AwsSettings)),
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
    /// are reported, each at its field.
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
            err[0].message.contains("unknown field `argumnets`"),
            "{err:?}"
        );
        let err = check("athena_query", serde_json::json!({"sql": "x", "file": "y"})).unwrap_err();
        assert!(err[0].message.contains("not both"), "{err:?}");
        let err = check("s3_wait", serde_json::json!({"bucket": "b"})).unwrap_err();
        assert!(err[0].message.contains("give `key`"), "{err:?}");
        assert!(check("s3_upload", serde_json::json!({"files": ["a.py"]})).is_ok());
        assert!(check("glue_job", serde_json::json!({"job_name": "cdc-bronze", "arguments": {"--topic": "{{ params.topic }}"}})).is_ok());
        let files = catalog
            .get("athena_query")
            .unwrap()
            .template_files(&serde_json::json!({"file": "jobs/sql/gold.sql"}));
        assert_eq!(files[0].path, "jobs/sql/gold.sql");
    }

    /// The aws settings are a registered top-level section of aws targets.
    #[test]
    fn registers_the_aws_settings_at_the_top_level_of_aws_targets() {
        use flowctl_model::target::TargetKind;
        let mut registry = JobRegistry::new();
        register(&mut registry);
        let keys: Vec<String> = registry
            .target_sections()
            .keys_for(TargetKind::Aws)
            .into_keys()
            .collect();
        assert_eq!(
            keys,
            [
                "athena",
                "databases",
                "endpoint_url",
                "region",
                "scripts_bucket",
                "scripts_prefix"
            ]
        );
        assert!(
            registry
                .target_sections()
                .keys_for(TargetKind::Local)
                .is_empty()
        );
    }

    /// Every job type documents the outputs it sets.
    #[test]
    fn telemetry_documents_the_outputs() {
        use flowctl_engine::job::Job;
        let outputs = |t: flowctl_engine::job::Telemetry| -> Vec<&str> {
            t.outputs.iter().map(|o| o.name).collect()
        };
        assert_eq!(
            outputs(GlueJob.telemetry()),
            ["run_id", "state", "execution_time", "dpu_seconds"]
        );
        assert_eq!(
            outputs(AthenaQuery.telemetry()),
            [
                "query_execution_id",
                "data_scanned_bytes",
                "rows",
                "update_count"
            ]
        );
        assert_eq!(outputs(S3Wait.telemetry()), ["key", "matched"]);
        assert_eq!(outputs(S3Upload.telemetry()), ["uploaded", "unchanged"]);
        assert!(GlueJob.telemetry().table_field.is_none());
    }

    /// A step whose rendered fields break a rule fails before the job touches AWS, with
    /// every problem; so does a target whose settings break one.
    #[tokio::test]
    async fn refused_fields_and_settings_fail_before_any_call() {
        use flowctl_engine::job::{JobContext, TargetKind};
        use serde_json::json;
        let mut registry = JobRegistry::new();
        register(&mut registry);
        let (ctx, _log) = JobContext::for_test(std::env::temp_dir());
        let ctx = ctx.on_target(TargetKind::Aws, json!({}));
        let glue = registry.get("glue_job").unwrap();
        let err = glue
            .run(
                json!({"job_name": "j", "arguments": {"topic": "x"}, "poll_interval": "0s"}),
                ctx.clone(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "invalid `glue_job` step: `arguments.topic`: argument `topic` must be named \
             `--topic` (Glue arguments start with `--`); `poll_interval`: must be more than 0, \
             found `0s`"
        );
        assert!(!err.retryable);
        let bad = ctx.on_target(TargetKind::Aws, json!({"endpoint_url": "localhost:5000"}));
        let err = registry
            .get("s3_wait")
            .unwrap()
            .run(json!({"bucket": "b", "key": "k"}), bad)
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "target `aws` in flowctl.yaml: `endpoint_url`: must be an http:// or https:// URL, \
             found `localhost:5000`"
        );
        assert!(!err.retryable);
    }
}
