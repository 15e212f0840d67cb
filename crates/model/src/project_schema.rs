//! The JSON Schema (2020-12) of the project file, `flowctl.yaml`, for editors and
//! `flowctl schema --project`.
//!
//! The top-level keys come from the types below (mirrors of what [`crate::project`]
//! accepts); a target's keys come from the setting sections the binary registered
//! ([`SectionCatalog`]): one branch per target kind, holding `kind` and the sections of that
//! kind, so a typo in a target is flagged by the editor as it is by `flowctl validate`.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, json_schema};
use serde_json::{Map, Value};

use crate::target::{SectionCatalog, SectionPlace, TargetKind};

/// The project file.
#[allow(dead_code)] // Only its schema is used.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ProjectFile {
    /// State store URL: `postgres://...` or `sqlite:...`. Default: SQLite at
    /// `.flowctl/state.db`. `FLOWCTL_STATE` overrides it.
    state: Option<String>,
    /// Directories (or files) holding DAGs, relative to the project directory. Default:
    /// `dags`.
    dags: Option<Dags>,
    /// The target used when none is selected (`--target`, `FLOWCTL_TARGET`, an
    /// environment). Default: `local`.
    default_target: Option<String>,
    /// Upper bound on steps running at once across a run.
    #[schemars(range(min = 1))]
    max_active_tasks: Option<u32>,
    /// Named concurrency limits: pool name -> slots. A step with `pool: NAME` waits for one.
    pools: Option<BTreeMap<String, u32>>,
    /// Targets by name: where and how steps run. `local` and `aws` exist even when not
    /// declared; a target named after a kind may omit `kind`.
    targets: Option<BTreeMap<String, Value>>,
    /// Environments (dev, staging, prod): the target each runs on and, optionally, its state
    /// store. `FLOWCTL_ENV` selects one.
    environments: Option<BTreeMap<String, Environment>>,
}

/// One directory, or a list of them.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum Dags {
    One(String),
    Many(Vec<String>),
}

/// An environment.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Environment {
    /// The target it runs on.
    target: String,
    /// Its state store URL (overrides the top-level `state`).
    state: Option<String>,
}

/// The JSON Schema of the project file with the target settings of every section in
/// `sections`. Deterministic: the same sections give byte-identical output.
pub fn project_json_schema(sections: &SectionCatalog) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut root = generator.root_schema_for::<ProjectFile>().to_value();
    let mut defs = match root.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };

    // One target shape per kind: `kind` plus the keys of that kind's sections.
    let mut shapes = BTreeMap::new();
    for kind in TargetKind::ALL {
        let mut properties = Map::new();
        for section in sections.sections() {
            if !section.kinds().contains(&kind) {
                continue;
            }
            let mut schema = section.schema(&mut generator).to_value();
            if let Some(object) = schema.as_object_mut() {
                for key in ["$schema", "title", "$defs"] {
                    object.remove(key);
                }
            }
            match section.place() {
                SectionPlace::Block(key) => {
                    properties.insert(key.to_string(), schema);
                }
                SectionPlace::TopLevel => {
                    if let Some(Value::Object(fields)) = schema.get("properties") {
                        properties.extend(fields.clone());
                    }
                }
            }
        }
        shapes.insert(kind, properties);
    }
    defs.extend(generator.take_definitions(true));
    let shape = |kind: TargetKind, kind_required: bool| {
        let mut properties = shapes.get(&kind).cloned().unwrap_or_default();
        properties.insert(
            "kind".into(),
            json_schema!({
                "description": "Which step variant this target runs (`local:` or `aws:`).",
                "const": kind.as_str(),
            })
            .to_value(),
        );
        let mut object = json_schema!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
        .to_value();
        if kind_required && let Some(object) = object.as_object_mut() {
            object.insert("required".into(), serde_json::json!(["kind"]));
        }
        object
    };
    for kind in TargetKind::ALL {
        defs.insert(format!("{}_target", kind.as_str()), shape(kind, true));
    }
    let any_target: Vec<Value> = TargetKind::ALL
        .iter()
        .map(|k| serde_json::json!({"$ref": format!("#/$defs/{}_target", k.as_str())}))
        .collect();
    // A target named after a kind defaults to that kind.
    let mut named = Map::new();
    for kind in TargetKind::ALL {
        let mut branches = vec![shape(kind, false)];
        branches.extend(
            TargetKind::ALL
                .iter()
                .filter(|k| **k != kind)
                .map(|k| serde_json::json!({"$ref": format!("#/$defs/{}_target", k.as_str())})),
        );
        named.insert(
            kind.as_str().to_string(),
            serde_json::json!({"anyOf": [{"type": "null"}, {"oneOf": branches}]}),
        );
    }
    if let Some(targets) = root
        .get_mut("properties")
        .and_then(|p| p.get_mut("targets"))
        .and_then(Value::as_object_mut)
    {
        let description = targets.get("description").cloned();
        targets.clear();
        if let Some(description) = description {
            targets.insert("description".into(), description);
        }
        targets.insert("type".into(), "object".into());
        targets.insert("properties".into(), Value::Object(named));
        targets.insert(
            "additionalProperties".into(),
            serde_json::json!({"oneOf": any_target}),
        );
    }
    if let Some(object) = root.as_object_mut() {
        object.insert("title".into(), "flowctl project file (flowctl.yaml)".into());
        object.insert("$defs".into(), Value::Object(defs));
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetSection;

    #[allow(dead_code)]
    #[derive(Default, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Broker {
        /// Where the brokers are.
        bootstrap: Option<String>,
    }

    impl TargetSection for Broker {
        const PLACE: SectionPlace = SectionPlace::Block("broker");
        const KINDS: &'static [TargetKind] = &[TargetKind::Local];
    }

    #[allow(dead_code)]
    #[derive(Default, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Cloud {
        /// The region.
        region: Option<String>,
    }

    impl TargetSection for Cloud {
        const PLACE: SectionPlace = SectionPlace::TopLevel;
        const KINDS: &'static [TargetKind] = &[TargetKind::Aws];
    }

    #[test]
    fn targets_get_the_keys_of_their_kind_sections() {
        let mut sections = SectionCatalog::new();
        sections.add::<Broker>().add::<Cloud>();
        let schema = project_json_schema(&sections);
        let local = &schema["$defs"]["local_target"]["properties"];
        assert!(local.get("broker").is_some(), "{schema:#}");
        assert!(local.get("region").is_none());
        let aws = &schema["$defs"]["aws_target"]["properties"];
        assert_eq!(aws["region"]["description"], "The region.");
        assert_eq!(aws["kind"]["const"], "aws");
        for key in ["state", "dags", "targets", "environments", "pools"] {
            assert!(schema["properties"].get(key).is_some(), "no `{key}`");
        }
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            serde_json::to_string(&project_json_schema(&sections)).unwrap(),
            "deterministic"
        );
    }
}
