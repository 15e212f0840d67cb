//! The plugin conformance test: every job type the binary registers keeps the job contract.
//!
//! For each registered type:
//! - its fields are documented: every field of its JSON Schema has a description (the doc
//!   comments of its config struct, shown by editors and `flowctl schema`);
//! - a bad config is refused offline: an unknown field, and a field of the wrong type, are
//!   reported by the type's pure check, at that field;
//! - its example config (below) passes that check, and an attempt with it stops promptly once
//!   cancelled, whatever it was doing (a process, a broker, a catalog, an AWS call): the
//!   engine relies on that for timeouts and `flowctl cancel`.
//!
//! A new job type fails this test until it has an example in [`example`].

use std::time::Duration;

use flowctl_engine::job::{JobContext, JobPlugin, TargetKind};
use serde_json::{Value, json};

/// A config of `job_type` that passes its offline check, and the target kind it runs on.
fn example(job_type: &str) -> Option<(Value, TargetKind)> {
    let local = TargetKind::Local;
    let aws = TargetKind::Aws;
    Some(match job_type {
        "shell" => (json!({"command": "sleep 30"}), local),
        "noop" => (json!({}), local),
        "kafka_produce" => (
            json!({"topic": "conformance", "file": "events.jsonl"}),
            local,
        ),
        "kafka_to_iceberg" => (
            json!({"topics": ["conformance"], "table": "bronze.conformance"}),
            local,
        ),
        "iceberg_merge" => (
            json!({"source": "bronze.conformance", "target": "silver.conformance", "key": ["id"]}),
            local,
        ),
        "sql" => (
            json!({"sql": "SELECT 1 AS x", "target": "gold.conformance"}),
            local,
        ),
        "quality" => (
            json!({"table": "gold.conformance", "checks": [{"not_null": "x"}]}),
            local,
        ),
        "glue_job" => (json!({"job_name": "conformance"}), aws),
        "athena_query" => (json!({"sql": "SELECT 1"}), aws),
        "s3_wait" => (json!({"bucket": "conformance", "key": "in/ready"}), aws),
        "s3_upload" => (
            json!({"files": ["events.jsonl"], "bucket": "conformance"}),
            aws,
        ),
        _ => return None,
    })
}

/// Settings of the targets the attempts run on: nothing reachable outside this machine (the
/// AWS endpoint is a closed local port, the broker is the embedded one).
fn target_settings(kind: TargetKind) -> Value {
    match kind {
        TargetKind::Local => json!({}),
        TargetKind::Aws => json!({
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:9",
            "scripts_bucket": "conformance",
        }),
    }
}

/// Every property of `schema` (and of its definitions) lacking a description.
fn undocumented(schema: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if prop.get("description").is_none() {
                out.push(format!("{at}.{name}"));
            }
        }
    }
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            undocumented(def, &format!("{at}/$defs/{name}"), out);
        }
    }
}

#[test]
fn every_job_type_documents_its_fields_and_refuses_bad_configs_offline() {
    let registry = crate::plugins::registry();
    let names: Vec<String> = registry.names().map(str::to_owned).collect();
    assert!(names.len() >= 11, "registered: {names:?}");
    let mut problems = Vec::new();
    for name in &names {
        let spec = registry.get(name).expect("registered").spec();
        let Some((config, _)) = example(name) else {
            problems.push(format!(
                "`{name}` has no example in tests/it/plugin_conformance.rs"
            ));
            continue;
        };
        if let Err(errors) = spec.check(&config) {
            problems.push(format!("`{name}`: its example is refused: {errors:?}"));
        }

        let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut schema = spec.schema(&mut generator).to_value();
        if let Some(object) = schema.as_object_mut() {
            object.insert(
                "$defs".into(),
                Value::Object(generator.take_definitions(true)),
            );
        }
        let mut missing = Vec::new();
        undocumented(&schema, name, &mut missing);
        if !missing.is_empty() {
            problems.push(format!("`{name}`: undocumented fields {missing:?}"));
        }

        let mut with_unknown = config.clone();
        with_unknown["conformance_unknown"] = json!(1);
        match spec.check(&with_unknown) {
            Err(errors)
                if errors
                    .iter()
                    .any(|e| e.message.contains("conformance_unknown")) => {}
            other => problems.push(format!(
                "`{name}`: an unknown field is not reported: {other:?}"
            )),
        }
        // A field given the wrong type (a map where a scalar or list is due, text where a map
        // is due) is reported at that field.
        if let Some(object) = config.as_object()
            && let Some((field, value)) = object.iter().next()
        {
            let wrong = if value.is_object() {
                json!("not a map")
            } else {
                json!({"not": "a scalar"})
            };
            let mut bad = config.clone();
            bad[field] = wrong;
            match spec.check(&bad) {
                Err(errors) if errors.iter().any(|e| e.path.first() == Some(field)) => {}
                other => problems.push(format!(
                    "`{name}`: a wrong type for `{field}` is not reported at it: {other:?}"
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_type_stops_promptly_when_cancelled() {
    // The AWS SDK needs credentials before it sends anything (to a closed local port here);
    // never look for them on the instance metadata service.
    for (key, value) in [
        ("AWS_ACCESS_KEY_ID", "conformance"),
        ("AWS_SECRET_ACCESS_KEY", "conformance"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        // SAFETY: set before any AWS client exists in this process, to constant values.
        unsafe { std::env::set_var(key, value) };
    }
    let registry = crate::plugins::registry();
    let mut slow = Vec::new();
    for name in registry.names() {
        let Some((config, kind)) = example(name) else {
            continue; // reported by the offline test
        };
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("events.jsonl"),
            "{\"key\": \"1\", \"value\": {\"id\": 1}}\n",
        )
        .expect("write events");
        let (mut ctx, _log) = JobContext::for_test(dir.path());
        ctx = ctx.on_target(kind, target_settings(kind));
        ctx.task_id = format!("conformance_{name}");
        let cancel = ctx.cancel.clone();
        let plugin: std::sync::Arc<dyn JobPlugin> = registry.get(name).expect("registered").clone();
        let attempt = tokio::spawn(async move { plugin.run(config, ctx).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
        // Generous: this checks that cancellation is honoured at all, not how fast.
        match tokio::time::timeout(Duration::from_secs(30), attempt).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(err))) => assert!(
                !err.message.starts_with("invalid"),
                "`{name}`: its example config was refused at run time: {}",
                err.message
            ),
            Ok(Err(panic)) => panic!("`{name}` panicked: {panic}"),
            Err(_) => slow.push(name.to_owned()),
        }
    }
    assert!(
        slow.is_empty(),
        "job types still running 30 s after cancel: {slow:?}"
    );
}
