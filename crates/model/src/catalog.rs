//! Job types as the model layer sees them: a name, a pure check of a step's fields,
//! and a JSON Schema. Plugins provide these; the model never knows a plugin by name.
//!
//! A job type's fields are a serde struct implementing [`JobConfig`]: serde (with
//! `deny_unknown_fields`) catches unknown keys and wrong types, [`JobConfig::check`] every
//! rule across fields or inside values (a regex that does not compile, a table name without a
//! namespace), and [`JobConfig::template_files`] names the files whose text is a template (a
//! `file:` SQL query), so `flowctl validate` checks them like inline strings.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::template::is_templated;

/// A problem in a job type's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the step's fields: object keys and array indices as strings, outermost first.
    /// Empty = the step itself (e.g. a missing field).
    pub path: Vec<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path.join("."), self.message)
        }
    }
}

/// Collects every problem of one job's fields, each at its field's position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    found: Vec<ConfigError>,
}

impl Problems {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A problem at `path` (field names and list indices, outermost first).
    pub fn at<I, S>(&mut self, path: I, message: impl Into<String>)
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.found.push(ConfigError {
            path: path.into_iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        });
    }

    /// A problem with one top-level field.
    pub fn field(&mut self, field: &str, message: impl Into<String>) {
        self.at([field], message);
    }

    /// A problem with the job as a whole (fields that conflict, a field that is missing).
    pub fn job(&mut self, message: impl Into<String>) {
        self.at(std::iter::empty::<&str>(), message);
    }

    /// Runs `check` on `value` unless it is a template (checked once rendered, at run time),
    /// reporting its error at `field`.
    pub fn check_value<T>(
        &mut self,
        field: &[&str],
        value: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) {
        if is_templated(value) {
            return;
        }
        if let Err(message) = check(value) {
            self.at(field.iter().copied(), message);
        }
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The problems, in the order they were found.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.found
    }

    /// The problems as one line (for a run-time refusal): `` `a`: msg; `b`: msg ``.
    pub fn summary(&self) -> String {
        self.found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A file named by a job's field whose text is a template rendered with the step's context
/// (a `file:` SQL query): validation reads it and checks its variables like inline strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// The field naming the file (`["file"]`), for a missing file's position.
    pub field: Vec<String>,
    /// The path as written, relative to the project directory.
    pub path: String,
}

/// The fields of a job type: a serde struct (`#[serde(deny_unknown_fields)]`, doc comments
/// that become the JSON Schema) plus the rules serde cannot express.
///
/// Both methods are pure: no network, no catalog, no files (the model reads template files
/// itself). They run at `flowctl validate` on the fields as written — a string holding a
/// template (see [`is_templated`]) is known only once rendered, so rules skip it — and
/// again before every attempt on the rendered fields, where a problem fails the attempt
/// before the job touches anything.
pub trait JobConfig: DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    /// Reports every problem in these fields, each at its field (see [`Problems`]).
    fn check(&self, problems: &mut Problems) {
        let _ = problems;
    }

    /// Files named by these fields whose contents are templates.
    fn template_files(&self) -> Vec<TemplateFile> {
        Vec::new()
    }
}

/// Offline knowledge of one job type. Implementations must do no I/O.
pub trait JobTypeSpec: Send + Sync {
    /// The `type:` value, e.g. `shell`.
    fn name(&self) -> &str;
    /// The type's field names (for "did you mean" suggestions).
    fn field_names(&self) -> Vec<String>;
    /// Checks the step's fields (without `type`; templates not rendered); `Err` holds every
    /// problem found.
    fn check(&self, config: &serde_json::Value) -> Result<(), Vec<ConfigError>>;
    /// Files named by valid fields whose text is a template (see [`TemplateFile`]).
    fn template_files(&self, config: &serde_json::Value) -> Vec<TemplateFile> {
        let _ = config;
        Vec::new()
    }
    /// JSON Schema of the type's fields (without `type`).
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

/// The [`JobTypeSpec`] of a job type whose fields are `C`.
pub struct TypedJobSpec<C> {
    name: &'static str,
    _config: PhantomData<fn() -> C>,
}

impl<C> TypedJobSpec<C> {
    /// The spec of job type `name` with fields `C`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _config: PhantomData,
        }
    }
}

/// Parses `config` as `C`; a failure is reported at the path serde stopped at.
pub fn parse_config<C: DeserializeOwned>(config: &serde_json::Value) -> Result<C, ConfigError> {
    serde_path_to_error::deserialize::<_, C>(config).map_err(|err| ConfigError {
        path: err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect(),
        message: err.inner().to_string(),
    })
}

/// Parses and checks `config` as `C`: every problem, or the typed fields.
pub fn check_config<C: JobConfig>(config: &serde_json::Value) -> Result<C, Vec<ConfigError>> {
    let typed: C = parse_config(config).map_err(|e| vec![e])?;
    let mut problems = Problems::new();
    typed.check(&mut problems);
    if problems.is_empty() {
        Ok(typed)
    } else {
        Err(problems.into_vec())
    }
}

/// Every problem [`check_config`] finds in `config` as `C` (none when it passes): what a
/// job type's tests assert on.
pub fn config_problems<C: JobConfig>(config: &serde_json::Value) -> Vec<ConfigError> {
    check_config::<C>(config).err().unwrap_or_default()
}

impl<C: JobConfig> JobTypeSpec for TypedJobSpec<C> {
    fn name(&self) -> &str {
        self.name
    }

    fn field_names(&self) -> Vec<String> {
        let schema = schemars::schema_for!(C);
        schema
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn check(&self, config: &serde_json::Value) -> Result<(), Vec<ConfigError>> {
        check_config::<C>(config).map(|_| ())
    }

    fn template_files(&self, config: &serde_json::Value) -> Vec<TemplateFile> {
        parse_config::<C>(config)
            .map(|c| c.template_files())
            .unwrap_or_default()
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.root_schema_for::<C>()
    }
}

/// The job types known to a validation pass.
#[derive(Clone, Default)]
pub struct JobTypeCatalog {
    specs: BTreeMap<String, Arc<dyn JobTypeSpec>>,
}

impl JobTypeCatalog {
    /// Adds a type (replacing one of the same name).
    pub fn register(&mut self, spec: Arc<dyn JobTypeSpec>) {
        self.specs.insert(spec.name().to_string(), spec);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn JobTypeSpec>> {
        self.specs.get(name)
    }

    /// Registered type names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A job with two rules, to show every problem is reported at its field.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Copy {
        from: String,
        to: String,
        #[serde(default)]
        file: Option<String>,
    }

    impl JobConfig for Copy {
        fn check(&self, problems: &mut Problems) {
            let namespaced = |v: &str| {
                v.contains('.')
                    .then_some(())
                    .ok_or_else(|| format!("`{v}` has no namespace"))
            };
            problems.check_value(&["from"], &self.from, namespaced);
            problems.check_value(&["to"], &self.to, namespaced);
            if self.from == self.to {
                problems.job("`from` and `to` are the same table");
            }
        }

        fn template_files(&self) -> Vec<TemplateFile> {
            self.file
                .iter()
                .map(|f| TemplateFile {
                    field: vec!["file".into()],
                    path: f.clone(),
                })
                .collect()
        }
    }

    #[test]
    fn every_problem_is_reported_at_its_field_and_templates_are_skipped() {
        let spec = TypedJobSpec::<Copy>::new("copy");
        let errors = spec.check(&json!({"from": "a", "to": "a"})).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`from`: `a` has no namespace",
                "`to`: `a` has no namespace",
                "`from` and `to` are the same table",
            ]
        );
        assert_eq!(
            spec.check(&json!({"from": "{{ params.t }}", "to": "x.y"})),
            Ok(())
        );
        let unknown = spec
            .check(&json!({"from": "a.b", "to": "c.d", "x": 1}))
            .unwrap_err();
        assert_eq!(unknown.len(), 1);
        assert!(
            unknown[0].message.contains("unknown field `x`"),
            "{unknown:?}"
        );
    }

    #[test]
    fn template_files_come_from_valid_fields_only() {
        let spec = TypedJobSpec::<Copy>::new("copy");
        let files = spec.template_files(&json!({"from": "a.b", "to": "c.d", "file": "q.sql"}));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "q.sql");
        assert!(spec.template_files(&json!({"from": 3})).is_empty());
    }
}
