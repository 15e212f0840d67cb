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

/// What an editor does with `schema/project.schema.json` (a JSON Schema 2020-12 validator):
/// the shipped `flowctl.yaml` passes, and a misspelt target setting is flagged.
#[test]
fn the_project_schema_accepts_the_shipped_project_file_and_flags_typos() {
    const SCRIPT: &str = r#"
import json, sys
try:
    import jsonschema, yaml
except ImportError as e:
    print(json.dumps({"missing": str(e)})); sys.exit(0)
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
shipped = yaml.safe_load(open(sys.argv[2]))
typo = {"targets": {"prod": {"kind": "aws", "regoin": "eu-west-1"},
                    "ci": {"kind": "local", "kafka": {"bootstrapp": "broker:9092"}}}}
print(json.dumps({
    "shipped": [e.message for e in validator.iter_errors(shipped)],
    "typo": len(list(validator.iter_errors(typo))),
}))
"#;
    let root = env!("CARGO_MANIFEST_DIR");
    let python = flowctl_testkit::python();
    let output = std::process::Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(format!("{root}/schema/project.schema.json"))
        .arg(format!("{root}/flowctl.yaml"))
        .output();
    let hint = "install with `~/.cache/flowctl-ci-venv/bin/pip install jsonschema PyYAML` \
                (or point FLOWCTL_PYTHON at an interpreter that has them)";
    let output = match output {
        Ok(output) if output.status.success() => output,
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is required in CI: {other:?}; {hint}",
                python.display()
            );
            eprintln!(
                "skipping: {} cannot run ({other:?}); {hint}",
                python.display()
            );
            return;
        }
    };
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    if let Some(missing) = result.get("missing") {
        assert!(std::env::var_os("CI").is_none(), "{missing} in CI; {hint}");
        eprintln!("skipping: {missing}; {hint}");
        return;
    }
    assert_eq!(result["shipped"], serde_json::json!([]), "{result}");
    assert_eq!(result["typo"], 2, "{result}");
}
