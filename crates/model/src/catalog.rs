//! Job types as the model layer sees them: a name, a pure check of a step's fields,
//! and a JSON Schema. Plugins provide these; the model never knows a plugin by name.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// A problem in a job type's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the step's fields: object keys and array indices as strings, outermost first.
    /// Empty = the step itself (e.g. a missing field).
    pub path: Vec<String>,
    pub message: String,
}

/// Offline knowledge of one job type. Implementations must do no I/O.
pub trait JobTypeSpec: Send + Sync {
    /// The `type:` value, e.g. `shell`.
    fn name(&self) -> &str;
    /// The type's field names (for "did you mean" suggestions).
    fn field_names(&self) -> Vec<String>;
    /// Checks the step's fields (without `type`; templates not rendered).
    fn check(&self, config: &serde_json::Value) -> Result<(), ConfigError>;
    /// JSON Schema of the type's fields (without `type`).
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

/// Rules across a job type's fields that serde alone cannot express (`sql` xor `file`, ...),
/// checked on the deserialized config.
pub type ConfigRules<C> = fn(&C) -> Result<(), ConfigError>;

/// A [`JobTypeSpec`] backed by a serde config struct: use `#[serde(deny_unknown_fields)]`
/// on `C` so unknown keys are reported.
pub struct TypedJobSpec<C> {
    name: &'static str,
    rules: Option<ConfigRules<C>>,
    _config: PhantomData<fn() -> C>,
}

impl<C> TypedJobSpec<C> {
    /// A job type whose fields are fully described by `C`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            rules: None,
            _config: PhantomData,
        }
    }

    /// A job type whose fields are described by `C` plus `rules` across them.
    pub const fn with_rules(name: &'static str, rules: ConfigRules<C>) -> Self {
        Self {
            name,
            rules: Some(rules),
            _config: PhantomData,
        }
    }
}

impl<C> JobTypeSpec for TypedJobSpec<C>
where
    C: DeserializeOwned + schemars::JsonSchema + 'static,
{
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

    fn check(&self, config: &serde_json::Value) -> Result<(), ConfigError> {
        let typed =
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
            })?;
        match self.rules {
            Some(rules) => rules(&typed),
            None => Ok(()),
        }
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
