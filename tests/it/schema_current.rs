//! The checked-in JSON Schema must match what the types generate (CI fails when it is stale).

use crate::support::TestProject;

#[test]
fn checked_in_schema_is_current() {
    let project = TestProject::new();
    let run = project.run(&["schema"]);
    run.ok();
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/dag.schema.json"
    ))
    .expect("schema/dag.schema.json is checked in");
    assert!(
        run.stdout == checked_in,
        "schema/dag.schema.json is stale: run `cargo run -- schema -o schema/dag.schema.json` and commit it"
    );
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema is JSON");
    let props = &schema["properties"];
    for key in [
        "dag", "schedule", "timezone", "steps", "defaults", "params", "catchup",
    ] {
        assert!(props.get(key).is_some(), "schema lacks top-level `{key}`");
    }
}

#[test]
fn checked_in_project_schema_is_current() {
    let project = TestProject::new();
    let run = project.run(&["schema", "--project"]);
    run.ok();
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/project.schema.json"
    ))
    .expect("schema/project.schema.json is checked in");
    assert!(
        run.stdout == checked_in,
        "schema/project.schema.json is stale: run `cargo run -- schema --project -o schema/project.schema.json` and commit it"
    );
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema is JSON");
    let local = &schema["$defs"]["local_target"]["properties"];
    for key in ["kind", "kafka", "iceberg"] {
        assert!(local.get(key).is_some(), "local targets lack `{key}`");
    }
    let aws = &schema["$defs"]["aws_target"]["properties"];
    for key in ["kind", "region", "endpoint_url", "athena", "databases"] {
        assert!(aws.get(key).is_some(), "aws targets lack `{key}`");
    }
}
