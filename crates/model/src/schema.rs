//! The JSON Schema (2020-12) of DAG files, for editors and `flowctl schema`.
//!
//! The file's shape comes from the serde/schemars types below (mirrors of what
//! [`load`](crate::load) accepts); each job type contributes its own fields' schema from its
//! config struct. A step (or a `local:`/`aws:` variant) carries its job's fields beside
//! `type`, so each type's fields are added as `if type == X then X's fields`, and
//! `unevaluatedProperties: false` rejects any key that neither the step nor its type knows.

use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, json_schema};
use serde_json::{Map, Value};

use crate::catalog::JobTypeCatalog;
use crate::dag::{Backoff, TriggerRule};

/// A duration such as `30s`, `5m`, `1h30m`, `2d`, `500ms`.
const DURATION_PATTERN: &str = r"^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$";

/// A DAG file.
#[allow(dead_code)] // Only its schema is used.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct DagFile {
    /// The DAG id: letters, digits, `_`, `.` and `-`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    dag: String,
    /// Free text shown in `flowctl dags`.
    description: Option<String>,
    /// A 5-field cron expression (6 with seconds first), or `@hourly`, `@daily`, `@weekly`,
    /// `@monthly`, `@yearly`. Absent: manual runs only.
    schedule: Option<String>,
    /// IANA time zone the schedule and offset-less dates are read in. Default: UTC.
    timezone: Option<String>,
    /// First data interval (`2026-01-01`, `2026-01-01T06:00:00`, or RFC 3339).
    start_date: Option<String>,
    /// No run starts after this date.
    end_date: Option<String>,
    /// Create a run for every interval missed since `start_date` (default: only the latest).
    catchup: Option<bool>,
    /// Runs of this DAG active at once. Default: 1.
    #[schemars(range(min = 1))]
    max_active_runs: Option<u32>,
    /// Steps of one run running at once.
    #[schemars(range(min = 1))]
    max_active_tasks: Option<u32>,
    /// Parameter defaults, available to templates as `params.<name>`; `--param k=v` overrides.
    params: Option<Map<String, Value>>,
    /// Step settings applied to every step (a step's own settings win).
    defaults: Option<StepSettings>,
    /// Webhooks called when a run ends failed.
    on_failure: Option<NotifyList>,
    /// Webhooks called when a try of any step fails and will be retried.
    on_retry: Option<NotifyList>,
    /// Webhooks called when a run succeeds.
    on_success: Option<NotifyList>,
    /// The steps, by id (letters, digits, `_`, `.` and `-`).
    #[schemars(extend("minProperties" = 1, "propertyNames" = {"pattern": "^[A-Za-z0-9_.-]+$"}))]
    steps: IndexMap<String, StepKeys>,
}

/// Settings of a step (also allowed in `defaults`).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct StepSettings {
    /// Extra tries after the first. Default: 0.
    retries: Option<u32>,
    /// Delay before a retry. Default: 30s.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    retry_delay: Option<String>,
    /// How the delay grows between retries. Default: constant.
    retry_backoff: Option<Backoff>,
    /// Upper bound on the delay between retries.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    max_retry_delay: Option<String>,
    /// How long one try may run before it is stopped.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    timeout: Option<String>,
    /// When the step runs, given how its upstream steps ended. Default: all_success.
    trigger_rule: Option<TriggerRule>,
    /// Named concurrency pool (sizes come from the project file).
    pool: Option<String>,
    /// Webhooks called when the step ends failed (after its last try). Null or `[]`: none.
    on_failure: Option<NotifyList>,
    /// Webhooks called on each failed try that will be retried.
    on_retry: Option<NotifyList>,
    /// Webhooks called when the step succeeds.
    on_success: Option<NotifyList>,
}

/// One notification, or a list of them.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum NotifyList {
    One(Webhook),
    Many(Vec<Webhook>),
}

/// A header's value, or the environment variable holding it.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum HeaderValue {
    Plain(String),
    FromEnv(EnvRef),
}

/// `{ env: VAR }`: read from this environment variable when the notification is sent.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct EnvRef {
    /// The environment variable's name.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    env: String,
}

/// A webhook: a JSON POST, retried with exponential backoff; a failed delivery is logged and
/// never fails the run. Exactly one of `webhook` and `webhook_env`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["webhook"]}, {"required": ["webhook_env"]}]))]
struct Webhook {
    /// The URL (`http://` or `https://`; not templated).
    #[schemars(regex(pattern = r"^https?://[^/?#\s]+"))]
    webhook: Option<String>,
    /// An environment variable holding the URL, read when the notification is sent (keeps
    /// secret URLs such as Slack's out of DAG files).
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    webhook_env: Option<String>,
    /// A minijinja template of the JSON body (run context plus `event`, `step`, `state`,
    /// `error`, `try_number`). A body that does not render to JSON is sent as
    /// `{"text": <rendered>}`. Default: a Slack-compatible `{"text": "..."}` summary.
    body: Option<String>,
    /// Extra request headers: a value, or `{ env: VAR }` to read it from the environment
    /// when sending (for secrets such as `Authorization`).
    headers: Option<IndexMap<String, HeaderValue>>,
    /// Extra delivery attempts after the first. Default: 3.
    retries: Option<u32>,
    /// How long one delivery attempt may take. Default: 10s.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    timeout: Option<String>,
}

/// A step's own keys; its job type's fields sit beside them.
#[allow(dead_code)]
#[derive(JsonSchema)]
struct StepKeys {
    #[serde(flatten)]
    settings: StepSettings,
    /// Steps that must end before this one starts.
    depends_on: Option<DependsOn>,
    /// Free text.
    description: Option<String>,
    /// The job type, run the same on every target. Its fields go beside it.
    #[serde(rename = "type")]
    job_type: Option<String>,
    /// The job run on `local` targets.
    local: Option<Variant>,
    /// The job run on `aws` targets.
    aws: Option<Variant>,
}

/// One step id, or a list of them.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum DependsOn {
    One(String),
    Many(Vec<String>),
}

/// A per-target job: `type` and that type's fields.
#[allow(dead_code)]
#[derive(JsonSchema)]
struct Variant {
    /// The job type.
    #[serde(rename = "type")]
    job_type: String,
}

/// The JSON Schema of a DAG file, with the fields of every job type in `catalog`.
/// Deterministic: the same catalog gives byte-identical output.
pub fn dag_json_schema(catalog: &JobTypeCatalog) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut root = generator.root_schema_for::<DagFile>().to_value();
    // The file format's own definitions; job types add theirs below.
    let mut defs = generator.take_definitions(true);
    if let Some(object) = root.as_object_mut() {
        object.remove("$defs");
    }
    strip_nulls(&mut root);
    defs.values_mut().for_each(strip_nulls);

    let names: Vec<&str> = catalog.names().collect();
    let conditions: Vec<Value> = names
        .iter()
        .filter_map(|name| catalog.get(name))
        .map(|spec| {
            let fields = job_fields_schema(spec.schema(&mut generator));
            json_schema!({
                "if": { "properties": { "type": { "const": spec.name() } }, "required": ["type"] },
                "then": fields,
            })
            .to_value()
        })
        .collect();
    defs.extend(generator.take_definitions(true));

    if let Some(step) = defs.get_mut("StepKeys").and_then(Value::as_object_mut) {
        restrict_to_types(step, "type", &names);
        // Job fields sit beside the step's keys: `unevaluatedProperties` below sees both.
        step.remove("additionalProperties");
        step.insert("allOf".into(), Value::Array(conditions.clone()));
        step.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    if let Some(variant) = defs.get_mut("Variant").and_then(Value::as_object_mut) {
        restrict_to_types(variant, "type", &names);
        variant.insert("allOf".into(), Value::Array(conditions));
        variant.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    if let Some(object) = root.as_object_mut() {
        object.insert("title".into(), "flowctl DAG file".into());
        // `x-` keys are ignored by the loader (a place for YAML anchors).
        let extensions = format!("^{}", crate::load::EXTENSION_PREFIX);
        object.insert(
            "patternProperties".into(),
            serde_json::json!({ extensions: {} }),
        );
        object.insert("$defs".into(), Value::Object(defs));
    }
    root
}

/// Keys whose value may be null (`schedule:` with nothing = manual). schemars makes every
/// `Option` field nullable; for all other keys the loader rejects null, so the schema does too.
const NULLABLE_KEYS: &[&str] = &[
    "description",
    "schedule",
    "params",
    "defaults",
    "depends_on",
    "on_failure",
    "on_retry",
    "on_success",
];

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(props)) = object.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if !NULLABLE_KEYS.contains(&name.as_str()) {
                        drop_null_alternative(prop);
                    }
                }
            }
            object.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `type: [T, "null"]` -> `type: T`; `anyOf: [X, {type: null}]` -> X (keeping annotations).
fn drop_null_alternative(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            object.insert("type".into(), single);
        }
    }
    let null = serde_json::json!({"type": "null"});
    if let Some(Value::Array(alternatives)) = object.get("anyOf")
        && alternatives.len() == 2
        && alternatives.contains(&null)
    {
        let kept = alternatives.iter().find(|a| **a != null).cloned();
        object.remove("anyOf");
        if let Some(Value::Object(kept)) = kept {
            for (k, v) in kept {
                object.entry(k).or_insert(v);
            }
        }
    }
}

/// A job type's schema, made composable: its own `$schema`/`title`/`$defs` dropped (the
/// definitions live in the generator and end up at the root), and `additionalProperties`
/// dropped because the step's `unevaluatedProperties` does that job across step keys and
/// job fields together.
fn job_fields_schema(mut schema: Schema) -> Schema {
    if let Some(object) = schema.as_object_mut() {
        for key in ["$schema", "title", "$defs", "additionalProperties"] {
            object.remove(key);
        }
    }
    schema
}

/// `type` must be one of the registered job types.
fn restrict_to_types(object: &mut Map<String, Value>, key: &str, names: &[&str]) {
    if let Some(prop) = object
        .get_mut("properties")
        .and_then(|p| p.get_mut(key))
        .and_then(Value::as_object_mut)
    {
        prop.insert(
            "enum".into(),
            Value::Array(names.iter().map(|n| Value::from(*n)).collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::TypedJobSpec;

    #[allow(dead_code)]
    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct EchoConfig {
        /// What to print.
        text: String,
        #[serde(default)]
        times: Option<u32>,
    }

    impl crate::catalog::JobConfig for EchoConfig {}

    fn catalog() -> JobTypeCatalog {
        let mut catalog = JobTypeCatalog::default();
        catalog.register(Arc::new(TypedJobSpec::<EchoConfig>::new("echo")));
        catalog
    }

    #[test]
    fn describes_top_level_step_and_job_fields() {
        let schema = dag_json_schema(&catalog());
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let top: Vec<&String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(top, crate::load::TOP_LEVEL_KEYS.iter().collect::<Vec<_>>());
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], serde_json::json!(["dag", "steps"]));

        let step = &schema["$defs"]["StepKeys"];
        assert_eq!(step["unevaluatedProperties"], false);
        assert_eq!(
            step["properties"]["type"]["enum"],
            serde_json::json!(["echo"])
        );
        let then = &step["allOf"][0]["then"];
        assert_eq!(
            step["allOf"][0]["if"]["properties"]["type"]["const"],
            "echo"
        );
        assert_eq!(then["properties"]["text"]["type"], "string");
        assert_eq!(then["required"], serde_json::json!(["text"]));
        assert!(then.get("additionalProperties").is_none());
        assert_eq!(schema["$defs"]["Variant"]["allOf"][0]["then"], *then);
    }

    #[test]
    fn output_is_deterministic() {
        let a = serde_json::to_string_pretty(&dag_json_schema(&catalog())).expect("json");
        let b = serde_json::to_string_pretty(&dag_json_schema(&catalog())).expect("json");
        assert_eq!(a, b);
    }
}
